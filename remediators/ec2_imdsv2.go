package remediators

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
)

// IMDSv2EC2API is the part of the EC2 client the IMDSv2 remediator uses.
type IMDSv2EC2API interface {
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	ModifyInstanceMetadataOptions(ctx context.Context, params *ec2.ModifyInstanceMetadataOptionsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error)
}

// IMDSv2MetricsAPI is the part of the CloudWatch client the IMDSv2
// remediator uses to look for IMDSv1 calls.
type IMDSv2MetricsAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// EC2IMDSv2 requires session tokens (IMDSv2) for an instance's metadata
// service, keeping the endpoint and hop limit as they are. It first looks at
// the instance's MetadataNoToken metric: an instance that made IMDSv1 calls
// in the look-back window is deferred, because enforcing would break it.
type EC2IMDSv2 struct {
	EC2     IMDSv2EC2API
	Metrics IMDSv2MetricsAPI
	Opts    Options
}

// NewEC2IMDSv2 returns the remediator.
func NewEC2IMDSv2(ec2Client IMDSv2EC2API, metrics IMDSv2MetricsAPI, opts Options) *EC2IMDSv2 {
	return &EC2IMDSv2{EC2: ec2Client, Metrics: metrics, Opts: opts}
}

// EC2IMDSv2Name names the remediator in outcomes and settings.
const EC2IMDSv2Name = "ec2-imdsv2"

// EC2IMDSv2Definition declares the IMDSv2 remediator.
func EC2IMDSv2Definition() Definition {
	return Definition{
		Spec: remediation.Spec{
			Name:          EC2IMDSv2Name,
			Aliases:       []string{"imdsv2"},
			Summary:       "Requires IMDSv2 session tokens on the instance, keeping its endpoint and hop limit; deferred when its MetadataNoToken metric shows IMDSv1 use.",
			ResourceTypes: []string{ResourceTypeInstance},
			Rules: []remediation.ManagedRule{
				{Name: "ec2-imdsv2-check", Identifier: "EC2_IMDSV2_CHECK", ResourceTypes: []string{ResourceTypeInstance}},
			},
			Controls: []string{"EC2.8"},
			Triggers: ec2Calls("RunInstances", "ModifyInstanceMetadataOptions"),
			Permissions: []remediation.Permission{
				{Sid: "EC2IMDSv2Modify", Actions: []string{"ec2:ModifyInstanceMetadataOptions"}, Resources: []string{"arn:{partition}:ec2:{region}:{account}:instance/*"}},
				// DescribeInstances and GetMetricData have no resource type.
				{Sid: "EC2IMDSv2Read", Actions: []string{"ec2:DescribeInstances", "cloudwatch:GetMetricData"}, Resources: []string{"*"}},
			},
		},
		Sweep: []SweepCheck{{Rule: "ec2-imdsv2-check", Lister: InstanceLister()}},
		New:   func(c Clients, o Options) remediation.Remediator { return NewEC2IMDSv2(c.EC2(), c.CloudWatch(), o) },
	}
}

// Name implements remediation.Remediator.
func (r *EC2IMDSv2) Name() string { return EC2IMDSv2Name }

// ResourceTypes implements remediation.Remediator.
func (r *EC2IMDSv2) ResourceTypes() []string { return []string{ResourceTypeInstance} }

type instanceMetadata struct {
	exists   bool
	state    string
	tokens   string
	endpoint string
	hopLimit int32
	tags     []ec2types.Tag
}

func (m instanceMetadata) settings() map[string]any {
	return map[string]any{"httpTokens": m.tokens, "httpEndpoint": m.endpoint, "httpPutResponseHopLimit": m.hopLimit, "instanceState": m.state}
}

func ec2Region(region string) func(*ec2.Options) {
	return func(o *ec2.Options) {
		if region != "" {
			o.Region = region
		}
	}
}

