package demo

import (
	"context"
	"time"
)

// watch re-evaluates every Interval like Config's periodic and
// change-triggered evaluations, and puts an event on the bus for every
// change of verdict, until ctx ends.
func (d *demo) watch(ctx context.Context, state *configState) error {
	d.printf("\n7. Watching: AWS Config (stand-in) re-evaluates every %s. In another terminal, misconfigure a bucket:\n\n", d.opts.Interval)
	d.printf("   aws --endpoint-url %s --region us-east-1 s3api delete-public-access-block --bucket %s\n\n", d.srv.URL, BucketPublic)
	d.printf("   (AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing if you have no credentials) and watch it being fixed. Ctrl-C stops.\n")
	if d.opts.WatchReady != nil {
		d.opts.WatchReady(BucketPublic)
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
