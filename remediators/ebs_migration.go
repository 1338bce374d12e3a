package remediators

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// The EBS_MIGRATION values.
const (
	EBSMigrationOff        = "off"        // unencrypted volumes are needs-manual
	EBSMigrationUnattached = "unattached" // volumes attached to no instance are migrated
	EBSMigrationAll        = "all"        // attached volumes too, on instances that opt in
)

// DefaultEBSMigrationStuckAfter is EBS_MIGRATION_STUCK_AFTER's default.
const DefaultEBSMigrationStuckAfter = 6 * time.Hour

// ParseEBSMigration validates an EBS_MIGRATION value.
func ParseEBSMigration(s string) (string, error) {
	switch v := strings.TrimSpace(s); v {
	case EBSMigrationOff, EBSMigrationUnattached, EBSMigrationAll:
		return v, nil
	}
	return "", fmt.Errorf("%q is not one of off, unattached, all", s)
}

// Tags of the migration. The state of a migration lives in tags on the
// original volume, so that any later run (the next event, the sweep, the
// CLI) continues where the last one stopped.
const (
	// TagStopAllowed=true on an instance allows a migration to stop it.
	TagStopAllowed = "autoremediate:stop-allowed"
	// TagMigratedFrom names the original volume on the snapshots and on
	// the new volume.
	TagMigratedFrom = "autoremediate:migrated-from"
	// TagMigratedTo names the new volume on a migrated original.
	TagMigratedTo = "autoremediate:migrated-to"
	// TagMigratedAt is when the migration finished (RFC 3339).
	TagMigratedAt = "autoremediate:migrated-at"
	// TagMigrationStep holds the step a migration under way is at.
	TagMigrationStep = "autoremediate:migration-step"

	tagMigrationPrefix = "autoremediate:migrat" // the tags not copied to the new volume
	tagStep            = TagMigrationStep
	tagStartedAt       = "autoremediate:migration-started-at"
	tagSeedSnapshot    = "autoremediate:migration-seed-snapshot"
	tagSnapshot        = "autoremediate:migration-snapshot"
	tagNewVolume       = "autoremediate:migration-new-volume"
	tagInstance        = "autoremediate:migration-instance"
	tagDevice          = "autoremediate:migration-device"
	tagDeleteOnTerm    = "autoremediate:migration-delete-on-termination"
	tagWasRunning      = "autoremediate:migration-was-running"
	tagFailure         = "autoremediate:migration-failure"
	tagStartDeferred   = "autoremediate:migration-start-deferred" // done, the instance's start left to another volume's migration
	tagKind            = "autoremediate:migration-kind"           // on snapshots: seed or final
)

// The steps of a migration, as the tag autoremediate:migration-step and
// MigrationStatus.Step name them.
const (
	// StepSeed: a first snapshot while the instance runs, so that the one
	// taken after the stop is incremental and the downtime short.
	StepSeed = "seed-snapshot"
	// StepStop: the instance is being stopped (attached volumes).
	StepStop = "stop"
	// StepSnapshot: the snapshot the new volume is made from (after the
	// stop for an attached volume).
	StepSnapshot = "snapshot"
	// StepVolume: the encrypted volume is being created.
	StepVolume = "volume"
	// StepDetach and StepAttach swap the volumes at the device.
	StepDetach = "detach"
	StepAttach = "attach"
	// StepStart: the instance is started again (if it was running).
	StepStart = "start"
	// StepDone: migrated; the original carries TagMigratedTo.
	StepDone = "done"
	// StepRollback: a step after the stop failed; the original is being
	// put back.
	StepRollback = "rollback"
	// StepFailed: the migration failed and was rolled back; it is not
	// tried again until the step tag is removed.
	StepFailed = "failed"
)

const (
	kindSeed  = "seed"
	kindFinal = "final"
)

