package remediators

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// migFake is the EC2 of one region with volumes, snapshots and instances,
// enough for the migration's state machine. Snapshots stay pending for
// pendingPolls describes; a stop leaves the instance stopping for
// stopPolls describes. crashAfter > 0 makes every call after that many
// writes fail, as if the run had died there.
type migFake struct {
	t testing.TB
	calls
	errs map[string]error

	vols   map[string]*ec2types.Volume
	snaps  map[string]*ec2types.Snapshot
	insts  map[string]*ec2types.Instance
	seq    int
	now    *time.Time
	polls  map[string]int // describes left before a transition completes, by resource
	ctx    context.Context
	cancel context.CancelFunc

	pendingPolls, stopPolls int
	crashAfter, writeCount  int
	writeNames              []string // every write, Stop, Start, Detach and Attach included, as crashAfter counts them
	started, stopped        []string // instance IDs
}

const (
	migInstance = "i-0aaaabbbbcccc1111"
	migZone     = "eu-west-1b"
)

func newMigFake(t testing.TB) *migFake {
	return &migFake{t: t, errs: map[string]error{}, vols: map[string]*ec2types.Volume{}, snaps: map[string]*ec2types.Snapshot{},
		insts: map[string]*ec2types.Instance{}, polls: map[string]int{}}
}

func (f *migFake) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-0%016x", prefix, f.seq)
}

// addVolume adds an unencrypted gp3 volume, attached at dev of inst when
// inst is not empty.
func (f *migFake) addVolume(inst, dev string, tags ...ec2types.Tag) string {
	id := f.id("vol")
	v := &ec2types.Volume{VolumeId: aws.String(id), Encrypted: aws.Bool(false), State: ec2types.VolumeStateAvailable,
		AvailabilityZone: aws.String(migZone), VolumeType: ec2types.VolumeTypeGp3, Size: aws.Int32(100),
		Iops: aws.Int32(4000), Throughput: aws.Int32(250), Tags: tags}
	f.vols[id] = v
	if inst != "" {
		f.attach(id, inst, dev, true)
	}
	return id
}

func (f *migFake) renameVolume(id, to string) string {
	v := f.vols[id]
	delete(f.vols, id)
	v.VolumeId = aws.String(to)
	f.vols[to] = v
	return to
}

func (f *migFake) attach(vol, inst, dev string, dot bool) {
	v := f.vols[vol]
	v.State = ec2types.VolumeStateInUse
	v.Attachments = []ec2types.VolumeAttachment{{VolumeId: aws.String(vol), InstanceId: aws.String(inst), Device: aws.String(dev), State: ec2types.VolumeAttachmentStateAttached}}
	i := f.insts[inst]
	i.BlockDeviceMappings = append(i.BlockDeviceMappings, ec2types.InstanceBlockDeviceMapping{DeviceName: aws.String(dev),
		Ebs: &ec2types.EbsInstanceBlockDevice{VolumeId: aws.String(vol), DeleteOnTermination: aws.Bool(dot)}})
}

func (f *migFake) addInstance(id string, state ec2types.InstanceStateName, stopAllowed bool) {
	i := &ec2types.Instance{InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: state}, Placement: &ec2types.Placement{AvailabilityZone: aws.String(migZone)}}
	if stopAllowed {
		i.Tags = []ec2types.Tag{{Key: aws.String(TagStopAllowed), Value: aws.String("true")}}
	}
	f.insts[id] = i
}

func (f *migFake) begin(ctx context.Context, method string, write bool, optFns []func(*ec2.Options)) error {
	if f.crashAfter > 0 && f.writeCount >= f.crashAfter {
		f.add(method + "(crashed)")
		return context.Canceled
	}
	if err := beginEC2(f.t, &f.calls, testRegion, f.errs, method, optFns); err != nil {
		return err
	}
	if write {
		f.writeCount++
		f.writeNames = append(f.writeNames, method)
	}
	return nil
}

func hasTag(tags []ec2types.Tag, k, v string) bool {
	got, ok := ec2Tag(tags, k)
	return ok && got == v
}

func matches(tags []ec2types.Tag, filters []ec2types.Filter) bool {
	for _, fl := range filters {
		name := aws.ToString(fl.Name)
		k, ok := strings.CutPrefix(name, "tag:")
		if !ok {
			continue
		}
		if !hasTag(tags, k, fl.Values[0]) {
			return false
		}
	}
	return true
}

func (f *migFake) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	if err := f.begin(ctx, "DescribeVolumes", false, optFns); err != nil {
		return nil, err
	}
	out := &ec2.DescribeVolumesOutput{}
	if len(in.VolumeIds) > 0 {
		for _, id := range in.VolumeIds {
			v, ok := f.vols[id]
			if !ok {
				return nil, apiErr("InvalidVolume.NotFound")
			}
			out.Volumes = append(out.Volumes, copyVolume(v))
		}
		return out, nil
	}
	for _, v := range f.vols {
		if matches(v.Tags, in.Filters) && attachedMatches(v, in.Filters) {
			out.Volumes = append(out.Volumes, copyVolume(v))
		}
	}
	return out, nil
}

func attachedMatches(v *ec2types.Volume, filters []ec2types.Filter) bool {
	for _, fl := range filters {
		if aws.ToString(fl.Name) == "attachment.instance-id" {
			if len(v.Attachments) == 0 || aws.ToString(v.Attachments[0].InstanceId) != fl.Values[0] {
				return false
			}
		}
	}
	return true
}

func copyVolume(v *ec2types.Volume) ec2types.Volume {
	c := *v
	c.Tags = append([]ec2types.Tag(nil), v.Tags...)
	c.Attachments = append([]ec2types.VolumeAttachment(nil), v.Attachments...)
	return c
}

func (f *migFake) DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	if err := f.begin(ctx, "DescribeSnapshots", false, optFns); err != nil {
		return nil, err
	}
	out := &ec2.DescribeSnapshotsOutput{}
	for id, s := range f.snaps {
		if len(in.SnapshotIds) > 0 && in.SnapshotIds[0] != id {
			continue
		}
		if len(in.SnapshotIds) == 0 && (len(in.OwnerIds) != 1 || in.OwnerIds[0] != "self") {
			f.t.Errorf("DescribeSnapshots by filter without OwnerIds=self lists public snapshots too: %+v", in)
		}
		if !matches(s.Tags, in.Filters) {
			continue
		}
		if s.State == ec2types.SnapshotStatePending {
			if f.polls[id]--; f.polls[id] <= 0 {
				s.State, s.Progress = ec2types.SnapshotStateCompleted, aws.String("100%")
			} else {
				s.Progress = aws.String(fmt.Sprintf("%d%%", 100/(f.polls[id]+1)))
			}
		}
		c := *s
		out.Snapshots = append(out.Snapshots, c)
	}
	return out, nil
}

