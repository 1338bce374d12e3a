package remediators

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// StepReverted marks an original volume whose migration was undone: no
// run migrates it again until the tag autoremediate:migration-step is
// removed.
const StepReverted = "reverted"

// awsManagedEBSKey is how EC2 names the AWS managed key when it is the
// default: ResetEbsDefaultKmsKeyId puts it back.
const awsManagedEBSKey = "alias/aws/ebs"

// revertWaits bounds each wait of an undo (a stop, a detach, an attach):
// undo runs from a terminal, so it waits longer than a migration run.
const revertWaits = 120

// Revert implements remediation.Reverter: for the account, EBS encryption
// by default goes back off (or the previous default key back); for a
// migrated volume, the original is swapped back.
func (r *EBSEncryption) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	if req.Outcome.ResourceType == ResourceTypeVolume {
		return r.revertVolume(ctx, req)
	}
	o := req.Outcome
	if !accountIDPattern.MatchString(o.ResourceID) {
		return malformedID("AWS account", o.ResourceID)
	}
	wantOn, ok := stateBool(o.Before, "ebsEncryptionByDefault")
	if !ok {
		return missingBefore(r.Name(), o, "ebsEncryptionByDefault")
	}
	wantKey, restoreKey := stateString(o.Before, "defaultKmsKeyId")
	if r.Defaults == nil {
		return remediation.Failed(nil, fmt.Errorf("reverting EBS encryption by default in region %s: no client to turn it off", o.Region))
	}
	cur, err := r.readRevertDefault(ctx, o.Region, restoreKey)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	now := cur.settings()
	keys := []string{"ebsEncryptionByDefault"}
	if restoreKey {
		keys = append(keys, "defaultKmsKeyId")
	}
	if diffs := changedSince(now, o.After, keys...); len(diffs) > 0 && !req.Force {
		return refuseChanged("the region's EBS encryption default", now, diffs)
	}
	var changes []string
	setKey := restoreKey && cur.kmsKey != wantKey
	if setKey {
		changes = append(changes, fmt.Sprintf("the default EBS key from %s back to %s", cur.kmsKey, wantKey))
	}
	disable := !wantOn && cur.enabled
	if disable {
		changes = append(changes, "EBS encryption by default off again")
	}
	if len(changes) == 0 {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now, Reason: "EBS encryption by default in " + o.Region + " is already as before the outcome: nothing written"}
	}
	change := strings.Join(changes, " and ")
	if req.Mode == remediation.ModeDryRun {
		want := ebsDefault{enabled: wantOn, kmsKey: cur.kmsKey}
		if restoreKey {
			want.kmsKey = wantKey
		}
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: want.settings(), Reason: "would set " + change + " in " + o.Region}
	}
	if setKey {
		if wantKey == awsManagedEBSKey || strings.HasSuffix(wantKey, ":alias/aws/ebs") {
			_, err = r.Defaults.ResetEbsDefaultKmsKeyId(ctx, &ec2.ResetEbsDefaultKmsKeyIdInput{}, ec2Region(o.Region))
			err = wrapIf(err, "resetting the default EBS KMS key in region %s", o.Region)
		} else {
			_, err = r.Client.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(wantKey)}, ec2Region(o.Region))
			err = wrapIf(err, "setting the default EBS KMS key %q in region %s", wantKey, o.Region)
		}
		if err != nil {
			return remediation.Failed(now, err)
		}
	}
	if disable {
		if _, err := r.Defaults.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}, ec2Region(o.Region)); err != nil {
			res := remediation.Failed(now, fmt.Errorf("disabling EBS encryption by default in region %s: %w", o.Region, err))
			res.Wrote = setKey
			return res
		}
	}
	got, err := r.readRevertDefault(ctx, o.Region, restoreKey)
	if err != nil {
		return remediation.Unverified(now, fmt.Errorf("verifying: %w", err))
	}
	if got.enabled != wantOn || (restoreKey && got.kmsKey != wantKey && !(wantKey == awsManagedEBSKey && strings.Contains(got.kmsKey, "alias/aws/ebs"))) {
		return remediation.Unverified(now, fmt.Errorf("verifying EBS encryption by default in region %s: read back enabled=%t key=%q", o.Region, got.enabled, got.kmsKey))
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: got.settings(), Reason: "set " + change + " in " + o.Region}
}

