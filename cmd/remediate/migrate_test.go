package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

const (
	migTestRegion   = "eu-west-1"
	migTestZone     = "eu-west-1b"
	migTestInstance = "i-0aaaabbbbcccc1111"
	migTestKey      = "arn:aws:kms:eu-west-1:123456789012:key/11112222-3333-4444-5555-666677778888"
)

// fakeVolumes is the EC2 of one region with volumes, snapshots and
// instances, enough for a migration. Snapshots stay pending for
// pendingPolls describes. It checks the region and the requests it gets.
type fakeVolumes struct {
	t            *testing.T
	vols         map[string]*ec2types.Volume
	snaps        map[string]*ec2types.Snapshot
	insts        map[string]*ec2types.Instance
	polls        map[string]int
	seq          int
	pendingPolls int
	calls        []string
	// createVolumeErr is CreateVolume's answer when set.
	createVolumeErr error
}

func newFakeVolumes(t *testing.T) *fakeVolumes {
	return &fakeVolumes{t: t, vols: map[string]*ec2types.Volume{}, snaps: map[string]*ec2types.Snapshot{},
		insts: map[string]*ec2types.Instance{}, polls: map[string]int{}}
}

func (f *fakeVolumes) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-0%016x", prefix, f.seq)
}

func (f *fakeVolumes) begin(method string, optFns []func(*ec2.Options)) {
	f.calls = append(f.calls, method)
	var o ec2.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != migTestRegion {
		f.t.Errorf("%s sent to region %q, want %q", method, o.Region, migTestRegion)
	}
}

// writes are the calls that change something.
func (f *fakeVolumes) writes() []string {
	var w []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "Describe") {
			w = append(w, c)
		}
	}
	return w
}

func (f *fakeVolumes) count(method string) int {
	n := 0
	for _, c := range f.calls {
		if c == method {
			n++
		}
	}
	return n
}

// addVolume adds an unencrypted gp3 volume with a tag, attached at dev of
// inst when inst is not empty.
func (f *fakeVolumes) addVolume(inst, dev string) string {
	id := f.id("vol")
	f.vols[id] = &ec2types.Volume{VolumeId: aws.String(id), Encrypted: aws.Bool(false), State: ec2types.VolumeStateAvailable,
		AvailabilityZone: aws.String(migTestZone), VolumeType: ec2types.VolumeTypeGp3, Size: aws.Int32(100),
		Iops: aws.Int32(4000), Throughput: aws.Int32(250), Tags: []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("data")}}}
	if inst != "" {
		f.attach(id, inst, dev, true)
	}
	return id
}

func (f *fakeVolumes) attach(vol, inst, dev string, dot bool) {
	v := f.vols[vol]
	v.State = ec2types.VolumeStateInUse
	v.Attachments = []ec2types.VolumeAttachment{{VolumeId: aws.String(vol), InstanceId: aws.String(inst), Device: aws.String(dev), State: ec2types.VolumeAttachmentStateAttached}}
	i := f.insts[inst]
	i.BlockDeviceMappings = append(i.BlockDeviceMappings, ec2types.InstanceBlockDeviceMapping{DeviceName: aws.String(dev),
		Ebs: &ec2types.EbsInstanceBlockDevice{VolumeId: aws.String(vol), DeleteOnTermination: aws.Bool(dot)}})
}

func (f *fakeVolumes) addInstance(id string, state ec2types.InstanceStateName, stopAllowed bool) {
	i := &ec2types.Instance{InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: state}}
	if stopAllowed {
		i.Tags = []ec2types.Tag{{Key: aws.String(remediators.TagStopAllowed), Value: aws.String("true")}}
	}
	f.insts[id] = i
}

func fakeHasTag(tags []ec2types.Tag, k, v string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == k && aws.ToString(t.Value) == v {
			return true
		}
	}
	return false
}

// fakeMatches applies tag:K and attachment.instance-id filters.
func fakeMatches(tags []ec2types.Tag, attachments []ec2types.VolumeAttachment, filters []ec2types.Filter) bool {
	for _, fl := range filters {
		name := aws.ToString(fl.Name)
		if k, ok := strings.CutPrefix(name, "tag:"); ok && !fakeHasTag(tags, k, fl.Values[0]) {
			return false
		}
		if name == "attachment.instance-id" && (len(attachments) == 0 || aws.ToString(attachments[0].InstanceId) != fl.Values[0]) {
			return false
		}
	}
	return true
}