func (f *migFake) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := f.begin(ctx, "DescribeInstances", false, optFns); err != nil {
		return nil, err
	}
	i, ok := f.insts[in.InstanceIds[0]]
	if !ok {
		return nil, apiErr("InvalidInstanceID.NotFound")
	}
	if i.State.Name == ec2types.InstanceStateNameStopping {
		if f.polls[*i.InstanceId]--; f.polls[*i.InstanceId] <= 0 {
			i.State.Name = ec2types.InstanceStateNameStopped
		}
	}
	c := *i
	c.State = &ec2types.InstanceState{Name: i.State.Name}
	c.BlockDeviceMappings = append([]ec2types.InstanceBlockDeviceMapping(nil), i.BlockDeviceMappings...)
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{c}}}}, nil
}

func (f *migFake) CreateSnapshot(ctx context.Context, in *ec2.CreateSnapshotInput, optFns ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error) {
	if err := f.begin(ctx, "CreateSnapshot", true, optFns); err != nil {
		return nil, err
	}
	vid := aws.ToString(in.VolumeId)
	if _, ok := f.vols[vid]; !ok {
		f.t.Errorf("CreateSnapshot of unknown volume %q", vid)
	}
	if len(in.TagSpecifications) != 1 || in.TagSpecifications[0].ResourceType != ec2types.ResourceTypeSnapshot || !hasTag(in.TagSpecifications[0].Tags, TagMigratedFrom, vid) {
		f.t.Errorf("CreateSnapshot without the tag naming the volume: %+v", in.TagSpecifications)
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

func (f *migFake) CreateVolume(ctx context.Context, in *ec2.CreateVolumeInput, optFns ...func(*ec2.Options)) (*ec2.CreateVolumeOutput, error) {
	if err := f.begin(ctx, "CreateVolume", true, optFns); err != nil {
		return nil, err
	}
	if !aws.ToBool(in.Encrypted) || aws.ToString(in.AvailabilityZone) == "" || f.snaps[aws.ToString(in.SnapshotId)] == nil {
		f.t.Errorf("CreateVolume: %+v (want Encrypted, a zone and a known snapshot)", in)
	}
	if s := f.snaps[aws.ToString(in.SnapshotId)]; s != nil && s.State != ec2types.SnapshotStateCompleted {
		f.t.Errorf("CreateVolume from snapshot %s in state %s", *s.SnapshotId, s.State)
	}
	if tok := aws.ToString(in.ClientToken); tok == "" || len(tok) > 64 {
		f.t.Errorf("CreateVolume ClientToken %q", tok)
	}
	if userTags(in.TagSpecifications[0].Tags) > 50 {
		return nil, apiErr("TagLimitExceeded")
	}
	id := f.id("vol")
	key := aws.ToString(in.KmsKeyId)
	if key == "" {
		key = "arn:aws:kms:eu-west-1:123456789012:key/default-ebs"
	}
	f.vols[id] = &ec2types.Volume{VolumeId: aws.String(id), Encrypted: aws.Bool(true), KmsKeyId: aws.String(key), State: ec2types.VolumeStateAvailable,
		AvailabilityZone: in.AvailabilityZone, VolumeType: in.VolumeType, Size: in.Size, Iops: in.Iops, Throughput: in.Throughput,
		SnapshotId: in.SnapshotId, Tags: in.TagSpecifications[0].Tags}
	return &ec2.CreateVolumeOutput{VolumeId: aws.String(id), State: ec2types.VolumeStateCreating, Encrypted: aws.Bool(true)}, nil
}

// userTags counts the tags EC2's limit of 50 per resource applies to:
// all but the aws: ones.
func userTags(tags []ec2types.Tag) int {
	n := 0
	for _, t := range tags {
		if !strings.HasPrefix(strings.ToLower(aws.ToString(t.Key)), "aws:") {
			n++
		}
	}
	return n
}

func (f *migFake) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	if err := f.begin(ctx, "CreateTags", true, optFns); err != nil {
		return nil, err
	}
	for _, r := range in.Resources {
		v, ok := f.vols[r]
		if !ok {
			f.t.Errorf("CreateTags on %q, not a volume", r)
			continue
		}
		added := 0
		for _, t := range in.Tags {
			if _, ok := ec2Tag(v.Tags, aws.ToString(t.Key)); !ok {
				added++
			}
		}
		if userTags(v.Tags)+added > 50 {
			return nil, apiErr("TagLimitExceeded")
		}
		for _, t := range in.Tags {
			replaced := false
			for i := range v.Tags {
				if aws.ToString(v.Tags[i].Key) == aws.ToString(t.Key) {
					v.Tags[i].Value, replaced = t.Value, true
				}
			}
			if !replaced {
				v.Tags = append(v.Tags, t)
			}
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

func (f *migFake) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	if err := f.begin(ctx, "StopInstances", true, optFns); err != nil {
		return nil, err
	}
	i := f.insts[in.InstanceIds[0]]
	if !stopAllowed(*i) {
		f.t.Errorf("StopInstances on %s, which is not tagged %s=true", *i.InstanceId, TagStopAllowed)
	}
	f.stopped = append(f.stopped, *i.InstanceId)
	i.State.Name = ec2types.InstanceStateNameStopping
	f.polls[*i.InstanceId] = f.stopPolls
	if f.stopPolls == 0 {
		i.State.Name = ec2types.InstanceStateNameStopped
	}
	return &ec2.StopInstancesOutput{}, nil
}

func (f *migFake) StartInstances(ctx context.Context, in *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	if err := f.begin(ctx, "StartInstances", true, optFns); err != nil {
		return nil, err
	}
	i := f.insts[in.InstanceIds[0]]
	if i.State.Name != ec2types.InstanceStateNameStopped {
		f.t.Errorf("StartInstances on %s in state %s", *i.InstanceId, i.State.Name)
	}
	f.started = append(f.started, *i.InstanceId)
	i.State.Name = ec2types.InstanceStateNamePending
	return &ec2.StartInstancesOutput{}, nil
}

func (f *migFake) DetachVolume(ctx context.Context, in *ec2.DetachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	if err := f.begin(ctx, "DetachVolume", true, optFns); err != nil {
		return nil, err
	}
	vid, inst := aws.ToString(in.VolumeId), aws.ToString(in.InstanceId)
	v := f.vols[vid]
	if inst == "" || len(v.Attachments) == 0 || aws.ToString(v.Attachments[0].InstanceId) != inst {
		f.t.Errorf("DetachVolume %s from %q: attachments %+v", vid, inst, v.Attachments)
		return nil, apiErr("IncorrectState")
	}
	if s := f.insts[inst].State.Name; s != ec2types.InstanceStateNameStopped {
		f.t.Errorf("DetachVolume %s from instance %s in state %s", vid, inst, s)
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

func (f *migFake) AttachVolume(ctx context.Context, in *ec2.AttachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	if err := f.begin(ctx, "AttachVolume", true, optFns); err != nil {
		return nil, err
	}
	vid, inst, dev := aws.ToString(in.VolumeId), aws.ToString(in.InstanceId), aws.ToString(in.Device)
	for _, b := range f.insts[inst].BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == dev {
			f.t.Errorf("AttachVolume %s at %s of %s: the device is taken by %s", vid, dev, inst, aws.ToString(b.Ebs.VolumeId))
			return nil, apiErr("InvalidParameterValue")
		}
	}
	if len(f.vols[vid].Attachments) > 0 {
		f.t.Errorf("AttachVolume %s: already attached", vid)
	}
	// like AWS and moto, a volume attached after launch keeps
	// DeleteOnTermination false
	f.attach(vid, inst, dev, false)
	return &ec2.AttachVolumeOutput{}, nil
}

func (f *migFake) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	if err := f.begin(ctx, "ModifyInstanceAttribute", true, optFns); err != nil {
		return nil, err
	}
	i := f.insts[aws.ToString(in.InstanceId)]
	for _, m := range in.BlockDeviceMappings {
		found := false
		for _, b := range i.BlockDeviceMappings {
			if aws.ToString(b.DeviceName) == aws.ToString(m.DeviceName) {
				b.Ebs.DeleteOnTermination, found = m.Ebs.DeleteOnTermination, true
			}
		}
		if !found {
			f.t.Errorf("ModifyInstanceAttribute: no device %s on %s", aws.ToString(m.DeviceName), aws.ToString(in.InstanceId))
		}
	}
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

func (f *migFake) DeleteVolume(ctx context.Context, in *ec2.DeleteVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error) {
	if err := f.begin(ctx, "DeleteVolume", true, optFns); err != nil {
		return nil, err
	}
	v := f.vols[aws.ToString(in.VolumeId)]
	if len(v.Attachments) > 0 {
		f.t.Errorf("DeleteVolume of attached %s", *v.VolumeId)
	}
	delete(f.vols, aws.ToString(in.VolumeId))
	return &ec2.DeleteVolumeOutput{}, nil
}

// created counts the snapshots and volumes made from orig.
func (f *migFake) created(orig string) (seed, final, vols int) {
	for _, s := range f.snaps {
		if hasTag(s.Tags, TagMigratedFrom, orig) {
			if hasTag(s.Tags, tagKind, kindSeed) {
				seed++
			} else {
				final++
			}
		}
	}
	for _, v := range f.vols {
		if hasTag(v.Tags, TagMigratedFrom, orig) {
			vols++
		}
	}
	return
}

func (f *migFake) deviceOf(inst, dev string) (string, bool) {
	for _, b := range f.insts[inst].BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == dev {
			return aws.ToString(b.Ebs.VolumeId), aws.ToBool(b.Ebs.DeleteOnTermination)
		}
	}
	return "", false
}

func migOptions() Options {
	o := testOptions()
	o.VerifyAttempts = 2
	o.EBSKMSKeyID = testKMSKey
	return o
}

func newTestMigrator(f *migFake, o Options) *VolumeMigrator {
	m := NewVolumeMigrator(f, o)
	m.sleep = func(context.Context, time.Duration) error { return nil }
	return m
}

// advanceUntil runs Advance until the outcome is not in-progress, at most n
// times.
func advanceUntil(t *testing.T, m *VolumeMigrator, vol string, n int) (MigrationStatus, int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		st := m.Advance(context.Background(), testRegion, vol)
		if st.Result.Action != remediation.ActionInProgress {
			return st, i
		}
		if st.Result.Wrote {
			t.Errorf("run %d: in-progress with Wrote set: the flap limit would count it", i)
		}
	}
	t.Fatalf("still in progress after %d runs: %+v", n, m.Advance(context.Background(), testRegion, vol).Result)
	return MigrationStatus{}, n
}

func TestMigrationUnattached(t *testing.T) {
	f := newMigFake(t)
	orig := f.addVolume("", "", ec2types.Tag{Key: aws.String("team"), Value: aws.String("data")}, ec2types.Tag{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("s")})
	m := newTestMigrator(f, migOptions())
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", st.Result)
	}
	nv := f.vols[st.NewVolumeID]
	if nv == nil || !aws.ToBool(nv.Encrypted) || aws.ToString(nv.KmsKeyId) != testKMSKey || aws.ToInt32(nv.Iops) != 4000 || aws.ToInt32(nv.Throughput) != 250 ||
		nv.VolumeType != ec2types.VolumeTypeGp3 || aws.ToInt32(nv.Size) != 100 || aws.ToString(nv.AvailabilityZone) != migZone {
		t.Fatalf("new volume = %+v", nv)
	}
	if !hasTag(nv.Tags, "team", "data") || !hasTag(nv.Tags, TagMigratedFrom, orig) {
		t.Errorf("new volume tags = %v", nv.Tags)
	}
	if _, ok := ec2Tag(nv.Tags, "aws:cloudformation:stack-name"); ok {
		t.Error("an aws: tag was copied (EC2 refuses them)")
	}
	if _, ok := ec2Tag(nv.Tags, tagStep); ok {
		t.Error("the migration's state tags were copied to the new volume")
	}
	o := f.vols[orig]
	if o == nil || !hasTag(o.Tags, TagMigratedTo, st.NewVolumeID) || !hasTag(o.Tags, tagStep, StepDone) {
		t.Fatalf("original = %+v", o)
	}
	if st.Result.Before["volumeId"] != orig || st.Result.After["newVolumeId"] != st.NewVolumeID || st.Result.After["encrypted"] != true {
		t.Errorf("Before %v After %v", st.Result.Before, st.Result.After)
	}
	if f.count("StopInstances")+f.count("DetachVolume")+f.count("DeleteVolume") != 0 {
		t.Errorf("calls = %v", f.names())
	}
	// a second run changes nothing
	n := len(f.writes())
	st = m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionExempt || !strings.Contains(st.Result.Reason, "migrated to "+st.NewVolumeID) {
		t.Errorf("second run: %+v", st.Result)
	}
	if len(f.writes()) != n {
		t.Errorf("second run wrote: %v", f.writes()[n:])
	}
}

// TestMigrationSnapshotPending: a snapshot takes many runs; each returns
// in-progress with its progress and creates nothing new.
func TestMigrationSnapshotPending(t *testing.T) {
	f := newMigFake(t)
	f.pendingPolls = 7
	orig := f.addVolume("", "")
	m := newTestMigrator(f, migOptions())
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionInProgress || st.Step != StepSnapshot || st.SnapshotID == "" || st.SnapshotProgress == "" || st.SnapshotProgress == "100%" {
		t.Fatalf("first run: %+v", st)
	}
	if !strings.Contains(st.Result.Reason, st.SnapshotProgress) || st.Result.After["snapshotProgress"] != st.SnapshotProgress {
		t.Errorf("progress %q not in the reason %q / After %v", st.SnapshotProgress, st.Result.Reason, st.Result.After)
	}
	st, runs := advanceUntil(t, m, orig, 10)
	if st.Result.Action != remediation.ActionRemediated || runs < 2 {
		t.Fatalf("after %d more runs: %+v", runs, st.Result)
	}
	if _, final, vols := f.created(orig); final != 1 || vols != 1 {
		t.Errorf("%d snapshots and %d volumes made, want 1 each", final, vols)
	}
}

// TestMigrationAttachedRunning: seed snapshot, stop, final snapshot, swap
// at the same device, DeleteOnTermination put back, start.
func TestMigrationAttachedRunning(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := f.addVolume(migInstance, "/dev/xvda")
	f.stopPolls = 3
	m := newTestMigrator(f, migOptions())
	st, _ := advanceUntil(t, m, orig, 10)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", st.Result)
	}
	got, dot := f.deviceOf(migInstance, "/dev/xvda")
	if got != st.NewVolumeID || !dot {
		t.Errorf("/dev/xvda holds %s with DeleteOnTermination %t, want %s and true", got, dot, st.NewVolumeID)
	}
	if len(f.stopped) != 1 || len(f.started) != 1 {
		t.Errorf("stopped %v started %v, want one each", f.stopped, f.started)
	}
	seed, final, vols := f.created(orig)
	if seed != 1 || final != 1 || vols != 1 {
		t.Errorf("seed %d final %d volumes %d", seed, final, vols)
	}
	// the new volume is made from the snapshot taken after the stop
	if snap := f.snaps[aws.ToString(f.vols[st.NewVolumeID].SnapshotId)]; snap == nil || !hasTag(snap.Tags, tagKind, kindFinal) {
		t.Errorf("new volume made from %+v, want the final snapshot", snap)
	}
	names := f.names()
	if idx(names, "StopInstances") > idx(names, "CreateVolume") || idx(names, "CreateVolume") > idx(names, "DetachVolume") || idx(names, "AttachVolume") > idx(names, "StartInstances") {
		t.Errorf("order of calls: %v", names)
	}
	b, a := st.Result.Before, st.Result.After
	if b["instanceId"] != migInstance || b["device"] != "/dev/xvda" || b["deleteOnTermination"] != true || b["instanceWasRunning"] != true || a["newVolumeId"] != st.NewVolumeID {
		t.Errorf("Before %v After %v", b, a)
	}
}

