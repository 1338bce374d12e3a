// Package sweep finds every resource the remediators cover in an account and
// region and runs each one through its remediators, exactly as the event path
// does (same modes, exemptions, outcomes and publishing): "fix what is
// already broken, not only what changes next". Compliance is decided by the
// remediators themselves; in dry-run mode the sweep is a detector.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// Resource types the sweep lists.
const (
	ResourceTypeBucket   = "AWS::S3::Bucket"
	ResourceTypeInstance = "AWS::EC2::Instance"
	ResourceTypeVolume   = remediators.ResourceTypeVolume
	ResourceTypeAccount  = remediators.ResourceTypeAccount
)

// S3API is the part of the S3 client the sweep lists buckets with.
type S3API interface {
	ListBuckets(ctx context.Context, params *s3.ListBucketsInput, optFns ...func(*s3.Options)) (*s3.ListBucketsOutput, error)
}

// EC2API is the part of the EC2 client the sweep lists instances and
// volumes with.
type EC2API interface {
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeVolumes(ctx context.Context, params *ec2.DescribeVolumesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
}

// STSAPI is the part of the STS client the sweep finds its account with.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Permissions lists the IAM actions the sweep itself calls to list
// resources; the remediators' own (remediators.Permissions) and the
// publisher's (remediation.PublisherPermissions) come on top.
func Permissions() []string {
	return []string{"s3:ListAllMyBuckets", "ec2:DescribeInstances", "ec2:DescribeVolumes", "sts:GetCallerIdentity"}
}

// Target is one check: one resource through one remediator. Rule is the AWS
// Config managed rule the check stands for; it goes into the outcome and
// the remediator's request as if Config had reported it.
type Target struct {
	Remediator   string
	Rule         string
	ResourceType string
	ResourceID   string
}

// checks says which remediators look at which resource type, and as which
// managed rule.
var checks = map[string][]struct{ remediator, rule string }{
	ResourceTypeBucket: {
		{remediation.S3PublicAccessBlock, "s3-bucket-level-public-access-prohibited"},
		{remediation.S3Encryption, "s3-bucket-server-side-encryption-enabled"},
	},
	ResourceTypeInstance: {{remediation.EC2IMDSv2, "ec2-imdsv2-check"}},
	ResourceTypeVolume:   {{remediation.EBSEncryption, "encrypted-volumes"}},
	ResourceTypeAccount:  {{remediation.EBSEncryption, "ec2-ebs-encryption-by-default"}},
}

// Sweeper lists resources and runs them through the handler's remediators.
type Sweeper struct {
	S3  S3API
	EC2 EC2API
	STS STSAPI // used when Account is empty
	// Handler supplies the registry, the modes and the publisher: outcomes
	// are decided and published exactly as on the event path. A handler
	// without a publisher makes a silent detector.
	Handler *remediation.Handler
	Region  string
	Account string
	// Only limits the sweep to these remediators (all enabled ones when
	// empty).
	Only []string
	// DryRun runs every remediator in dry-run mode whatever Handler.Modes
	// says.
	DryRun bool
	// Concurrency bounds the checks in flight (4 when 0).
	Concurrency int
	// Progress, when set, is called after each check (from one goroutine at
	// a time).
	Progress func(done, total int, o remediation.Outcome)
	// RunID prefixes the outcomes' eventId (sweep-<unix time> when empty).
	RunID string
}

// Report is the result of a sweep.
type Report struct {
	Outcomes []remediation.Outcome // in target order
	// ListErrors are the listings that failed; the other resource types
	// were still swept.
	ListErrors []error
	// PublishErrors are the outcomes that could not be delivered.
	PublishErrors []error
	Started       time.Time
	Duration      time.Duration
}

// Failed reports whether anything failed: an outcome, a listing or a
// delivery.
func (r *Report) Failed() bool {
	if len(r.ListErrors) > 0 || len(r.PublishErrors) > 0 {
		return true
	}
	for _, o := range r.Outcomes {
		if o.Action == remediation.ActionFailed {
			return true
		}
	}
	return false
}

func (s *Sweeper) enabled(name string) bool {
	if s.Handler == nil || s.Handler.Registry == nil || !s.Handler.Registry.Has(name) {
		return false
	}
	if len(s.Only) == 0 {
		return true
	}
	for _, n := range s.Only {
		if remediation.CanonicalName(n) == name {
			return true
		}
	}
	return false
}

func (s *Sweeper) wants(resourceType string) bool {
	for _, c := range checks[resourceType] {
		if s.enabled(c.remediator) {
			return true
		}
	}
	return false
}

// ValidateOnly checks that every name in only is a known remediator.
func ValidateOnly(only []string) error {
	for _, n := range only {
		known := false
		for _, k := range remediators.Names() {
			if remediation.CanonicalName(n) == k {
				known = true
			}
		}
		if !known {
			return fmt.Errorf("unknown remediator %q (known: %s)", n, strings.Join(remediators.Names(), ", "))
		}
	}
	return nil
}

// ValidateOnlyEnabled checks that every name in only is one of the enabled
// remediators (the ENABLED_REMEDIATORS setting; every remediator when
// enabled is empty). A sweep limited to a remediator that is not enabled
// would check nothing and report nothing, which reads like a clean account.
func ValidateOnlyEnabled(only, enabled []string) error {
	if len(enabled) == 0 {
		return nil
	}
	for _, n := range only {
		found := false
		for _, e := range enabled {
			if remediation.CanonicalName(n) == remediation.CanonicalName(e) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("remediator %q is not enabled (ENABLED_REMEDIATORS=%s)", n, strings.Join(enabled, ","))
		}
	}
	return nil
}

// Targets lists the checks to run. A listing that fails is returned among
// the errors and the other resource types are still listed. The checks of
// the different resource types are interleaved, so that the workers waiting
// on the EC2 rate limits never hold up the S3 checks behind them.
func (s *Sweeper) Targets(ctx context.Context) ([]Target, []error) {
	var groups [][]Target
	var errs []error
	add := func(resourceType string, ids []string) {
		var targets []Target
		for _, id := range ids {
			for _, c := range checks[resourceType] {
				if s.enabled(c.remediator) {
					targets = append(targets, Target{Remediator: c.remediator, Rule: c.rule, ResourceType: resourceType, ResourceID: id})
				}
			}
		}
		groups = append(groups, targets)
	}
	if s.wants(ResourceTypeAccount) {
		add(ResourceTypeAccount, []string{s.Account})
	}
	if s.wants(ResourceTypeBucket) {
		ids, err := s.listBuckets(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		add(ResourceTypeBucket, ids)
	}
	if s.wants(ResourceTypeInstance) {
		ids, err := s.listInstances(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		add(ResourceTypeInstance, ids)
	}
	if s.wants(ResourceTypeVolume) {
		ids, err := s.listVolumes(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		add(ResourceTypeVolume, ids)
	}
	return interleave(groups), errs
}

// interleave takes one element of each group in turn.
func interleave(groups [][]Target) []Target {
	var out []Target
	for i := 0; ; i++ {
		took := false
		for _, g := range groups {
			if i < len(g) {
				out = append(out, g[i])
				took = true
			}
		}
		if !took {
			return out
		}
	}
}

func (s *Sweeper) listBuckets(ctx context.Context) ([]string, error) {
	var ids []string
	// BucketRegion filters server-side: ListBuckets otherwise returns the
	// buckets of every region.
	in := &s3.ListBucketsInput{BucketRegion: aws.String(s.Region), MaxBuckets: aws.Int32(1000)}
	for {
		out, err := s.S3.ListBuckets(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("listing S3 buckets in region %s: %w", s.Region, err)
		}
		for _, b := range out.Buckets {
			ids = append(ids, aws.ToString(b.Name))
		}
		if aws.ToString(out.ContinuationToken) == "" {
			return ids, nil
		}
		in.ContinuationToken = out.ContinuationToken
	}
}

func (s *Sweeper) listInstances(ctx context.Context) ([]string, error) {
	var ids []string
	in := &ec2.DescribeInstancesInput{
		// Terminated and shutting-down instances stay listed for about an
		// hour; there is nothing to fix on them.
		Filters:    []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}},
		MaxResults: aws.Int32(1000),
	}
	for {
		out, err := s.EC2.DescribeInstances(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("describing EC2 instances in region %s: %w", s.Region, err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return ids, nil
		}
		in.NextToken = out.NextToken
	}
}

func (s *Sweeper) listVolumes(ctx context.Context) ([]string, error) {
	var ids []string
	// Only unencrypted volumes can be non-compliant; the remediator's own
	// read still decides for each.
	in := &ec2.DescribeVolumesInput{
		Filters:    []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"false"}}},
		MaxResults: aws.Int32(500),
	}
	for {
		out, err := s.EC2.DescribeVolumes(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("describing unencrypted EBS volumes in region %s: %w", s.Region, err)
		}
		for _, v := range out.Volumes {
			ids = append(ids, aws.ToString(v.VolumeId))
		}
		if aws.ToString(out.NextToken) == "" {
			return ids, nil
		}
		in.NextToken = out.NextToken
	}
}