// InstanceReads is an optional source of the IMDSv2 remediator's reads:
// when the request's context carries one (WithInstanceReads), the
// remediator reads the instance through it instead of describing it on its
// own. The sweep supplies one: its DescribeInstances listing has just read
// every instance, metadata options, state and tags included, so that read
// is the remediator's read, and the read-backs of many checks after their
// writes are answered by one DescribeInstances. The comparison, the write
// and the verification are the same as on the event path, which keeps its
// own reads.
type InstanceReads interface {
	// Listed returns the instance (its ID, state, metadata options and
	// tags at least) as a recent listing described it; ok is false when
	// there is none, and the remediator then calls Read.
	Listed(region, id string) (inst ec2types.Instance, ok bool)
	// Read describes the instance now; found is false when EC2 does not
	// list it (any more). Concurrent reads may be answered by one call.
	Read(ctx context.Context, region, id string) (inst ec2types.Instance, found bool, err error)
}

type instanceReadsKey struct{}

// WithInstanceReads returns a context in which the IMDSv2 remediator reads
// instances through reads.
func WithInstanceReads(ctx context.Context, reads InstanceReads) context.Context {
	return context.WithValue(ctx, instanceReadsKey{}, reads)
}

func instanceReadsFrom(ctx context.Context) (InstanceReads, bool) {
	r, ok := ctx.Value(instanceReadsKey{}).(InstanceReads)
	return r, ok && r != nil
}

// metadataOf is what the remediator compares and reports of an instance,
// whichever call described it.
func metadataOf(inst ec2types.Instance) instanceMetadata {
	m := instanceMetadata{exists: true, tags: inst.Tags}
	if inst.State != nil {
		m.state = string(inst.State.Name)
	}
	if mo := inst.MetadataOptions; mo != nil {
		m.tokens, m.endpoint, m.hopLimit = string(mo.HttpTokens), string(mo.HttpEndpoint), aws.ToInt32(mo.HttpPutResponseHopLimit)
	}
	// Terminated instances stay visible for about an hour.
	if m.state == string(ec2types.InstanceStateNameTerminated) || m.state == string(ec2types.InstanceStateNameShuttingDown) {
		m.exists = false
	}
	return m
}

// current is the read the remediator decides on: the listing's when the
// context carries one, else a read of its own.
func (r *EC2IMDSv2) current(ctx context.Context, id, region string) (instanceMetadata, error) {
	if reads, ok := instanceReadsFrom(ctx); ok {
		if inst, ok := reads.Listed(region, id); ok && aws.ToString(inst.InstanceId) == id {
			return metadataOf(inst), nil
		}
	}
	return r.read(ctx, id, region)
}

// read describes the instance now (through the context's InstanceReads when
// there is one).
func (r *EC2IMDSv2) read(ctx context.Context, id, region string) (instanceMetadata, error) {
	if reads, ok := instanceReadsFrom(ctx); ok {
		inst, found, err := reads.Read(ctx, region, id)
		if err != nil || !found || aws.ToString(inst.InstanceId) != id {
			return instanceMetadata{}, err
		}
		return metadataOf(inst), nil
	}
	out, err := r.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, ec2Region(region))
	if awserr.Is(err, "InvalidInstanceID.NotFound") {
		return instanceMetadata{}, nil
	}
	if err != nil {
		return instanceMetadata{}, err
	}
	for _, res := range out.Reservations {
		for _, inst := range res.Instances {
			if aws.ToString(inst.InstanceId) == id {
				return metadataOf(inst), nil
			}
		}
	}
	return instanceMetadata{}, nil
}