func idx(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// TestMigrationStoppedInstance: a stopped instance is not started.
func TestMigrationStoppedInstance(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameStopped, true)
	orig := f.addVolume(migInstance, "/dev/sdf")
	st, _ := advanceUntil(t, newTestMigrator(f, migOptions()), orig, 5)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", st.Result)
	}
	if f.count("StopInstances") != 0 || f.count("StartInstances") != 0 {
		t.Errorf("calls = %v", f.names())
	}
	if seed, _, _ := f.created(orig); seed != 0 {
		t.Errorf("%d seed snapshots for a stopped instance", seed)
	}
	if f.insts[migInstance].State.Name != ec2types.InstanceStateNameStopped {
		t.Errorf("instance is %s", f.insts[migInstance].State.Name)
	}
	if got, _ := f.deviceOf(migInstance, "/dev/sdf"); got != st.NewVolumeID {
		t.Errorf("/dev/sdf holds %s", got)
	}
}

func TestMigrationNotOptedIn(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, false)
	orig := f.addVolume(migInstance, "/dev/sdf")
	m := newTestMigrator(f, migOptions())
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionNeedsManual || !strings.Contains(st.Result.Reason, TagStopAllowed+"=true") {
		t.Fatalf("result = %+v", st.Result)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
	p, err := m.Plan(context.Background(), testRegion, orig)
	if err != nil || !strings.Contains(p.Refusal, TagStopAllowed) || len(p.Calls) != 0 {
		t.Errorf("plan = %+v, %v", p, err)
	}
	// opted in, but in an Auto Scaling group that would replace it
	i := f.insts[migInstance]
	i.Tags = append(i.Tags, ec2types.Tag{Key: aws.String(TagStopAllowed), Value: aws.String("true")}, ec2types.Tag{Key: aws.String("aws:autoscaling:groupName"), Value: aws.String("web")})
	st = m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionNeedsManual || !strings.Contains(st.Result.Reason, "Auto Scaling group web") {
		t.Errorf("instance of an Auto Scaling group: %+v", st.Result)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
}

// TestMigrationInterrupted: a run that dies after any of its writes is
// resumed by the next with no second snapshot or volume, and the instance
// stopped and started once.
func TestMigrationInterrupted(t *testing.T) {
	for _, attached := range []bool{false, true} {
		// the writes of an uninterrupted migration
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
		dev := ""
		inst := ""
		if attached {
			inst, dev = migInstance, "/dev/sdf"
		}
		orig := f.addVolume(inst, dev)
		advanceUntil(t, newTestMigrator(f, migOptions()), orig, 5)
		total := f.writeCount
		for k := 1; k < total; k++ {
			t.Run(fmt.Sprintf("attached=%t/after-write-%d", attached, k), func(t *testing.T) {
				f := newMigFake(t)
				f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
				orig := f.addVolume(inst, dev)
				m := newTestMigrator(f, migOptions())
				f.crashAfter = k
				st := m.Advance(context.Background(), testRegion, orig)
				if st.Result.Action == remediation.ActionRemediated {
					t.Fatalf("run interrupted after write %d finished: %+v", k, st.Result)
				}
				f.crashAfter = 0
				st, _ = advanceUntil(t, m, orig, 5)
				if st.Result.Action != remediation.ActionRemediated {
					t.Fatalf("resumed: %+v (calls %v)", st.Result, f.names())
				}
				seed, final, vols := f.created(orig)
				if final != 1 || vols != 1 || seed > 1 {
					t.Errorf("seed %d final %d volumes %d, want at most 1, 1, 1", seed, final, vols)
				}
				if attached {
					if len(f.stopped) != 1 || len(f.started) != 1 {
						t.Errorf("stopped %v started %v", f.stopped, f.started)
					}
					if got, dot := f.deviceOf(migInstance, dev); got != st.NewVolumeID || !dot {
						t.Errorf("%s holds %s (DeleteOnTermination %t)", dev, got, dot)
					}
				}
			})
		}
	}
}

// TestMigrationRollback: a failure after the stop puts the original back
// at its device with its DeleteOnTermination, restarts the instance, and
// the outcome says what was done and undone.
func TestMigrationRollback(t *testing.T) {
	for _, failing := range []string{"AttachVolume#1", "ModifyInstanceAttribute#1", "CreateVolume", "DetachVolume#1"} {
		t.Run(failing, func(t *testing.T) {
			f := newMigFake(t)
			f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
			orig := f.addVolume(migInstance, "/dev/sdf")
			f.errs[failing] = apiErr("InternalError")
			m := newTestMigrator(f, migOptions())
			st, _ := advanceUntil(t, m, orig, 5)
			if st.Result.Action != remediation.ActionFailed || !st.Result.Wrote {
				t.Fatalf("result = %+v", st.Result)
			}
			for _, want := range []string{"InternalError", "rolled back", "started instance " + migInstance} {
				if !strings.Contains(st.Result.Reason, want) {
					t.Errorf("reason %q lacks %q", st.Result.Reason, want)
				}
			}
			if got, dot := f.deviceOf(migInstance, "/dev/sdf"); got != orig || !dot {
				t.Errorf("/dev/sdf holds %s (DeleteOnTermination %t), want the original back with true", got, dot)
			}
			if len(f.started) != 1 {
				t.Errorf("started %v", f.started)
			}
			if !hasTag(f.vols[orig].Tags, tagStep, StepFailed) {
				t.Errorf("original's tags %v", f.vols[orig].Tags)
			}
			// the failed migration is not retried by itself
			n := len(f.writes())
			st = m.Advance(context.Background(), testRegion, orig)
			if st.Result.Action != remediation.ActionNeedsManual || len(f.writes()) != n {
				t.Errorf("next run: %+v, writes %v", st.Result, f.writes()[n:])
			}
		})
	}
}

// TestMigrationStuck: past EBS_MIGRATION_STUCK_AFTER a migration fails;
// one past the stop rolls back.
func TestMigrationStuck(t *testing.T) {
	for _, attached := range []bool{false, true} {
		t.Run(fmt.Sprintf("attached=%t", attached), func(t *testing.T) {
			f := newMigFake(t)
			f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
			inst, dev := "", ""
			if attached {
				inst, dev = migInstance, "/dev/sdf"
			}
			orig := f.addVolume(inst, dev)
			f.pendingPolls = 1000
			now := fixedNow
			o := migOptions()
			o.EBSMigrationStuckAfter = time.Hour
			o.Now = func() time.Time { return now }
			m := newTestMigrator(f, o)
			if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionInProgress {
				t.Fatalf("first run: %+v", st.Result)
			}
			if attached {
				// seed done, stopped, final snapshot pending
				for _, s := range f.snaps {
					s.State = ec2types.SnapshotStateCompleted
				}
				if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionInProgress || len(f.stopped) != 1 {
					t.Fatalf("second run: %+v, stopped %v", st.Result, f.stopped)
				}
			}
			now = now.Add(59 * time.Minute)
			if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionInProgress {
				t.Fatalf("within the limit: %+v", st.Result)
			}
			now = now.Add(2 * time.Minute)
			st := m.Advance(context.Background(), testRegion, orig)
			if st.Result.Action != remediation.ActionFailed || !strings.Contains(st.Result.Reason, "EBS_MIGRATION_STUCK_AFTER") {
				t.Fatalf("past the limit: %+v", st.Result)
			}
			if attached {
				if got, _ := f.deviceOf(migInstance, dev); got != orig || len(f.started) != 1 {
					t.Errorf("%s holds %s, started %v", dev, got, f.started)
				}
			}
			if f.count("CreateVolume") != 0 {
				t.Error("a volume was created")
			}
		})
	}
}

// TestMigrationDeleteOriginalAfter: a later run deletes the original once
// the setting's time has passed, not before.
func TestMigrationDeleteOriginalAfter(t *testing.T) {
	f := newMigFake(t)
	orig := f.addVolume("", "")
	now := fixedNow
	o := migOptions()
	o.EBSMigrationDeleteOriginalAfter = 168 * time.Hour
	o.Now = func() time.Time { return now }
	m := newTestMigrator(f, o)
	if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("%+v", st.Result)
	}
	now = now.Add(167 * time.Hour)
	if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionExempt || f.count("DeleteVolume") != 0 {
		t.Fatalf("before the time: %+v", st.Result)
	}
	now = now.Add(2 * time.Hour)
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionRemediated || f.vols[orig] != nil || st.Result.After["deleted"] != true {
		t.Fatalf("after the time: %+v", st.Result)
	}
}

