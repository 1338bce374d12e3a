package remediators

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// The EBS volume migration and its undo on moto (moto_server 5.2). moto
// differs from AWS here, and the code is written for AWS:
//   - snapshots complete at once (pending ones across runs are tested on
//     the fake, TestMigrationSnapshotPending);
//   - CreateVolume's ClientToken is not idempotent: the migration looks
//     for its tagged volume first, as it does on AWS;
//   - DetachVolume needs InstanceId (AWS does not); the migration passes it;
//   - AttachVolume sets DeleteOnTermination false: the migration restores
//     the original's with ModifyInstanceAttribute;
//   - GetEbsDefaultKmsKeyId is not implemented, so the remediator runs
//     without EBS_KMS_KEY_ID here and the key is checked through the
//     VolumeMigrator, which does not read the default key.

type motoEBS struct {
	t   *testing.T
	ec2 *ec2.Client
	kms *kms.Client
}

func (m motoEBS) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	m.t.Cleanup(cancel)
	return c
}

func (m motoEBS) volume(id string) ec2types.Volume {
	m.t.Helper()
	out, err := m.ec2.DescribeVolumes(m.ctx(), &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil || len(out.Volumes) != 1 {
		m.t.Fatalf("describing volume %s: %v", id, err)
	}
	return out.Volumes[0]
}

func (m motoEBS) instance(id string) ec2types.Instance {
	m.t.Helper()
	out, err := m.ec2.DescribeInstances(m.ctx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 {
		m.t.Fatalf("describing instance %s: %v", id, err)
	}
	return out.Reservations[0].Instances[0]
}

// device returns the volume at dev of the instance and its
// DeleteOnTermination.
func (m motoEBS) device(inst, dev string) (string, bool) {
	for _, b := range m.instance(inst).BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == dev && b.Ebs != nil {
			return aws.ToString(b.Ebs.VolumeId), aws.ToBool(b.Ebs.DeleteOnTermination)
		}
	}
	return "", false
}

func (m motoEBS) createVolume(in *ec2.CreateVolumeInput) string {
	m.t.Helper()
	out, err := m.ec2.CreateVolume(m.ctx(), in)
	if err != nil {
		m.t.Fatalf("creating volume: %v", err)
	}
	return aws.ToString(out.VolumeId)
}

func (m motoEBS) runInstance(optIn bool) (id, rootDevice string) {
	m.t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		Placement: &ec2types.Placement{AvailabilityZone: aws.String(emulator.Region + "a")}}
	if optIn {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String(TagStopAllowed), Value: aws.String("true")}}}}
	}
	out, err := m.ec2.RunInstances(m.ctx(), in)
	if err != nil {
		m.t.Fatalf("running an instance: %v", err)
	}
	i := out.Instances[0]
	return aws.ToString(i.InstanceId), aws.ToString(i.RootDeviceName)
}