func fakeAPIError(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (f *fakeVolumes) DescribeVolumes(_ context.Context, in *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	f.begin("DescribeVolumes", optFns)
	out := &ec2.DescribeVolumesOutput{}
	for _, id := range in.VolumeIds {
		v, ok := f.vols[id]
		if !ok {
			return nil, fakeAPIError("InvalidVolume.NotFound")
		}
		c := *v
		c.Tags, c.Attachments = append([]ec2types.Tag(nil), v.Tags...), append([]ec2types.VolumeAttachment(nil), v.Attachments...)
		out.Volumes = append(out.Volumes, c)
	}
	if len(in.VolumeIds) > 0 {
		return out, nil
	}
	for _, v := range f.vols {
		if fakeMatches(v.Tags, v.Attachments, in.Filters) {
			c := *v
			c.Tags, c.Attachments = append([]ec2types.Tag(nil), v.Tags...), append([]ec2types.VolumeAttachment(nil), v.Attachments...)
			out.Volumes = append(out.Volumes, c)
		}
	}
	return out, nil
}

func (f *fakeVolumes) DescribeSnapshots(_ context.Context, in *ec2.DescribeSnapshotsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	f.begin("DescribeSnapshots", optFns)
	if len(in.SnapshotIds) == 0 && (len(in.OwnerIds) != 1 || in.OwnerIds[0] != "self") {
		f.t.Errorf("DescribeSnapshots by filter without OwnerIds=self lists public snapshots too: %+v", in)
	}
	out := &ec2.DescribeSnapshotsOutput{}
	for id, s := range f.snaps {
		if (len(in.SnapshotIds) > 0 && in.SnapshotIds[0] != id) || !fakeMatches(s.Tags, nil, in.Filters) {
			continue
		}
		if s.State == ec2types.SnapshotStatePending {
			if f.polls[id]--; f.polls[id] <= 0 {
				s.State, s.Progress = ec2types.SnapshotStateCompleted, aws.String("100%")
			} else {
				s.Progress = aws.String(fmt.Sprintf("%d%%", 100/(f.polls[id]+1)))
			}
		}
		out.Snapshots = append(out.Snapshots, *s)
	}
	return out, nil
}

func (f *fakeVolumes) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.begin("DescribeInstances", optFns)
	i, ok := f.insts[in.InstanceIds[0]]
	if !ok {
		return nil, fakeAPIError("InvalidInstanceID.NotFound")
	}
	c := *i
	c.State = &ec2types.InstanceState{Name: i.State.Name}
	c.BlockDeviceMappings = append([]ec2types.InstanceBlockDeviceMapping(nil), i.BlockDeviceMappings...)
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{c}}}}, nil
}

func (f *fakeVolumes) CreateSnapshot(_ context.Context, in *ec2.CreateSnapshotInput, optFns ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error) {
	f.begin("CreateSnapshot", optFns)
	vid := aws.ToString(in.VolumeId)
	if f.vols[vid] == nil || len(in.TagSpecifications) != 1 || !fakeHasTag(in.TagSpecifications[0].Tags, remediators.TagMigratedFrom, vid) {
		f.t.Errorf("CreateSnapshot of %q without the tag naming it: %+v", vid, in.TagSpecifications)
		return nil, fakeAPIError("InvalidParameterValue")
	}
	id := f.id("snap")
	s := &ec2types.Snapshot{SnapshotId: aws.String(id), VolumeId: in.VolumeId, State: ec2types.SnapshotStatePending, Progress: aws.String("0%"), Tags: in.TagSpecifications[0].Tags}
	if f.pendingPolls == 0 {
		s.State, s.Progress = ec2types.SnapshotStateCompleted, aws.String("100%")
	}
	f.polls[id] = f.pendingPolls
	f.snaps[id] = s
	return &ec2.CreateSnapshotOutput{SnapshotId: aws.String(id), State: s.State, Progress: s.Progress}, nil
}

func (f *fakeVolumes) CreateVolume(_ context.Context, in *ec2.CreateVolumeInput, optFns ...func(*ec2.Options)) (*ec2.CreateVolumeOutput, error) {
	f.begin("CreateVolume", optFns)
	if f.createVolumeErr != nil {
		return nil, f.createVolumeErr
	}
	s := f.snaps[aws.ToString(in.SnapshotId)]
	if !aws.ToBool(in.Encrypted) || aws.ToString(in.AvailabilityZone) != migTestZone || s == nil || s.State != ec2types.SnapshotStateCompleted || len(in.TagSpecifications) != 1 {
		f.t.Errorf("CreateVolume: %+v (want Encrypted, the original's zone, a completed snapshot, tags)", in)
		return nil, fakeAPIError("InvalidParameterValue")
	}
	id := f.id("vol")
	f.vols[id] = &ec2types.Volume{VolumeId: aws.String(id), Encrypted: aws.Bool(true), KmsKeyId: in.KmsKeyId, State: ec2types.VolumeStateAvailable,
		AvailabilityZone: in.AvailabilityZone, VolumeType: in.VolumeType, Size: in.Size, Iops: in.Iops, Throughput: in.Throughput,
		SnapshotId: in.SnapshotId, Tags: in.TagSpecifications[0].Tags}
	return &ec2.CreateVolumeOutput{VolumeId: aws.String(id), State: ec2types.VolumeStateCreating, Encrypted: aws.Bool(true)}, nil
}