// TestMigrationTwoVolumesOneStop: two volumes of one instance whose
// migrations overlap share the stop; the instance starts once both are
// swapped.
func TestMigrationTwoVolumesOneStop(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	a := f.addVolume(migInstance, "/dev/sdf")
	b := f.addVolume(migInstance, "/dev/sdg")
	f.pendingPolls = 1000
	m := newTestMigrator(f, migOptions())
	m.Advance(context.Background(), testRegion, a)
	m.Advance(context.Background(), testRegion, b)
	for _, s := range f.snaps { // both seeds complete
		s.State = ec2types.SnapshotStateCompleted
	}
	f.pendingPolls = 0
	stA := m.Advance(context.Background(), testRegion, a) // stops, and swaps a
	stB, _ := advanceUntil(t, m, b, 5)                    // b joins the stop
	if stA.Result.Action != remediation.ActionRemediated || stB.Result.Action != remediation.ActionRemediated {
		t.Fatalf("a: %+v\nb: %+v", stA.Result, stB.Result)
	}
	if len(f.stopped) != 1 {
		t.Errorf("stopped %v: the second volume stopped the instance again", f.stopped)
	}
	if len(f.started) != 1 || f.insts[migInstance].State.Name == ec2types.InstanceStateNameStopped {
		t.Errorf("started %v, state %s", f.started, f.insts[migInstance].State.Name)
	}
}