// count returns how many volumes carry the tag naming orig.
func (m motoEBS) copies(orig string) int {
	m.t.Helper()
	out, err := m.ec2.DescribeVolumes(m.ctx(), &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:" + TagMigratedFrom), Values: []string{orig}}}})
	if err != nil {
		m.t.Fatalf("listing copies of %s: %v", orig, err)
	}
	return len(out.Volumes)
}

func motoOptions(migration string) Options {
	o := DefaultOptions()
	o.VerifyInterval = 20 * time.Millisecond
	o.VerifyAttempts = 50
	o.EBSMigration = migration
	return o
}

// runUntil remediates the volume until the outcome is not in-progress.
func runUntil(t *testing.T, r *EBSEncryption, vol string) remediation.Result {
	t.Helper()
	for i := 0; i < 10; i++ {
		res := r.Remediate(context.Background(), remediation.Request{Rule: "encrypted-volumes", ResourceType: ResourceTypeVolume, ResourceID: vol, Region: emulator.Region, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionInProgress {
			return res
		}
	}
	t.Fatalf("volume %s still in progress after 10 runs", vol)
	return remediation.Result{}
}

// motoOutcome is the remediated outcome as undo reads it, in moto's region.
func motoOutcome(t *testing.T, res remediation.Result, resourceType, id string) remediation.Outcome {
	t.Helper()
	o := remediated(t, res, resourceType, id)
	o.Region = emulator.Region
	return o
}

func newMotoRemediator(m motoEBS, migration string) *EBSEncryption {
	r := NewEBSEncryption(m.ec2, m.kms, motoOptions(migration))
	r.Volumes, r.Defaults = m.ec2, m.ec2
	return r
}

func TestEBSMigrationOnMoto(t *testing.T) {
	srv := emulator.StartT(t)
	cfg := srv.AWSConfig()
	m := motoEBS{t: t, ec2: ec2.NewFromConfig(cfg), kms: kms.NewFromConfig(cfg)}
	zone := emulator.Region + "a"

	t.Run("unattached gp3 with the key", func(t *testing.T) {
		m := m
		m.t = t
		key, err := m.kms.CreateKey(m.ctx(), &kms.CreateKeyInput{Description: aws.String("ebs migration test")})
		if err != nil {
			t.Fatal(err)
		}
		keyARN := aws.ToString(key.KeyMetadata.Arn)
		orig := m.createVolume(&ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(20), VolumeType: ec2types.VolumeTypeGp3,
			Iops: aws.Int32(4000), Throughput: aws.Int32(250),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{
				{Key: aws.String("team"), Value: aws.String("data")}, {Key: aws.String("Name"), Value: aws.String("reports")}}}}})
		o := motoOptions(EBSMigrationUnattached)
		o.EBSKMSKeyID = keyARN
		mig := NewVolumeMigrator(m.ec2, o)
		st := mig.Advance(m.ctx(), emulator.Region, orig)
		if st.Result.Action != remediation.ActionRemediated {
			t.Fatalf("%+v", st.Result)
		}
		nv := m.volume(st.NewVolumeID)
		if !aws.ToBool(nv.Encrypted) || aws.ToString(nv.KmsKeyId) != keyARN || nv.VolumeType != ec2types.VolumeTypeGp3 || aws.ToInt32(nv.Iops) != 4000 ||
			aws.ToInt32(nv.Throughput) != 250 || aws.ToInt32(nv.Size) != 20 || aws.ToString(nv.AvailabilityZone) != zone {
			t.Errorf("new volume read back: encrypted %t key %q type %s iops %d throughput %d size %d zone %s", aws.ToBool(nv.Encrypted), aws.ToString(nv.KmsKeyId),
				nv.VolumeType, aws.ToInt32(nv.Iops), aws.ToInt32(nv.Throughput), aws.ToInt32(nv.Size), aws.ToString(nv.AvailabilityZone))
		}
		for k, v := range map[string]string{"team": "data", "Name": "reports", TagMigratedFrom: orig} {
			if !hasTag(nv.Tags, k, v) {
				t.Errorf("new volume lacks tag %s=%s: %v", k, v, nv.Tags)
			}
		}
		ov := m.volume(orig)
		if aws.ToBool(ov.Encrypted) || !hasTag(ov.Tags, TagMigratedTo, st.NewVolumeID) || ov.State != ec2types.VolumeStateAvailable {
			t.Errorf("original: %+v", ov)
		}
		// a second run, through the remediator, changes nothing
		r := newMotoRemediator(m, EBSMigrationUnattached)
		res := runUntil(t, r, orig)
		if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, st.NewVolumeID) || m.copies(orig) != 1 {
			t.Errorf("second run: %+v, %d copies", res, m.copies(orig))
		}
		// undo refused once the copy is used elsewhere, then done with force
		outcome := motoOutcome(t, st.Result, ResourceTypeVolume, orig)
		other, _ := m.runInstance(false)
		if _, err := m.ec2.AttachVolume(m.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(st.NewVolumeID), InstanceId: aws.String(other), Device: aws.String("/dev/sdh")}); err != nil {
			t.Fatal(err)
		}
		if res := r.Revert(m.ctx(), remediation.RevertRequest{Outcome: outcome, Mode: remediation.ModeEnforce}); res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "changed since") {
			t.Errorf("undo of a changed migration: %+v", res)
		}
		if _, err := m.ec2.DetachVolume(m.ctx(), &ec2.DetachVolumeInput{VolumeId: aws.String(st.NewVolumeID), InstanceId: aws.String(other)}); err != nil {
			t.Fatal(err)
		}
		res = r.Revert(m.ctx(), remediation.RevertRequest{Outcome: outcome, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionReverted || !hasTag(m.volume(orig).Tags, tagStep, StepReverted) {
			t.Fatalf("undo: %+v", res)
		}
		if res := runUntil(t, r, orig); res.Action != remediation.ActionNeedsManual || m.copies(orig) != 1 {
			t.Errorf("a run after the undo: %+v, %d copies", res, m.copies(orig))
		}
	})

	t.Run("attached data and root volumes", func(t *testing.T) {
		m := m
		m.t = t
		inst, root := m.runInstance(true)
		rootVol, rootDOT := m.device(inst, root)
		if rootVol == "" || !rootDOT || aws.ToBool(m.volume(rootVol).Encrypted) {
			t.Fatalf("root volume %q at %s: DeleteOnTermination %t, want an unencrypted one that is deleted with the instance", rootVol, root, rootDOT)
		}
		data := m.createVolume(&ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(10), VolumeType: ec2types.VolumeTypeIo1, Iops: aws.Int32(500)})
		if _, err := m.ec2.AttachVolume(m.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(data), InstanceId: aws.String(inst), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.ec2.ModifyInstanceAttribute(m.ctx(), &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(inst), BlockDeviceMappings: []ec2types.InstanceBlockDeviceMappingSpecification{
			{DeviceName: aws.String("/dev/sdf"), Ebs: &ec2types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(true)}}}}); err != nil {
			t.Fatal(err)
		}
		// unattached only: the attached volumes stay needs-manual
		if res := runUntil(t, newMotoRemediator(m, EBSMigrationUnattached), data); res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "EBS_MIGRATION=unattached") {
			t.Errorf("EBS_MIGRATION=unattached on an attached volume: %+v", res)
		}
		r := newMotoRemediator(m, EBSMigrationAll)
		dry := r.Remediate(m.ctx(), remediation.Request{Rule: "encrypted-volumes", ResourceType: ResourceTypeVolume, ResourceID: data, Region: emulator.Region, Mode: remediation.ModeDryRun})
		if dry.Action != remediation.ActionDryRun || !strings.Contains(dry.Reason, "StopInstances InstanceIds="+inst) || !strings.Contains(dry.Reason, "Downtime: instance "+inst) || m.copies(data) != 0 {
			t.Errorf("dry-run: %+v, %d copies", dry, m.copies(data))
		}
		if _, ok := ec2Tag(m.volume(data).Tags, tagStep); ok {
			t.Error("dry-run tagged the volume")
		}
		outcomes := map[string]remediation.Result{}
		for dev, vol := range map[string]string{"/dev/sdf": data, root: rootVol} {
			res := runUntil(t, r, vol)
			if res.Action != remediation.ActionRemediated {
				t.Fatalf("%s: %+v", dev, res)
			}
			outcomes[dev] = res
			nid := res.After["newVolumeId"].(string)
			got, dot := m.device(inst, dev)
			if got != nid || !dot {
				t.Errorf("%s holds %s with DeleteOnTermination %t, want %s and true", dev, got, dot, nid)
			}
			if nv := m.volume(nid); !aws.ToBool(nv.Encrypted) || nv.VolumeType != m.volume(vol).VolumeType || aws.ToInt32(nv.Iops) != aws.ToInt32(m.volume(vol).Iops) {
				t.Errorf("%s: new volume %+v", dev, nv)
			}
			if s := m.instance(inst).State.Name; s != ec2types.InstanceStateNameRunning && s != ec2types.InstanceStateNamePending {
				t.Errorf("after migrating %s the instance is %s, want it started again", dev, s)
			}
			// a second run changes nothing
			if res := runUntil(t, r, vol); res.Action != remediation.ActionExempt || m.copies(vol) != 1 {
				t.Errorf("%s second run: %+v, %d copies", dev, res, m.copies(vol))
			}
		}
		// undo the data volume's migration: the original is back at
		// /dev/sdf with DeleteOnTermination, the instance running
		o := motoOutcome(t, outcomes["/dev/sdf"], ResourceTypeVolume, data)
		res := r.Revert(m.ctx(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionReverted {
			t.Fatalf("undo: %+v", res)
		}
		if got, dot := m.device(inst, "/dev/sdf"); got != data || !dot {
			t.Errorf("after undo /dev/sdf holds %s (DeleteOnTermination %t), want %s and true", got, dot, data)
		}
		if s := m.instance(inst).State.Name; s != ec2types.InstanceStateNameRunning && s != ec2types.InstanceStateNamePending {
			t.Errorf("after undo the instance is %s", s)
		}
		// the root volume's undo is refused once its copy moved
		ro := motoOutcome(t, outcomes[root], ResourceTypeVolume, rootVol)
		if _, err := m.ec2.StopInstances(m.ctx(), &ec2.StopInstancesInput{InstanceIds: []string{inst}}); err != nil {
			t.Fatal(err)
		}
		nid := ro.After["newVolumeId"].(string)
		if _, err := m.ec2.DetachVolume(m.ctx(), &ec2.DetachVolumeInput{VolumeId: aws.String(nid), InstanceId: aws.String(inst)}); err != nil {
			t.Fatal(err)
		}
		if res := r.Revert(m.ctx(), remediation.RevertRequest{Outcome: ro, Mode: remediation.ModeEnforce}); res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, "changed since") {
			t.Errorf("undo of a changed root migration: %+v", res)
		}
	})

	t.Run("instance without the opt-in tag", func(t *testing.T) {
		m := m
		m.t = t
		inst, root := m.runInstance(false)
		vol, _ := m.device(inst, root)
		res := runUntil(t, newMotoRemediator(m, EBSMigrationAll), vol)
		if res.Action != remediation.ActionNeedsManual || !strings.Contains(res.Reason, TagStopAllowed+"=true") || !strings.Contains(res.Reason, "By hand: Volume "+vol) {
			t.Errorf("%+v", res)
		}
		if s := m.instance(inst).State.Name; s != ec2types.InstanceStateNameRunning || m.copies(vol) != 0 {
			t.Errorf("instance %s, %d copies: want it left alone", s, m.copies(vol))
		}
		if _, ok := ec2Tag(m.volume(vol).Tags, tagStep); ok {
			t.Error("the volume was tagged with a migration step")
		}
	})

	t.Run("account default undo", func(t *testing.T) {
		m := m
		m.t = t
		if _, err := m.ec2.DisableEbsEncryptionByDefault(m.ctx(), &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
			t.Fatal(err)
		}
		r := newMotoRemediator(m, EBSMigrationOff)
		res := r.Remediate(m.ctx(), remediation.Request{Rule: "ec2-ebs-encryption-by-default", ResourceType: ResourceTypeAccount, ResourceID: "123456789012", Region: emulator.Region, Mode: remediation.ModeEnforce})
		o := motoOutcome(t, res, ResourceTypeAccount, "123456789012")
		got := r.Revert(m.ctx(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce})
		if got.Action != remediation.ActionReverted {
			t.Fatalf("%+v", got)
		}
		out, err := m.ec2.GetEbsEncryptionByDefault(m.ctx(), &ec2.GetEbsEncryptionByDefaultInput{})
		if err != nil || aws.ToBool(out.EbsEncryptionByDefault) {
			t.Errorf("after undo: %+v, %v", out, err)
		}
		// the outcome left it on: off now is a change since
		if res := r.Revert(m.ctx(), remediation.RevertRequest{Outcome: o, Mode: remediation.ModeEnforce}); res.Action != remediation.ActionNeedsManual {
			t.Errorf("second undo, the default off since: %+v", res)
		}
	})
}