func (f *fakeVolumes) CreateTags(_ context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.begin("CreateTags", optFns)
	for _, r := range in.Resources {
		v, ok := f.vols[r]
		if !ok {
			f.t.Errorf("CreateTags on %q, not a volume", r)
			continue
		}
	tags:
		for _, t := range in.Tags {
			for i := range v.Tags {
				if aws.ToString(v.Tags[i].Key) == aws.ToString(t.Key) {
					v.Tags[i].Value = t.Value
					continue tags
				}
			}
			v.Tags = append(v.Tags, t)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

func (f *fakeVolumes) StopInstances(_ context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f.begin("StopInstances", optFns)
	i := f.insts[in.InstanceIds[0]]
	if !fakeHasTag(i.Tags, remediators.TagStopAllowed, "true") {
		f.t.Errorf("StopInstances on %s, which is not tagged %s=true", aws.ToString(i.InstanceId), remediators.TagStopAllowed)
	}
	i.State.Name = ec2types.InstanceStateNameStopped
	return &ec2.StopInstancesOutput{}, nil
}

func (f *fakeVolumes) StartInstances(_ context.Context, in *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	f.begin("StartInstances", optFns)
	i := f.insts[in.InstanceIds[0]]
	if i.State.Name != ec2types.InstanceStateNameStopped {
		f.t.Errorf("StartInstances on %s in state %s", aws.ToString(i.InstanceId), i.State.Name)
	}
	i.State.Name = ec2types.InstanceStateNameRunning
	return &ec2.StartInstancesOutput{}, nil
}

func (f *fakeVolumes) DetachVolume(_ context.Context, in *ec2.DetachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	f.begin("DetachVolume", optFns)
	vid, inst := aws.ToString(in.VolumeId), aws.ToString(in.InstanceId)
	v := f.vols[vid]
	if len(v.Attachments) == 0 || aws.ToString(v.Attachments[0].InstanceId) != inst || f.insts[inst].State.Name != ec2types.InstanceStateNameStopped {
		f.t.Errorf("DetachVolume %s from %q: attachments %+v", vid, inst, v.Attachments)
		return nil, fakeAPIError("IncorrectState")
	}
	v.Attachments, v.State = nil, ec2types.VolumeStateAvailable
	i := f.insts[inst]
	var keep []ec2types.InstanceBlockDeviceMapping
	for _, b := range i.BlockDeviceMappings {
		if aws.ToString(b.Ebs.VolumeId) != vid {
			keep = append(keep, b)
		}
	}
	i.BlockDeviceMappings = keep
	return &ec2.DetachVolumeOutput{}, nil
}

func (f *fakeVolumes) AttachVolume(_ context.Context, in *ec2.AttachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	f.begin("AttachVolume", optFns)
	vid, inst, dev := aws.ToString(in.VolumeId), aws.ToString(in.InstanceId), aws.ToString(in.Device)
	for _, b := range f.insts[inst].BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == dev {
			f.t.Errorf("AttachVolume %s at %s of %s: the device is taken", vid, dev, inst)
			return nil, fakeAPIError("InvalidParameterValue")
		}
	}
	// as on AWS, a volume attached after launch has DeleteOnTermination false
	f.attach(vid, inst, dev, false)
	return &ec2.AttachVolumeOutput{}, nil
}

func (f *fakeVolumes) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	f.begin("ModifyInstanceAttribute", optFns)
	for _, m := range in.BlockDeviceMappings {
		for _, b := range f.insts[aws.ToString(in.InstanceId)].BlockDeviceMappings {
			if aws.ToString(b.DeviceName) == aws.ToString(m.DeviceName) {
				b.Ebs.DeleteOnTermination = m.Ebs.DeleteOnTermination
			}
		}
	}
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

func (f *fakeVolumes) DeleteVolume(_ context.Context, in *ec2.DeleteVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error) {
	f.begin("DeleteVolume", optFns)
	f.t.Errorf("DeleteVolume %s: a migration keeps the original by default", aws.ToString(in.VolumeId))
	return &ec2.DeleteVolumeOutput{}, nil
}

// recordedOutcomes is a publisher that keeps what it is given.
type recordedOutcomes struct{ got []remediation.Outcome }

func (p *recordedOutcomes) Publish(_ context.Context, o remediation.Outcome) error {
	p.got = append(p.got, o)
	return nil
}

// migrateTest runs the command's core on the fake, as runMigrateVolume
// wires it, and returns the exit status, the outcome printed on standard
// output, standard error and the published outcomes.
type migrateTest struct {
	f        *fakeVolumes
	slept    []time.Duration
	cancel   func() // called by the n-th sleep, when cancelAt > 0
	cancelAt int
}

func (mt *migrateTest) run(t *testing.T, ctx context.Context, vol string, dryRun, wait bool) (int, remediation.Outcome, string, []remediation.Outcome) {
	t.Helper()
	c, stdout, stderr := testCLI("", nil)
	pub := &recordedOutcomes{}
	opts := remediators.DefaultOptions()
	// no waiting inside a run: every wait is one of --wait's polls
	opts.VerifyAttempts, opts.EBSKMSKeyID = 0, migTestKey
	m := migrateRun{ec2: mt.f, opts: opts, pub: pub, account: "123456789012", region: migTestRegion,
		actor: "arn:aws:iam::123456789012:user/ops", volumeID: vol, dryRun: dryRun, wait: wait, interval: 3 * time.Second,
		show: newMigrateDisplay(stderr, false),
		sleep: func(ctx context.Context, d time.Duration) error {
			mt.slept = append(mt.slept, d)
			if mt.cancelAt > 0 && len(mt.slept) == mt.cancelAt {
				mt.cancel()
			}
			return ctx.Err()
		}}
	code := m.run(ctx, c)
	var o remediation.Outcome
	if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
		t.Fatalf("standard output is not one outcome: %v\n%s", err, stdout)
	}
	if len(pub.got) != 1 {
		t.Errorf("published %d outcomes, want 1 (the final one)", len(pub.got))
	}
	if o.Trigger != remediation.TriggerCLI || o.Rule != "encrypted-volumes" || o.Remediator != "ebs-encryption" ||
		o.ResourceType != "AWS::EC2::Volume" || o.ResourceID != vol || o.Account != "123456789012" || o.Region != migTestRegion || o.Actor == "" || o.EventID == "" {
		t.Errorf("outcome identity: %+v", o)
	}
	return code, o, stderr.String(), pub.got
}

func TestMigrateVolumeDryRunUnattached(t *testing.T) {
	f := newFakeVolumes(t)
	vol := f.addVolume("", "")
	code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, true, false)
	if code != exitOK || o.Action != remediation.ActionDryRun {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("a dry run made writes: %v", w)
	}
	plan, _ := o.After["plan"].([]any)
	all := fmt.Sprint(plan)
	for _, want := range []string{"CreateSnapshot VolumeId=" + vol, "Encrypted=true", "KmsKeyId=" + migTestKey, "Iops=4000", "Throughput=250", "team"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan lacks %q: %s", want, all)
		}
	}
	if strings.Contains(all, "StopInstances") || strings.Contains(all, "DetachVolume") {
		t.Errorf("plan of an unattached volume stops or detaches: %s", all)
	}
	if o.After["downtime"] != "none" || !strings.Contains(stderr, "downtime: none") {
		t.Errorf("downtime %v; stderr:\n%s", o.After["downtime"], stderr)
	}
	// every call of the plan is on standard error, numbered
	for i, call := range plan {
		if !strings.Contains(stderr, fmt.Sprintf("%2d. %s\n", i+1, call)) {
			t.Errorf("stderr lacks call %d %q:\n%s", i+1, call, stderr)
		}
	}
}