// Remediate implements remediation.Remediator.
func (r *EC2IMDSv2) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	id := req.ResourceID
	if !instanceIDPattern.MatchString(id) {
		return malformedID("EC2 instance", id)
	}
	cur, err := r.current(ctx, id, req.Region)
	if awserr.Is(err, "InvalidInstanceID.Malformed") {
		return malformedID("EC2 instance", id)
	}
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing instance %q: %w", id, err))
	}
	if !cur.exists {
		return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("instance %q no longer exists", id)}
	}
	before := cur.settings()
	if cur.tokens == string(ec2types.HttpTokensStateRequired) {
		return remediation.Result{Action: remediation.ActionCompliant, Reason: "IMDSv2 is already required", Before: before, After: before}
	}
	if v, ok := ec2Tag(cur.tags, r.Opts.exemptKey()); ok && exemptValue(v) {
		return remediation.Result{Action: remediation.ActionExempt, Reason: exemptReason(r.Opts.exemptKey(), v), Before: before, After: before}
	}
	if lb := r.Opts.IMDSLookback; lb > 0 {
		calls, err := r.noTokenCalls(ctx, id, req.Region, lb)
		if err != nil {
			return remediation.Failed(before, fmt.Errorf("reading MetadataNoToken metric of instance %q: %w", id, err))
		}
		if calls > 0 {
			return remediation.Result{Action: remediation.ActionDeferred, Before: before, After: before,
				Reason: fmt.Sprintf("instance made %d IMDSv1 (token-less) metadata calls in the last %s; requiring IMDSv2 now would break that workload: update it to use IMDSv2 (current AWS SDKs and agents do), then re-evaluate (IMDS_LOOKBACK_DAYS=0 skips this check)",
					int64(calls), days(lb))}
		}
	}
	want := cur
	want.tokens = string(ec2types.HttpTokensStateRequired)
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: before, After: want.settings(),
			Reason: fmt.Sprintf("would set HttpTokens from %s to required", orNone(cur.tokens))}
	}
	in := &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: ec2types.HttpTokensStateRequired}
	if cur.endpoint != "" {
		in.HttpEndpoint = ec2types.InstanceMetadataEndpointState(cur.endpoint)
	}
	if cur.hopLimit > 0 {
		in.HttpPutResponseHopLimit = aws.Int32(cur.hopLimit)
	}
	if _, err := r.EC2.ModifyInstanceMetadataOptions(ctx, in, ec2Region(req.Region)); err != nil {
		if awserr.Is(err, "InvalidInstanceID.NotFound") {
			return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("instance %q no longer exists", id)}
		}
		return remediation.Failed(before, fmt.Errorf("modifying metadata options of instance %q: %w", id, err))
	}
	// The change is applied asynchronously (MetadataOptions.State "pending"),
	// so the read-back polls briefly.
	var got instanceMetadata
	for attempt := 0; ; attempt++ {
		got, err = r.read(ctx, id, req.Region)
		if err != nil {
			return remediation.Unverified(before, fmt.Errorf("verifying metadata options of instance %q: %w", id, err))
		}
		if got.tokens == string(ec2types.HttpTokensStateRequired) || attempt+1 >= max(r.Opts.VerifyAttempts, 1) {
			break
		}
		select {
		case <-ctx.Done():
			return remediation.Unverified(before, fmt.Errorf("verifying metadata options of instance %q: %w", id, ctx.Err()))
		case <-time.After(r.Opts.VerifyInterval):
		}
	}
	if got.tokens != string(ec2types.HttpTokensStateRequired) {
		return remediation.Unverified(before, fmt.Errorf("verifying metadata options of instance %q: HttpTokens is %s after the write", id, orNone(got.tokens)))
	}
	return remediation.Result{Action: remediation.ActionRemediated, Before: before, After: got.settings(),
		Reason: fmt.Sprintf("set HttpTokens from %s to required (endpoint %s, hop limit %d kept)", orNone(cur.tokens), orNone(cur.endpoint), cur.hopLimit)}
}

// noTokenCalls sums the instance's MetadataNoToken metric over the window.
func (r *EC2IMDSv2) noTokenCalls(ctx context.Context, id, region string, lookback time.Duration) (float64, error) {
	end := r.Opts.now().UTC().Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-lookback)
	period := int32(86400)
	if lookback < 24*time.Hour {
		period = int32((lookback + time.Minute - 1) / time.Minute * 60)
	}
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start),
		EndTime:   aws.Time(end),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("notoken"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String("AWS/EC2"),
					MetricName: aws.String("MetadataNoToken"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id)}},
				},
				Period: aws.Int32(period),
				Stat:   aws.String("Sum"),
			},
		}},
	}
	var sum float64
	p := cloudwatch.NewGetMetricDataPaginator(r.Metrics, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, func(o *cloudwatch.Options) {
			if region != "" {
				o.Region = region
			}
		})
		if err != nil {
			return 0, err
		}
		for _, res := range out.MetricDataResults {
			for _, v := range res.Values {
				sum += v
			}
		}
	}
	return sum, nil
}

