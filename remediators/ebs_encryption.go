package remediators

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// EBSEncryptionAPI is the part of the EC2 client the EBS encryption
// remediator uses.
type EBSEncryptionAPI interface {
	GetEbsEncryptionByDefault(ctx context.Context, params *ec2.GetEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.GetEbsEncryptionByDefaultOutput, error)
	EnableEbsEncryptionByDefault(ctx context.Context, params *ec2.EnableEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.EnableEbsEncryptionByDefaultOutput, error)
	GetEbsDefaultKmsKeyId(ctx context.Context, params *ec2.GetEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.GetEbsDefaultKmsKeyIdOutput, error)
	ModifyEbsDefaultKmsKeyId(ctx context.Context, params *ec2.ModifyEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.ModifyEbsDefaultKmsKeyIdOutput, error)
	DescribeVolumes(ctx context.Context, params *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
}

// EBSDefaultRevertAPI is the part of the EC2 client that undoes the
// region's EBS encryption default.
type EBSDefaultRevertAPI interface {
	DisableEbsEncryptionByDefault(ctx context.Context, params *ec2.DisableEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.DisableEbsEncryptionByDefaultOutput, error)
	ResetEbsDefaultKmsKeyId(ctx context.Context, params *ec2.ResetEbsDefaultKmsKeyIdInput, optFns ...func(*ec2.Options)) (*ec2.ResetEbsDefaultKmsKeyIdOutput, error)
}

// Resource types the EBS remediator handles.
const (
	ResourceTypeAccount = "AWS::::Account"
	ResourceTypeVolume  = "AWS::EC2::Volume"
)

// EBSEncryption turns on EBS encryption by default in the region (with the
// configured default KMS key). For an unencrypted volume it does the same,
// so that no new unencrypted volumes appear, and reports the volume as
// needs-manual with the migration steps: EBS cannot encrypt a volume in
// place.
type EBSEncryption struct {
	Client EBSEncryptionAPI
	KMS    EBSKeyAPI // resolves EBS_KMS_KEY_ID when it is not a key ARN
	// Volumes migrates unencrypted volumes when Opts.EBSMigration is not
	// off, and continues migrations under way whatever it is; nil leaves
	// every unencrypted volume needs-manual.
	Volumes VolumeMigrationAPI
	// Defaults undoes the region's default (Revert); nil cannot.
	Defaults EBSDefaultRevertAPI
	Opts     Options
}

// EBSKeyAPI is the part of the KMS client the EBS remediator resolves the
// configured key with.
type EBSKeyAPI interface {
	DescribeKey(ctx context.Context, params *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// NewEBSEncryption returns the remediator.
func NewEBSEncryption(client EBSEncryptionAPI, keys EBSKeyAPI, opts Options) *EBSEncryption {
	return &EBSEncryption{Client: client, KMS: keys, Opts: opts}
}

// EBSEncryptionName names the remediator in outcomes and settings.
const EBSEncryptionName = "ebs-encryption"

// EBSEncryptionDefinition declares the EBS encryption remediator.
func EBSEncryptionDefinition() Definition {
	return Definition{
		Spec: remediation.Spec{
			Name:          EBSEncryptionName,
			Aliases:       []string{"ebs-encryption-by-default"},
			Summary:       "Turns on EBS encryption by default in the region (with EBS_KMS_KEY_ID as the default key); an unencrypted volume is migrated to an encrypted copy with EBS_MIGRATION (else needs-manual with its migration steps).",
			ResourceTypes: []string{ResourceTypeAccount, ResourceTypeVolume},
			Rules: []remediation.ManagedRule{
				{Name: "encrypted-volumes", Identifier: "ENCRYPTED_VOLUMES", ResourceTypes: []string{ResourceTypeVolume}},
				// A periodic rule on the account's setting: it has no scope.
				{Name: "ec2-ebs-encryption-by-default", Identifier: "EC2_EBS_ENCRYPTION_BY_DEFAULT"},
			},
			// EC2.7 only: EC2.3 (attached volumes encrypted) is not fixed,
			// since a volume cannot be encrypted in place (needs-manual).
			Controls: []string{"EC2.7"},
			Triggers: ec2Calls("DisableEbsEncryptionByDefault", "ModifyEbsDefaultKmsKeyId", "ResetEbsDefaultKmsKeyId", "CreateVolume"),
			// The region's EBS encryption defaults are account settings and
			// DescribeVolumes lists: none of these has a resource type.
			Permissions: []remediation.Permission{{
				Sid: "EBSEncryptionByDefault",
				Actions: []string{"ec2:GetEbsEncryptionByDefault", "ec2:EnableEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId", "ec2:ModifyEbsDefaultKmsKeyId", "ec2:DescribeVolumes",
					// undo: the default off again, or the previous key back
					"ec2:DisableEbsEncryptionByDefault", "ec2:ResetEbsDefaultKmsKeyId"},
				Resources: []string{"*"},
			}, {
				// the volume migration (EBS_MIGRATION) and its undo;
				// Describe* have no resource type
				Sid:       "EBSMigrationDescribe",
				Actions:   []string{"ec2:DescribeSnapshots", "ec2:DescribeInstances"},
				Resources: []string{"*"},
			}, {
				// a snapshot ARN has no account; CreateVolume is
				// authorized on the source snapshot and the new volume
				Sid:       "EBSMigrationCopy",
				Actions:   []string{"ec2:CreateSnapshot", "ec2:CreateVolume", "ec2:CreateTags"},
				Resources: []string{"arn:{partition}:ec2:{region}:{account}:volume/*", "arn:{partition}:ec2:{region}::snapshot/*"},
			}, {
				// StartInstances and ModifyInstanceAttribute stay
				// unconditioned: a rollback must restart and restore an
				// instance whose owner removed the opt-in tag after the
				// stop.
				Sid:       "EBSMigrationSwap",
				Actions:   []string{"ec2:StartInstances", "ec2:DetachVolume", "ec2:AttachVolume", "ec2:ModifyInstanceAttribute"},
				Resources: []string{"arn:{partition}:ec2:{region}:{account}:instance/*", "arn:{partition}:ec2:{region}:{account}:volume/*"},
			}, {
				// only opted-in instances, as the migration and its undo
				// read the tag before every stop (stopAllowed takes any
				// case, hence IgnoreCase)
				Sid:       "EBSMigrationStop",
				Actions:   []string{"ec2:StopInstances"},
				Resources: []string{"arn:{partition}:ec2:{region}:{account}:instance/*"},
				Conditions: []remediation.Condition{
					{Test: "StringEqualsIgnoreCase", Variable: "ec2:ResourceTag/" + TagStopAllowed, Values: []string{"true"}},
				},
			}, {
				// originals, after EBS_MIGRATION_DELETE_ORIGINAL_AFTER:
				// only volumes the migration tagged with their copy
				Sid:       "EBSMigrationDeleteOriginal",
				Actions:   []string{"ec2:DeleteVolume"},
				Resources: []string{"arn:{partition}:ec2:{region}:{account}:volume/*"},
				Conditions: []remediation.Condition{
					{Test: "Null", Variable: "ec2:ResourceTag/" + TagMigratedTo, Values: []string{"false"}},
				},
			}, {
				// resolves an EBS_KMS_KEY_ID given as alias or key ID;
				// also the DescribeKey EBS makes with the role's
				// permissions when it creates a volume with the key
				Sid:       "EBSDefaultKeyResolve",
				Actions:   []string{"kms:DescribeKey"},
				Resources: []string{"arn:{partition}:kms:{region}:{account}:key/*"},
			}, {
				// A volume created with a customer managed key: EBS
				// calls KMS with the caller's permissions, through EC2
				// (kms:ViaService). StringLike: the member role serves
				// every region ({region} becomes "*"). ReEncryptFrom and
				// ReEncryptTo are what "kms:ReEncrypt*" grants, named so
				// that the policy simulator can check them.
				Sid:       "EBSMigrationKeyUse",
				Actions:   []string{"kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"},
				Resources: []string{"arn:{partition}:kms:{region}:{account}:key/*"},
				Conditions: []remediation.Condition{
					{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}},
				},
			}, {
				// The grant EBS creates for the instance the volume is
				// attached to; kms:GrantIsForAWSResource is present only
				// on grant requests, hence a statement of its own.
				Sid:       "EBSMigrationKeyGrant",
				Actions:   []string{"kms:CreateGrant"},
				Resources: []string{"arn:{partition}:kms:{region}:{account}:key/*"},
				Conditions: []remediation.Condition{
					{Test: "Bool", Variable: "kms:GrantIsForAWSResource", Values: []string{"true"}},
					{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}},
				},
			}},
		},
		Sweep: []SweepCheck{
			{Rule: "ec2-ebs-encryption-by-default", Lister: AccountLister()},
			{Rule: "encrypted-volumes", Lister: AttachedUnencryptedVolumeLister()},
		},
		New: func(c Clients, o Options) remediation.Remediator {
			r := NewEBSEncryption(c.EC2(), c.KMS(), o)
			r.Volumes, r.Defaults = c.EC2(), c.EC2()
			return r
		},
	}
}

// Name implements remediation.Remediator.
func (r *EBSEncryption) Name() string { return EBSEncryptionName }

// ResourceTypes implements remediation.Remediator.
func (r *EBSEncryption) ResourceTypes() []string {
	return []string{ResourceTypeAccount, ResourceTypeVolume}
}

type ebsDefault struct {
	enabled bool
	kmsKey  string // the default key as EC2 reports it (a key ARN, or alias/aws/ebs)
	want    string // the configured key resolved to its ARN; "" when none is configured
}

func (d ebsDefault) settings() map[string]any {
	m := map[string]any{"ebsEncryptionByDefault": d.enabled}
	if d.kmsKey != "" {
		m["defaultKmsKeyId"] = d.kmsKey
	}
	return m
}

func (r *EBSEncryption) readDefault(ctx context.Context, region string) (ebsDefault, error) {
	out, err := r.Client.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{}, ec2Region(region))
	if err != nil {
		return ebsDefault{}, fmt.Errorf("reading EBS encryption by default in region %s: %w", region, err)
	}
	d := ebsDefault{enabled: aws.ToBool(out.EbsEncryptionByDefault)}
	if r.Opts.EBSKMSKeyID != "" {
		k, err := r.Client.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{}, ec2Region(region))
		if err != nil {
			return ebsDefault{}, fmt.Errorf("reading default EBS KMS key in region %s: %w", region, err)
		}
		d.kmsKey = aws.ToString(k.KmsKeyId)
		if d.want, err = r.resolveKey(ctx, region); err != nil {
			return ebsDefault{}, err
		}
	}
	return d, nil
}