// VolumeMigrationAPI is the part of the EC2 client a volume migration uses.
type VolumeMigrationAPI interface {
	DescribeVolumes(ctx context.Context, params *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
	DescribeSnapshots(ctx context.Context, params *ec2.DescribeSnapshotsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	CreateSnapshot(ctx context.Context, params *ec2.CreateSnapshotInput, optFns ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error)
	CreateVolume(ctx context.Context, params *ec2.CreateVolumeInput, optFns ...func(*ec2.Options)) (*ec2.CreateVolumeOutput, error)
	CreateTags(ctx context.Context, params *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	StopInstances(ctx context.Context, params *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	StartInstances(ctx context.Context, params *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error)
	DetachVolume(ctx context.Context, params *ec2.DetachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error)
	AttachVolume(ctx context.Context, params *ec2.AttachVolumeInput, optFns ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error)
	ModifyInstanceAttribute(ctx context.Context, params *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
	DeleteVolume(ctx context.Context, params *ec2.DeleteVolumeInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVolumeOutput, error)
}

// VolumeMigrator replaces an unencrypted EBS volume with an encrypted copy,
// one bounded run at a time. It does not look at EBS_MIGRATION (the caller
// decides whether to migrate), but it stops an instance only when the
// instance is tagged TagStopAllowed=true.
type VolumeMigrator struct {
	client VolumeMigrationAPI
	opts   Options
	sleep  func(context.Context, time.Duration) error
}

// NewVolumeMigrator returns a migrator; opts supply the KMS key
// (EBSKMSKeyID), the stuck limit, the deletion of originals, the clock and
// the bounded waits (VerifyAttempts x VerifyInterval per wait).
func NewVolumeMigrator(client VolumeMigrationAPI, opts Options) *VolumeMigrator {
	return &VolumeMigrator{client: client, opts: opts, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// MigrationPlan is what Advance would do from the volume's current state,
// without doing it.
type MigrationPlan struct {
	VolumeID string
	// Calls are the API calls in order, with their arguments.
	Calls []string
	// Downtime says what stops and for how long.
	Downtime string
	// Refusal, when not empty, is why the volume would not be migrated.
	Refusal string
}

// MigrationStatus is where a migration stands after one run of Advance.
type MigrationStatus struct {
	Step             string
	SnapshotID       string
	NewVolumeID      string
	InstanceID       string
	Device           string
	SnapshotProgress string // e.g. "42%" while the snapshot is pending
	// Result is the run's outcome: in-progress, remediated (done in this
	// run), exempt (done earlier), needs-manual, failed, gone, compliant.
	Result remediation.Result
}

func (m *VolumeMigrator) stuckAfter() time.Duration {
	if m.opts.EBSMigrationStuckAfter <= 0 {
		return DefaultEBSMigrationStuckAfter
	}
	return m.opts.EBSMigrationStuckAfter
}

// run is one Advance: the volume as read at its start and what it did.
type run struct {
	m      *VolumeMigrator
	ctx    context.Context
	region string
	id     string
	vol    ec2types.Volume
	tags   map[string]string
	st     MigrationStatus
	did    []string // what this run changed, for the reasons
}

func tagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// Advance moves the migration of one volume on as far as it can without
// waiting longer than a few seconds for any one thing, and returns where
// it stands.
func (m *VolumeMigrator) Advance(ctx context.Context, region, volumeID string) MigrationStatus {
	if !volumeIDPattern.MatchString(volumeID) {
		return MigrationStatus{Result: malformedID("EBS volume", volumeID)}
	}
	vol, found, err := m.describeVolume(ctx, region, volumeID)
	if err != nil {
		return MigrationStatus{Result: remediation.Failed(nil, err)}
	}
	if !found {
		return MigrationStatus{Result: remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("volume %q no longer exists", volumeID)}}
	}
	r := &run{m: m, ctx: ctx, region: region, id: volumeID, vol: vol, tags: newAttempt(tagMap(vol.Tags))}
	r.st = MigrationStatus{
		Step: r.tags[tagStep], SnapshotID: r.tags[tagSnapshot], NewVolumeID: r.tags[tagNewVolume],
		InstanceID: r.tags[tagInstance], Device: r.tags[tagDevice],
	}
	r.st.Result = r.advance()
	if r.st.Result.Before == nil {
		r.st.Result.Before = r.before()
	}
	if r.st.Result.After == nil {
		r.st.Result.After = r.state()
	}
	return r.st
}

func (m *VolumeMigrator) describeVolume(ctx context.Context, region, id string) (ec2types.Volume, bool, error) {
	out, err := m.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, ec2Region(region))
	if awserr.Is(err, "InvalidVolume.NotFound") {
		return ec2types.Volume{}, false, nil
	}
	if err != nil {
		return ec2types.Volume{}, false, fmt.Errorf("describing volume %q: %w", id, err)
	}
	if len(out.Volumes) == 0 {
		return ec2types.Volume{}, false, nil
	}
	v := out.Volumes[0]
	// an attachment EC2 still lists as detached is gone
	v.Attachments = slices.DeleteFunc(slices.Clone(v.Attachments), func(a ec2types.VolumeAttachment) bool {
		return a.State == ec2types.VolumeAttachmentStateDetached
	})
	return v, true, nil
}

// managedAttachment says, for a volume attached to an AWS-managed
// resource (no instance ID, an owning service), which; the migration has
// no instance to stop there.
func managedAttachment(v ec2types.Volume) (string, bool) {
	for _, a := range v.Attachments {
		if aws.ToString(a.InstanceId) == "" {
			return fmt.Sprintf("volume %s is attached to a resource of %s (%s), not to an instance: migrate it through that service",
				aws.ToString(v.VolumeId), orNone(aws.ToString(a.InstanceOwningService)), orNone(aws.ToString(a.AssociatedResource))), true
		}
	}
	return "", false
}

func (m *VolumeMigrator) describeInstance(ctx context.Context, region, id string) (ec2types.Instance, error) {
	out, err := m.client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, ec2Region(region))
	if err != nil {
		return ec2types.Instance{}, fmt.Errorf("describing instance %q: %w", id, err)
	}
	for _, res := range out.Reservations {
		for _, i := range res.Instances {
			if aws.ToString(i.InstanceId) == id {
				return i, nil
			}
		}
	}
	return ec2types.Instance{}, fmt.Errorf("describing instance %q: not found", id)
}

// before is the original volume as the outcome records it: what an undo
// and a reader need.
func (r *run) before() map[string]any {
	v := r.vol
	b := map[string]any{
		"volumeId": r.id, "encrypted": aws.ToBool(v.Encrypted), "state": string(v.State),
		"availabilityZone": aws.ToString(v.AvailabilityZone), "volumeType": string(v.VolumeType),
		"size": aws.ToInt32(v.Size),
	}
	if v.Iops != nil {
		b["iops"] = aws.ToInt32(v.Iops)
	}
	if v.Throughput != nil {
		b["throughput"] = aws.ToInt32(v.Throughput)
	}
	if aws.ToBool(v.MultiAttachEnabled) {
		b["multiAttachEnabled"] = true
	}
	if inst := r.tags[tagInstance]; inst != "" {
		b["instanceId"], b["device"] = inst, r.tags[tagDevice]
		b["deleteOnTermination"] = r.tags[tagDeleteOnTerm] == "true"
		b["instanceWasRunning"] = r.tags[tagWasRunning] == "true"
	} else if len(v.Attachments) > 0 {
		b["instanceId"], b["device"] = aws.ToString(v.Attachments[0].InstanceId), aws.ToString(v.Attachments[0].Device)
	}
	return b
}

// state is the migration's state as the outcome's After records it.
func (r *run) state() map[string]any {
	s := map[string]any{"volumeId": r.id, "migrationStep": r.st.Step}
	for k, v := range map[string]string{"snapshotId": r.st.SnapshotID, "newVolumeId": r.st.NewVolumeID,
		"instanceId": r.st.InstanceID, "device": r.st.Device, "snapshotProgress": r.st.SnapshotProgress,
		"startedAt": r.tags[tagStartedAt]} {
		if v != "" {
			s[k] = v
		}
	}
	return s
}

func (r *run) inProgress(format string, args ...any) remediation.Result {
	reason := fmt.Sprintf("migrating volume %s to an encrypted copy, step %s: ", r.id, r.st.Step) + fmt.Sprintf(format, args...)
	if len(r.did) > 0 {
		reason += "; this run: " + strings.Join(r.did, ", ")
	}
	return remediation.Result{Action: remediation.ActionInProgress, Reason: reason}
}

func (r *run) needsManual(format string, args ...any) remediation.Result {
	return remediation.Result{Action: remediation.ActionNeedsManual, Reason: fmt.Sprintf(format, args...)}
}

// setTags writes tags on the original volume and keeps r.tags in step.
func (r *run) setTags(kv ...string) error {
	var tags []ec2types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	if _, err := r.m.client.CreateTags(r.ctx, &ec2.CreateTagsInput{Resources: []string{r.id}, Tags: tags}, ec2Region(r.region)); err != nil {
		return fmt.Errorf("tagging volume %q with the migration's state: %w", r.id, err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		r.tags[kv[i]] = kv[i+1]
	}
	return nil
}

// stepOrder orders the steps a migration goes through; moveTo never goes
// back, so that a resumed run does not rewrite the step tag on its way.
var stepOrder = map[string]int{"": 0, StepSeed: 1, StepStop: 2, StepSnapshot: 3, StepVolume: 4, StepDetach: 5, StepAttach: 6, StepStart: 7}

// moveTo sets the step unless the migration is past it already.
func (r *run) moveTo(step string) error {
	if stepOrder[r.st.Step] >= stepOrder[step] {
		return nil
	}
	return r.setStep(step)
}

func (r *run) setStep(step string, kv ...string) error {
	if r.tags[tagStep] == step && len(kv) == 0 {
		r.st.Step = step
		return nil
	}
	if err := r.setTags(append([]string{tagStep, step}, kv...)...); err != nil {
		return err
	}
	r.st.Step = step
	return nil
}

func (r *run) advance() remediation.Result {
	if to := r.tags[TagMigratedTo]; to != "" {
		return r.finished(to)
	}
	if aws.ToBool(r.vol.Encrypted) {
		return remediation.Result{Action: remediation.ActionCompliant, Reason: "volume is encrypted"}
	}
	switch r.st.Step {
	case StepFailed:
		return r.needsManual("an earlier migration of volume %s failed: %s; remove its tag %s to try again (the snapshots and any new volume of that attempt are kept)", r.id, r.tags[tagFailure], tagStep)
	case StepRollback:
		return r.rollback(r.tags[tagFailure])
	case StepReverted:
		return r.needsManual("the migration of volume %s was undone; remove its tag %s to migrate it again", r.id, tagStep)
	}
	if r.st.Step != "" {
		started, err := time.Parse(time.RFC3339, r.tags[tagStartedAt])
		if err != nil {
			return r.fail(fmt.Errorf("migration of volume %q: its tag %s=%q is not an RFC 3339 time", r.id, tagStartedAt, r.tags[tagStartedAt]))
		}
		if age := r.m.opts.now().Sub(started); age > r.m.stuckAfter() {
			return r.fail(fmt.Errorf("migration of volume %q stuck at step %s: started %s, longer ago than EBS_MIGRATION_STUCK_AFTER (%s)", r.id, r.st.Step, r.tags[tagStartedAt], r.m.stuckAfter()))
		}
	}
	if r.tags[tagInstance] != "" {
		return r.afterStop()
	}
	if len(r.vol.Attachments) == 0 {
		return r.unattached()
	}
	if stepOrder[r.st.Step] >= stepOrder[StepSnapshot] {
		// its snapshot was taken while it was unattached: written to
		// since, a copy made from it would lose data
		return r.fail(fmt.Errorf("volume %q was attached to instance %q during its migration as an unattached volume: its snapshot may miss what was written since", r.id, aws.ToString(r.vol.Attachments[0].InstanceId)))
	}
	return r.beforeStop()
}

// attemptTags are the state of one attempt of a migration, named by its
// started-at.
var attemptTags = []string{tagStartedAt, tagSeedSnapshot, tagSnapshot, tagNewVolume, tagInstance, tagDevice,
	tagDeleteOnTerm, tagWasRunning, tagFailure, tagStartDeferred, TagMigratedAt}

// newAttempt drops what an earlier attempt left when no step is under
// way: a migration retried after the step tag of a failed or reverted one
// was removed must not resume it (its snapshot misses what was written
// since, its started-at would make it stuck at once, its instance tags
// would skip the opt-in).
func newAttempt(tags map[string]string) map[string]string {
	if tags[tagStep] != "" || tags[TagMigratedTo] != "" {
		return tags
	}
	for _, k := range attemptTags {
		delete(tags, k)
	}
	return tags
}

// begin records the start of a new attempt, with a new started-at, and
// empties the tags an earlier attempt left (CreateTags cannot delete).
func (r *run) begin(step string) error {
	kv := []string{tagStartedAt, r.m.opts.now().UTC().Format(time.RFC3339)}
	for _, k := range attemptTags[1:] {
		if v, ok := ec2Tag(r.vol.Tags, k); ok && v != "" {
			kv = append(kv, k, "")
		}
	}
	return r.setStep(step, kv...)
}

// fail ends a migration that never stopped anything: the original is
// untouched; the snapshots and any new volume are kept.
func (r *run) fail(err error) remediation.Result {
	if r.tags[tagInstance] != "" {
		return r.rollback(err.Error())
	}
	res := remediation.Failed(nil, err)
	if terr := r.setStep(StepFailed, tagFailure, truncateTag(err.Error())); terr != nil {
		res = remediation.Failed(nil, fmt.Errorf("%w (and %v)", err, terr))
	}
	res.Reason += "; the original volume is untouched"
	if len(r.did) > 0 {
		res.Reason += "; this run: " + strings.Join(r.did, ", ")
	}
	return res
}

// truncateTag keeps a tag value within EC2's 256 characters, cut at a
// character boundary: a value that is not valid UTF-8 fails the write.
func truncateTag(s string) string {
	if utf8.RuneCountInString(s) <= 256 {
		return s
	}
	return string([]rune(s)[:253]) + "..."
}

// EC2 allows 50 tags per resource, the aws: ones not counted. A
// migration adds its state tags to the original (tagsUnattached or
// tagsAttached at most, a failure's included) and two of its own to the
// copy, which gets the original's: a volume without room for them is
// refused before anything is written, rather than failing half way (after
// the stop, for an attached one).
const (
	maxTagsPerResource = 50
	tagsUnattached     = 7  // step, started-at, snapshot, new-volume, migrated-to, migrated-at, failure
	tagsAttached       = 13 // those, seed-snapshot, instance, device, delete-on-termination, was-running, start-deferred
	tagsOnCopy         = 2  // migrated-from, started-at
)

// userTagCount counts the volume's tags that EC2's limit applies to,
// leaving out the migration's own.
func userTagCount(tags []ec2types.Tag) int {
	n := 0
	for _, t := range tags {
		k := aws.ToString(t.Key)
		if !strings.HasPrefix(strings.ToLower(k), "aws:") && !strings.HasPrefix(k, tagMigrationPrefix) {
			n++
		}
	}
	return n
}

// tagRoomRefusal says why the volume has no room for the migration's
// tags, or "" when it has.
func tagRoomRefusal(v ec2types.Volume, attached bool) string {
	need := tagsUnattached
	if attached {
		need = tagsAttached
	}
	n := userTagCount(v.Tags)
	if n+need <= maxTagsPerResource && n+tagsOnCopy <= maxTagsPerResource {
		return ""
	}
	return fmt.Sprintf("volume %s has %d tags (aws: tags not counted); its migration adds up to %d and EC2 allows 50 tags per resource: remove %d of them to migrate it, or migrate it by hand",
		aws.ToString(v.VolumeId), n, need, n+need-maxTagsPerResource)
}

func (r *run) unattached() remediation.Result {
	if r.st.Step == "" {
		if why := tagRoomRefusal(r.vol, false); why != "" {
			return r.needsManual("%s", why)
		}
		if err := r.begin(StepSnapshot); err != nil {
			return remediation.Failed(nil, err)
		}
		r.did = append(r.did, "started the migration")
	}
	snap, res, ok := r.snapshot(kindFinal)
	if !ok {
		return res
	}
	nv, res, ok := r.newVolume(snap)
	if !ok {
		return res
	}
	if s := nv.State; s != ec2types.VolumeStateAvailable {
		return r.inProgress("new volume %s is %s", aws.ToString(nv.VolumeId), s)
	}
	return r.finish(nv, "")
}

// snapshot finds or creates the snapshot of the given kind of this
// attempt, and waits a few seconds for it to complete.
func (r *run) snapshot(kind string) (ec2types.Snapshot, remediation.Result, bool) {
	step := StepSnapshot
	if kind == kindSeed {
		step = StepSeed
	}
	if err := r.moveTo(step); err != nil {
		return ec2types.Snapshot{}, r.stepFailed(err), false
	}
	snap, found, err := r.findSnapshot(kind)
	if err != nil {
		return snap, r.stepFailed(err), false
	}
	if !found {
		out, err := r.m.client.CreateSnapshot(r.ctx, &ec2.CreateSnapshotInput{
			VolumeId:    aws.String(r.id),
			Description: aws.String(fmt.Sprintf("autoremediate: %s snapshot of %s for its encrypted copy", kind, r.id)),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{
				{Key: aws.String(TagMigratedFrom), Value: aws.String(r.id)},
				{Key: aws.String(tagKind), Value: aws.String(kind)},
				{Key: aws.String(tagStartedAt), Value: aws.String(r.tags[tagStartedAt])},
			}}},
		}, ec2Region(r.region))
		if err != nil {
			return snap, r.stepFailed(fmt.Errorf("creating the %s snapshot of volume %q: %w", kind, r.id, err)), false
		}
		snap = ec2types.Snapshot{SnapshotId: out.SnapshotId, State: out.State, Progress: out.Progress, StateMessage: out.StateMessage}
		r.did = append(r.did, fmt.Sprintf("created %s snapshot %s", kind, aws.ToString(out.SnapshotId)))
	}
	sid := aws.ToString(snap.SnapshotId)
	key := tagSnapshot
	if kind == kindSeed {
		key = tagSeedSnapshot
	}
	if r.tags[key] != sid {
		if err := r.setTags(key, sid); err != nil {
			return snap, r.stepFailed(err), false
		}
	}
	if kind == kindFinal {
		r.st.SnapshotID = sid
	}
	for i := 0; snap.State == ec2types.SnapshotStatePending; i++ {
		if i >= r.m.opts.VerifyAttempts {
			r.st.SnapshotProgress = progress(snap)
			return snap, r.inProgress("%s snapshot %s is pending (%s)", kind, sid, r.st.SnapshotProgress), false
		}
		if err := r.m.sleep(r.ctx, r.m.opts.VerifyInterval); err != nil {
			r.st.SnapshotProgress = progress(snap)
			return snap, r.inProgress("%s snapshot %s is pending (%s)", kind, sid, r.st.SnapshotProgress), false
		}
		out, err := r.m.client.DescribeSnapshots(r.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{sid}}, ec2Region(r.region))
		if err != nil {
			return snap, r.stepFailed(fmt.Errorf("describing snapshot %q of volume %q: %w", sid, r.id, err)), false
		}
		if len(out.Snapshots) == 0 {
			return snap, r.stepFailed(fmt.Errorf("describing snapshot %q of volume %q: not found", sid, r.id)), false
		}
		snap = out.Snapshots[0]
	}
	r.st.SnapshotProgress = progress(snap)
	if snap.State != ec2types.SnapshotStateCompleted {
		// error, recoverable, recovering: no completion to wait for
		return snap, r.fail(fmt.Errorf("%s snapshot %q of volume %q is %s: %s", kind, sid, r.id, snap.State, aws.ToString(snap.StateMessage))), false
	}
	return snap, remediation.Result{}, true
}

func progress(s ec2types.Snapshot) string {
	if p := aws.ToString(s.Progress); p != "" {
		return p
	}
	if s.State == ec2types.SnapshotStateCompleted {
		return "100%"
	}
	return "0%"
}

// stepFailed is an API call that failed: before the stop the run is
// failed and the next run tries again (the stuck limit ends it); after
// the stop the instance must not stay down: the migration rolls back.
func (r *run) stepFailed(err error) remediation.Result {
	if r.tags[tagInstance] != "" {
		return r.rollback(err.Error())
	}
	res := remediation.Failed(nil, err)
	res.Reason += "; the next run continues from step " + r.st.Step
	return res
}

func (r *run) findSnapshot(kind string) (ec2types.Snapshot, bool, error) {
	out, err := r.m.client.DescribeSnapshots(r.ctx, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + TagMigratedFrom), Values: []string{r.id}},
			{Name: aws.String("tag:" + tagKind), Values: []string{kind}},
			{Name: aws.String("tag:" + tagStartedAt), Values: []string{r.tags[tagStartedAt]}},
		},
	}, ec2Region(r.region))
	if err != nil {
		return ec2types.Snapshot{}, false, fmt.Errorf("looking for the %s snapshot of volume %q: %w", kind, r.id, err)
	}
	for _, s := range out.Snapshots {
		if s.State != ec2types.SnapshotStateError {
			return s, true, nil
		}
	}
	if len(out.Snapshots) > 0 {
		return out.Snapshots[0], true, nil
	}
	return ec2types.Snapshot{}, false, nil
}