func TestMigrationPlan(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := f.addVolume(migInstance, "/dev/sdf")
	p, err := newTestMigrator(f, migOptions()).Plan(context.Background(), testRegion, orig)
	if err != nil || p.Refusal != "" {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("Plan wrote %v", w)
	}
	all := strings.Join(p.Calls, "\n")
	for _, want := range []string{"StopInstances InstanceIds=" + migInstance, "KmsKeyId=" + testKMSKey, "Iops=4000", "Throughput=250", "AttachVolume VolumeId=NEW_VOLUME_ID InstanceId=" + migInstance + " Device=/dev/sdf", "StartInstances"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan lacks %q:\n%s", want, all)
		}
	}
	if !strings.Contains(p.Downtime, "stopped") {
		t.Errorf("downtime %q", p.Downtime)
	}
}

// TestMigrationAttachedMidway: a volume attached while it was migrated as
// an unattached volume is not finished from the snapshot taken before.
func TestMigrationAttachedMidway(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := f.addVolume("", "")
	f.pendingPolls = 1000
	m := newTestMigrator(f, migOptions())
	if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionInProgress {
		t.Fatalf("%+v", st.Result)
	}
	for _, s := range f.snaps {
		s.State = ec2types.SnapshotStateCompleted
	}
	f.attach(orig, migInstance, "/dev/sdf", true)
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionFailed || !strings.Contains(st.Result.Reason, "attached to instance") {
		t.Fatalf("%+v", st.Result)
	}
	if f.count("CreateVolume")+f.count("StopInstances") != 0 {
		t.Errorf("calls %v", f.names())
	}
}