func TestMigrateVolumeDryRunAttached(t *testing.T) {
	f := newFakeVolumes(t)
	f.addInstance(migTestInstance, ec2types.InstanceStateNameRunning, true)
	vol := f.addVolume(migTestInstance, "/dev/sdf")
	code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, true, false)
	if code != exitOK || o.Action != remediation.ActionDryRun || len(f.writes()) != 0 {
		t.Fatalf("exit %d, outcome %+v, writes %v\n%s", code, o, f.writes(), stderr)
	}
	all := fmt.Sprint(o.After["plan"])
	for _, want := range []string{"StopInstances InstanceIds=" + migTestInstance, "DetachVolume VolumeId=" + vol, "AttachVolume VolumeId=NEW_VOLUME_ID InstanceId=" + migTestInstance + " Device=/dev/sdf", "StartInstances"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan lacks %q: %s", want, all)
		}
	}
	down, _ := o.After["downtime"].(string)
	if !strings.Contains(down, "instance "+migTestInstance+" is stopped") || !strings.Contains(stderr, "downtime: "+down) {
		t.Errorf("downtime %q; stderr:\n%s", down, stderr)
	}
	if o.Before["instanceId"] != migTestInstance || o.Before["device"] != "/dev/sdf" {
		t.Errorf("before %v", o.Before)
	}
}