// copiedTags are the original's tags the new volume gets: all but the
// migration's own and the aws: ones, which only AWS may set.
func (r *run) copiedTags() []ec2types.Tag {
	var out []ec2types.Tag
	for _, t := range r.vol.Tags {
		k := aws.ToString(t.Key)
		if strings.HasPrefix(k, tagMigrationPrefix) || strings.HasPrefix(strings.ToLower(k), "aws:") {
			continue
		}
		out = append(out, t)
	}
	return append(out,
		ec2types.Tag{Key: aws.String(TagMigratedFrom), Value: aws.String(r.id)},
		ec2types.Tag{Key: aws.String(tagStartedAt), Value: aws.String(r.tags[tagStartedAt])})
}

// createVolumeInput is the encrypted copy: same zone, size, type,
// performance and multi-attach setting, the original's tags.
func (r *run) createVolumeInput(snapshotID string) *ec2.CreateVolumeInput {
	v := r.vol
	in := &ec2.CreateVolumeInput{
		AvailabilityZone: v.AvailabilityZone, SnapshotId: aws.String(snapshotID),
		Size: v.Size, VolumeType: v.VolumeType, Encrypted: aws.Bool(true),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: r.copiedTags()}},
		// On AWS a repeated CreateVolume with the same token returns the
		// same volume; moto ignores the token, so the tagged volume is
		// looked for first anyway.
		ClientToken: aws.String(clientToken(r.id, r.tags[tagStartedAt])),
	}
	if k := r.m.opts.EBSKMSKeyID; k != "" {
		in.KmsKeyId = aws.String(k)
	}
	switch v.VolumeType {
	case ec2types.VolumeTypeIo1, ec2types.VolumeTypeIo2, ec2types.VolumeTypeGp3:
		in.Iops = v.Iops
	}
	if v.VolumeType == ec2types.VolumeTypeGp3 {
		in.Throughput = v.Throughput
	}
	if aws.ToBool(v.MultiAttachEnabled) {
		in.MultiAttachEnabled = aws.Bool(true)
	}
	return in
}