// readRevertDefault reads the region's default, with the key when the
// outcome changed it. moto does not implement GetEbsDefaultKmsKeyId, so
// on moto only outcomes without a key can be reverted.
func (r *EBSEncryption) readRevertDefault(ctx context.Context, region string, withKey bool) (ebsDefault, error) {
	out, err := r.Client.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{}, ec2Region(region))
	if err != nil {
		return ebsDefault{}, fmt.Errorf("reading EBS encryption by default in region %s: %w", region, err)
	}
	d := ebsDefault{enabled: aws.ToBool(out.EbsEncryptionByDefault)}
	if withKey {
		k, err := r.Client.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{}, ec2Region(region))
		if err != nil {
			return ebsDefault{}, fmt.Errorf("reading default EBS KMS key in region %s: %w", region, err)
		}
		d.kmsKey = aws.ToString(k.KmsKeyId)
	}
	return d, nil
}

// revertVolume swaps a migrated volume back: the original goes back where
// it was (at its device, with its DeleteOnTermination, the instance
// stopped and started again if it was running, with the same opt-in tag
// as the migration), the encrypted copy is kept, detached, and the
// original is tagged so that no run migrates it again.
func (r *EBSEncryption) revertVolume(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	id := o.ResourceID
	if !volumeIDPattern.MatchString(id) {
		return malformedID("EBS volume", id)
	}
	if deleted, _ := stateBool(o.After, "deleted"); deleted {
		snap, _ := stateString(o.After, "snapshotId")
		return remediation.Failed(nil, fmt.Errorf("reverting the deletion of volume %q: a deleted volume cannot be restored; create a volume from its snapshot %s if it is needed", id, orNone(snap)))
	}
	nid, ok := stateString(o.After, "newVolumeId")
	if !ok || !volumeIDPattern.MatchString(nid) {
		return remediation.Failed(nil, fmt.Errorf("reverting %s on %s %q: the outcome's after has no newVolumeId, which undo needs (an outcome of a migration not finished, of an older version, or edited)", r.Name(), o.ResourceType, id))
	}
	inst, attached := stateString(o.Before, "instanceId")
	dev, _ := stateString(o.Before, "device")
	dot, hasDOT := stateBool(o.Before, "deleteOnTermination")
	if attached && (dev == "" || !hasDOT) {
		return missingBefore(r.Name(), o, "device and deleteOnTermination of the attached volume")
	}
	if r.Volumes == nil {
		return remediation.Failed(nil, fmt.Errorf("reverting the migration of volume %q: no EC2 client for volumes", id))
	}
	m := NewVolumeMigrator(r.Volumes, r.Opts)
	orig, found, err := m.describeVolume(ctx, o.Region, id)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	if !found {
		return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("original volume %q no longer exists", id)}
	}
	nv, found, err := m.describeVolume(ctx, o.Region, nid)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	if !found {
		return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("encrypted volume %q no longer exists: volume %q is already the only one", nid, id)}
	}
	now := volumePair(orig, nv)
	var diffs []string
	if v, _ := ec2Tag(orig.Tags, TagMigratedTo); v != nid {
		diffs = append(diffs, fmt.Sprintf("volume %s is tagged %s=%q, the outcome left %s", id, TagMigratedTo, v, nid))
	}
	if len(orig.Attachments) > 0 {
		diffs = append(diffs, fmt.Sprintf("volume %s is attached to %s", id, aws.ToString(orig.Attachments[0].InstanceId)))
	}
	if attached {
		if _, on := attachedTo(nv, inst, dev); !on {
			diffs = append(diffs, fmt.Sprintf("volume %s is not at %s of instance %s, where the outcome left it", nid, dev, inst))
		}
	} else if len(nv.Attachments) > 0 {
		diffs = append(diffs, fmt.Sprintf("volume %s is attached to %s since", nid, aws.ToString(nv.Attachments[0].InstanceId)))
	}
	if len(diffs) > 0 && !req.Force {
		return refuseChanged("the volumes", now, diffs)
	}
	tags := []ec2types.Tag{{Key: aws.String(TagMigratedTo), Value: aws.String("")}, {Key: aws.String(tagStep), Value: aws.String(StepReverted)}}
	if !attached {
		if req.Mode == remediation.ModeDryRun {
			return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: now,
				Reason: fmt.Sprintf("would tag volume %s %s=%s so that it is used and not migrated again; encrypted volume %s would be kept", id, tagStep, StepReverted, nid)}
		}
		if _, err := r.Volumes.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags}, ec2Region(o.Region)); err != nil {
			return remediation.Failed(now, fmt.Errorf("tagging volume %q as reverted: %w", id, err))
		}
		got, _, err := m.describeVolume(ctx, o.Region, id)
		if err != nil {
			return remediation.Unverified(now, fmt.Errorf("verifying: %w", err))
		}
		after := volumePair(got, nv)
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: after,
			Reason: fmt.Sprintf("volume %s is the volume again (tagged %s=%s, not migrated again); nothing was attached, so nothing was stopped: point whatever used %s back at %s; encrypted volume %s is kept, delete it once it is not needed", id, tagStep, StepReverted, nid, id, nid)}
	}
	i, err := m.describeInstance(ctx, o.Region, inst)
	if err != nil {
		return remediation.Failed(now, err)
	}
	if !stopAllowed(i) {
		return remediation.Result{Action: remediation.ActionNeedsManual, Before: now, After: now,
			Reason: fmt.Sprintf("not reverted: swapping volume %s back stops instance %s, which is not tagged %s=true; tag it, or swap the volumes by hand", id, inst, TagStopAllowed)}
	}
	running := instanceState(i) == ec2types.InstanceStateNameRunning
	if g, ok := ec2Tag(i.Tags, "aws:autoscaling:groupName"); ok && running {
		// as in the migration: the group would replace the stopped
		// instance, deleting the volumes deleted on termination
		return remediation.Result{Action: remediation.ActionNeedsManual, Before: now, After: now,
			Reason: fmt.Sprintf("not reverted: swapping volume %s back stops instance %s of Auto Scaling group %s, which would replace it: swap the volumes by hand, with the instance in Standby (the tag stays, so undo cannot tell)", id, inst, g)}
	}
	steps := []string{}
	if running {
		steps = append(steps, "stop instance "+inst)
	}
	steps = append(steps, "detach "+nid, fmt.Sprintf("attach %s at %s", id, dev), fmt.Sprintf("set DeleteOnTermination=%t", dot))
	if running {
		steps = append(steps, "start instance "+inst)
	}
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: now, Reason: "would " + strings.Join(steps, ", ") + "; encrypted volume " + nid + " would be kept"}
	}
	var did []string
	stopped := false // by this undo: a failure after it must not leave the instance down
	fail := func(err error) remediation.Result {
		res := remediation.Failed(now, err)
		if len(did) > 0 {
			res.Reason += "; done: " + strings.Join(did, ", ")
			res.Wrote = true
		}
		if stopped {
			undone, rerr := r.revertRecover(ctx, m, o.Region, inst, dev, id, nid)
			if len(undone) > 0 {
				res.Reason += "; undone: " + strings.Join(undone, ", ")
			}
			if rerr != nil {
				res.Reason += fmt.Sprintf("; instance %s may be left stopped: %v", inst, rerr)
			}
		}
		return res
	}
	wait := func(what string, done func() (bool, error)) error {
		for n := 0; ; n++ {
			ok, err := done()
			if err != nil || ok {
				return err
			}
			if n >= revertWaits {
				return fmt.Errorf("waiting for %s: not done after %d reads", what, n+1)
			}
			if err := sleepCtx(ctx, max(r.Opts.VerifyInterval, 0)); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
	}
	if running {
		if _, err := r.Volumes.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst}}, ec2Region(o.Region)); err != nil {
			return fail(fmt.Errorf("stopping instance %q: %w", inst, err))
		}
		stopped = true
		did = append(did, "stopped instance "+inst)
	}
	if err := wait("instance "+inst+" to stop", func() (bool, error) {
		i, err := m.describeInstance(ctx, o.Region, inst)
		return instanceState(i) == ec2types.InstanceStateNameStopped, err
	}); err != nil {
		return fail(err)
	}
	volumeDone := func(vid string, cond func(ec2types.Volume) bool) func() (bool, error) {
		return func() (bool, error) {
			v, _, err := m.describeVolume(ctx, o.Region, vid)
			return err == nil && cond(v), err
		}
	}
	if _, on := attachedTo(nv, inst, ""); on {
		if _, err := r.Volumes.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(nid), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(o.Region)); err != nil {
			return fail(fmt.Errorf("detaching volume %q from instance %q: %w", nid, inst, err))
		}
		did = append(did, "detached "+nid)
		if err := wait("volume "+nid+" to detach", volumeDone(nid, isDetached(inst))); err != nil {
			return fail(err)
		}
	}
	if _, err := r.Volumes.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(o.Region)); err != nil {
		return fail(fmt.Errorf("attaching volume %q to instance %q at %s: %w", id, inst, dev, err))
	}
	did = append(did, fmt.Sprintf("attached %s at %s", id, dev))
	if err := wait("volume "+id+" to attach", volumeDone(id, isAttached(inst, dev))); err != nil {
		return fail(err)
	}
	if _, err := r.Volumes.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(inst),
		BlockDeviceMappings: []ec2types.InstanceBlockDeviceMappingSpecification{{DeviceName: aws.String(dev),
			Ebs: &ec2types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(dot), VolumeId: aws.String(id)}}},
	}, ec2Region(o.Region)); err != nil {
		return fail(fmt.Errorf("setting DeleteOnTermination=%t for %s of instance %q: %w", dot, dev, inst, err))
	}
	if _, err := r.Volumes.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags}, ec2Region(o.Region)); err != nil {
		return fail(fmt.Errorf("tagging volume %q as reverted: %w", id, err))
	}
	if running {
		if _, err := r.Volumes.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{inst}}, ec2Region(o.Region)); err != nil {
			return fail(fmt.Errorf("starting instance %q: %w", inst, err))
		}
		did = append(did, "started instance "+inst)
	}
	got, _, err := m.describeVolume(ctx, o.Region, id)
	if err == nil && !isAttached(inst, dev)(got) {
		err = fmt.Errorf("volume %q is not attached at %s of instance %q", id, dev, inst)
	}
	if err != nil {
		return remediation.Unverified(now, fmt.Errorf("verifying: %w", err))
	}
	gotNew, _, _ := m.describeVolume(ctx, o.Region, nid)
	after := volumePair(got, gotNew)
	after["deleteOnTermination"] = dot
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: after,
		Reason: fmt.Sprintf("swapped volume %s back at %s of instance %s (%s); encrypted volume %s is kept, detached: delete it once it is not needed", id, dev, inst, strings.Join(did, ", "), nid)}
}