// TestMigrateVolumeWait: a snapshot pending for several polls; --wait runs
// again after each interval until the migration is done, showing the
// percentage and each step, and creates one snapshot and one volume.
func TestMigrateVolumeWait(t *testing.T) {
	f := newFakeVolumes(t)
	f.pendingPolls = 4
	vol := f.addVolume("", "")
	mt := &migrateTest{f: f}
	code, o, stderr, _ := mt.run(t, context.Background(), vol, false, true)
	if code != exitOK || o.Action != remediation.ActionRemediated {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if len(mt.slept) < 2 {
		t.Errorf("slept %v: the snapshot was pending for several polls", mt.slept)
	}
	for _, d := range mt.slept {
		if d != 3*time.Second {
			t.Errorf("slept %s between runs, want the interval 3s", d)
		}
	}
	if n := f.count("CreateSnapshot"); n != 1 {
		t.Errorf("%d snapshots created, want 1", n)
	}
	if n := f.count("CreateVolume"); n != 1 {
		t.Errorf("%d volumes created, want 1", n)
	}
	newVol, _ := o.After["newVolumeId"].(string)
	if nv := f.vols[newVol]; nv == nil || !aws.ToBool(nv.Encrypted) || aws.ToString(nv.KmsKeyId) != migTestKey || !fakeHasTag(nv.Tags, "team", "data") {
		t.Errorf("new volume %q: %+v", newVol, nv)
	}
	if o.Before["volumeId"] != vol || !fakeHasTag(f.vols[vol].Tags, remediators.TagMigratedTo, newVol) {
		t.Errorf("before %v; original tags %v", o.Before, f.vols[vol].Tags)
	}
	// the percentages as they rose, then the steps in order
	var pcts []string
	for _, l := range strings.Split(stderr, "\n") {
		if _, p, ok := strings.Cut(l, "step snapshot: final snapshot snap-"); ok && strings.Contains(p, "is pending (") {
			pcts = append(pcts, p)
		}
	}
	if len(pcts) < 2 {
		t.Errorf("progress lines %v, want one per percentage:\n%s", pcts, stderr)
	}
	snapDone := strings.Index(stderr, "snapshot snap-")
	volDone := strings.Index(stderr, "encrypted volume "+newVol+" created")
	done := strings.Index(stderr, "done: ")
	if !strings.Contains(stderr, "completed") || volDone < snapDone || done < volDone {
		t.Errorf("steps not shown in order (%d %d %d):\n%s", snapDone, volDone, done, stderr)
	}
}

// TestMigrateVolumeOneRun: without --wait, one run, in-progress with the
// step and progress (exit 0), and a second command continues it.
func TestMigrateVolumeOneRun(t *testing.T) {
	f := newFakeVolumes(t)
	f.pendingPolls = 3
	vol := f.addVolume("", "")
	mt := &migrateTest{f: f}
	code, o, stderr, _ := mt.run(t, context.Background(), vol, false, false)
	if code != exitOK || o.Action != remediation.ActionInProgress || o.After["migrationStep"] != remediators.StepSnapshot || o.After["snapshotProgress"] == nil {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if len(mt.slept) != 0 {
		t.Errorf("slept %v without --wait", mt.slept)
	}
	if !strings.Contains(stderr, "under way: ") || !strings.Contains(stderr, "again to resume it; the pipeline's sweep continues it only where EBS_MIGRATION is unattached or all") {
		t.Errorf("stderr does not say it is under way and how to go on:\n%s", stderr)
	}
	code, o, stderr, _ = mt.run(t, context.Background(), vol, false, true)
	if code != exitOK || o.Action != remediation.ActionRemediated || f.count("CreateSnapshot") != 1 {
		t.Fatalf("resumed: exit %d, outcome %+v, %d snapshots\n%s", code, o, f.count("CreateSnapshot"), stderr)
	}
	if !strings.Contains(stderr, "under way at step snapshot") {
		t.Errorf("the resumed run does not say where it starts:\n%s", stderr)
	}
}

// TestMigrateVolumeInterrupted: Ctrl-C during --wait stops after the run
// in hand, publishes where it stands, exits 1 and says how to resume.
func TestMigrateVolumeInterrupted(t *testing.T) {
	f := newFakeVolumes(t)
	f.pendingPolls = 50
	vol := f.addVolume("", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mt := &migrateTest{f: f, cancel: cancel, cancelAt: 2}
	code, o, stderr, pub := mt.run(t, ctx, vol, false, true)
	if code != exitFailed || o.Action != remediation.ActionInProgress || len(pub) != 1 || pub[0].Action != remediation.ActionInProgress {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if len(mt.slept) != 2 {
		t.Errorf("slept %d times, want 2 (cancelled in the second)", len(mt.slept))
	}
	if i := strings.Index(stderr, "stopping after the run in hand"); i < 0 || strings.Index(stderr, "interrupted (") < i || !strings.Contains(stderr, "run `remediate migrate-volume "+vol+" --wait` again to resume it") {
		t.Errorf("stderr does not say how to resume:\n%s", stderr)
	}
}

// TestMigrateVolumeRefused: an attached volume whose instance did not opt
// in: the engine's refusal, shown, nothing written, exit 1; the dry run
// says the same.
func TestMigrateVolumeRefused(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		f := newFakeVolumes(t)
		f.addInstance(migTestInstance, ec2types.InstanceStateNameRunning, false)
		vol := f.addVolume(migTestInstance, "/dev/sdf")
		code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, dryRun, !dryRun)
		if code != exitFailed || o.Action != remediation.ActionNeedsManual || !strings.Contains(o.Reason, remediators.TagStopAllowed+"=true") {
			t.Errorf("dry-run %t: exit %d, outcome %+v", dryRun, code, o)
		}
		if !strings.Contains(stderr, "refused (needs-manual): ") || !strings.Contains(stderr, "not tagged "+remediators.TagStopAllowed) {
			t.Errorf("dry-run %t: the refusal is not shown:\n%s", dryRun, stderr)
		}
		if w := f.writes(); len(w) != 0 {
			t.Errorf("dry-run %t: writes %v", dryRun, w)
		}
	}
}

// TestMigrateVolumeAttached: an opted-in running instance: stopped,
// swapped at the same device, started; every step shown.
func TestMigrateVolumeAttached(t *testing.T) {
	f := newFakeVolumes(t)
	f.addInstance(migTestInstance, ec2types.InstanceStateNameRunning, true)
	vol := f.addVolume(migTestInstance, "/dev/sdf")
	code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, false, true)
	if code != exitOK || o.Action != remediation.ActionRemediated {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	newVol, _ := o.After["newVolumeId"].(string)
	var at string
	for _, b := range f.insts[migTestInstance].BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == "/dev/sdf" {
			at = aws.ToString(b.Ebs.VolumeId)
		}
	}
	if at != newVol || f.insts[migTestInstance].State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("/dev/sdf holds %q, want %q; instance %s", at, newVol, f.insts[migTestInstance].State.Name)
	}
	last := -1
	for _, want := range []string{"instance " + migTestInstance + " stopped", "encrypted volume " + newVol + " created",
		"original volume detached from instance " + migTestInstance, "attached to instance " + migTestInstance + " at /dev/sdf", "done: "} {
		i := strings.Index(stderr, want)
		if i <= last {
			t.Errorf("stderr lacks %q after the previous step:\n%s", want, stderr)
		}
		last = max(i, last)
	}
}