// clientToken is at most 64 ASCII characters, the same for every run of
// one attempt.
func clientToken(volumeID, startedAt string) string {
	sum := sha256.Sum256([]byte(volumeID + "|" + startedAt))
	return "autoremediate-" + hex.EncodeToString(sum[:16])
}

func (r *run) findNewVolume() (ec2types.Volume, bool, error) {
	out, err := r.m.client.DescribeVolumes(r.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagMigratedFrom), Values: []string{r.id}},
		{Name: aws.String("tag:" + tagStartedAt), Values: []string{r.tags[tagStartedAt]}},
	}}, ec2Region(r.region))
	if err != nil {
		return ec2types.Volume{}, false, fmt.Errorf("looking for the encrypted copy of volume %q: %w", r.id, err)
	}
	for _, v := range out.Volumes {
		if v.State != ec2types.VolumeStateDeleting && v.State != ec2types.VolumeStateDeleted {
			return v, true, nil
		}
	}
	return ec2types.Volume{}, false, nil
}

// newVolume finds or creates the encrypted copy and waits a few seconds
// for it to be available.
func (r *run) newVolume(snap ec2types.Snapshot) (ec2types.Volume, remediation.Result, bool) {
	if err := r.moveTo(StepVolume); err != nil {
		return ec2types.Volume{}, r.stepFailed(err), false
	}
	nv, found, err := r.findNewVolume()
	if err != nil {
		return nv, r.stepFailed(err), false
	}
	if !found {
		out, err := r.m.client.CreateVolume(r.ctx, r.createVolumeInput(aws.ToString(snap.SnapshotId)), ec2Region(r.region))
		if err != nil {
			return nv, r.stepFailed(fmt.Errorf("creating the encrypted copy of volume %q from snapshot %q: %w", r.id, aws.ToString(snap.SnapshotId), err)), false
		}
		nv = ec2types.Volume{VolumeId: out.VolumeId, State: out.State, Encrypted: out.Encrypted, KmsKeyId: out.KmsKeyId}
		r.did = append(r.did, "created encrypted volume "+aws.ToString(out.VolumeId))
	}
	nid := aws.ToString(nv.VolumeId)
	r.st.NewVolumeID = nid
	if r.tags[tagNewVolume] != nid {
		if err := r.setTags(tagNewVolume, nid); err != nil {
			return nv, r.stepFailed(err), false
		}
	}
	for i := 0; nv.State == ec2types.VolumeStateCreating; i++ {
		if i >= r.m.opts.VerifyAttempts || r.m.sleep(r.ctx, r.m.opts.VerifyInterval) != nil {
			return nv, r.inProgress("new volume %s is being created", nid), false
		}
		got, ok, err := r.m.describeVolume(r.ctx, r.region, nid)
		if err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("describing new volume %q: not found", nid)
			}
			return nv, r.stepFailed(err), false
		}
		nv = got
	}
	if nv.State == ec2types.VolumeStateError {
		return nv, r.fail(fmt.Errorf("new volume %q for volume %q is in state error", nid, r.id)), false
	}
	return nv, remediation.Result{}, true
}

// finish checks the new volume against the original, tags the original as
// migrated, and returns remediated.
func (r *run) finish(nv ec2types.Volume, note string) remediation.Result {
	nid := aws.ToString(nv.VolumeId)
	got, ok, err := r.m.describeVolume(r.ctx, r.region, nid)
	if err != nil && r.tags[tagInstance] != "" {
		// a read that failed is no reason to swap the volumes of an
		// instance that may run again: the next run verifies
		res := remediation.Failed(nil, fmt.Errorf("verifying new volume %q: %w", nid, err))
		res.Reason += "; the next run verifies again"
		res.Wrote = len(r.did) > 0
		return res
	}
	if err == nil && !ok {
		err = fmt.Errorf("verifying new volume %q: not found", nid)
	}
	if err != nil {
		return r.stepFailed(err)
	}
	if err := r.verifyCopy(got); err != nil {
		return r.fail(err)
	}
	now := r.m.opts.now().UTC().Format(time.RFC3339)
	if err := r.setStep(StepDone, TagMigratedTo, nid, TagMigratedAt, now); err != nil {
		if r.tags[tagInstance] == "" {
			res := r.stepFailed(fmt.Errorf("verifying: %w", err))
			res.Wrote = true
			return res
		}
		// the copy is in place and the instance may run again: a
		// rollback would swap the volumes of a running instance; the
		// next run, at step start, finishes
		res := remediation.Failed(nil, fmt.Errorf("marking the migration of volume %q done: %w", r.id, err))
		res.Reason += fmt.Sprintf("; encrypted volume %s is attached at %s of instance %s; the next run finishes", nid, r.tags[tagDevice], r.tags[tagInstance])
		if len(r.did) > 0 {
			res.Reason += "; this run: " + strings.Join(r.did, ", ")
		}
		res.Wrote = true
		return res
	}
	after := r.before()
	after["newVolumeId"] = nid
	after["encrypted"] = true
	after["kmsKeyId"] = aws.ToString(got.KmsKeyId)
	after["state"] = string(got.State)
	after["snapshotId"] = r.st.SnapshotID
	after["migratedAt"] = now
	r.st.Step = StepDone
	reason := fmt.Sprintf("migrated volume %s to encrypted volume %s (KMS key %s) from snapshot %s; the original is kept, tagged %s=%s",
		r.id, nid, aws.ToString(got.KmsKeyId), r.st.SnapshotID, TagMigratedTo, nid)
	if inst := r.tags[tagInstance]; inst != "" {
		reason += fmt.Sprintf("; attached at %s of instance %s", r.tags[tagDevice], inst)
	}
	if d := r.m.opts.EBSMigrationDeleteOriginalAfter; d > 0 {
		reason += fmt.Sprintf(", and deleted by a run after %s", d)
	}
	if note != "" {
		reason += "; " + note
	}
	return remediation.Result{Action: remediation.ActionRemediated, Reason: reason, Before: r.before(), After: after}
}

func (r *run) verifyCopy(nv ec2types.Volume) error {
	v, nid := r.vol, aws.ToString(nv.VolumeId)
	var diffs []string
	if !aws.ToBool(nv.Encrypted) {
		diffs = append(diffs, "not encrypted")
	}
	if k := r.m.opts.EBSKMSKeyID; strings.HasPrefix(k, "arn:") && strings.Contains(k, ":key/") && aws.ToString(nv.KmsKeyId) != k {
		diffs = append(diffs, fmt.Sprintf("KMS key %q, want %q", aws.ToString(nv.KmsKeyId), k))
	}
	if aws.ToString(nv.AvailabilityZone) != aws.ToString(v.AvailabilityZone) {
		diffs = append(diffs, "zone "+aws.ToString(nv.AvailabilityZone))
	}
	if nv.VolumeType != v.VolumeType {
		diffs = append(diffs, "type "+string(nv.VolumeType))
	}
	if aws.ToInt32(nv.Size) != aws.ToInt32(v.Size) {
		diffs = append(diffs, fmt.Sprintf("size %d", aws.ToInt32(nv.Size)))
	}
	in := r.createVolumeInput("")
	if in.Iops != nil && aws.ToInt32(nv.Iops) != aws.ToInt32(in.Iops) {
		diffs = append(diffs, fmt.Sprintf("IOPS %d", aws.ToInt32(nv.Iops)))
	}
	if in.Throughput != nil && aws.ToInt32(nv.Throughput) != aws.ToInt32(in.Throughput) {
		diffs = append(diffs, fmt.Sprintf("throughput %d", aws.ToInt32(nv.Throughput)))
	}
	if inst := r.tags[tagInstance]; inst != "" {
		attached := slices.ContainsFunc(nv.Attachments, func(a ec2types.VolumeAttachment) bool {
			return aws.ToString(a.InstanceId) == inst && aws.ToString(a.Device) == r.tags[tagDevice]
		})
		if !attached {
			diffs = append(diffs, fmt.Sprintf("not attached at %s of instance %s", r.tags[tagDevice], inst))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("verifying new volume %q against volume %q: %s", nid, r.id, strings.Join(diffs, ", "))
	}
	return nil
}

// finished is a run on an original migrated earlier: nothing to do, unless
// EBS_MIGRATION_DELETE_ORIGINAL_AFTER has passed.
func (r *run) finished(to string) remediation.Result {
	r.st.Step, r.st.NewVolumeID = StepDone, to
	if r.tags[tagStartDeferred] == "true" {
		if res, acted := r.deferredStart(); acted {
			return res
		}
	}
	kept := fmt.Sprintf("volume %s was migrated to %s at %s; the original is kept", r.id, to, r.tags[TagMigratedAt])
	after := r.m.opts.EBSMigrationDeleteOriginalAfter
	if after <= 0 {
		return remediation.Result{Action: remediation.ActionExempt, Reason: kept}
	}
	at, err := time.Parse(time.RFC3339, r.tags[TagMigratedAt])
	if err != nil {
		return r.needsManual("%s: its tag %s=%q is not an RFC 3339 time, so it is not deleted", kept, TagMigratedAt, r.tags[TagMigratedAt])
	}
	due := at.Add(after)
	if r.m.opts.now().Before(due) {
		return remediation.Result{Action: remediation.ActionExempt, Reason: fmt.Sprintf("%s until %s (EBS_MIGRATION_DELETE_ORIGINAL_AFTER=%s)", kept, due.UTC().Format(time.RFC3339), after)}
	}
	if len(r.vol.Attachments) > 0 {
		return r.needsManual("%s: it is attached to instance %s again, so it is not deleted", kept, aws.ToString(r.vol.Attachments[0].InstanceId))
	}
	if _, ok, err := r.m.describeVolume(r.ctx, r.region, to); err != nil || !ok {
		if err == nil {
			return r.needsManual("%s: its encrypted copy no longer exists, so it is not deleted", kept)
		}
		return remediation.Failed(nil, err)
	}
	if _, err := r.m.client.DeleteVolume(r.ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(r.id)}, ec2Region(r.region)); err != nil {
		return remediation.Failed(nil, fmt.Errorf("deleting original volume %q (migrated to %q): %w", r.id, to, err))
	}
	b := r.before()
	b["newVolumeId"] = to
	return remediation.Result{Action: remediation.ActionRemediated, Before: b,
		After:  map[string]any{"volumeId": r.id, "deleted": true, "newVolumeId": to, "snapshotId": r.tags[tagSnapshot]},
		Reason: fmt.Sprintf("deleted original volume %s, migrated to %s at %s, after EBS_MIGRATION_DELETE_ORIGINAL_AFTER=%s (its snapshot %s is kept)", r.id, to, r.tags[TagMigratedAt], after, r.tags[tagSnapshot])}
}