func ec2Tag(tags []ec2types.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// imdsKeys are the fields of the state a revert compares: the metadata
// options, not the instance state (stopping an instance is no reason to
// refuse).
var imdsKeys = []string{"httpTokens", "httpEndpoint", "httpPutResponseHopLimit"}

// Revert implements remediation.Reverter: it sets HttpTokens back to what
// the outcome's before recorded (optional, for IMDSv1 and IMDSv2). The
// endpoint and hop limit were kept by the fix, so they are kept as they
// are now.
func (r *EC2IMDSv2) Revert(ctx context.Context, req remediation.RevertRequest) remediation.Result {
	o := req.Outcome
	id := o.ResourceID
	if !instanceIDPattern.MatchString(id) {
		return malformedID("EC2 instance", id)
	}
	tokens, ok := stateString(o.Before, "httpTokens")
	if !ok || (tokens != string(ec2types.HttpTokensStateOptional) && tokens != string(ec2types.HttpTokensStateRequired)) {
		return missingBefore(r.Name(), o, "httpTokens (optional or required)")
	}
	cur, err := r.read(ctx, id, o.Region)
	if err != nil {
		return remediation.Failed(nil, fmt.Errorf("describing instance %q: %w", id, err))
	}
	if !cur.exists {
		return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("instance %q no longer exists", id)}
	}
	now := cur.settings()
	if diffs := changedSince(now, o.After, imdsKeys...); len(diffs) > 0 && !req.Force {
		return refuseChanged("the instance's metadata options", now, diffs)
	}
	if cur.tokens == tokens {
		return remediation.Result{Action: remediation.ActionReverted, Before: now, After: now,
			Reason: fmt.Sprintf("HttpTokens is already %s, as before the outcome: nothing written", tokens)}
	}
	want := cur
	want.tokens = tokens
	change := fmt.Sprintf("HttpTokens from %s back to %s", orNone(cur.tokens), tokens)
	if req.Mode == remediation.ModeDryRun {
		return remediation.Result{Action: remediation.ActionDryRun, Before: now, After: want.settings(), Reason: "would set " + change}
	}
	// The endpoint and hop limit are sent as they are now, as the fix
	// does, so that they stay whatever an implementation does with
	// omitted ones (moto clears an omitted endpoint).
	in := &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: ec2types.HttpTokensState(tokens)}
	if cur.endpoint != "" {
		in.HttpEndpoint = ec2types.InstanceMetadataEndpointState(cur.endpoint)
	}
	if cur.hopLimit > 0 {
		in.HttpPutResponseHopLimit = aws.Int32(cur.hopLimit)
	}
	if _, err := r.EC2.ModifyInstanceMetadataOptions(ctx, in, ec2Region(o.Region)); err != nil {
		if awserr.Is(err, "InvalidInstanceID.NotFound") {
			return remediation.Result{Action: remediation.ActionGone, Reason: fmt.Sprintf("instance %q no longer exists", id)}
		}
		return remediation.Failed(now, fmt.Errorf("modifying metadata options of instance %q: %w", id, err))
	}
	// Applied asynchronously, as for the fix.
	var got instanceMetadata
	for attempt := 0; ; attempt++ {
		got, err = r.read(ctx, id, o.Region)
		if err != nil {
			return remediation.Unverified(now, fmt.Errorf("verifying metadata options of instance %q: %w", id, err))
		}
		if got.tokens == tokens || attempt+1 >= max(r.Opts.VerifyAttempts, 1) {
			break
		}
		select {
		case <-ctx.Done():
			return remediation.Unverified(now, fmt.Errorf("verifying metadata options of instance %q: %w", id, ctx.Err()))
		case <-time.After(r.Opts.VerifyInterval):
		}
	}
	if got.tokens != tokens {
		return remediation.Unverified(now, fmt.Errorf("verifying metadata options of instance %q: HttpTokens is %s after the write, want %s", id, orNone(got.tokens), tokens))
	}
	return remediation.Result{Action: remediation.ActionReverted, Before: now, After: got.settings(), Reason: "set " + change}
}
