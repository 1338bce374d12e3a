package remediators

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/autoremediate/autoremediate/remediation"
)

const (
	ebsDefaultRule = "ec2-ebs-encryption-by-default"
	volumesRule    = "encrypted-volumes"
)

func runEBSAccount(t *testing.T, f *fakeEC2, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	return NewEBSEncryption(f, &fakeKMS{f: f}, opts).Remediate(context.Background(), request(ebsDefaultRule, ResourceTypeAccount, testAccount, mode))
}

func runEBSVolume(t *testing.T, f *fakeEC2, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	return NewEBSEncryption(f, &fakeKMS{f: f}, opts).Remediate(context.Background(), request(volumesRule, ResourceTypeVolume, testVolume, mode))
}

// fakeKMS resolves keys through the EC2 fake's aliases and records what it
// is asked.
type fakeKMS struct {
	f     *fakeEC2
	asked []string
}

func (k *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	var o kms.Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Region != testRegion {
		k.f.t.Errorf("DescribeKey sent to region %q, want the resource's %q", o.Region, testRegion)
	}
	k.asked = append(k.asked, aws.ToString(in.KeyId))
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: aws.String(k.f.keyARN(aws.ToString(in.KeyId)))}}, nil
}

func unencryptedVolume(attached bool) *ec2types.Volume {
	v := &ec2types.Volume{
		VolumeId: aws.String(testVolume), Encrypted: aws.Bool(false), State: ec2types.VolumeStateInUse,
		AvailabilityZone: aws.String("eu-west-1b"), VolumeType: ec2types.VolumeTypeGp3, Size: aws.Int32(100),
		Iops: aws.Int32(3000), Throughput: aws.Int32(125),
	}
	if attached {
		v.Attachments = []ec2types.VolumeAttachment{{InstanceId: aws.String(testInstance), Device: aws.String("/dev/xvdf"), VolumeId: aws.String(testVolume)}}
	} else {
		v.State = ec2types.VolumeStateAvailable
	}
	return v
}