// deferredStart starts the instance a finished migration left stopped
// for another volume's, when no migration on it is under way any more:
// two migrations finishing at the same time can each leave the start to
// the other.
func (r *run) deferredStart() (remediation.Result, bool) {
	inst := r.tags[tagInstance]
	r.st.InstanceID, r.st.Device = inst, r.tags[tagDevice]
	sib, err := r.siblings(inst)
	if err != nil {
		return remediation.Failed(nil, err), true
	}
	for _, s := range sib {
		if s.tags[tagStep] != StepDone {
			return remediation.Result{}, false // that one starts it
		}
	}
	i, err := r.m.describeInstance(r.ctx, r.region, inst)
	if err != nil {
		return remediation.Failed(nil, err), true
	}
	note := ""
	if instanceState(i) == ec2types.InstanceStateNameStopped {
		if _, err := r.m.client.StartInstances(r.ctx, &ec2.StartInstancesInput{InstanceIds: []string{inst}}, ec2Region(r.region)); err != nil {
			return remediation.Failed(nil, fmt.Errorf("starting instance %q, left stopped by the migrations of its volumes: %w", inst, err)), true
		}
		note = "started instance " + inst + ", left stopped by the migrations of its volumes; "
	}
	ids := []string{r.id}
	for _, s := range sib {
		ids = append(ids, s.id)
	}
	if _, err := r.m.client.CreateTags(r.ctx, &ec2.CreateTagsInput{Resources: ids,
		Tags: []ec2types.Tag{{Key: aws.String(tagStartDeferred), Value: aws.String("false")}}}, ec2Region(r.region)); err != nil {
		res := remediation.Failed(nil, fmt.Errorf("%sclearing %s on %s: %w", note, tagStartDeferred, strings.Join(ids, ", "), err))
		res.Wrote = note != ""
		return res, true
	}
	if note == "" {
		return remediation.Result{}, false
	}
	return remediation.Result{Action: remediation.ActionRemediated, Reason: note + "volume " + r.id + " was migrated to " + r.st.NewVolumeID}, true
}

// deferredStart says whether a finished migration left its instance's
// start to another volume's.
func deferredStart(tags []ec2types.Tag) bool {
	v, _ := ec2Tag(tags, tagStartDeferred)
	return v == "true"
}

func stopAllowed(i ec2types.Instance) bool {
	v, ok := ec2Tag(i.Tags, TagStopAllowed)
	return ok && strings.EqualFold(strings.TrimSpace(v), "true")
}

func instanceState(i ec2types.Instance) ec2types.InstanceStateName {
	if i.State == nil {
		return ""
	}
	return i.State.Name
}

func deleteOnTermination(i ec2types.Instance, device string) bool {
	for _, b := range i.BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == device && b.Ebs != nil {
			return aws.ToBool(b.Ebs.DeleteOnTermination)
		}
	}
	return false
}

// beforeStop: an attached volume whose instance this migration has not
// stopped yet. A running instance gets a seed snapshot first, so that the
// snapshot after the stop is incremental: data written between a snapshot
// and the stop would otherwise be lost, so the new volume is always made
// from a snapshot taken while the instance is stopped.
func (r *run) beforeStop() remediation.Result {
	if why, ok := managedAttachment(r.vol); ok {
		return r.needsManual("%s", why)
	}
	if len(r.vol.Attachments) > 1 {
		return r.needsManual("volume %s is attached to %d instances (multi-attach): migrate it by hand", r.id, len(r.vol.Attachments))
	}
	a := r.vol.Attachments[0]
	inst, dev := aws.ToString(a.InstanceId), aws.ToString(a.Device)
	r.st.InstanceID, r.st.Device = inst, dev
	if a.State != ec2types.VolumeAttachmentStateAttached {
		return r.inProgress("the volume's attachment to instance %s is %s", inst, a.State)
	}
	i, err := r.m.describeInstance(r.ctx, r.region, inst)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	if !stopAllowed(i) {
		return r.needsManual("volume %s is attached to instance %s, which is not tagged %s=true: migrating it stops the instance, so its owner must opt in with that tag (or migrate it by hand)", r.id, inst, TagStopAllowed)
	}
	if g, ok := ec2Tag(i.Tags, "aws:autoscaling:groupName"); ok && instanceState(i) == ec2types.InstanceStateNameRunning {
		// a stopped instance fails the group's health checks and is
		// terminated, with the volumes that are deleted on termination;
		// in Standby it still carries the tag and EC2 cannot tell
		return r.needsManual("volume %s is attached to instance %s of Auto Scaling group %s, which would replace the stopped instance: with EBS encryption by default on, replace the instance (an instance refresh) to get encrypted volumes, or migrate it by hand", r.id, inst, g)
	}
	state := instanceState(i)
	switch state {
	case ec2types.InstanceStateNameRunning, ec2types.InstanceStateNameStopped:
	default:
		return r.inProgress("instance %s is %s; waiting for it to be running or stopped", inst, state)
	}
	if r.st.Step == "" {
		if why := tagRoomRefusal(r.vol, true); why != "" {
			return r.needsManual("%s", why)
		}
		first := StepStop
		if state == ec2types.InstanceStateNameRunning {
			first = StepSeed
		}
		if err := r.begin(first); err != nil {
			return remediation.Failed(nil, err)
		}
		r.did = append(r.did, "started the migration")
	}
	if state == ec2types.InstanceStateNameRunning {
		if _, res, ok := r.snapshot(kindSeed); !ok {
			return res
		}
	}
	sib, err := r.siblings(inst)
	if err != nil {
		return remediation.Failed(nil, err)
	}
	wasRunning := state == ec2types.InstanceStateNameRunning
	if wasRunning {
		pending, err := r.siblingSeedsPending(sib)
		if err != nil {
			return remediation.Failed(nil, err)
		}
		if len(pending) > 0 {
			return r.inProgress("waiting for the seed snapshots of %s, so that one stop of instance %s serves them all", strings.Join(pending, ", "), inst)
		}
	} else {
		// another volume's migration may have stopped it: that one's
		// record of the instance running is this one's too, so whichever
		// finishes last starts it again
		for _, s := range sib {
			if s.tags[tagWasRunning] == "true" {
				wasRunning = true
			}
		}
	}
	// The stop's record comes first: once tagInstance is set, every later
	// run knows the instance may be down because of this migration.
	if err := r.setStep(StepStop, tagInstance, inst, tagDevice, dev,
		tagDeleteOnTerm, strconv.FormatBool(deleteOnTermination(i, dev)),
		tagWasRunning, strconv.FormatBool(wasRunning)); err != nil {
		return remediation.Failed(nil, err)
	}
	if state == ec2types.InstanceStateNameRunning {
		if _, err := r.m.client.StopInstances(r.ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst}}, ec2Region(r.region)); err != nil {
			return r.rollback(fmt.Sprintf("stopping instance %q: %v", inst, err))
		}
		r.did = append(r.did, "stopped instance "+inst)
	}
	return r.afterStop()
}

