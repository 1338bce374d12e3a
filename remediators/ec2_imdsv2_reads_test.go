package remediators

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// listingReads is an InstanceReads as the sweep supplies it: listed is the
// listing's description of the instance (taken before the remediator
// runs), and Read describes the instance through the fake EC2, so that its
// state and its asynchronous application of writes are the fake's.
type listingReads struct {
	t      *testing.T
	ec2    *fakeEC2
	listed *ec2types.Instance // nil: the listing's read is too old (or absent)
	err    map[int]error      // the n-th Read (1-based) fails with it
	log    []string
}

func newListingReads(t *testing.T, f imdsFakes, listed bool) *listingReads {
	r := &listingReads{t: t, ec2: f.ec2, err: map[int]error{}}
	if listed && f.ec2.instance != nil {
		snap := *f.ec2.instance
		mo := *snap.MetadataOptions
		snap.MetadataOptions = &mo
		r.listed = &snap
	}
	return r
}

func (r *listingReads) Listed(region, id string) (ec2types.Instance, bool) {
	r.log = append(r.log, "Listed")
	if region != testRegion || id != testInstance {
		r.t.Errorf("Listed(%q, %q)", region, id)
	}
	if r.listed == nil {
		return ec2types.Instance{}, false
	}
	return *r.listed, true
}

func (r *listingReads) Read(ctx context.Context, region, id string) (ec2types.Instance, bool, error) {
	r.log = append(r.log, "Read")
	if err := r.err[r.count("Read")]; err != nil {
		return ec2types.Instance{}, false, err
	}
	out, err := r.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, ec2Region(region))
	if err != nil {
		return ec2types.Instance{}, false, nil // the fake's only error is InvalidInstanceID.NotFound
	}
	return out.Reservations[0].Instances[0], true, nil
}

func (r *listingReads) count(name string) int {
	n := 0
	for _, l := range r.log {
		if l == name {
			n++
		}
	}
	return n
}

func runIMDSWith(t *testing.T, f imdsFakes, reads InstanceReads, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	ctx := context.Background()
	if reads != nil {
		ctx = WithInstanceReads(ctx, reads)
	}
	return NewEC2IMDSv2(f.ec2, f.cw, opts).Remediate(ctx, request(imdsRule, "AWS::EC2::Instance", testInstance, mode))
}

// With the sweep's reads the remediator decides from the listing and reads
// back through Read, and its outcome is the one of its own reads (the event
// path), write included: same action, reason, before and after, and the
// same ModifyInstanceMetadataOptions request.
func TestIMDSDecidesFromTheListingLikeFromItsOwnRead(t *testing.T) {
	cases := map[string]struct {
		setup  func(f imdsFakes)
		mode   remediation.Mode
		writes bool
	}{
		"optional":      {func(f imdsFakes) { f.ec2.instance = instance("optional", "enabled", 3) }, remediation.ModeEnforce, true},
		"nothing set":   {func(f imdsFakes) { f.ec2.instance = instance("", "", 0) }, remediation.ModeEnforce, true},
		"endpoint off":  {func(f imdsFakes) { f.ec2.instance = instance("optional", "disabled", 1) }, remediation.ModeEnforce, true},
		"applied later": {func(f imdsFakes) { f.ec2.pendingReads = 1 }, remediation.ModeEnforce, true},
		"required":      {func(f imdsFakes) { f.ec2.instance = instance("required", "enabled", 2) }, remediation.ModeEnforce, false},
		"exempt": {func(f imdsFakes) {
			f.ec2.instance = instance("optional", "enabled", 1, ec2Tagged("auto-remediation", "off"))
		}, remediation.ModeEnforce, false},
		"IMDSv1 in use":    {func(f imdsFakes) { f.cw.pages = [][]float64{{2}} }, remediation.ModeEnforce, false},
		"dry-run":          {func(imdsFakes) {}, remediation.ModeDryRun, false},
		"write not shown":  {func(f imdsFakes) { f.ec2.dropWrites = true }, remediation.ModeEnforce, true},
		"stopped instance": {func(f imdsFakes) { f.ec2.instance.State.Name = ec2types.InstanceStateNameStopped }, remediation.ModeEnforce, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.VerifyAttempts = 3
			event := newIMDSFakes(t)
			tc.setup(event)
			want := runIMDSWith(t, event, nil, opts, tc.mode)

			sweep := newIMDSFakes(t)
			tc.setup(sweep)
			reads := newListingReads(t, sweep, true)
			got := runIMDSWith(t, sweep, reads, opts, tc.mode)

			if got.Action != want.Action || got.Reason != want.Reason || !reflect.DeepEqual(got.Before, want.Before) ||
				!reflect.DeepEqual(got.After, want.After) || got.Wrote != want.Wrote || (got.Err == nil) != (want.Err == nil) {
				t.Errorf("with the listing's read:\n%+v\nwith its own read:\n%+v", got, want)
			}
			wantWrites := 0
			if tc.writes {
				wantWrites = 1
			}
			if !reflect.DeepEqual(sweep.ec2.modifies, event.ec2.modifies) || len(sweep.ec2.modifies) != wantWrites {
				t.Errorf("modifies %v, on the event path %v", sweep.ec2.modifies, event.ec2.modifies)
			}
			// The decision came from the listing: every DescribeInstances
			// was a read-back after the write, asked through Read.
			reread := event.ec2.count("DescribeInstances") - 1
			if reads.count("Listed") != 1 || reads.count("Read") != reread || sweep.ec2.count("DescribeInstances") != reread {
				t.Errorf("reads %v, %d DescribeInstances; want Listed once and %d read-backs (the event path's minus its first read)",
					reads.log, sweep.ec2.count("DescribeInstances"), reread)
			}
		})
	}
}

