package app_test

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/fakeaws"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

// fakeLatency is the fake's time per call: about an AWS API call's from
// within its region.
const fakeLatency = 20 * time.Millisecond

// BenchmarkOrganizationSweepFake is BenchmarkOrganizationSweep against
// internal/fakeaws instead of moto, so that it measures the organisation
// sweep rather than an emulator that serves the whole organisation from
// one Python process: the same OrgSweeper and Scopes (each member role
// assumed through STS, each account-region with its own clients,
// remediators and AWS's client-side limits), with a fake that answers
// every call after 20 ms, as many at once as asked, from the state of the
// account that signed it (SigV4 access key) in the region it was signed
// for. 10 accounts x 2 regions against one account-region of the same
// size: x-one-scope is the organisation's wall time over the one
// account-region's (target: 1.5 or less); parallel-x is the sum of the 20
// account-regions' own sweep times over the organisation's wall time (20
// if they all overlap, 1 if serial), serial-s that sum (what a serial
// sweep would take). ns/op is the organisation's time. cpu-s is the
// process's CPU time during the organisation's sweep, cpu-us/call that
// over the calls the fake answered: mostly the SDK's (endpoint rules,
// signing, serialising) and the garbage collector's. When cpu-s nears
// org-s times the cores the machine has to spare, the organisation is
// bound by this process's CPU, not by AWS's limits: on a busy machine
// x-one-scope grows with the load (the scheduled sweep gives each
// account-region a Lambda worker of its own).
//
// Sizes: imdsv2 is BenchmarkOrganizationSweep's (300 IMDSv1 instances, the
// IMDSv2 remediator); all is BenchmarkSweepFloor's account (500
// non-compliant buckets, 200 IMDSv1 instances with their unencrypted root
// volumes, the default security group, the six remediators). Either way
// ModifyInstanceMetadataOptions (100 at once, then 5 a second) sets an
// account-region's floor, floor-s.
func BenchmarkOrganizationSweepFake(b *testing.B) {
	for _, size := range []struct {
		name               string
		enabled            string
		buckets, instances int
	}{
		{"imdsv2/instances=300", "ec2-imdsv2", 0, 300},
		{"all/buckets=500/instances=200", "all", 500, 200},
	} {
		b.Run(size.name, func(b *testing.B) {
			env := map[string]string{"ENABLED_REMEDIATORS": size.enabled}
			cfg, err := app.Load(func(k string) string { return env[k] })
			if err != nil {
				b.Fatal(err)
			}
			members := make([]string, benchAccounts-1)
			for i := range members {
				members[i] = fmt.Sprintf("2000000000%02d", i+1)
			}
			accounts := append([]string{fakeCentral}, members...)
			one := []sweep.AccountRegion{{Account: fakeCentral, Region: benchRegions[0]}}
			whole := sweep.Cross(accounts, benchRegions)
			floor := time.Duration(max(0, size.instances-100)) * time.Second / 5
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				oneTook, _, _, _ := fakeOrgSweep(b, cfg, members, one, size.buckets, size.instances, false)
				orgTook, serial, cpu, calls := fakeOrgSweep(b, cfg, members, whole, size.buckets, size.instances, true)
				b.ReportMetric(orgTook.Seconds()/oneTook.Seconds(), "x-one-scope")
				b.ReportMetric(oneTook.Seconds(), "one-scope-s")
				b.ReportMetric(orgTook.Seconds(), "org-s")
				b.ReportMetric(serial.Seconds(), "serial-s")
				b.ReportMetric(serial.Seconds()/orgTook.Seconds(), "parallel-x")
				b.ReportMetric(cpu.Seconds(), "cpu-s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(calls), "cpu-us/call")
				b.ReportMetric(float64(calls), "calls")
				b.ReportMetric(floor.Seconds(), "floor-s")
				b.ReportMetric(float64(len(whole)), "account-regions")
			}
		})
	}
}

// fakeCentral is the fake organisation's central account.
const fakeCentral = "100000000001"

