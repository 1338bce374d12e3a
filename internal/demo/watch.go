package demo

import (
	"context"
	"time"
)

// watch keeps both stand-ins running until ctx ends: every call made
// through the CloudTrail stand-in reaches the function at once, and the
// Config stand-in re-evaluates every Interval, like Config's periodic and
// change-triggered evaluations, putting an event on the bus for every
// change of verdict (it catches what bypassed the proxy).
func (d *demo) watch(ctx context.Context, state *configState) error {
	d.printf("\n9. Watching. In another terminal, misconfigure a bucket through the CloudTrail stand-in, as %s/%s:\n\n", shortActor(DeveloperRole), DeveloperSession)
	d.printf("   AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url %s --region us-east-1 s3api delete-public-access-block --bucket %s\n\n",
		DeveloperKey, d.proxy.URL, BucketPublic)
	d.printf("   and watch it being fixed from its CloudTrail event within the second (another access key is recorded as the IAM user named after it).\n")
	d.printf("   A change made straight to the emulator (%s) bypasses the CloudTrail stand-in: AWS Config (stand-in), re-evaluating\n", d.srv.URL)
	d.printf("   every %s, finds it. Ctrl-C stops.\n", d.opts.Interval)
	if d.opts.WatchReady != nil {
		d.opts.WatchReady(Watching{Bucket: BucketPublic, EndpointURL: d.proxy.URL, AccessKeyID: DeveloperKey})
	}
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.printf("\nStopping.\n")
			return ctx.Err()
		case <-t.C:
		}
		outcomes, err := d.detect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.printf("   ! evaluating: %v\n", err)
			continue
		}
		if _, err := d.emit(ctx, state, outcomes, true); err != nil && ctx.Err() == nil {
			d.printf("   ! %v\n", err)
		}
	}
}