type sibling struct {
	id   string
	tags map[string]string
}

// siblings are the other volumes of the instance with a migration under
// way: attached to it, or detached from it by their migration.
func (r *run) siblings(inst string) ([]sibling, error) {
	var sib []sibling
	seen := map[string]bool{r.id: true}
	for _, f := range []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{inst}},
		{Name: aws.String("tag:" + tagInstance), Values: []string{inst}},
	} {
		out, err := r.m.client.DescribeVolumes(r.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{f}}, ec2Region(r.region))
		if err != nil {
			return nil, fmt.Errorf("looking for other migrations on instance %q: %w", inst, err)
		}
		for _, v := range out.Volumes {
			id, t := aws.ToString(v.VolumeId), tagMap(v.Tags)
			if seen[id] || t[TagMigratedFrom] != "" {
				continue
			}
			seen[id] = true
			switch t[tagStep] {
			case "", StepFailed, StepReverted: // none under way; a reverted one keeps its instance tags
				continue
			case StepDone:
				// done, but it left the instance's start to this one
				if t[tagStartDeferred] != "true" {
					continue
				}
			}
			sib = append(sib, sibling{id: id, tags: t})
		}
	}
	return sib, nil
}

// siblingSeedsPending names the other volumes of the instance whose seed
// snapshots are still pending: the stop waits for them, so that one stop
// serves every volume of the instance being migrated.
func (r *run) siblingSeedsPending(sib []sibling) ([]string, error) {
	var pending []string
	for _, s := range sib {
		sid := s.tags[tagSeedSnapshot]
		if s.tags[tagStep] != StepSeed || sid == "" {
			if s.tags[tagStep] == StepSeed {
				pending = append(pending, s.id)
			}
			continue
		}
		out, err := r.m.client.DescribeSnapshots(r.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{sid}}, ec2Region(r.region))
		if err != nil {
			return nil, fmt.Errorf("describing seed snapshot %q of volume %q: %w", sid, s.id, err)
		}
		if len(out.Snapshots) > 0 && out.Snapshots[0].State == ec2types.SnapshotStatePending {
			pending = append(pending, s.id)
		}
	}
	return pending, nil
}

// waitInstance reads the instance until its state is not want's
// transition (stopping for stopped), a few seconds at most.
func (r *run) waitInstance(inst string, transition ec2types.InstanceStateName) (ec2types.Instance, error) {
	i, err := r.m.describeInstance(r.ctx, r.region, inst)
	for n := 0; err == nil && instanceState(i) == transition && n < r.m.opts.VerifyAttempts; n++ {
		if r.m.sleep(r.ctx, r.m.opts.VerifyInterval) != nil {
			break
		}
		i, err = r.m.describeInstance(r.ctx, r.region, inst)
	}
	return i, err
}

// waitAttachment reads a volume until its attachment to inst is not in
// the transition state, a few seconds at most.
func (r *run) waitVolume(id string, done func(ec2types.Volume) bool) (ec2types.Volume, bool, error) {
	v, ok, err := r.m.describeVolume(r.ctx, r.region, id)
	for n := 0; err == nil && ok && !done(v) && n < r.m.opts.VerifyAttempts; n++ {
		if r.m.sleep(r.ctx, r.m.opts.VerifyInterval) != nil {
			break
		}
		v, ok, err = r.m.describeVolume(r.ctx, r.region, id)
	}
	if err == nil && !ok {
		err = fmt.Errorf("describing volume %q: not found", id)
	}
	return v, err == nil && done(v), err
}

func attachedTo(v ec2types.Volume, inst, dev string) (ec2types.VolumeAttachment, bool) {
	for _, a := range v.Attachments {
		if a.State == ec2types.VolumeAttachmentStateDetached {
			continue
		}
		if aws.ToString(a.InstanceId) == inst && (dev == "" || aws.ToString(a.Device) == dev) {
			return a, true
		}
	}
	return ec2types.VolumeAttachment{}, false
}

func isAttached(inst, dev string) func(ec2types.Volume) bool {
	return func(v ec2types.Volume) bool {
		a, ok := attachedTo(v, inst, dev)
		return ok && a.State == ec2types.VolumeAttachmentStateAttached
	}
}

func isDetached(inst string) func(ec2types.Volume) bool {
	return func(v ec2types.Volume) bool {
		_, ok := attachedTo(v, inst, "")
		return !ok
	}
}

// afterStop: the instance is stopped (or stopping) for this migration.
// Any failure from here on rolls back.
func (r *run) afterStop() remediation.Result {
	inst, dev := r.tags[tagInstance], r.tags[tagDevice]
	r.st.InstanceID, r.st.Device = inst, dev
	if r.st.Step == StepStart {
		return r.started()
	}
	i, err := r.waitInstance(inst, ec2types.InstanceStateNameStopping)
	if err != nil {
		return r.rollback(err.Error())
	}
	switch s := instanceState(i); s {
	case ec2types.InstanceStateNameStopped:
	case ec2types.InstanceStateNameStopping:
		return r.inProgress("instance %s is stopping", inst)
	case ec2types.InstanceStateNameRunning:
		if r.st.Step == StepStop && r.tags[tagWasRunning] == "true" {
			// a run died between recording the stop and making it: the
			// consent is read again, as before every stop
			if !stopAllowed(i) {
				return r.fail(fmt.Errorf("instance %q is no longer tagged %s=true: it was not stopped, and volume %q is not migrated", inst, TagStopAllowed, r.id))
			}
			if g, ok := ec2Tag(i.Tags, "aws:autoscaling:groupName"); ok {
				return r.fail(fmt.Errorf("instance %q is in Auto Scaling group %s since, which would replace it once stopped: it was not stopped, and volume %q is not migrated", inst, g, r.id))
			}
			if _, err := r.m.client.StopInstances(r.ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst}}, ec2Region(r.region)); err != nil {
				return r.rollback(fmt.Sprintf("stopping instance %q: %v", inst, err))
			}
			r.did = append(r.did, "stopped instance "+inst)
			return r.inProgress("instance %s is stopping", inst)
		}
		if nid := r.tags[tagNewVolume]; nid != "" {
			// started by someone else once the copy was in place: finish
			// rather than detach the volumes of a running instance
			nv, ok, err := r.m.describeVolume(r.ctx, r.region, nid)
			if err != nil {
				res := remediation.Failed(nil, err)
				res.Reason += "; the next run continues"
				return res
			}
			if ok && isAttached(inst, dev)(nv) {
				if err := r.setDeleteOnTermination(inst, dev, nid); err != nil {
					res := remediation.Failed(nil, err)
					res.Reason += "; the next run continues"
					return res
				}
				if err := r.moveTo(StepStart); err != nil {
					return remediation.Failed(nil, err)
				}
				return r.finish(nv, "instance "+inst+" was started by someone else once the copy was attached")
			}
		}
		return r.rollback(fmt.Sprintf("instance %q is running, not stopped, while its volume is migrated (started by someone else?)", inst))
	default:
		return r.rollback(fmt.Sprintf("instance %q is %s, not stopped, while its volume is migrated (started by someone else?)", inst, s))
	}
	snap, res, ok := r.snapshot(kindFinal)
	if !ok {
		return res
	}
	nv, res, ok := r.newVolume(snap)
	if !ok {
		return res
	}
	nid := aws.ToString(nv.VolumeId)
	// detach the original (unless a crashed run did)
	if _, on := attachedTo(r.vol, inst, ""); on {
		if err := r.moveTo(StepDetach); err != nil {
			return r.rollback(err.Error())
		}
		if a, _ := attachedTo(r.vol, inst, ""); a.State == ec2types.VolumeAttachmentStateAttached {
			// moto needs InstanceId; AWS does not, and it keeps the call
			// from detaching the volume from another instance.
			if _, err := r.m.client.DetachVolume(r.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(r.id), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(r.region)); err != nil {
				return r.rollback(fmt.Sprintf("detaching volume %q from instance %q: %v", r.id, inst, err))
			}
			r.did = append(r.did, "detached "+r.id)
		}
		v, done, err := r.waitVolume(r.id, isDetached(inst))
		if err != nil {
			return r.rollback(err.Error())
		}
		if !done {
			return r.inProgress("volume %s is detaching from instance %s", r.id, inst)
		}
		r.vol.Attachments = v.Attachments
	}
	// attach the new volume at the same device
	if err := r.moveTo(StepAttach); err != nil {
		return r.rollback(err.Error())
	}
	if _, on := attachedTo(nv, inst, dev); !on {
		if _, err := r.m.client.AttachVolume(r.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(nid), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(r.region)); err != nil {
			return r.rollback(fmt.Sprintf("attaching volume %q to instance %q at %s: %v", nid, inst, dev, err))
		}
		r.did = append(r.did, fmt.Sprintf("attached %s at %s", nid, dev))
	}
	if _, done, err := r.waitVolume(nid, isAttached(inst, dev)); err != nil {
		return r.rollback(err.Error())
	} else if !done {
		return r.inProgress("volume %s is attaching to instance %s at %s", nid, inst, dev)
	}
	// AttachVolume leaves DeleteOnTermination false (moto, and AWS for
	// a volume attached after launch): put back the original's.
	if err := r.setDeleteOnTermination(inst, dev, nid); err != nil {
		return r.rollback(err.Error())
	}
	if err := r.moveTo(StepStart); err != nil {
		return r.rollback(err.Error())
	}
	return r.started()
}