// fakeOrgSweep builds the organisation on a fresh fake (buckets and IMDSv1
// instances in each of targets), sweeps targets as the CLI does, checks
// that every account-region was fixed in its own account, by its own
// credentials, and returns the wall time, the sum of the account-regions'
// own sweep times, the process's CPU time during the sweep and the calls
// the fake answered. With timed, the benchmark's timer runs during the
// sweep.
func fakeOrgSweep(b *testing.B, cfg app.Config, members []string, targets []sweep.AccountRegion, buckets, instances int, timed bool) (took, serial, cpu time.Duration, calls int) {
	b.Helper()
	b.StopTimer()
	org := fakeaws.NewOrg(b, fakeCentral, app.DefaultMemberRoleName, members...)
	org.Latency = fakeLatency
	for _, t := range targets {
		r := org.Region(t.Account, t.Region)
		r.AddBuckets(buckets)
		for range instances {
			r.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)
		}
	}
	clients := app.NewClients(org.Config(benchRegions[0]))
	h, err := app.NewHandler(cfg, clients, app.NewLogger(io.Discard, cfg.LogLevel))
	if err != nil {
		b.Fatal(err)
	}
	o := app.NewOrgSweeper(cfg, clients, h)
	o.Concurrency = 8 // the CLI's default
	runID := fmt.Sprintf("fake-bench-%d", time.Now().UnixNano())
	if timed {
		b.StartTimer()
	}
	cpu = -processCPU(b)
	rep := o.Run(context.Background(), runID, targets)
	cpu += processCPU(b)
	b.StopTimer()

	// Every account-region swept in its own account and region, as its
	// own account's credentials: the member role's session in a member,
	// the central credentials in the central account.
	assumed := map[string]int{}
	for _, in := range org.AssumeRoles() {
		assumed[aws.ToString(in.RoleArn)]++
	}
	for _, s := range rep.Scopes {
		if s.Err != nil || s.Report.Failed() {
			b.Fatalf("%s: %v %v", s.AccountRegion, s.Err, s.Report.Problems())
		}
		serial += s.Report.Duration
		wantActedAs := ""
		if s.Account != fakeCentral {
			role := fmt.Sprintf("arn:aws:iam::%s:role/%s", s.Account, app.DefaultMemberRoleName)
			if assumed[role] != 1 {
				b.Errorf("%s: member role %s assumed %d times, want once", s.AccountRegion, role, assumed[role])
			}
			wantActedAs = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/autoremediate-%s", s.Account, app.DefaultMemberRoleName, runID)
		}
		remediated := 0
		for _, out := range s.Report.Outcomes {
			if out.Account != s.Account || out.Region != s.Region || out.ActedAs != wantActedAs {
				b.Fatalf("%s: outcome for %s in %s/%s acted as %q, want %q", s.AccountRegion, out.ResourceID, out.Account, out.Region, out.ActedAs, wantActedAs)
			}
			if out.Action == remediation.ActionRemediated {
				remediated++
			}
		}
		// Each bucket three times (public access block, encryption,
		// TLS-only policy), each instance; the account-region's EBS
		// default by its own check or by a volume's.
		if want := 3*buckets + instances; remediated < want {
			b.Errorf("%s: %d checks remediated, want at least %d", s.AccountRegion, remediated, want)
		}
		r := org.Region(s.Account, s.Region)
		checkFakeRegion(b, org, r, buckets > 0)
		for _, n := range r.Calls() {
			calls += n
		}
	}
	swept := map[string]bool{}
	for _, t := range targets {
		swept[t.Account] = t.Account != fakeCentral
	}
	for role := range assumed {
		if a, _ := arn.Parse(role); !swept[a.AccountID] {
			b.Errorf("member role %s assumed, but its account is not a swept member", role)
		}
	}
	return rep.Duration, serial, cpu, calls + org.Count("STS.AssumeRole") + org.Count("STS.GetCallerIdentity")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkFakeRegion checks the fake's state of one account-region after the
// sweep: everything fixed, by calls signed with its own account's keys.
func checkFakeRegion(b *testing.B, org *fakeaws.Org, r *fakeaws.Region, all bool) {
	b.Helper()
	where := r.Account + "/" + r.Region
	for id, i := range r.Instances {
		if i.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
			b.Errorf("%s: instance %s still accepts IMDSv1", where, id)
		}
	}
	if len(r.Modifies) != len(r.Instances) {
		b.Errorf("%s: %d ModifyInstanceMetadataOptions for %d instances", where, len(r.Modifies), len(r.Instances))
	}
	if all {
		if !r.EBSDefault {
			b.Errorf("%s: EBS encryption by default still off", where)
		}
		for name, bk := range r.Buckets {
			if bk.PublicAccessBlock == nil || bk.Encryption == nil || bk.Policy == nil {
				b.Errorf("%s: bucket %s not fixed (public access block %v, encryption %v, policy %v)", where, name,
					bk.PublicAccessBlock != nil, bk.Encryption != nil, bk.Policy != nil)
			}
		}
	}
	for key, n := range r.Signers() {
		if got := org.AccountOf(key); got != r.Account {
			b.Errorf("%s: %d calls signed by %s, a key of account %q", where, n, key, got)
		}
	}
}