// TestMigrateVolumeGoneAndDone: a volume that does not exist is gone
// (exit 1); one migrated earlier is exempt, nothing written (exit 0).
func TestMigrateVolumeGoneAndDone(t *testing.T) {
	f := newFakeVolumes(t)
	code, o, _, _ := (&migrateTest{f: f}).run(t, context.Background(), "vol-0123456789abcdef0", false, false)
	if code != exitFailed || o.Action != remediation.ActionGone {
		t.Errorf("missing volume: exit %d, outcome %+v", code, o)
	}
	vol := f.addVolume("", "")
	if code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, false, true); code != exitOK || o.Action != remediation.ActionRemediated {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	n := len(f.writes())
	for _, dryRun := range []bool{false, true} {
		code, o, _, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, dryRun, false)
		if code != exitOK || o.Action != remediation.ActionExempt {
			t.Errorf("dry-run %t, migrated earlier: exit %d, outcome %+v", dryRun, code, o)
		}
	}
	if w := f.writes(); len(w) != n {
		t.Errorf("runs on a migrated volume wrote %v", w[n:])
	}
}

func TestMigrateVolumeBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "VOLUME_ID is required"},
		{[]string{"--wait"}, nil, "VOLUME_ID is required"},
		{[]string{"vol-1", "--dry-run"}, nil, `"vol-1" is not an EBS volume ID`},
		{[]string{"vol-0123456789abcdef0", "vol-0123456789abcdef1"}, nil, "one VOLUME_ID at a time"},
		{[]string{"vol-0123456789abcdef0", "--region", "Ireland"}, nil, `--region "Ireland"`},
		{[]string{"vol-0123456789abcdef0", "--wait", "--interval", "10ms"}, nil, "--interval 10ms"},
		{[]string{"vol-0123456789abcdef0", "--dry-run", "--wait"}, nil, "do not go together"},
		{[]string{"vol-0123456789abcdef0", "--force"}, nil, "flag provided but not defined: -force"},
		{[]string{"vol-0123456789abcdef0"}, map[string]string{"EBS_MIGRATION_STUCK_AFTER": "soon"}, "EBS_MIGRATION_STUCK_AFTER"},
	} {
		c, stdout, stderr := testCLI("", tc.env)
		code := run(context.Background(), append([]string{"migrate-volume"}, tc.args...), c)
		if code != exitBadArgs || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}

// TestMigrateVolumeFlagsAfterID: the flags may come before or after the
// volume ID; --help is the output, exit 0.
func TestMigrateVolumeHelp(t *testing.T) {
	c, stdout, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"migrate-volume", "--help"}, c); code != exitOK || !strings.Contains(stdout.String(), "Usage: remediate migrate-volume VOLUME_ID") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
}

// TestMigrateDisplayTerminal: on a terminal the snapshot's percentage is
// a bar redrawn in place, and a completed step is a line that clears it.
func TestMigrateDisplayTerminal(t *testing.T) {
	var b bytes.Buffer
	d := newMigrateDisplay(&b, true)
	d.begin("vol-0123456789abcdef0", "123456789012", migTestRegion, volumeState{found: true}, false)
	inProgress := remediation.Result{Action: remediation.ActionInProgress, Reason: "migrating volume vol-0123456789abcdef0 to an encrypted copy, step snapshot: final snapshot snap-1 is pending (40%)"}
	d.status(remediators.MigrationStatus{Step: remediators.StepSnapshot, SnapshotID: "snap-1", SnapshotProgress: "40%", Result: inProgress})
	if !strings.Contains(b.String(), "[########............]  40% snapshot snap-1") {
		t.Errorf("no 40%% bar:\n%q", b.String())
	}
	b.Reset()
	// SnapshotProgress stays set after the snapshot step, as Advance leaves it
	d.status(remediators.MigrationStatus{Step: remediators.StepVolume, SnapshotID: "snap-1", SnapshotProgress: "100%", NewVolumeID: "vol-new", Result: remediation.Result{Action: remediation.ActionInProgress, Reason: "x, step volume: new volume vol-new is being created"}})
	out := b.String()
	if !strings.HasPrefix(out, "\r") || !strings.Contains(out, "migrate-volume: snapshot snap-1 completed\n") || !strings.HasSuffix(out, d.bar) || !strings.Contains(d.bar, "new volume vol-new is being created") {
		t.Errorf("after the snapshot: %q (bar %q)", out, d.bar)
	}
	if strings.Contains(out, "[#") {
		t.Errorf("the snapshot's bar is drawn after the snapshot completed: %q", out)
	}
}