// TestEBSRemediatorMigrates: the remediator's volume path with the
// migration: in-progress counts as no write for the flap limit unless the
// region's default was turned on in the run; a migration under way goes on
// when EBS_MIGRATION is off again.
func TestEBSRemediatorMigrates(t *testing.T) {
	mf := newMigFake(t)
	mf.pendingPolls = 1000
	// the region's fake answers for testVolume only
	orig := mf.renameVolume(mf.addVolume("", ""), testVolume)
	ef := newFakeEC2(t)
	opts := migOptions()
	opts.EBSKMSKeyID = ""
	opts.EBSMigration = EBSMigrationUnattached
	run := func(o Options) remediation.Result {
		v := copyVolume(mf.vols[orig])
		ef.volume = &v
		r := NewEBSEncryption(ef, nil, o)
		r.Volumes = mf
		res := r.Remediate(context.Background(), request(volumesRule, ResourceTypeVolume, orig, remediation.ModeEnforce))
		return res
	}
	res := run(opts)
	if res.Action != remediation.ActionInProgress || !res.Wrote || !strings.HasPrefix(res.Reason, "turned on EBS encryption by default") {
		t.Fatalf("first run (default turned on): %+v", res)
	}
	if res.After["ebsEncryptionByDefault"] != true || res.Before["ebsEncryptionByDefault"] != false {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	res = run(opts)
	if res.Action != remediation.ActionInProgress || res.Wrote {
		t.Fatalf("second run: %+v", res)
	}
	off := opts
	off.EBSMigration = EBSMigrationOff
	for _, s := range mf.snaps {
		s.State = ec2types.SnapshotStateCompleted
	}
	if res := run(off); res.Action != remediation.ActionRemediated {
		t.Fatalf("EBS_MIGRATION=off with a migration under way: %+v", res)
	}
	// not started with off
	delete(mf.vols, testVolume)
	other := mf.renameVolume(mf.addVolume("", ""), testVolume)
	v := copyVolume(mf.vols[other])
	ef.volume = &v
	r := NewEBSEncryption(ef, nil, off)
	r.Volumes = mf
	if res := r.Remediate(context.Background(), request(volumesRule, ResourceTypeVolume, other, remediation.ModeEnforce)); res.Action != remediation.ActionNeedsManual {
		t.Errorf("EBS_MIGRATION=off, new volume: %+v", res)
	}
}

// TestMigrationDeferredStartRace: two migrations on one instance that
// reach the start together can each leave it to the other; a later run on
// either starts the instance.
func TestMigrationDeferredStartRace(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	a := f.addVolume(migInstance, "/dev/sdf")
	b := f.addVolume(migInstance, "/dev/sdg")
	m := newTestMigrator(f, migOptions())
	if st := m.Advance(context.Background(), testRegion, a); st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("%+v", st.Result)
	}
	// as if b's migration had deferred to a at the same moment
	f.started = nil
	f.insts[migInstance].State.Name = ec2types.InstanceStateNameStopped
	for _, v := range []string{a, b} {
		f.vols[v].Tags = append(f.vols[v].Tags, ec2types.Tag{Key: aws.String(tagStartDeferred), Value: aws.String("true")},
			ec2types.Tag{Key: aws.String(tagStep), Value: aws.String(StepDone)}, ec2types.Tag{Key: aws.String(tagInstance), Value: aws.String(migInstance)},
			ec2types.Tag{Key: aws.String(TagMigratedTo), Value: aws.String("vol-0ffffffffffffffff")})
	}
	f.vols[b].Attachments = nil
	st := m.Advance(context.Background(), testRegion, b)
	if st.Result.Action != remediation.ActionRemediated || len(f.started) != 1 {
		t.Fatalf("%+v, started %v", st.Result, f.started)
	}
	// once: the next run only reports
	f.insts[migInstance].State.Name = ec2types.InstanceStateNameStopped
	if st := m.Advance(context.Background(), testRegion, a); st.Result.Action != remediation.ActionExempt || len(f.started) != 1 {
		t.Errorf("%+v, started %v", st.Result, f.started)
	}
}

// TestMigrationResumedStopRechecksOptIn: a run that recorded the stop and
// died before StopInstances is resumed by one that stops the instance only
// if it is still tagged stop-allowed; with the tag removed since, nothing
// is stopped and the migration ends failed with the reason.
func TestMigrationResumedStopRechecksOptIn(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := f.addVolume(migInstance, "/dev/sdf")
	m := newTestMigrator(f, migOptions())
	// writes: the step tag, the seed snapshot, its ID, the stop's record
	f.crashAfter = 4
	m.Advance(context.Background(), testRegion, orig)
	f.crashAfter = 0
	if !hasTag(f.vols[orig].Tags, tagStep, StepStop) || len(f.stopped) != 0 {
		t.Fatalf("after the crash: tags %v, stopped %v", f.vols[orig].Tags, f.stopped)
	}
	f.insts[migInstance].Tags = nil // the owner withdraws the consent
	st := m.Advance(context.Background(), testRegion, orig)
	if len(f.stopped) != 0 {
		t.Fatalf("stopped %v without the opt-in tag", f.stopped)
	}
	if st.Result.Action != remediation.ActionFailed || !strings.Contains(st.Result.Reason, TagStopAllowed) {
		t.Errorf("result = %+v", st.Result)
	}
	if got, _ := f.deviceOf(migInstance, "/dev/sdf"); got != orig || f.insts[migInstance].State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("/dev/sdf holds %s, instance %s", got, f.insts[migInstance].State.Name)
	}
}

// TestEBSRemediatorExemptOriginalKept: an original migrated earlier and
// tagged exempt since is not deleted by EBS_MIGRATION_DELETE_ORIGINAL_AFTER:
// only a migration under way overrides the exemption.
func TestEBSRemediatorExemptOriginalKept(t *testing.T) {
	mf := newMigFake(t)
	orig := mf.renameVolume(mf.addVolume("", ""), testVolume)
	now := fixedNow
	opts := migOptions()
	opts.EBSKMSKeyID = ""
	opts.EBSMigration = EBSMigrationUnattached
	opts.EBSMigrationDeleteOriginalAfter = time.Hour
	opts.Now = func() time.Time { return now }
	if st := newTestMigrator(mf, opts).Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("migration: %+v", st.Result)
	}
	mf.vols[orig].Tags = append(mf.vols[orig].Tags, ec2types.Tag{Key: aws.String(DefaultExemptTagKey), Value: aws.String("off")})
	now = now.Add(2 * time.Hour)
	ef := newFakeEC2(t)
	v := copyVolume(mf.vols[orig])
	ef.volume = &v
	r := NewEBSEncryption(ef, nil, opts)
	r.Volumes = mf
	res := r.Remediate(context.Background(), request(volumesRule, ResourceTypeVolume, orig, remediation.ModeEnforce))
	if mf.count("DeleteVolume") != 0 || mf.vols[orig] == nil {
		t.Fatalf("the exempt original was deleted: %+v", res)
	}
	if res.Action != remediation.ActionExempt {
		t.Errorf("result = %+v", res)
	}
}