// resolveKey returns the ARN of the configured key. EC2 reports the default
// key by key ARN only, so a key configured by alias, alias ARN or key ID is
// resolved with KMS DescribeKey (in the resource's region, where the alias
// lives) and compared by ARN.
func (r *EBSEncryption) resolveKey(ctx context.Context, region string) (string, error) {
	k := r.Opts.EBSKMSKeyID
	if strings.HasPrefix(k, "arn:") && strings.Contains(k, ":key/") {
		return k, nil
	}
	if r.KMS == nil {
		return "", fmt.Errorf("resolving KMS key %q in region %s: no KMS client", k, region)
	}
	out, err := r.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k)}, func(o *kms.Options) {
		if region != "" {
			o.Region = region
		}
	})
	if err != nil {
		return "", fmt.Errorf("resolving KMS key %q in region %s: %w", k, region, err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", fmt.Errorf("resolving KMS key %q in region %s: DescribeKey returned no key ARN", k, region)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

func (r *EBSEncryption) defaultCompliant(d ebsDefault) bool {
	return d.enabled && (d.want == "" || d.kmsKey == d.want)
}

// enableDefault turns the region default on (and sets the key) and reads it
// back; wrote says whether a write went through (it counts toward the flap
// limit even when the read-back fails).
func (r *EBSEncryption) enableDefault(ctx context.Context, region string, cur ebsDefault) (got ebsDefault, wrote bool, err error) {
	if !cur.enabled {
		if _, err := r.Client.EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}, ec2Region(region)); err != nil {
			return cur, false, fmt.Errorf("enabling EBS encryption by default in region %s: %w", region, err)
		}
		wrote = true
	}
	if cur.want != "" && cur.kmsKey != cur.want {
		if _, err := r.Client.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(cur.want)}, ec2Region(region)); err != nil {
			return cur, wrote, fmt.Errorf("setting default EBS KMS key %q in region %s: %w", cur.want, region, err)
		}
		wrote = true
	}
	got, err = r.readDefault(ctx, region)
	if err != nil {
		return cur, wrote, fmt.Errorf("verifying: %w", err)
	}
	if !r.defaultCompliant(got) {
		return got, wrote, fmt.Errorf("verifying EBS encryption by default in region %s: read back enabled=%t key=%q", region, got.enabled, got.kmsKey)
	}
	return got, wrote, nil
}

