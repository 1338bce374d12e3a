package demo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// changesPerPath is how many misconfigurations each path fixes per
// iteration of BenchmarkTimeToFix.
const changesPerPath = 24

// BenchmarkTimeToFix measures, on the local demo's pipeline, the time from
// a misconfiguration to its verified fix along both paths, one change at a
// time, alternating: the CloudTrail path from the API call (the
// misconfiguring call made through the CloudTrail stand-in; eventTime) and
// the Config path from the Config stand-in's notification
// (notificationCreationTime; the call itself went straight to the
// emulator, unseen by the stand-in). Each change deletes the public access
// block of a bucket of its own, which s3-public-access-block puts back. It
// reports the p50 and p95 of each path as metrics; it asserts no time.
//
// Both paths take the same local route (the emulator's bus, the queue, the
// function's handler, the state store): what it shows is the pipeline's own
// latency, not AWS's delivery (Config evaluates minutes after a change;
// CloudTrail delivers within seconds), which it cannot reproduce.
func BenchmarkTimeToFix(b *testing.B) {
	srv := emulator.StartT(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &demo{opts: Options{Out: io.Discard, Log: io.Discard, Timeout: 60 * time.Second}, out: io.Discard,
		handled: make(chan remediation.Outcome, 256), srv: srv, baseline: &Baseline{}}
	if err := d.setup(); err != nil {
		b.Fatal(err)
	}
	defer d.proxy.Close()
	if err := d.deploy(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.runFunction(ctx) }()
	defer wg.Wait()
	defer cancel()

	direct := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	developer := d.clientsAs(DeveloperKey).S3()
	var cloudTrail, config []time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Fresh compliant buckets, made straight on the emulator (no
		// event): one write each, far below the flap limit.
		b.StopTimer()
		name := func(path string, k int) string { return fmt.Sprintf("bench-%s-%d-%d", path, i, k) }
		for k := range changesPerPath {
			for _, path := range []string{"ct", "cfg"} {
				if _, err := direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name(path, k))}); err != nil {
					b.Fatal(err)
				}
				if err := secure(ctx, direct, name(path, k)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		for k := range changesPerPath {
			bucket := name("ct", k)
			if _, err := developer.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}); err != nil {
				b.Fatal(err)
			}
			cloudTrail = append(cloudTrail, d.benchFix(b, bucket, remediation.TriggerCloudTrail))

			bucket = name("cfg", k)
			if _, err := direct.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}); err != nil {
				b.Fatal(err)
			}
			if err := d.notify(ctx, []events.ComplianceChange{{Account: emulator.Account, Region: emulator.Region,
				RuleName: "s3-bucket-level-public-access-prohibited", ResourceType: events.ResourceTypeS3Bucket, ResourceID: bucket,
				New: events.ComplianceTypeNonCompliant, Old: events.ComplianceTypeCompliant}}); err != nil {
				b.Fatal(err)
			}
			config = append(config, d.benchFix(b, bucket, remediation.TriggerConfig))
		}
	}
	b.StopTimer()
	for _, p := range []struct {
		name  string
		times []time.Duration
	}{{"cloudtrail", cloudTrail}, {"config", config}} {
		sorted := slices.Sorted(slices.Values(p.times))
		b.ReportMetric(ms(percentile(sorted, 50)), p.name+"-p50-ms")
		b.ReportMetric(ms(percentile(sorted, 95)), p.name+"-p95-ms")
	}
	b.ReportMetric(float64(len(cloudTrail)), "changes/path")
}

// benchFix waits for the function's outcome on the bucket and returns its
// time to fix; anything but a fix from the expected trigger fails the
// benchmark.
func (d *demo) benchFix(b *testing.B, bucket string, trigger remediation.Trigger) time.Duration {
	b.Helper()
	deadline := time.After(d.opts.Timeout)
	for {
		if o, ok := d.lastOutcome(bucket); ok {
			if o.Action != remediation.ActionRemediated || o.Trigger != trigger || timeToFix(o) == "-" {
				b.Fatalf("bucket %s: %s from %s (%s%s), want remediated from %s", bucket, o.Action, o.Trigger, o.Reason, o.Error, trigger)
			}
			return o.CompletedAt.Sub(o.DetectedAt)
		}
		select {
		case <-d.handled:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			b.Fatalf("bucket %s not fixed from %s within %s", bucket, trigger, d.opts.Timeout)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