// TestMigrationTagLimit: the migration's state tags and the tags copied
// to the new volume count against EC2's 50 tags per resource (aws: tags
// do not): a volume without room for them is needs-manual before anything
// is written, instead of a migration that fails half way.
func TestMigrationTagLimit(t *testing.T) {
	tags := func(n int) []ec2types.Tag {
		out := []ec2types.Tag{{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("s")}}
		for i := range n {
			out = append(out, ec2types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
		}
		return out
	}
	for _, tc := range []struct {
		attached bool
		n        int
		ok       bool
	}{{false, 30, true}, {false, 46, false}, {true, 37, true}, {true, 40, false}} {
		t.Run(fmt.Sprintf("attached=%t/tags=%d", tc.attached, tc.n), func(t *testing.T) {
			f := newMigFake(t)
			f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
			inst, dev := "", ""
			if tc.attached {
				inst, dev = migInstance, "/dev/sdf"
			}
			orig := f.addVolume(inst, dev, tags(tc.n)...)
			m := newTestMigrator(f, migOptions())
			if tc.ok {
				if st, _ := advanceUntil(t, m, orig, 5); st.Result.Action != remediation.ActionRemediated {
					t.Fatalf("result = %+v", st.Result)
				}
				return
			}
			st := m.Advance(context.Background(), testRegion, orig)
			if st.Result.Action != remediation.ActionNeedsManual || !strings.Contains(st.Result.Reason, "50 tags") {
				t.Errorf("result = %+v", st.Result)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("wrote %v", w)
			}
			if p, err := m.Plan(context.Background(), testRegion, orig); err != nil || !strings.Contains(p.Refusal, "50 tags") {
				t.Errorf("plan = %+v, %v", p, err)
			}
		})
	}
}

// failAfterStart fails the first call of method after the instance was
// started again: the read that verifies the copy, or the write that marks
// the migration done.
type failAfterStart struct {
	*migFake
	method string
	failed bool
}

func (f *failAfterStart) fail(method string) bool {
	if method == f.method && len(f.started) > 0 && !f.failed {
		f.failed = true
		return true
	}
	return false
}

func (f *failAfterStart) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	if f.fail("CreateTags") {
		return nil, apiErr("RequestLimitExceeded")
	}
	return f.migFake.CreateTags(ctx, in, optFns...)
}

func (f *failAfterStart) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	if f.fail("DescribeVolumes") {
		return nil, apiErr("RequestLimitExceeded")
	}
	return f.migFake.DescribeVolumes(ctx, in, optFns...)
}

// TestMigrationDoneTagFailsAfterStart: once the copy is in place and the
// instance started again, a failed write of the done tags is not rolled
// back (that would detach volumes of a running instance): the run fails
// and the next one finishes.
func TestMigrationDoneTagFailsAfterStart(t *testing.T) {
	for _, method := range []string{"CreateTags", "DescribeVolumes"} {
		t.Run(method, func(t *testing.T) { testMigrationFailsAfterStart(t, method) })
	}
}

func testMigrationFailsAfterStart(t *testing.T, method string) {
	mf := newMigFake(t)
	mf.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := mf.addVolume(migInstance, "/dev/sdf")
	f := &failAfterStart{migFake: mf, method: method}
	m := NewVolumeMigrator(f, migOptions())
	m.sleep = func(context.Context, time.Duration) error { return nil }
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionFailed || !f.failed {
		t.Fatalf("first run: %+v", st.Result)
	}
	if mf.count("DetachVolume") != 1 {
		t.Errorf("DetachVolume called %d times: the volumes of the started instance were swapped back", mf.count("DetachVolume"))
	}
	mf.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning
	st = m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("next run: %+v", st.Result)
	}
	if got, _ := mf.deviceOf(migInstance, "/dev/sdf"); got != st.NewVolumeID || len(mf.started) != 1 {
		t.Errorf("/dev/sdf holds %s, started %v", got, mf.started)
	}
}

// TestTruncateTag: a failure's reason kept in a tag stays valid UTF-8
// within EC2's 256 characters, or the tag write (and with it the
// rollback's record) would fail.
func TestTruncateTag(t *testing.T) {
	for _, s := range []string{strings.Repeat("é", 300), "a" + strings.Repeat("€", 200), strings.Repeat("x", 256)} {
		got := truncateTag(s)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 256 {
			t.Errorf("truncateTag(%d bytes) = %q: valid %t, %d characters", len(s), got, utf8.ValidString(got), utf8.RuneCountInString(got))
		}
	}
	if s := strings.Repeat("x", 256); truncateTag(s) != s {
		t.Error("a value of 256 characters was cut")
	}
}

// TestMigrationPlanStuck: past EBS_MIGRATION_STUCK_AFTER the plan is what
// Advance does then (end the migration, roll back an attached one), not
// the rest of the migration.
func TestMigrationPlanStuck(t *testing.T) {
	for _, attached := range []bool{false, true} {
		t.Run(fmt.Sprintf("attached=%t", attached), func(t *testing.T) {
			f := newMigFake(t)
			f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
			inst, dev := "", ""
			if attached {
				inst, dev = migInstance, "/dev/sdf"
			}
			orig := f.addVolume(inst, dev)
			f.pendingPolls = 1000
			now := fixedNow
			o := migOptions()
			o.Now = func() time.Time { return now }
			m := newTestMigrator(f, o)
			m.Advance(context.Background(), testRegion, orig)
			if attached { // seed done, stopped, final snapshot pending
				for _, s := range f.snaps {
					s.State = ec2types.SnapshotStateCompleted
				}
				m.Advance(context.Background(), testRegion, orig)
			}
			now = now.Add(DefaultEBSMigrationStuckAfter + time.Minute)
			p, err := m.Plan(context.Background(), testRegion, orig)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(p.Calls, "\n")
			if strings.Contains(all, "CreateVolume") || !strings.Contains(all, "EBS_MIGRATION_STUCK_AFTER") {
				t.Errorf("plan past the stuck limit:\n%s", all)
			}
			if attached && !strings.Contains(all, "rollback") {
				t.Errorf("plan of a stopped instance's migration past the limit lacks the rollback:\n%s", all)
			}
		})
	}
}

// TestMigrationAttachmentStates: an attachment in state detached is no
// attachment (EC2 may list it so once the detach is done), or a detach
// would be waited for until the stuck limit.
func TestMigrationAttachmentStates(t *testing.T) {
	v := ec2types.Volume{Attachments: []ec2types.VolumeAttachment{{InstanceId: aws.String(migInstance), Device: aws.String("/dev/sdf"), State: ec2types.VolumeAttachmentStateDetached}}}
	if !isDetached(migInstance)(v) {
		t.Error("a volume whose attachment is detached is not detached")
	}
	if _, on := attachedTo(v, migInstance, ""); on {
		t.Error("a detached attachment counts as attached")
	}
	v.Attachments[0].State = ec2types.VolumeAttachmentStateDetaching
	if isDetached(migInstance)(v) {
		t.Error("a detaching volume is detached")
	}
}