func (r *EBSEncryption) describeDefaultChange() string {
	if r.Opts.EBSKMSKeyID != "" {
		return "EBS encryption by default with KMS key " + r.Opts.EBSKMSKeyID
	}
	return "EBS encryption by default"
}

// Remediate implements remediation.Remediator.
func (r *EBSEncryption) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	if req.ResourceType == ResourceTypeVolume {
		return r.volume(ctx, req)
	}
	// The account rule's resource is the account itself: anything else is
	// not an event about this account's setting.
	if !accountIDPattern.MatchString(req.ResourceID) {
		return malformedID("AWS account", req.ResourceID)
	}
	if req.Account != "" && req.ResourceID != req.Account {
		return remediation.Failed(nil, fmt.Errorf("input error: resource ID %q is not the event's account %s", req.ResourceID, req.Account))
	}
	cur, err := r.readDefault(ctx, req.Region)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	before := cur.settings()
	if r.defaultCompliant(cur) {
		return remediation.Result{Action: remediation.ActionCompliant, Before: before, After: before,
			Reason: "EBS encryption by default is on in " + req.Region}
	}
	if req.Mode == remediation.ModeDryRun {
		want := ebsDefault{enabled: true, kmsKey: cur.want}
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: want.settings(),
			Reason: "would turn on " + r.describeDefaultChange() + " in " + req.Region}
	}
	got, wrote, err := r.enableDefault(ctx, req.Region, cur)
	if err != nil {
		res := remediation.Failed(before, err)
		res.Wrote = wrote
		return res
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: got.settings(),
		Reason: "turned on " + r.describeDefaultChange() + " in " + req.Region}
}