func (r *run) setDeleteOnTermination(inst, dev, volumeID string) error {
	dot := r.tags[tagDeleteOnTerm] == "true"
	_, err := r.m.client.ModifyInstanceAttribute(r.ctx, &ec2.ModifyInstanceAttributeInput{
		InstanceId: aws.String(inst),
		BlockDeviceMappings: []ec2types.InstanceBlockDeviceMappingSpecification{{
			DeviceName: aws.String(dev), Ebs: &ec2types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(dot), VolumeId: aws.String(volumeID)},
		}},
	}, ec2Region(r.region))
	if err != nil {
		return fmt.Errorf("setting DeleteOnTermination=%t for %s of instance %q: %w", dot, dev, inst, err)
	}
	return nil
}

// started: the new volume is in place; the instance starts again if it
// was running, unless another migration on it still needs it stopped.
func (r *run) started() remediation.Result {
	inst := r.tags[tagInstance]
	nid := r.tags[tagNewVolume]
	note := ""
	if r.tags[tagWasRunning] == "true" {
		i, err := r.m.describeInstance(r.ctx, r.region, inst)
		if err != nil {
			return r.stepFailed(err)
		}
		if instanceState(i) == ec2types.InstanceStateNameStopped {
			sib, err := r.siblings(inst)
			if err != nil {
				return r.stepFailed(err)
			}
			var waiting, deferred []string
			for _, s := range sib {
				switch s.tags[tagStep] {
				case StepStart:
				case StepDone:
					deferred = append(deferred, s.id)
				default:
					waiting = append(waiting, s.id)
				}
			}
			if len(waiting) > 0 {
				note = fmt.Sprintf("instance %s stays stopped until the migration of %s, which shares the stop, starts it", inst, strings.Join(waiting, ", "))
				if err := r.setTags(tagStartDeferred, "true"); err != nil {
					return r.stepFailed(err)
				}
			} else {
				if _, err := r.m.client.StartInstances(r.ctx, &ec2.StartInstancesInput{InstanceIds: []string{inst}}, ec2Region(r.region)); err != nil {
					return r.rollback(fmt.Sprintf("starting instance %q: %v", inst, err))
				}
				r.did = append(r.did, "started instance "+inst)
				note = "started instance " + inst + " again"
				if len(deferred) > 0 {
					// their start is done: a later migration on this
					// instance must not inherit it
					if _, err := r.m.client.CreateTags(r.ctx, &ec2.CreateTagsInput{Resources: deferred,
						Tags: []ec2types.Tag{{Key: aws.String(tagStartDeferred), Value: aws.String("false")}}}, ec2Region(r.region)); err != nil {
						note += fmt.Sprintf(" (clearing %s on %s: %v)", tagStartDeferred, strings.Join(deferred, ", "), err)
					}
				}
			}
		}
	} else {
		note = "instance " + inst + " was not running and stays stopped"
	}
	return r.finish(ec2types.Volume{VolumeId: aws.String(nid)}, note)
}

// rollback puts the original volume back at its device, restores
// DeleteOnTermination, starts the instance if it was running, and marks
// the migration failed. A run that cannot finish it leaves the step at
// rollback for the next run.
func (r *run) rollback(reason string) remediation.Result {
	inst, dev, nid := r.tags[tagInstance], r.tags[tagDevice], r.tags[tagNewVolume]
	r.st.InstanceID, r.st.Device = inst, dev
	if r.st.Step != StepRollback {
		if err := r.setStep(StepRollback, tagFailure, truncateTag(reason)); err != nil {
			return r.rollbackFailed(reason, err)
		}
	}
	var undone []string
	if nid != "" {
		nv, ok, err := r.m.describeVolume(r.ctx, r.region, nid)
		if err != nil {
			return r.rollbackFailed(reason, err)
		}
		if ok {
			if a, on := attachedTo(nv, inst, ""); on {
				if a.State == ec2types.VolumeAttachmentStateAttached {
					if _, err := r.m.client.DetachVolume(r.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(nid), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(r.region)); err != nil {
						return r.rollbackFailed(reason, fmt.Errorf("detaching new volume %q from instance %q: %w", nid, inst, err))
					}
					undone = append(undone, "detached new volume "+nid)
				}
				if _, done, err := r.waitVolume(nid, isDetached(inst)); err != nil {
					return r.rollbackFailed(reason, err)
				} else if !done {
					return r.rollbackPending(reason, undone, "new volume "+nid+" is detaching")
				}
			}
		}
	}
	orig, ok, err := r.m.describeVolume(r.ctx, r.region, r.id)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("describing volume %q: not found", r.id)
		}
		return r.rollbackFailed(reason, err)
	}
	if _, on := attachedTo(orig, inst, ""); !on {
		if _, err := r.m.client.AttachVolume(r.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(r.id), InstanceId: aws.String(inst), Device: aws.String(dev)}, ec2Region(r.region)); err != nil {
			return r.rollbackFailed(reason, fmt.Errorf("attaching original volume %q to instance %q at %s: %w", r.id, inst, dev, err))
		}
		undone = append(undone, fmt.Sprintf("attached original %s at %s", r.id, dev))
	}
	if _, done, err := r.waitVolume(r.id, isAttached(inst, dev)); err != nil {
		return r.rollbackFailed(reason, err)
	} else if !done {
		return r.rollbackPending(reason, undone, "original volume "+r.id+" is attaching")
	}
	if err := r.setDeleteOnTermination(inst, dev, r.id); err != nil {
		return r.rollbackFailed(reason, err)
	}
	if r.tags[tagWasRunning] == "true" {
		i, err := r.waitInstance(inst, ec2types.InstanceStateNameStopping)
		if err != nil {
			return r.rollbackFailed(reason, err)
		}
		switch instanceState(i) {
		case ec2types.InstanceStateNameStopped:
			if _, err := r.m.client.StartInstances(r.ctx, &ec2.StartInstancesInput{InstanceIds: []string{inst}}, ec2Region(r.region)); err != nil {
				return r.rollbackFailed(reason, fmt.Errorf("starting instance %q: %w", inst, err))
			}
			undone = append(undone, "started instance "+inst)
		case ec2types.InstanceStateNameStopping:
			return r.rollbackPending(reason, undone, "instance "+inst+" is stopping")
		}
	}
	res := remediation.Failed(nil, errors.New(reason))
	res.Reason = fmt.Sprintf("migration of volume %s on instance %s failed: %s; rolled back: original %s is attached at %s", r.id, inst, reason, r.id, dev)
	if err := r.setStep(StepFailed); err != nil {
		res.Reason += fmt.Sprintf(" (marking it failed: %v)", err)
	}
	if len(r.did) > 0 {
		res.Reason += "; done: " + strings.Join(r.did, ", ")
	}
	if len(undone) > 0 {
		res.Reason += "; undone: " + strings.Join(undone, ", ")
	}
	if nid != "" {
		res.Reason += "; new volume " + nid + " and the snapshots are kept"
	}
	res.Wrote = true
	return res
}

func (r *run) rollbackFailed(reason string, err error) remediation.Result {
	res := remediation.Failed(nil, fmt.Errorf("migration of volume %q on instance %q failed (%s) and rolling back failed, the next run tries again: %w", r.id, r.tags[tagInstance], reason, err))
	res.Wrote = true
	return res
}

func (r *run) rollbackPending(reason string, undone []string, waiting string) remediation.Result {
	res := r.inProgress("rolling back after: %s; %s", reason, waiting)
	if len(undone) > 0 {
		res.Reason += "; undone: " + strings.Join(undone, ", ")
	}
	return res
}

