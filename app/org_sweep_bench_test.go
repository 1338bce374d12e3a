package app_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

// The organisation benchmark's size: 10 accounts (the central one and 9
// members) in 2 regions, each account-region with ORG_BENCH_INSTANCES
// (default 300) instances that accept IMDSv1. ModifyInstanceMetadataOptions,
// AWS's tightest bucket (100 at once, then 5 a second per account and
// region), sets the pace of an account-region: (instances - 100) / 5
// seconds, its rate-limit floor, however the work is parallelised. The
// emulator, one Python process, serves the whole organisation at about 8 to
// 10 ms a request whatever the operation, 100 to 125 requests a second on
// a 2-core machine: about the 100 writes a second that the 20
// account-regions' limits allow together, so on the emulator the
// organisation is bound by the emulator as much as by the limits
// (org-unlimited-s measures the emulator alone; x-bound is the
// organisation's time over the larger of the two bounds).
const benchAccounts = 10

func benchInstances(b *testing.B) int {
	n := 300
	if v := os.Getenv("ORG_BENCH_INSTANCES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ORG_BENCH_INSTANCES=%q: want a number of instances", v)
		}
	}
	return n
}

var benchRegions = []string{"us-east-1", "eu-west-1"}

// BenchmarkOrganizationSweep sweeps one account-region, then the whole
// organisation (every account-region in parallel, each with AWS's
// client-side limits, sweep.DefaultLimits, of its own), on moto, with the
// IMDSv2 remediator: x-one-scope is the organisation's wall time over the
// one account-region's (target: 1.5 or less; serial would be 20).
// floor-s is one account-region's rate-limit floor, org-unlimited-s the
// organisation without client-side limits (the emulator's own time).
func BenchmarkOrganizationSweep(b *testing.B) {
	srv := emulator.StartT(b)
	env := map[string]string{"ENABLED_REMEDIATORS": "ec2-imdsv2", "IMDS_LOOKBACK_DAYS": "0", "METRICS_MODE": app.MetricsOff}
	cfg, err := app.Load(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	n := benchInstances(b)
	floor := time.Duration(max(0, n-100)) * time.Second / 5
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		one := benchSweep(b, srv, cfg, n, false, false, nil)
		org := benchSweep(b, srv, cfg, n, true, true, nil)
		unlimited := benchSweep(b, srv, cfg, n, true, false, map[string]sweep.Limit{})
		b.ReportMetric(unlimited.Seconds(), "org-unlimited-s")
		b.ReportMetric(org.Seconds()/max(one.Seconds(), unlimited.Seconds()), "x-bound")
		b.ReportMetric(org.Seconds()/one.Seconds(), "x-one-scope")
		b.ReportMetric(one.Seconds(), "one-scope-s")
		b.ReportMetric(org.Seconds(), "org-s")
		b.ReportMetric(floor.Seconds(), "floor-s")
		b.ReportMetric(float64(n), "instances/account-region")
	}
}

// benchSweep builds the organisation on a fresh emulator, n instances in
// each account-region, and sweeps it (whole) or its central account's
// first region, and returns the sweep's wall time; with timed, the
// benchmark's timer runs during the sweep (ns/op is the organisation's).
func benchSweep(b *testing.B, srv *emulator.Server, cfg app.Config, n int, whole, timed bool, limits map[string]sweep.Limit) time.Duration {
	b.Helper()
	b.StopTimer()
	ctx := context.Background()
	if err := srv.Reset(); err != nil {
		b.Fatal(err)
	}
	accounts := []string{emulator.Account}
	regions := benchRegions[:1]
	if whole {
		members, err := orgproxy.CreateMembers(ctx, srv.AWSConfig(), "bench", benchAccounts-1)
		if err != nil {
			b.Fatal(err)
		}
		accounts, regions = append(accounts, members...), benchRegions
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(accounts)*len(regions))
	for _, acct := range accounts {
		for _, region := range regions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- launchIMDSv1(ctx, srv, acct, region, n)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	clients := app.NewClients(srv.AWSConfig())
	h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
	if err != nil {
		b.Fatal(err)
	}
	targets := []sweep.AccountRegion{{Account: emulator.Account, Region: benchRegions[0]}}
	if whole {
		var skipped []string
		if targets, skipped, err = app.NewSweepPlanner(cfg, clients).Plan(ctx, app.All, strings.Join(benchRegions, ",")); err != nil || len(skipped) > 0 {
			b.Fatalf("planning: %v %v", err, skipped)
		}
		if len(targets) != benchAccounts*len(benchRegions) {
			b.Fatalf("%d account-regions planned, want %d", len(targets), benchAccounts*len(benchRegions))
		}
	}
	org := app.NewOrgSweeper(cfg, clients, h)
	org.Concurrency = 8 // the CLI's default
	org.Limits = limits
	if timed {
		b.StartTimer()
	}
	start := time.Now()
	rep := org.Run(ctx, fmt.Sprintf("sweep-bench-%d", start.UnixNano()), targets)
	took := time.Since(start)
	b.StopTimer()
	remediated := 0
	for _, s := range rep.Scopes {
		if s.Err != nil || s.Report.Failed() {
			b.Fatalf("%s: %v %v", s.AccountRegion, s.Err, s.Report.Problems())
		}
		for _, o := range s.Report.Outcomes {
			if o.Action == remediation.ActionRemediated {
				remediated++
			}
		}
	}
	if want := len(targets) * n; remediated != want {
		b.Fatalf("%d instances remediated, want %d", remediated, want)
	}
	return took
}

// launchIMDSv1 starts n instances accepting IMDSv1 in account and region.
func launchIMDSv1(ctx context.Context, srv *emulator.Server, account, region string, n int) error {
	cfg := srv.AWSConfig()
	if account != emulator.Account {
		var err error
		if cfg, err = orgproxy.InAccount(ctx, cfg, account); err != nil {
			return err
		}
	}
	_, err := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region }).RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}})
	if err != nil {
		return fmt.Errorf("launching %d instances in %s %s: %w", n, account, region, err)
	}
	return nil
}