func (r *EBSEncryption) volume(ctx context.Context, req remediation.Request) remediation.Result {
	id := req.ResourceID
	if !volumeIDPattern.MatchString(id) {
		return malformedID("EBS volume", id)
	}
	out, err := r.Client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, ec2Region(req.Region))
	if awserr.Is(err, "InvalidVolumeID.Malformed") {
		return malformedID("EBS volume", id)
	}
	if awserr.Is(err, "InvalidVolume.NotFound") || (err == nil && len(out.Volumes) == 0) {
		return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("volume %q no longer exists", id)}
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing volume %q: %w", id, err))
	}
	vol := out.Volumes[0]
	before := map[string]any{"encrypted": aws.ToBool(vol.Encrypted), "state": string(vol.State)}
	if aws.ToBool(vol.Encrypted) {
		return remediation.Result{Action: remediation.ActionCompliant, Reason: "volume is encrypted", Before: before, After: before}
	}
	// a migration under way goes on whatever the settings and tags say
	// now: stopping half way could leave an instance stopped
	step, migrating := ec2Tag(vol.Tags, tagStep)
	// a finished one is not under way: an exempt original is kept, not
	// deleted by EBS_MIGRATION_DELETE_ORIGINAL_AFTER (unless its
	// instance's start is still to be made)
	underWay := migrating && step != StepFailed && step != StepReverted &&
		(step != StepDone || deferredStart(vol.Tags))
	if v, ok := ec2Tag(vol.Tags, r.Opts.exemptKey()); ok && exemptValue(v) && !underWay {
		return remediation.Result{Action: remediation.ActionExempt, Reason: exemptReason(r.Opts.exemptKey(), v), Before: before, After: before}
	}
	def, err := r.readDefault(ctx, req.Region)
	if err != nil {
		return remediation.Failed(before, err)
	}
	for k, v := range def.settings() {
		before[k] = v
	}
	after := map[string]any{"encrypted": false, "state": string(vol.State)}
	steps := migrationSteps(vol, req.Region, r.Opts.EBSKMSKeyID)
	migrate, why := r.migrates(vol, migrating)
	if migrate {
		res := r.migrate(ctx, req, def, before)
		if res.Action == remediation.ActionNeedsManual && !migrating {
			res.Reason += ". By hand: " + steps
		}
		return res
	}
	if why != "" {
		steps = why + " " + steps
	}
	if !r.defaultCompliant(def) {
		if req.Mode == remediation.ModeDryRun {
			for k, v := range (ebsDefault{enabled: true, kmsKey: def.want}).settings() {
				after[k] = v
			}
			return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: after,
				Reason: "would turn on " + r.describeDefaultChange() + " in " + req.Region + " so no new unencrypted volumes appear; this volume cannot be encrypted in place. " + steps}
		}
		got, wrote, err := r.enableDefault(ctx, req.Region, def)
		if err != nil {
			res := remediation.Failed(before, err)
			res.Wrote = wrote
			return res
		}
		steps = "Turned on " + r.describeDefaultChange() + " in " + req.Region + ". " + steps
		def = got
	}
	for k, v := range def.settings() {
		after[k] = v
	}
	return remediation.Result{Action: remediation.ActionNeedsManual, Before: before, After: after, Reason: steps}
}

