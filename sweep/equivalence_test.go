package sweep_test

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/fakeaws"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

// imdsAccount fills a fake account with instances in every state the IMDSv2
// remediator tells apart, and enough plain IMDSv1 ones for the sweep's
// read-backs to be batched.
func imdsAccount(f *fakeaws.Region) {
	f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)
	f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateDisabled, 3) // endpoint kept off
	f.AddInstance("", "", 0)                                                                           // nothing set
	f.AddInstance(ec2types.HttpTokensStateRequired, ec2types.InstanceMetadataEndpointStateEnabled, 2)  // compliant
	f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1,
		ec2types.Tag{Key: aws.String("Name"), Value: aws.String("legacy")}, ec2types.Tag{Key: aws.String("auto-remediation"), Value: aws.String("off")})
	f.NoToken[f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)] = 12 // still uses IMDSv1
	f.Dropped[f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)] = true
	stopped := f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 2)
	f.Instances[stopped].State.Name = ec2types.InstanceStateNameStopped
	for range 40 {
		f.AddInstance(ec2types.HttpTokensStateOptional, ec2types.InstanceMetadataEndpointStateEnabled, 1)
	}
}

// imdsHandler builds the IMDSv2 remediator on the fake's clients (with a
// short read-back interval) and a handler without a publisher.
func imdsHandler(t *testing.T, f *fakeaws.Region, mode remediation.Mode) (*remediation.Handler, *app.Clients) {
	t.Helper()
	clients := app.NewClients(f.Config())
	opts := remediators.DefaultOptions()
	opts.VerifyAttempts, opts.VerifyInterval = 3, 10*time.Millisecond
	defs := remediators.Definitions()
	reg, err := remediators.Registry(defs, clients, opts, []string{remediators.EC2IMDSv2Name})
	if err != nil {
		t.Fatal(err)
	}
	return &remediation.Handler{Registry: reg, Rules: remediation.NewRuleResolver(remediators.Catalog(defs), nil),
		Modes: remediation.Modes{Default: mode}}, clients
}

// The sweep's IMDSv2 checks, decided from the listing's read and verified
// by batched read-backs, and the event path's, each instance read, written
// and read back on its own, agree on the same instances: the same outcomes
// (action, reason, before and after, error), the same writes, the same
// state after. The sweep describes the instances in its listing and in
// batches of read-backs only.
func TestSweepAgreesWithTheEventPathOnInstances(t *testing.T) {
	for _, mode := range []remediation.Mode{remediation.ModeEnforce, remediation.ModeDryRun} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			events := fakeaws.New(t)
			imdsAccount(events)
			h, _ := imdsHandler(t, events, mode)
			rem, _ := h.Registry.Get(remediators.EC2IMDSv2Name)
			want := map[string]remediation.Outcome{}
			for _, id := range events.Order {
				req := remediation.Request{Rule: "ec2-imdsv2-check", ManagedRule: "ec2-imdsv2-check", ResourceType: remediators.ResourceTypeInstance,
					ResourceID: id, Account: events.Account, Region: events.Region, Mode: mode}
				o, _ := h.Process(ctx, remediation.Job{Remediator: rem, Request: req, EventID: "event-" + id, Trigger: remediation.TriggerConfig})
				want[id] = o
			}

			swept := fakeaws.New(t)
			imdsAccount(swept)
			h, clients := imdsHandler(t, swept, mode)
			sw := &sweep.Sweeper{Definitions: remediators.Definitions(), Clients: clients, Handler: h,
				Account: swept.Account, Region: swept.Region, Only: []string{remediators.EC2IMDSv2Name}}
			rep, err := sw.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Outcomes) != len(want) {
				t.Fatalf("%d outcomes, want %d", len(rep.Outcomes), len(want))
			}
			actions := map[remediation.Action]int{}
			for _, got := range rep.Outcomes {
				w := want[got.ResourceID]
				actions[got.Action]++
				if got.Action != w.Action || got.Reason != w.Reason || got.Error != w.Error ||
					!reflect.DeepEqual(got.Before, w.Before) || !reflect.DeepEqual(got.After, w.After) {
					t.Errorf("%s: swept\n  %s %q %v -> %v %q\nas an event\n  %s %q %v -> %v %q", got.ResourceID,
						got.Action, got.Reason, got.Before, got.After, got.Error, w.Action, w.Reason, w.Before, w.After, w.Error)
				}
			}
			// The account holds every case: a test that saw fewer would
			// compare less than it says.
			wantActions := map[remediation.Action]int{remediation.ActionCompliant: 1, remediation.ActionExempt: 1, remediation.ActionDeferred: 1}
			if mode == remediation.ModeEnforce {
				wantActions[remediation.ActionRemediated], wantActions[remediation.ActionFailed] = 44, 1
			} else {
				wantActions[remediation.ActionDryRun] = 45
			}
			if !reflect.DeepEqual(actions, wantActions) {
				t.Errorf("actions %v, want %v", actions, wantActions)
			}

			byID := func(a, b ec2.ModifyInstanceMetadataOptionsInput) int {
				return cmp.Compare(aws.ToString(a.InstanceId), aws.ToString(b.InstanceId))
			}
			slices.SortFunc(events.Modifies, byID)
			slices.SortFunc(swept.Modifies, byID)
			if !reflect.DeepEqual(swept.Modifies, events.Modifies) {
				t.Errorf("the sweep's writes differ from the event path's:\n%v\n%v", swept.Modifies, events.Modifies)
			}
			for _, id := range events.Order {
				if a, b := swept.Instances[id].MetadataOptions, events.Instances[id].MetadataOptions; !reflect.DeepEqual(a, b) {
					t.Errorf("%s after the sweep %+v, after the events %+v", id, *a, *b)
				}
			}
			checkSweepDescribes(t, swept, mode)
		})
	}
}

// checkSweepDescribes checks how the sweep described the instances: one
// listing, no instance described on its own, and read-backs, batched, only
// for the instances it wrote (the one whose write never shows is read back
// once per attempt).
func checkSweepDescribes(t *testing.T, f *fakeaws.Region, mode remediation.Mode) {
	t.Helper()
	listings, batches, readBack := 0, 0, 0
	for _, in := range f.Describes {
		switch {
		case len(in.InstanceIds) > 0:
			t.Errorf("the sweep described instance(s) %v on their own", in.InstanceIds)
		case aws.ToString(in.Filters[0].Name) == "instance-state-name":
			listings++
		case aws.ToString(in.Filters[0].Name) == "instance-id":
			batches++
			readBack += len(in.Filters[0].Values)
		}
	}
	wantReadBack := 0
	if mode == remediation.ModeEnforce {
		wantReadBack = len(f.Modifies) - 1 + 3 // the dropped write's three attempts
	}
	if listings != 1 || readBack != wantReadBack {
		t.Errorf("%d listings, %d instances read back; want 1 and %d", listings, readBack, wantReadBack)
	}
	if mode == remediation.ModeEnforce && batches >= len(f.Modifies) {
		t.Errorf("%d DescribeInstances read back %d written instances: not batched", batches, len(f.Modifies))
	}
	t.Logf("%d writes read back in %d DescribeInstances", len(f.Modifies), batches)
}
