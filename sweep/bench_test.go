package sweep_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/app"
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
