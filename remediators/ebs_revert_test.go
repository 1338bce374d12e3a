package remediators

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// defaultsFake adds the undo's calls to the EC2 fake of the region's
// default.
type defaultsFake struct{ *fakeEC2 }

func (f defaultsFake) DisableEbsEncryptionByDefault(_ context.Context, _ *ec2.DisableEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.DisableEbsEncryptionByDefaultOutput, error) {
	if err := f.begin("DisableEbsEncryptionByDefault", optFns); err != nil {
		return nil, err
	}
	f.ebsDefault = false
	return &ec2.DisableEbsEncryptionByDefaultOutput{}, nil
}

func (f defaultsFake) ResetEbsDefaultKmsKeyId(_ context.Context, _ *ec2.ResetEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.ResetEbsDefaultKmsKeyIdOutput, error) {
	if err := f.begin("ResetEbsDefaultKmsKeyId", optFns); err != nil {
		return nil, err
	}
	f.ebsKey = "alias/aws/ebs"
	return &ec2.ResetEbsDefaultKmsKeyIdOutput{}, nil
}

// asOutcome is a remediated result as undo reads it back from JSON.
func asOutcome(t *testing.T, resourceType, id string, res remediation.Result) remediation.Outcome {
	t.Helper()
	return remediated(t, res, resourceType, id)
}

func TestEBSRevertAccount(t *testing.T) {
	for _, key := range []string{"", testKMSKey} {
		t.Run("key="+key, func(t *testing.T) {
			f := newFakeEC2(t)
			opts := testOptions()
			opts.EBSKMSKeyID = key
			r := NewEBSEncryption(f, &fakeKMS{f: f}, opts)
			r.Defaults = defaultsFake{f}
			res := r.Remediate(context.Background(), request(ebsDefaultRule, ResourceTypeAccount, testAccount, remediation.ModeEnforce))
			o := asOutcome(t, ResourceTypeAccount, testAccount, res)
			dry := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeDryRun})
			if dry.Action != remediation.ActionDryRun || !f.ebsDefault {
				t.Fatalf("dry-run: %+v (default on: %t)", dry, f.ebsDefault)
			}
			got := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
			if got.Action != remediation.ActionReverted || f.ebsDefault {
				t.Fatalf("revert: %+v (default on: %t)", got, f.ebsDefault)
			}
			if key != "" && (f.ebsKey != "alias/aws/ebs" || f.count("ResetEbsDefaultKmsKeyId") != 1) {
				t.Errorf("key %q after revert, calls %v", f.ebsKey, f.names())
			}
			if key == "" && f.count("GetEbsDefaultKmsKeyId")+f.count("ResetEbsDefaultKmsKeyId") != 0 {
				t.Errorf("no key was changed, yet the key was read or reset: %v (moto cannot read it)", f.names())
			}
		})
	}
	t.Run("previous customer managed key", func(t *testing.T) {
		const previous = "arn:aws:kms:eu-west-1:123456789012:key/00000000-1111-2222-3333-444444444444"
		f := newFakeEC2(t)
		f.ebsDefault, f.ebsKey = true, previous
		opts := testOptions()
		opts.EBSKMSKeyID = testKMSKey
		r := NewEBSEncryption(f, &fakeKMS{f: f}, opts)
		r.Defaults = defaultsFake{f}
		o := asOutcome(t, ResourceTypeAccount, testAccount, r.Remediate(context.Background(), request(ebsDefaultRule, ResourceTypeAccount, testAccount, remediation.ModeEnforce)))
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionReverted || f.ebsKey != previous || !f.ebsDefault || f.count("DisableEbsEncryptionByDefault") != 0 {
			t.Errorf("%+v: key %q, default on %t", res, f.ebsKey, f.ebsDefault)
		}
	})
	t.Run("changed since", func(t *testing.T) {
		f := newFakeEC2(t)
		r := NewEBSEncryption(f, nil, testOptions())
		r.Defaults = defaultsFake{f}
		o := asOutcome(t, ResourceTypeAccount, testAccount, r.Remediate(context.Background(), request(ebsDefaultRule, ResourceTypeAccount, testAccount, remediation.ModeEnforce)))
		f.ebsDefault = false // someone turned it off since
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "changed since") {
			t.Errorf("%+v", res)
		}
		o.Before = map[string]any{}
		if res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o}); res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "ebsEncryptionByDefault") {
			t.Errorf("no before: %+v", res)
		}
	})
}

func migratedOutcome(t *testing.T, f *migFake, vol string) remediation.Outcome {
	t.Helper()
	st, _ := advanceUntil(t, newTestMigrator(f, migOptions()), vol, 5)
	return asOutcome(t, ResourceTypeVolume, vol, st.Result)
}