// Plan reads the volume (and its instance) and lists every API call
// Advance would make from the current state to the end, assuming each
// succeeds, and the downtime it would cause. It writes nothing.
func (m *VolumeMigrator) Plan(ctx context.Context, region, volumeID string) (MigrationPlan, error) {
	p := MigrationPlan{VolumeID: volumeID, Downtime: "none"}
	if !volumeIDPattern.MatchString(volumeID) {
		return p, fmt.Errorf("input error: %q is not a valid EBS volume ID", volumeID)
	}
	vol, found, err := m.describeVolume(ctx, region, volumeID)
	if err != nil {
		return p, err
	}
	if !found {
		p.Refusal = fmt.Sprintf("volume %q no longer exists", volumeID)
		return p, nil
	}
	tags := newAttempt(tagMap(vol.Tags))
	step := tags[tagStep]
	switch {
	case tags[TagMigratedTo] != "":
		p.Refusal = fmt.Sprintf("volume %s was migrated to %s at %s", volumeID, tags[TagMigratedTo], tags[TagMigratedAt])
		if d := m.opts.EBSMigrationDeleteOriginalAfter; d > 0 {
			p.Calls = append(p.Calls, fmt.Sprintf("DeleteVolume VolumeId=%s (once %s have passed since %s)", volumeID, d, tags[TagMigratedAt]))
		}
		return p, nil
	case aws.ToBool(vol.Encrypted):
		p.Refusal = "volume " + volumeID + " is encrypted"
		return p, nil
	case step == StepFailed:
		p.Refusal = fmt.Sprintf("an earlier migration failed: %s; remove the tag %s to try again", tags[tagFailure], tagStep)
		return p, nil
	case step == StepReverted:
		p.Refusal = fmt.Sprintf("the migration of volume %s was undone; remove the tag %s to migrate it again", volumeID, tagStep)
		return p, nil
	case step == StepRollback:
		p.Calls = append(p.Calls, "rollback: DetachVolume the new volume, AttachVolume "+volumeID+" at "+tags[tagDevice]+", ModifyInstanceAttribute DeleteOnTermination, StartInstances if it was running")
		return p, nil
	case step != "":
		// as advance: past the stuck limit the migration ends
		started, err := time.Parse(time.RFC3339, tags[tagStartedAt])
		if age := m.opts.now().Sub(started); err == nil && age <= m.stuckAfter() {
			break
		}
		why := fmt.Sprintf("stuck at step %s since %s, longer than EBS_MIGRATION_STUCK_AFTER (%s)", step, tags[tagStartedAt], m.stuckAfter())
		if err != nil {
			why = fmt.Sprintf("its tag %s=%q is not an RFC 3339 time", tagStartedAt, tags[tagStartedAt])
		}
		if tags[tagInstance] != "" {
			p.Calls = append(p.Calls, fmt.Sprintf("CreateTags Resources=%s (%s=%s: %s)", volumeID, tagStep, StepRollback, why),
				"rollback: DetachVolume the new volume, AttachVolume "+volumeID+" at "+tags[tagDevice]+", ModifyInstanceAttribute DeleteOnTermination, StartInstances if it was running",
				fmt.Sprintf("CreateTags Resources=%s (%s=%s)", volumeID, tagStep, StepFailed))
			return p, nil
		}
		p.Calls = append(p.Calls, fmt.Sprintf("CreateTags Resources=%s (%s=%s: %s; the original is untouched)", volumeID, tagStep, StepFailed, why))
		return p, nil
	}
	r := &run{m: m, ctx: ctx, region: region, id: volumeID, vol: vol, tags: tags}
	call := func(format string, args ...any) { p.Calls = append(p.Calls, fmt.Sprintf(format, args...)) }
	tagCall := func(what string) { call("CreateTags Resources=%s (%s)", volumeID, what) }
	snapCalls := func(kind string, have string) {
		if have != "" {
			call("DescribeSnapshots SnapshotIds=%s (until completed)", have)
			return
		}
		call("CreateSnapshot VolumeId=%s tags %s=%s,%s=%s", volumeID, TagMigratedFrom, volumeID, tagKind, kind)
		tagCall("snapshot ID")
		call("DescribeSnapshots (until completed)")
	}
	volCalls := func() {
		if nid := tags[tagNewVolume]; nid != "" {
			call("DescribeVolumes VolumeIds=%s (until available)", nid)
			return
		}
		if tags[tagStartedAt] == "" {
			tags[tagStartedAt] = "STARTED_AT"
		}
		call("CreateVolume %s", describeCreateVolume(r.createVolumeInput("SNAPSHOT_ID")))
		tagCall("new volume ID")
		call("DescribeVolumes (until available)")
	}
	inst := tags[tagInstance]
	if step == "" {
		if why := tagRoomRefusal(vol, len(vol.Attachments) > 0); why != "" {
			p.Refusal = why
			return p, nil
		}
	}
	if inst == "" && len(vol.Attachments) == 0 {
		if step == "" {
			tagCall(tagStep + "=" + StepSnapshot + ", " + tagStartedAt)
		}
		snapCalls(kindFinal, tags[tagSnapshot])
		volCalls()
		tagCall(TagMigratedTo + "=NEW_VOLUME_ID, " + TagMigratedAt)
		return p, nil
	}
	dev := tags[tagDevice]
	wasRunning := tags[tagWasRunning] == "true"
	if inst == "" {
		if why, ok := managedAttachment(vol); ok {
			p.Refusal = why
			return p, nil
		}
		if len(vol.Attachments) > 1 {
			p.Refusal = fmt.Sprintf("volume %s is attached to %d instances (multi-attach)", volumeID, len(vol.Attachments))
			return p, nil
		}
		inst, dev = aws.ToString(vol.Attachments[0].InstanceId), aws.ToString(vol.Attachments[0].Device)
		i, err := m.describeInstance(ctx, region, inst)
		if err != nil {
			return p, err
		}
		if !stopAllowed(i) {
			p.Refusal = fmt.Sprintf("volume %s is attached to instance %s, which is not tagged %s=true", volumeID, inst, TagStopAllowed)
			return p, nil
		}
		if g, ok := ec2Tag(i.Tags, "aws:autoscaling:groupName"); ok && instanceState(i) == ec2types.InstanceStateNameRunning {
			p.Refusal = fmt.Sprintf("volume %s is attached to instance %s of Auto Scaling group %s, which would replace the stopped instance: replace the instance instead (an instance refresh)", volumeID, inst, g)
			return p, nil
		}
		wasRunning = instanceState(i) == ec2types.InstanceStateNameRunning
		if wasRunning {
			if step == "" {
				tagCall(tagStep + "=" + StepSeed + ", " + tagStartedAt)
			}
			snapCalls(kindSeed, tags[tagSeedSnapshot])
		}
		tagCall(fmt.Sprintf("%s=%s, %s=%s, %s=%s, %s, %s", tagStep, StepStop, tagInstance, inst, tagDevice, dev, tagDeleteOnTerm, tagWasRunning))
		if wasRunning {
			call("StopInstances InstanceIds=%s", inst)
		}
	}
	if stepOrder[step] < stepOrder[StepStart] {
		call("DescribeInstances InstanceIds=%s (until stopped)", inst)
		snapCalls(kindFinal, tags[tagSnapshot])
		volCalls()
		if _, on := attachedTo(vol, inst, ""); on || tags[tagInstance] == "" {
			call("DetachVolume VolumeId=%s InstanceId=%s Device=%s", volumeID, inst, dev)
			call("DescribeVolumes VolumeIds=%s (until detached)", volumeID)
		}
		call("AttachVolume VolumeId=NEW_VOLUME_ID InstanceId=%s Device=%s", inst, dev)
		call("DescribeVolumes VolumeIds=NEW_VOLUME_ID (until attached)")
		call("ModifyInstanceAttribute InstanceId=%s BlockDeviceMappings=[DeviceName=%s,Ebs={DeleteOnTermination=<the original's>}]", inst, dev)
	}
	if wasRunning {
		call("StartInstances InstanceIds=%s", inst)
		p.Downtime = fmt.Sprintf("instance %s is stopped from StopInstances until StartInstances: while a snapshot of %s (incremental on the seed snapshot) completes, the new volume is created, detached and attached; minutes for most volumes, longer after heavy writes", inst, volumeID)
	} else {
		p.Downtime = "none: instance " + inst + " is not running and stays stopped"
	}
	tagCall(TagMigratedTo + "=NEW_VOLUME_ID, " + TagMigratedAt)
	return p, nil
}

func describeCreateVolume(in *ec2.CreateVolumeInput) string {
	s := fmt.Sprintf("AvailabilityZone=%s SnapshotId=%s Size=%d VolumeType=%s Encrypted=true", aws.ToString(in.AvailabilityZone), aws.ToString(in.SnapshotId), aws.ToInt32(in.Size), in.VolumeType)
	if in.KmsKeyId != nil {
		s += " KmsKeyId=" + aws.ToString(in.KmsKeyId)
	} else {
		s += " (the region's default EBS key)"
	}
	if in.Iops != nil {
		s += fmt.Sprintf(" Iops=%d", aws.ToInt32(in.Iops))
	}
	if in.Throughput != nil {
		s += fmt.Sprintf(" Throughput=%d", aws.ToInt32(in.Throughput))
	}
	if in.MultiAttachEnabled != nil {
		s += " MultiAttachEnabled=true"
	}
	var keys []string
	for _, t := range in.TagSpecifications[0].Tags {
		keys = append(keys, aws.ToString(t.Key))
	}
	return s + " tags " + strings.Join(keys, ",")
}