// remediate migrate-volume end to end on moto, as a user runs it, with
// EBS_MIGRATION off (the command is the consent). moto completes snapshots
// at once (pending ones are tested on the fake above) and leaves
// DeleteOnTermination false after AttachVolume (the migration restores it).
func TestMigrateVolumeCommandOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	archiveDir := t.TempDir()
	env := map[string]string{"METRICS_MODE": "off", "ARCHIVE_DIR": archiveDir, "AWS_ENDPOINT_URL": srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ec2c := ec2.NewFromConfig(srv.AWSConfig())
	zone := emulator.Region + "a"
	created, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(20), VolumeType: ec2types.VolumeTypeGp3,
		Iops: aws.Int32(4000), Throughput: aws.Int32(250), TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume,
			Tags: []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("data")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	vol := aws.ToString(created.VolumeId)
	runInstance := func(optIn bool) string {
		t.Helper()
		in := &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			Placement: &ec2types.Placement{AvailabilityZone: aws.String(zone)}}
		if optIn {
			in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String(remediators.TagStopAllowed), Value: aws.String("true")}}}}
		}
		out, err := ec2c.RunInstances(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	attached := func(inst string) string {
		t.Helper()
		out, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(10), VolumeType: ec2types.VolumeTypeGp3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ec2c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: out.VolumeId, InstanceId: aws.String(inst), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VolumeId)
	}
	migrate := func(args ...string) (int, remediation.Outcome, string) {
		t.Helper()
		c, stdout, stderr := testCLI("", env)
		code := run(ctx, append([]string{"migrate-volume"}, args...), c)
		var o remediation.Outcome
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			t.Fatalf("%v: exit %d, standard output is not one outcome: %v\n%s\n%s", args, code, err, stdout, stderr)
		}
		return code, o, stderr.String()
	}
	describe := func(id string) ec2types.Volume {
		t.Helper()
		out, err := ec2c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
		if err != nil || len(out.Volumes) != 1 {
			t.Fatalf("describing %s: %v", id, err)
		}
		return out.Volumes[0]
	}

	// the plan, nothing written
	code, o, stderr := migrate(vol, "--dry-run")
	if code != exitOK || o.Action != remediation.ActionDryRun || !strings.Contains(stderr, "CreateSnapshot VolumeId="+vol) || len(describe(vol).Tags) != 1 {
		t.Fatalf("--dry-run: exit %d, outcome %+v, tags %v\n%s", code, o, describe(vol).Tags, stderr)
	}
	// the migration, with EBS_MIGRATION off
	code, o, stderr = migrate(vol, "--wait", "--interval", "1s")
	newVol, _ := o.After["newVolumeId"].(string)
	if code != exitOK || o.Action != remediation.ActionRemediated || newVol == "" || o.Trigger != remediation.TriggerCLI || o.Account == "" || o.Region != emulator.Region {
		t.Fatalf("--wait: exit %d, outcome %+v\n%s", code, o, stderr)
	}
	nv := describe(newVol)
	if !aws.ToBool(nv.Encrypted) || aws.ToInt32(nv.Iops) != 4000 || aws.ToInt32(nv.Throughput) != 250 || aws.ToString(nv.AvailabilityZone) != zone || !fakeHasTag(nv.Tags, "team", "data") {
		t.Errorf("new volume %+v", nv)
	}
	if !fakeHasTag(describe(vol).Tags, remediators.TagMigratedTo, newVol) {
		t.Errorf("original's tags %v", describe(vol).Tags)
	}
	if !strings.Contains(stderr, "encrypted volume "+newVol+" created") || !strings.Contains(stderr, "done: ") {
		t.Errorf("steps not shown:\n%s", stderr)
	}
	// a second run changes nothing
	if code, o, _ := migrate(vol); code != exitOK || o.Action != remediation.ActionExempt {
		t.Errorf("second run: exit %d, outcome %+v", code, o)
	}

	// an instance without the opt-in tag: refused, left alone
	inst := runInstance(false)
	other := attached(inst)
	code, o, stderr = migrate(other, "--wait", "--interval", "1s")
	if code != exitFailed || o.Action != remediation.ActionNeedsManual || !strings.Contains(stderr, "refused (needs-manual)") {
		t.Errorf("not opted in: exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if v := describe(other); len(v.Tags) != 0 || len(v.Attachments) != 1 {
		t.Errorf("not opted in: volume %+v changed", v)
	}

	// an opted-in instance: stopped, swapped at the same device, started
	inst = runInstance(true)
	data := attached(inst)
	code, o, stderr = migrate(data, "--dry-run")
	if code != exitOK || o.Action != remediation.ActionDryRun || !strings.Contains(fmt.Sprint(o.After["downtime"]), "instance "+inst+" is stopped") {
		t.Errorf("attached --dry-run: exit %d, outcome %+v\n%s", code, o, stderr)
	}
	code, o, stderr = migrate(data, "--wait", "--interval", "1s", "--region", emulator.Region)
	newVol, _ = o.After["newVolumeId"].(string)
	if code != exitOK || o.Action != remediation.ActionRemediated {
		t.Fatalf("attached: exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if a := describe(newVol).Attachments; len(a) != 1 || aws.ToString(a[0].InstanceId) != inst || aws.ToString(a[0].Device) != "/dev/sdf" {
		t.Errorf("new volume's attachments %+v", a)
	}
	if !strings.Contains(stderr, "instance "+inst+" stopped") {
		t.Errorf("the stop is not shown:\n%s", stderr)
	}

	// MODE=dry-run, the pipeline's safety switch: a plan, nothing written
	fresh, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(5), VolumeType: ec2types.VolumeTypeGp3})
	if err != nil {
		t.Fatal(err)
	}
	env["MODE"] = "dry-run"
	code, o, stderr = migrate(aws.ToString(fresh.VolumeId), "--wait")
	if code != exitOK || o.Action != remediation.ActionDryRun || len(describe(aws.ToString(fresh.VolumeId)).Tags) != 0 || !strings.Contains(stderr, "runs in dry-run (MODE / REMEDIATOR_MODES)") {
		t.Errorf("MODE=dry-run: exit %d, outcome %+v, tags %v\n%s", code, o, describe(aws.ToString(fresh.VolumeId)).Tags, stderr)
	}
	delete(env, "MODE")

	// a region the pipeline leaves out: said
	env["REGIONS"] = "eu-west-1"
	if code, _, stderr := migrate(newVol, "--dry-run"); code != exitOK || !strings.Contains(stderr, "region "+emulator.Region+" is not in REGIONS (eu-west-1)") {
		t.Errorf("region not in REGIONS: exit %d\n%s", code, stderr)
	}

	// every run's outcome went to the archive, like invoke's
	var archived int
	err = filepath.WalkDir(archiveDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		archived += bytes.Count(b, []byte(`"trigger":"cli"`))
		return err
	})
	if err != nil || archived != 8 {
		t.Errorf("archived %d outcomes of trigger cli, want 8 (one per run): %v", archived, err)
	}
}