// migrates says whether the volume is migrated to an encrypted copy (by
// EBS_MIGRATION, or because its migration is under way), and if not, why
// when the setting is on.
func (r *EBSEncryption) migrates(vol ec2types.Volume, migrating bool) (bool, string) {
	if r.Volumes == nil {
		return false, ""
	}
	if migrating {
		return true, ""
	}
	if _, ok := ec2Tag(vol.Tags, TagMigratedTo); ok {
		return true, ""
	}
	switch r.Opts.EBSMigration {
	case EBSMigrationAll:
		return true, ""
	case EBSMigrationUnattached:
		if len(vol.Attachments) == 0 {
			return true, ""
		}
		return false, "EBS_MIGRATION=unattached migrates volumes attached to no instance only (`all` migrates this one if its instance is tagged " + TagStopAllowed + "=true)."
	}
	return false, ""
}

// migrate turns the region's default on as for any volume (so that no new
// unencrypted volumes appear), then moves the volume's migration on by
// one bounded run. Dry-run lists the plan.
func (r *EBSEncryption) migrate(ctx context.Context, req remediation.Request, def ebsDefault, before map[string]any) remediation.Result {
	m := NewVolumeMigrator(r.Volumes, r.Opts)
	if req.Mode == remediation.ModeDryRun {
		p, err := m.Plan(ctx, req.Region, req.ResourceID)
		if err != nil {
			return remediation.Failed(before, err)
		}
		if p.Refusal != "" {
			return remediation.Result{Action: remediation.ActionNeedsManual, Before: before, After: before, Reason: p.Refusal}
		}
		reason := "would migrate volume " + req.ResourceID + " to an encrypted copy: " + strings.Join(p.Calls, "; ") + ". Downtime: " + p.Downtime
		if !r.defaultCompliant(def) {
			reason = "would turn on " + r.describeDefaultChange() + " in " + req.Region + "; " + reason
		}
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: map[string]any{"encrypted": true, "volumeId": req.ResourceID, "newVolumeId": "NEW_VOLUME_ID"}, Reason: reason}
	}
	prefix, wrote := "", false
	if !r.defaultCompliant(def) {
		got, w, err := r.enableDefault(ctx, req.Region, def)
		if err != nil {
			res := remediation.Failed(before, err)
			res.Wrote = w
			return res
		}
		prefix, wrote, def = "turned on "+r.describeDefaultChange()+" in "+req.Region+"; ", w, got
	}
	st := m.Advance(ctx, req.Region, req.ResourceID)
	res := st.Result
	for k, v := range before {
		if _, ok := res.Before[k]; !ok && res.Before != nil {
			res.Before[k] = v
		}
	}
	if res.After != nil {
		for k, v := range def.settings() {
			res.After[k] = v
		}
	}
	res.Reason = prefix + res.Reason
	res.Wrote = res.Wrote || wrote
	return res
}