// Run lists the resources, runs every check with bounded concurrency, and
// publishes each outcome through the handler. An error on one resource is
// that resource's failed outcome; the sweep goes on. Run returns an error
// only when the sweep cannot start (no account, no handler, Only naming a
// remediator the handler's registry does not have).
func (s *Sweeper) Run(ctx context.Context) (*Report, error) {
	rep := &Report{Started: time.Now()}
	if s.Handler == nil || s.Handler.Registry == nil {
		return nil, errors.New("sweep: no handler")
	}
	if err := ValidateOnly(s.Only); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := ValidateOnlyEnabled(s.Only, s.Handler.Registry.Names()); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if s.Account == "" {
		if s.STS == nil {
			return nil, errors.New("sweep: no account given and no STS client to find it")
		}
		out, err := s.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return nil, fmt.Errorf("sweep: finding the account with STS GetCallerIdentity: %w", err)
		}
		s.Account = aws.ToString(out.Account)
	}
	targets, errs := s.Targets(ctx)
	rep.ListErrors = errs
	rep.Outcomes = make([]remediation.Outcome, len(targets))
	runID := s.RunID
	if runID == "" {
		runID = fmt.Sprintf("sweep-%d", rep.Started.Unix())
	}
	workers := s.Concurrency
	if workers <= 0 {
		workers = 4
	}
	jobs := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for w := 0; w < min(workers, max(len(targets), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				o, err := s.check(ctx, targets[i], fmt.Sprintf("%s-%d", runID, i+1))
				mu.Lock()
				rep.Outcomes[i] = o
				var failed *remediation.OutcomeError
				if err != nil && !errors.As(err, &failed) {
					rep.PublishErrors = append(rep.PublishErrors, err)
				}
				done++
				if s.Progress != nil {
					s.Progress(done, len(targets), o)
				}
				mu.Unlock()
			}
		}()
	}
	started := len(targets)
feed:
	for i := range targets {
		select {
		case jobs <- i:
		case <-ctx.Done():
			started = i
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	// Checks not started because the context ended are left out.
	rep.Outcomes = rep.Outcomes[:started]
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

func (s *Sweeper) check(ctx context.Context, t Target, eventID string) (remediation.Outcome, error) {
	h := s.Handler
	rem, _ := h.Registry.Get(t.Remediator)
	mode := h.Modes.For(t.Remediator)
	if s.DryRun {
		mode = remediation.ModeDryRun
	}
	req := remediation.Request{
		Rule: t.Rule, ManagedRule: t.Rule, ResourceType: t.ResourceType, ResourceID: t.ResourceID,
		Account: s.Account, Region: s.Region, Mode: mode,
	}
	return h.Deliver(ctx, h.Run(ctx, rem, req, eventID))
}