func TestEBSAccountEnables(t *testing.T) {
	f := newFakeEC2(t)
	res := runEBSAccount(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	want := []string{"GetEbsEncryptionByDefault", "EnableEbsEncryptionByDefault", "GetEbsEncryptionByDefault"}
	if got := f.names(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v (no key configured: the key is neither read nor changed)", got, want)
	}
	if res.Before["ebsEncryptionByDefault"] != false || res.After["ebsEncryptionByDefault"] != true {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	if res.Reason != "turned on EBS encryption by default in "+testRegion {
		t.Errorf("Reason = %q", res.Reason)
	}
}

func TestEBSAccountSetsKey(t *testing.T) {
	for _, key := range []string{testKMSKey, "1234abcd-12ab-34cd-56ef-1234567890ab"} {
		t.Run(key, func(t *testing.T) {
			f := newFakeEC2(t)
			opts := testOptions()
			opts.EBSKMSKeyID = key
			res := runEBSAccount(t, f, opts, remediation.ModeEnforce)
			if res.Action != remediation.ActionRemediated {
				t.Fatalf("result = %+v", res)
			}
			if len(f.keyChanges) != 1 || aws.ToString(f.keyChanges[0].KmsKeyId) != testKMSKey {
				t.Fatalf("ModifyEbsDefaultKmsKeyId requests = %+v, want one with the key ARN %q", f.keyChanges, testKMSKey)
			}
			if f.count("EnableEbsEncryptionByDefault") != 1 {
				t.Error("encryption by default not enabled")
			}
			if res.Before["defaultKmsKeyId"] != "alias/aws/ebs" || res.After["defaultKmsKeyId"] != testKMSKey {
				t.Errorf("Before %v After %v", res.Before, res.After)
			}
			if !strings.Contains(res.Reason, "with KMS key "+key) {
				t.Errorf("Reason = %q", res.Reason)
			}
		})
	}
}

// TestEBSAccountAliasKey: EC2 reports the default key by ARN, so a key
// configured by alias is resolved to its ARN with KMS and compared by ARN.
// Before, an alias never matched: every event called
// ModifyEbsDefaultKmsKeyId, and dry-run claimed a change for a compliant
// region.
func TestEBSAccountAliasKey(t *testing.T) {
	for _, alias := range []string{"alias/ebs-default", "arn:aws:kms:eu-west-1:123456789012:alias/ebs-default"} {
		t.Run(alias, func(t *testing.T) {
			f := newFakeEC2(t)
			f.aliases = map[string]string{alias: testKMSKey}
			opts := testOptions()
			opts.EBSKMSKeyID = alias
			res := runEBSAccount(t, f, opts, remediation.ModeEnforce)
			if res.Action != remediation.ActionRemediated {
				t.Fatalf("result = %+v", res)
			}
			if len(f.keyChanges) != 1 || aws.ToString(f.keyChanges[0].KmsKeyId) != testKMSKey {
				t.Errorf("ModifyEbsDefaultKmsKeyId requests = %+v", f.keyChanges)
			}
			if res.After["defaultKmsKeyId"] != testKMSKey {
				t.Errorf("After = %v", res.After)
			}

			// run again: the alias already names the default key, so
			// nothing is written, and dry-run claims no change either
			res = runEBSAccount(t, f, opts, remediation.ModeEnforce)
			if res.Action != remediation.ActionCompliant {
				t.Errorf("second run: %+v", res)
			}
			if f.count("EnableEbsEncryptionByDefault") != 1 || len(f.keyChanges) != 1 {
				t.Errorf("second run wrote: %v", f.names())
			}
			if res := runEBSAccount(t, f, opts, remediation.ModeDryRun); res.Action != remediation.ActionCompliant {
				t.Errorf("dry-run of a compliant region: %+v", res)
			}
		})
	}
	t.Run("volume", func(t *testing.T) {
		f := newFakeEC2(t)
		f.aliases = map[string]string{"alias/ebs-default": testKMSKey}
		f.ebsDefault, f.ebsKey = true, testKMSKey
		f.volume = unencryptedVolume(false)
		opts := testOptions()
		opts.EBSKMSKeyID = "alias/ebs-default"
		res := runEBSVolume(t, f, opts, remediation.ModeEnforce)
		if res.Action != remediation.ActionNeedsManual || strings.Contains(res.Reason, "Turned on") {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("alias resolves to another key than read back", func(t *testing.T) {
		f := newFakeEC2(t)
		f.aliases = map[string]string{"alias/ebs-default": testKMSKey}
		f.dropWrites = true
		opts := testOptions()
		opts.EBSKMSKeyID = "alias/ebs-default"
		f.ebsDefault = true
		checkFailed(t, runEBSAccount(t, f, opts, remediation.ModeEnforce), "", "verifying EBS encryption by default", `key="alias/aws/ebs"`)
	})
}

func TestEBSAccountOnlyKeyWrong(t *testing.T) {
	f := newFakeEC2(t)
	f.ebsDefault = true
	opts := testOptions()
	opts.EBSKMSKeyID = testKMSKey
	res := runEBSAccount(t, f, opts, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if f.count("EnableEbsEncryptionByDefault") != 0 || len(f.keyChanges) != 1 {
		t.Errorf("calls = %v", f.names())
	}
}

func TestEBSAccountCompliant(t *testing.T) {
	f := newFakeEC2(t)
	f.ebsDefault = true
	res := runEBSAccount(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || len(f.writes()) != 0 {
		t.Errorf("result = %+v, writes %v", res, f.writes())
	}
	// with the configured key already the default
	f = newFakeEC2(t)
	f.ebsDefault, f.ebsKey = true, testKMSKey
	opts := testOptions()
	opts.EBSKMSKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	res = runEBSAccount(t, f, opts, remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || len(f.writes()) != 0 {
		t.Errorf("key ID vs ARN: result = %+v, writes %v", res, f.writes())
	}
}

func TestEBSAccountDryRun(t *testing.T) {
	f := newFakeEC2(t)
	opts := testOptions()
	opts.EBSKMSKeyID = testKMSKey
	res := runEBSAccount(t, f, opts, remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || !strings.HasPrefix(res.Reason, "would turn on EBS encryption by default with KMS key") {
		t.Fatalf("result = %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v in dry-run", f.writes())
	}
	if res.After["ebsEncryptionByDefault"] != true || res.After["defaultKmsKeyId"] != testKMSKey {
		t.Errorf("After = %v", res.After)
	}
}

func TestEBSAccountErrors(t *testing.T) {
	cases := []struct {
		at, want string
		key      bool
	}{
		{"GetEbsEncryptionByDefault", "reading EBS encryption by default in region " + testRegion, false},
		{"GetEbsDefaultKmsKeyId", "reading default EBS KMS key in region " + testRegion, true},
		{"EnableEbsEncryptionByDefault", "enabling EBS encryption by default in region " + testRegion, false},
		{"ModifyEbsDefaultKmsKeyId", `setting default EBS KMS key "` + testKMSKey + `" in region ` + testRegion, true},
		{"GetEbsEncryptionByDefault#2", "verifying: reading EBS encryption by default", false},
	}
	for _, tc := range cases {
		t.Run(tc.at, func(t *testing.T) {
			f := newFakeEC2(t)
			f.errs[tc.at] = apiErr("UnauthorizedOperation")
			opts := testOptions()
			if tc.key {
				opts.EBSKMSKeyID = testKMSKey
			}
			checkFailed(t, runEBSAccount(t, f, opts, remediation.ModeEnforce), "UnauthorizedOperation", tc.want)
		})
	}
	t.Run("verify mismatch", func(t *testing.T) {
		f := newFakeEC2(t)
		f.dropWrites = true
		checkFailed(t, runEBSAccount(t, f, testOptions(), remediation.ModeEnforce), "", "verifying EBS encryption by default", "enabled=false")
	})
}

func TestEBSVolumeNeedsManual(t *testing.T) {
	for _, attached := range []bool{true, false} {
		name := map[bool]string{true: "attached", false: "detached"}[attached]
		t.Run(name, func(t *testing.T) {
			f := newFakeEC2(t)
			f.volume = unencryptedVolume(attached)
			opts := testOptions()
			opts.EBSKMSKeyID = testKMSKey
			res := runEBSVolume(t, f, opts, remediation.ModeEnforce)
			if res.Action != remediation.ActionNeedsManual || res.Err != nil {
				t.Fatalf("result = %+v", res)
			}
			if f.count("EnableEbsEncryptionByDefault") != 1 || len(f.keyChanges) != 1 {
				t.Errorf("encryption by default not turned on: calls %v", f.names())
			}
			if f.count("GetEbsEncryptionByDefault") != 2 {
				t.Errorf("encryption by default not verified: calls %v", f.names())
			}
			for _, s := range []string{"Turned on EBS encryption by default with KMS key " + testKMSKey + " in " + testRegion,
				"Volume " + testVolume + " is unencrypted", "--volume-id " + testVolume, "--availability-zone eu-west-1b",
				"--volume-type gp3", "--encrypted", "--kms-key-id " + testKMSKey, "--iops 3000", "--throughput 125", "--region " + testRegion} {
				if !strings.Contains(res.Reason, s) {
					t.Errorf("Reason does not contain %q:\n%s", s, res.Reason)
				}
			}
			if attached {
				for _, s := range []string{"--instance-ids " + testInstance, "--instance-id " + testInstance, "--device /dev/xvdf", "detach-volume"} {
					if !strings.Contains(res.Reason, s) {
						t.Errorf("Reason does not contain %q:\n%s", s, res.Reason)
					}
				}
			} else if strings.Contains(res.Reason, "stop-instances") || strings.Contains(res.Reason, "--device") {
				t.Errorf("detached volume steps mention an instance:\n%s", res.Reason)
			}
			if res.Before["encrypted"] != false || res.Before["ebsEncryptionByDefault"] != false ||
				res.After["encrypted"] != false || res.After["ebsEncryptionByDefault"] != true || res.After["defaultKmsKeyId"] != testKMSKey {
				t.Errorf("Before %v After %v", res.Before, res.After)
			}
		})
	}
}

func TestEBSVolumeDefaultAlreadyOn(t *testing.T) {
	f := newFakeEC2(t)
	f.volume = unencryptedVolume(true)
	f.volume.VolumeType, f.volume.Iops, f.volume.Throughput = ec2types.VolumeTypeGp2, aws.Int32(300), nil
	f.ebsDefault = true
	res := runEBSVolume(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionNeedsManual || len(f.writes()) != 0 {
		t.Fatalf("result = %+v, writes %v", res, f.writes())
	}
	if strings.Contains(res.Reason, "Turned on") || strings.Contains(res.Reason, "--iops") || strings.Contains(res.Reason, "--kms-key-id") {
		t.Errorf("Reason = %s", res.Reason)
	}
	if !strings.Contains(res.Reason, "--volume-type gp2") {
		t.Errorf("Reason = %s", res.Reason)
	}
}

func TestEBSVolumeEncrypted(t *testing.T) {
	f := newFakeEC2(t)
	f.volume = unencryptedVolume(true)
	f.volume.Encrypted = aws.Bool(true)
	res := runEBSVolume(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant || res.Before["encrypted"] != true {
		t.Errorf("result = %+v", res)
	}
	if got := f.names(); !reflect.DeepEqual(got, []string{"DescribeVolumes"}) {
		t.Errorf("calls = %v", got)
	}
}

func TestEBSVolumeExempt(t *testing.T) {
	for _, v := range []string{"off", "false", "OFF"} {
		f := newFakeEC2(t)
		f.volume = unencryptedVolume(false)
		f.volume.Tags = []ec2types.Tag{{Key: aws.String("auto-remediation"), Value: aws.String(v)}}
		res := runEBSVolume(t, f, testOptions(), remediation.ModeEnforce)
		if res.Action != remediation.ActionExempt || len(f.writes()) != 0 {
			t.Errorf("%s: result %+v, writes %v", v, res, f.writes())
		}
		if f.count("GetEbsEncryptionByDefault") != 0 {
			t.Errorf("%s: region default read for an exempt volume", v)
		}
	}
}

func TestEBSVolumeDryRun(t *testing.T) {
	f := newFakeEC2(t)
	f.volume = unencryptedVolume(true)
	res := runEBSVolume(t, f, testOptions(), remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || !strings.HasPrefix(res.Reason, "would turn on EBS encryption by default in "+testRegion) ||
		!strings.Contains(res.Reason, "--volume-id "+testVolume) {
		t.Fatalf("result = %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v", f.writes())
	}
	if res.After["ebsEncryptionByDefault"] != true {
		t.Errorf("After = %v", res.After)
	}
}

func TestEBSVolumeGone(t *testing.T) {
	f := newFakeEC2(t)
	f.errs["DescribeVolumes"] = apiErr("InvalidVolumeID.Malformed")
	if res := runEBSVolume(t, f, testOptions(), remediation.ModeEnforce); res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "input error") {
		t.Errorf("malformed id: an input error, not gone: %+v", res)
	}
	r := NewEBSEncryption(newFakeEC2(t), nil, testOptions())
	if res := r.Remediate(context.Background(), remediation.Request{ResourceType: ResourceTypeVolume, ResourceID: "volume-1", Region: "us-east-1"}); res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "input error") {
		t.Errorf("volume-1: %+v", res)
	}
	for name, setup := range map[string]func(f *fakeEC2){
		"not found": func(f *fakeEC2) {},
	} {
		f := newFakeEC2(t)
		setup(f)
		res := runEBSVolume(t, f, testOptions(), remediation.ModeEnforce)
		if res.Action != remediation.ActionGone || !strings.Contains(res.Reason, testVolume) || len(f.writes()) != 0 {
			t.Errorf("%s: result = %+v", name, res)
		}
	}
}

func TestEBSVolumeErrors(t *testing.T) {
	cases := []struct{ at, want string }{
		{"DescribeVolumes", `describing volume "` + testVolume + `"`},
		{"GetEbsEncryptionByDefault", "reading EBS encryption by default in region"},
		{"EnableEbsEncryptionByDefault", "enabling EBS encryption by default in region"},
	}
	for _, tc := range cases {
		f := newFakeEC2(t)
		f.volume = unencryptedVolume(true)
		f.errs[tc.at] = apiErr("UnauthorizedOperation")
		checkFailed(t, runEBSVolume(t, f, testOptions(), remediation.ModeEnforce), "UnauthorizedOperation", tc.want)
	}
}

func TestEBSDescribe(t *testing.T) {
	r := NewEBSEncryption(nil, nil, Options{})
	if r.Name() != EBSEncryptionName || !reflect.DeepEqual(r.ResourceTypes(), []string{"AWS::::Account", "AWS::EC2::Volume"}) {
		t.Errorf("Name %q ResourceTypes %v", r.Name(), r.ResourceTypes())
	}
	checkPermissionsCover(t, EBSEncryptionDefinition(), reflect.TypeFor[EBSEncryptionAPI](), reflect.TypeFor[EBSKeyAPI](),
		reflect.TypeFor[VolumeMigrationAPI](), reflect.TypeFor[EBSDefaultRevertAPI]())
}