// TestMigrationAWSManagedAttachment: a volume attached to an AWS-managed
// resource (no instance ID, an owning service) is needs-manual: there is
// no instance to stop.
func TestMigrationAWSManagedAttachment(t *testing.T) {
	f := newMigFake(t)
	orig := f.addVolume("", "")
	v := f.vols[orig]
	v.State = ec2types.VolumeStateInUse
	v.Attachments = []ec2types.VolumeAttachment{{VolumeId: aws.String(orig), State: ec2types.VolumeAttachmentStateAttached,
		InstanceOwningService: aws.String("ecs.amazonaws.com"), AssociatedResource: aws.String("arn:aws:ecs:eu-west-1:123456789012:task/c/0123")}}
	m := newTestMigrator(f, migOptions())
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionNeedsManual || !strings.Contains(st.Result.Reason, "ecs.amazonaws.com") {
		t.Errorf("result = %+v", st.Result)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
	if p, err := m.Plan(context.Background(), testRegion, orig); err != nil || !strings.Contains(p.Refusal, "ecs.amazonaws.com") {
		t.Errorf("plan = %+v, %v", p, err)
	}
}

// TestMigrationStartedBySomeoneAfterSwap: the copy is attached when
// someone else starts the instance (a run died after AttachVolume): the
// migration finishes rather than detaching volumes of a running instance.
func TestMigrationStartedBySomeoneAfterSwap(t *testing.T) {
	// the writes of an uninterrupted migration, up to AttachVolume
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	advanceUntil(t, newTestMigrator(f, migOptions()), f.addVolume(migInstance, "/dev/sdf"), 5)
	k := idx(f.writeNames, "AttachVolume") + 1

	f = newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	orig := f.addVolume(migInstance, "/dev/sdf")
	m := newTestMigrator(f, migOptions())
	f.crashAfter = k
	m.Advance(context.Background(), testRegion, orig)
	f.crashAfter = 0
	f.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning // started by its owner
	st := m.Advance(context.Background(), testRegion, orig)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", st.Result)
	}
	if f.count("DetachVolume") != 1 {
		t.Errorf("DetachVolume called %d times: the copy was detached from the running instance", f.count("DetachVolume"))
	}
	if got, dot := f.deviceOf(migInstance, "/dev/sdf"); got != st.NewVolumeID || !dot {
		t.Errorf("/dev/sdf holds %s (DeleteOnTermination %t)", got, dot)
	}
}

// removeTag deletes a tag of a volume of the fake, as a person would with
// DeleteTags.
func (f *migFake) removeTag(vol, key string) {
	v := f.vols[vol]
	v.Tags = slices.DeleteFunc(v.Tags, func(t ec2types.Tag) bool { return aws.ToString(t.Key) == key })
}

// TestMigrationRetryIsANewAttempt: removing the step tag of a failed or
// reverted migration, as the reasons say, starts a new attempt: a new
// started-at (not stuck at once), a new snapshot and a new copy, none of
// the earlier attempt's (taken before what was written since).
func TestMigrationRetryIsANewAttempt(t *testing.T) {
	t.Run("failed, unattached", func(t *testing.T) {
		f := newMigFake(t)
		orig := f.addVolume("", "")
		f.pendingPolls = 1000
		now := fixedNow
		o := migOptions()
		o.Now = func() time.Time { return now }
		m := newTestMigrator(f, o)
		m.Advance(context.Background(), testRegion, orig)
		for _, s := range f.snaps {
			s.State = ec2types.SnapshotStateError
		}
		if st := m.Advance(context.Background(), testRegion, orig); st.Result.Action != remediation.ActionFailed {
			t.Fatalf("snapshot in error: %+v", st.Result)
		}
		now = now.Add(DefaultEBSMigrationStuckAfter + time.Hour)
		f.removeTag(orig, tagStep)
		f.pendingPolls = 0
		st := m.Advance(context.Background(), testRegion, orig)
		if st.Result.Action != remediation.ActionRemediated {
			t.Fatalf("retry: %+v", st.Result)
		}
		if _, final, _ := f.created(orig); final != 2 {
			t.Errorf("%d snapshots, want a new one for the retry", final)
		}
	})
	t.Run("reverted, attached", func(t *testing.T) {
		f := newMigFake(t)
		f.addInstance(migInstance, ec2types.InstanceStateNameStopped, true)
		orig := f.addVolume(migInstance, "/dev/sdf")
		o := migratedOutcome(t, f, orig)
		first := o.After["newVolumeId"].(string)
		r := &EBSEncryption{Volumes: f, Opts: migOptions()}
		r.Opts.VerifyInterval = 0
		if res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce}); res.Action != remediation.ActionReverted {
			t.Fatalf("undo: %+v", res)
		}
		f.removeTag(orig, tagStep)
		later := migOptions()
		later.Now = func() time.Time { return fixedNow.Add(24 * time.Hour) }
		st, _ := advanceUntil(t, newTestMigrator(f, later), orig, 5)
		if st.Result.Action != remediation.ActionRemediated || st.NewVolumeID == first {
			t.Fatalf("migrated again: %+v (new volume %s, the first copy %s)", st.Result, st.NewVolumeID, first)
		}
		if _, final, vols := f.created(orig); final != 2 || vols != 2 {
			t.Errorf("%d snapshots and %d copies, want 2 each", final, vols)
		}
		if got, _ := f.deviceOf(migInstance, "/dev/sdf"); got != st.NewVolumeID {
			t.Errorf("/dev/sdf holds %s", got)
		}
	})
}

// TestMigrationRevertedSibling: a volume of the instance whose migration
// was undone is no migration under way: a later migration of another of
// its volumes starts the instance again instead of waiting for it.
func TestMigrationRevertedSibling(t *testing.T) {
	f := newMigFake(t)
	f.addInstance(migInstance, ec2types.InstanceStateNameRunning, true)
	a := f.addVolume(migInstance, "/dev/sdf")
	b := f.addVolume(migInstance, "/dev/sdg")
	o := migratedOutcome(t, f, a)
	r := &EBSEncryption{Volumes: f, Opts: migOptions()}
	r.Opts.VerifyInterval = 0
	f.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning
	if res := r.Revert(context.Background(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce}); res.Action != remediation.ActionReverted {
		t.Fatalf("undo: %+v", res)
	}
	f.insts[migInstance].State.Name = ec2types.InstanceStateNameRunning
	f.started = nil
	st, _ := advanceUntil(t, newTestMigrator(f, migOptions()), b, 5)
	if st.Result.Action != remediation.ActionRemediated {
		t.Fatalf("%+v", st.Result)
	}
	if len(f.started) != 1 || f.insts[migInstance].State.Name == ec2types.InstanceStateNameStopped {
		t.Errorf("started %v, instance %s: left stopped for the reverted %s (%s)", f.started, f.insts[migInstance].State.Name, a, st.Result.Reason)
	}
}