// revertRecover runs the instance again after an undo that stopped it
// failed half way: if neither volume is at the device (the copy detached,
// the original not attached), the copy goes back first, so that the
// instance starts as the migration left it.
func (r *EBSEncryption) revertRecover(ctx context.Context, m *VolumeMigrator, region, inst, dev, id, nid string) ([]string, error) {
	var undone []string
	orig, _, err := m.describeVolume(ctx, region, id)
	if err != nil {
		return undone, err
	}
	nv, _, err := m.describeVolume(ctx, region, nid)
	if err != nil {
		return undone, err
	}
	_, origOn := attachedTo(orig, inst, dev)
	_, newOn := attachedTo(nv, inst, dev)
	if !origOn && !newOn {
		if _, err := r.Volumes.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(nid), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(region)); err != nil {
			return undone, fmt.Errorf("attaching volume %q back to instance %q at %s: %w", nid, inst, dev, err)
		}
		undone = append(undone, fmt.Sprintf("attached %s back at %s", nid, dev))
	}
	for n := 0; ; n++ {
		i, err := m.describeInstance(ctx, region, inst)
		if err != nil {
			return undone, err
		}
		if instanceState(i) == ec2types.InstanceStateNameStopped {
			break
		}
		if n >= revertWaits {
			return undone, fmt.Errorf("instance %q is %s, not stopped, after %d reads", inst, instanceState(i), n+1)
		}
		if err := sleepCtx(ctx, max(r.Opts.VerifyInterval, 0)); err != nil {
			return undone, err
		}
	}
	if _, err := r.Volumes.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{inst}}, ec2Region(region)); err != nil {
		return undone, fmt.Errorf("starting instance %q: %w", inst, err)
	}
	return append(undone, "started instance "+inst), nil
}

// volumePair is what an undo reads: the original and its encrypted copy.
func volumePair(orig, nv ec2types.Volume) map[string]any {
	m := map[string]any{"volumeId": aws.ToString(orig.VolumeId), "encrypted": aws.ToBool(orig.Encrypted), "state": string(orig.State),
		"newVolumeId": aws.ToString(nv.VolumeId), "newVolumeState": string(nv.State)}
	if v, ok := ec2Tag(orig.Tags, tagStep); ok {
		m["migrationStep"] = v
	}
	if len(orig.Attachments) > 0 {
		m["instanceId"], m["device"] = aws.ToString(orig.Attachments[0].InstanceId), aws.ToString(orig.Attachments[0].Device)
	}
	if len(nv.Attachments) > 0 {
		m["newVolumeInstanceId"], m["newVolumeDevice"] = aws.ToString(nv.Attachments[0].InstanceId), aws.ToString(nv.Attachments[0].Device)
	}
	return m
}