// TestMigrateVolumeExemptTag: the exemption tag keeps the pipeline's
// automatic runs away; the command, the consent, migrates and says so.
func TestMigrateVolumeExemptTag(t *testing.T) {
	f := newFakeVolumes(t)
	vol := f.addVolume("", "")
	f.vols[vol].Tags = append(f.vols[vol].Tags, ec2types.Tag{Key: aws.String(remediators.DefaultExemptTagKey), Value: aws.String("off")})
	code, o, stderr, _ := (&migrateTest{f: f}).run(t, context.Background(), vol, false, true)
	if code != exitOK || o.Action != remediation.ActionRemediated {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if !strings.Contains(stderr, "note: tag "+remediators.DefaultExemptTagKey+"=off exempts the volume from auto-remediation, not from this command") {
		t.Errorf("no note about the exemption tag:\n%s", stderr)
	}
}

// TestMigrateRegion: --region, else the SDK's region, else REGIONS' first;
// none at all is a bad setting (exit 2).
func TestMigrateRegion(t *testing.T) {
	ctx := context.Background()
	noRegion(t)
	for _, tc := range []struct {
		flag    string
		regions []string
		want    string
	}{
		{"eu-west-2", []string{"ap-south-1"}, "eu-west-2"},
		{"", []string{"ap-south-1", "eu-west-1"}, "ap-south-1"},
	} {
		cfg, err := migrateAWSConfig(ctx, tc.flag, tc.regions)
		if err != nil || cfg.Region != tc.want {
			t.Errorf("no AWS_REGION, --region %q, REGIONS %v: region %q, %v; want %q", tc.flag, tc.regions, cfg.Region, err, tc.want)
		}
	}
	if _, err := migrateAWSConfig(ctx, "", nil); !errors.Is(err, app.ErrNoRegion) {
		t.Errorf("no region anywhere: %v, want ErrNoRegion", err)
	}
	c, _, stderr := testCLI("", nil)
	if code := run(ctx, []string{"migrate-volume", "vol-0123456789abcdef0", "--dry-run"}, c); code != exitBadArgs || !strings.Contains(stderr.String(), "no AWS region") {
		t.Errorf("no region: exit %d, stderr %q", code, stderr)
	}
	t.Setenv("AWS_REGION", "us-west-2")
	for flag, want := range map[string]string{"": "us-west-2", "eu-west-2": "eu-west-2"} {
		if cfg, err := migrateAWSConfig(ctx, flag, []string{"ap-south-1"}); err != nil || cfg.Region != want {
			t.Errorf("AWS_REGION us-west-2, --region %q: region %q, %v; want %q", flag, cfg.Region, err, want)
		}
	}
}

// TestMigrateVolumeFailed: a call that fails ends the command with the
// failed outcome, published, and exit 1; --wait does not go on.
func TestMigrateVolumeFailed(t *testing.T) {
	f := newFakeVolumes(t)
	f.createVolumeErr = &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not authorized to perform ec2:CreateVolume"}
	vol := f.addVolume("", "")
	mt := &migrateTest{f: f}
	code, o, stderr, pub := mt.run(t, context.Background(), vol, false, true)
	if code != exitFailed || o.Action != remediation.ActionFailed || !strings.Contains(o.Error, "UnauthorizedOperation") || pub[0].Action != remediation.ActionFailed {
		t.Fatalf("exit %d, outcome %+v\n%s", code, o, stderr)
	}
	if len(mt.slept) != 0 || f.count("CreateVolume") != 1 {
		t.Errorf("--wait went on after the failure: slept %v, %d CreateVolume", mt.slept, f.count("CreateVolume"))
	}
	if !strings.Contains(stderr, "failed: ") || !strings.Contains(stderr, "ec2:CreateVolume") {
		t.Errorf("the failure is not shown:\n%s", stderr)
	}
}

// TestMigrateResumeHint: after the stop the hint warns that the instance
// may stay stopped; it says whether the pipeline's sweep goes on with it.
func TestMigrateResumeHint(t *testing.T) {
	opts := remediators.DefaultOptions()
	opts.EBSMigration = remediators.EBSMigrationAll
	h := resumeHint("vol-0123456789abcdef0", remediators.MigrationStatus{Step: remediators.StepDetach, InstanceID: migTestInstance}, opts)
	if !strings.Contains(h, "instance "+migTestInstance+" may stay stopped") || !strings.Contains(h, "next sweep continues it too") || !strings.Contains(h, "EBS_MIGRATION_STUCK_AFTER=6h") {
		t.Errorf("after the stop, EBS_MIGRATION=all: %q", h)
	}
	opts.EBSMigration = remediators.EBSMigrationOff
	h = resumeHint("vol-0123456789abcdef0", remediators.MigrationStatus{Step: remediators.StepSeed, InstanceID: migTestInstance}, opts)
	if strings.Contains(h, "may stay stopped") || strings.Contains(h, "continues it too") {
		t.Errorf("before the stop, EBS_MIGRATION=off: %q", h)
	}
}