func TestEBSRevertVolume(t *testing.T) {
	t.Run("attached", func(t *testing.T) {
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
		orig := f.addVolume(migInstance, "/dev/xvda")
		o := migratedOutcome(t, f, orig)
		nid := o.After["newVolumeId"].(string)
		f.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning // started since
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		r.Opts.VerifyInterval = 0
		n := len(f.writes())
		if res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeDryRun}); res.Action != remediation.ActionDryRun || len(f.writes()) != n {
			t.Fatalf("dry-run: %+v, writes %v", res, f.writes()[n:])
		}
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionReverted {
			t.Fatalf("%+v", res)
		}
		if got, dot := f.deviceOf(migInstance, "/dev/xvda"); got != orig || !dot {
			t.Errorf("/dev/xvda holds %s (DeleteOnTermination %t), want %s back with true", got, dot, orig)
		}
		if len(f.vols[nid].Attachments) != 0 || f.vols[nid] == nil {
			t.Errorf("new volume %+v: want it kept, detached", f.vols[nid])
		}
		if len(f.stopped) != 2 || len(f.started) != 2 {
			t.Errorf("stopped %v started %v: one each for the migration and the undo", f.stopped, f.started)
		}
		// no run migrates it again
		st := newTestMigrator(f, migOptions()).Advance(context.Background(), testRegion, orig)
		if st.Result.Action != remediation.ActionNeedsManual || !strings.Contains(st.Result.Reason, "undone") {
			t.Errorf("after undo: %+v", st.Result)
		}
	})
	t.Run("unattached", func(t *testing.T) {
		f := newMigFake(t)
		orig := f.addVolume("", "")
		o := migratedOutcome(t, f, orig)
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionReverted || !hasTag(f.vols[orig].Tags, tagStep, StepReverted) || f.count("StopInstances") != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("changed since", func(t *testing.T) {
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameStopped, true)
		orig := f.addVolume(migInstance, "/dev/sdf")
		o := migratedOutcome(t, f, orig)
		nid := o.After["newVolumeId"].(string)
		// someone moved the new volume to another device
		f.vols[nid].Attachments[0].Device = aws.String("/dev/sdg")
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		n := len(f.writes())
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "changed since") || len(f.writes()) != n {
			t.Errorf("%+v", res)
		}
	})
	t.Run("not opted in", func(t *testing.T) {
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameStopped, true)
		orig := f.addVolume(migInstance, "/dev/sdf")
		o := migratedOutcome(t, f, orig)
		f.insts[migInstance].Tags = nil
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, TagStopAllowed) {
			t.Errorf("%+v", res)
		}
	})
	t.Run("running instance of an Auto Scaling group", func(t *testing.T) {
		// stopped, the group would replace it, deleting its volumes
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameStopped, true)
		orig := f.addVolume(migInstance, "/dev/sdf")
		o := migratedOutcome(t, f, orig)
		i := f.insts[migInstance]
		i.State.Name = ec2types.InstanceStateNameRunning
		i.Tags = append(i.Tags, ec2types.Tag{Key: aws.String("aws:autoscaling:groupName"), Value: aws.String("web")})
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		n := len(f.writes())
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "Auto Scaling group web") || len(f.writes()) != n {
			t.Errorf("%+v, writes %v", res, f.writes()[n:])
		}
	})
	t.Run("failure after the stop", func(t *testing.T) {
		// the original cannot be attached: the copy goes back at the
		// device and the instance runs again
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
		orig := f.addVolume(migInstance, "/dev/sdf")
		o := migratedOutcome(t, f, orig)
		nid := o.After["newVolumeId"].(string)
		f.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning
		f.errs["AttachVolume#2"] = apiErr("InternalError") // #1 was the migration's
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		r.Opts.VerifyInterval = 0
		res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "InternalError") {
			t.Fatalf("%+v", res)
		}
		if got, _ := f.deviceOf(migInstance, "/dev/sdf"); got != nid {
			t.Errorf("/dev/sdf holds %q, want the copy %s back", got, nid)
		}
		if len(f.started) != 2 {
			t.Errorf("started %v: the undo left the instance stopped", f.started)
		}
	})
	t.Run("before incomplete", func(t *testing.T) {
		f := newMigFake(t)
		orig := f.addVolume("", "")
		o := migratedOutcome(t, f, orig)
		delete(o.After, "newVolumeId")
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		if res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o}); res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "newVolumeId") {
			t.Errorf("%+v", res)
		}
	})
}
