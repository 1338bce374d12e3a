package sweep_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/fakeaws"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

// BenchmarkSweep sweeps an account of 500 non-compliant buckets and 200
// IMDSv1 instances (with their 200 unencrypted root volumes) on moto, in
// enforce mode: wall time per sweep, and API calls per resource. With
// "aws-limits" the client keeps to AWS's published EC2 request rates (so
// ModifyInstanceMetadataOptions, 100 then 5/s, dominates); "unlimited"
// measures the sweep and the emulator alone.
func BenchmarkSweep(b *testing.B) {
	const buckets, instances = 500, 200
	for _, mode := range []string{"aws-limits", "unlimited"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				seed(b, buckets, instances)
				limits := map[string]sweep.Limit{} // counts calls, limits nothing
				if mode == "aws-limits" {
					limits = nil
				}
				lim := sweep.NewRateLimiter(limits)
				cfg, _ := app.Load(func(string) string { return "" })
				awsCfg := srv.AWSConfig()
				lim.AddTo(&awsCfg)
				clients := app.NewClients(awsCfg)
				clients.PathStyleS3 = true
				h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
				if err != nil {
					b.Fatal(err)
				}
				sw := app.NewSweeper(cfg, clients, h)
				sw.Concurrency = 8
				b.StartTimer()
				rep, err := sw.Run(context.Background())
				b.StopTimer()
				if err != nil || rep.Failed() {
					b.Fatalf("sweep: %v %v %v", err, rep.ListErrors, rep.PublishErrors)
				}
				resources := map[string]bool{}
				remediated := 0
				for _, o := range rep.Outcomes {
					resources[o.ResourceID] = true
					if o.Action == remediation.ActionRemediated {
						remediated++
					}
				}
				var calls int64
				for _, n := range lim.Calls() {
					calls += n
				}
				if remediated < 2*buckets+instances {
					b.Fatalf("remediated %d checks, want at least %d", remediated, 2*buckets+instances)
				}
				b.ReportMetric(float64(len(resources)), "resources")
				b.ReportMetric(float64(len(rep.Outcomes)), "checks")
				b.ReportMetric(float64(calls)/float64(len(resources)), "api-calls/resource")
				b.ReportMetric(rep.Duration.Seconds(), "wall-s")
				if floor := lim.Floor(); floor > 0 {
					b.ReportMetric(floor.Seconds(), "floor-s")
					b.ReportMetric(rep.Duration.Seconds()/floor.Seconds(), "x-floor")
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSweepFloor sweeps the account of BenchmarkSweep (500
// non-compliant buckets, 200 IMDSv1 instances with their 200 unencrypted
// root volumes, the default security group: 902 resources with the six
// remediators) against internal/fakeaws instead of moto, so that it
// measures the sweep, not an emulator, with AWS's client-side limits on.
// x-floor is the wall time over the rate-limit floor of the calls made
// (RateLimiter.Floor: the 200 ModifyInstanceMetadataOptions, 100 at once
// then 5 a second, need 20 s); the target is 1.1. latency is the fake's
// time per call: none, and about that of an AWS call within its region;
// concurrency is the CLI's default (8) or the Sweeper's (0,
// DefaultConcurrency: the scheduled sweep's).
func BenchmarkSweepFloor(b *testing.B) {
	const buckets, instances = 500, 200
	for _, bc := range []struct {
		latency     time.Duration
		concurrency int
	}{{0, 8}, {20 * time.Millisecond, 8}, {20 * time.Millisecond, 0}} {
		b.Run(fmt.Sprintf("latency=%s/concurrency=%d", bc.latency, bc.concurrency), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f := fakeaws.New(b)
				f.Latency = bc.latency
				f.AddBuckets(buckets)
				for range instances {
					f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)
				}
				lim := sweep.NewRateLimiter(nil)
				cfg, _ := app.Load(func(string) string { return "" })
				clients := app.NewClients(f.Config(lim.AddTo))
				h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
				if err != nil {
					b.Fatal(err)
				}
				sw := app.NewSweeper(cfg, clients, h)
				sw.Concurrency = bc.concurrency
				b.StartTimer()
				rep, err := sw.Run(context.Background())
				b.StopTimer()
				if err != nil || rep.Failed() {
					b.Fatalf("sweep: %v %v %v", err, rep.ListErrors, rep.PublishErrors)
				}
				resources := map[string]bool{}
				remediated := 0
				for _, o := range rep.Outcomes {
					resources[o.ResourceID] = true
					if o.Action == remediation.ActionRemediated {
						remediated++
					}
				}
				// Each bucket three times, each instance; the account's EBS
				// default is fixed by its own check or by a volume's.
				if want := 3*buckets + instances; remediated < want {
					b.Fatalf("remediated %d checks, want at least %d", remediated, want)
				}
				var calls int64
				for _, n := range lim.Calls() {
					calls += n
				}
				floor := lim.Floor()
				b.ReportMetric(float64(len(resources)), "resources")
				b.ReportMetric(float64(len(rep.Outcomes)), "checks")
				b.ReportMetric(float64(calls)/float64(len(resources)), "api-calls/resource")
				b.ReportMetric(float64(f.Count("EC2.DescribeInstances")), "describe-instances")
				b.ReportMetric(rep.Duration.Seconds(), "wall-s")
				b.ReportMetric(floor.Seconds(), "floor-s")
				b.ReportMetric(rep.Duration.Seconds()/floor.Seconds(), "x-floor")
				b.StartTimer()
			}
		})
	}
}

func seed(b *testing.B, buckets, instances int) {
	if err := srv.Reset(); err != nil {
		b.Fatal(err)
	}
	w := newWorld()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, buckets)
	sem := make(chan struct{}, 8)
	for i := 0; i < buckets; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := w.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(fmt.Sprintf("bench-bucket-%04d", i))}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if _, err := w.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(int32(instances)),
		MaxCount: aws.Int32(int32(instances)), InstanceType: ec2types.InstanceTypeT3Micro,
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}}); err != nil {
		b.Fatal(err)
	}
}