// A listing's read that is missing or too old is not used: the remediator
// reads the instance (through Read) before deciding.
func TestIMDSReadsWhenTheListingHasNothing(t *testing.T) {
	f := newIMDSFakes(t)
	reads := newListingReads(t, f, false)
	res := runIMDSWith(t, f, reads, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Before["httpTokens"] != "optional" {
		t.Fatalf("result = %+v", res)
	}
	if want := []string{"Listed", "Read", "Read"}; !reflect.DeepEqual(reads.log, want) {
		t.Errorf("reads %v, want %v", reads.log, want)
	}

	// an instance Read does not find is gone, as on the event path
	f = newIMDSFakes(t)
	f.ec2.instance = nil
	res = runIMDSWith(t, f, newListingReads(t, f, false), testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionGone || len(f.ec2.modifies) != 0 {
		t.Errorf("result = %+v, modifies %v", res, f.ec2.modifies)
	}
}

// A Read that fails is the decision's or the verification's failure, named
// as on the event path; after a write it is unverified (Wrote).
func TestIMDSReadErrors(t *testing.T) {
	f := newIMDSFakes(t)
	reads := newListingReads(t, f, false)
	reads.err[1] = apiErr("UnauthorizedOperation")
	res := runIMDSWith(t, f, reads, testOptions(), remediation.ModeEnforce)
	checkFailed(t, res, "UnauthorizedOperation", "describing instance", `"`+testInstance+`"`)
	if res.Wrote || len(f.ec2.modifies) != 0 {
		t.Errorf("wrote after a failed read: %+v", res)
	}

	f = newIMDSFakes(t)
	reads = newListingReads(t, f, true)
	reads.err[1] = apiErr("RequestLimitExceeded")
	res = runIMDSWith(t, f, reads, testOptions(), remediation.ModeEnforce)
	checkFailed(t, res, "RequestLimitExceeded", "verifying metadata options of instance", `"`+testInstance+`"`)
	if !res.Wrote || len(f.ec2.modifies) != 1 {
		t.Errorf("a failed read-back after the write: %+v, modifies %v", res, f.ec2.modifies)
	}
	if aws.ToString(f.ec2.modifies[0].InstanceId) != testInstance {
		t.Errorf("modified %q", aws.ToString(f.ec2.modifies[0].InstanceId))
	}
}