// migrationSteps spells out how to replace an unencrypted volume with an
// encrypted copy, with this volume's own IDs and settings.
func migrationSteps(vol ec2types.Volume, region, kmsKey string) string {
	id := aws.ToString(vol.VolumeId)
	var b strings.Builder
	fmt.Fprintf(&b, "Volume %s is unencrypted and EBS cannot encrypt a volume in place; migrate it: ", id)
	fmt.Fprintf(&b, "(1) aws ec2 create-snapshot --region %s --volume-id %s --description \"pre-encryption copy of %s\"; ", region, id, id)
	b.WriteString("(2) aws ec2 wait snapshot-completed --region " + region + " --snapshot-ids SNAPSHOT_ID; ")
	create := fmt.Sprintf("aws ec2 create-volume --region %s --snapshot-id SNAPSHOT_ID --availability-zone %s --volume-type %s --encrypted",
		region, aws.ToString(vol.AvailabilityZone), string(vol.VolumeType))
	if kmsKey != "" {
		create += " --kms-key-id " + kmsKey
	}
	if vol.Iops != nil && (vol.VolumeType == ec2types.VolumeTypeIo1 || vol.VolumeType == ec2types.VolumeTypeIo2 || vol.VolumeType == ec2types.VolumeTypeGp3) {
		create += fmt.Sprintf(" --iops %d", aws.ToInt32(vol.Iops))
	}
	if vol.Throughput != nil && vol.VolumeType == ec2types.VolumeTypeGp3 {
		create += fmt.Sprintf(" --throughput %d", aws.ToInt32(vol.Throughput))
	}
	fmt.Fprintf(&b, "(3) %s (copy the volume's tags); ", create)
	if len(vol.Attachments) > 0 {
		a := vol.Attachments[0]
		inst, dev := aws.ToString(a.InstanceId), aws.ToString(a.Device)
		fmt.Fprintf(&b, "(4) aws ec2 stop-instances --region %s --instance-ids %s and wait until stopped; ", region, inst)
		fmt.Fprintf(&b, "(5) aws ec2 detach-volume --region %s --volume-id %s; ", region, id)
		fmt.Fprintf(&b, "(6) aws ec2 attach-volume --region %s --volume-id NEW_VOLUME_ID --instance-id %s --device %s; ", region, inst, dev)
		fmt.Fprintf(&b, "(7) aws ec2 start-instances --region %s --instance-ids %s and check the workload; ", region, inst)
		fmt.Fprintf(&b, "(8) aws ec2 delete-volume --region %s --volume-id %s and delete the snapshot once verified.", region, id)
	} else {
		fmt.Fprintf(&b, "(4) point whatever used %s at NEW_VOLUME_ID; ", id)
		fmt.Fprintf(&b, "(5) aws ec2 delete-volume --region %s --volume-id %s and delete the snapshot once verified.", region, id)
	}
	return b.String()
}
