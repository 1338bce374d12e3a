package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// The principals of the demo. The CloudTrail stand-in (the recording proxy)
// knows who signed a call by its access key ID: each principal signs with
// its own key. A call signed with any other key is recorded as made by the
// IAM user named after the key.
const (
	// PipelineRole is the remediate function's execution role, as
	// terraform/ names it; the function's sessions are named after the
	// function, as Lambda names them.
	PipelineRole = "arn:aws:iam::" + emulator.Account + ":role/" + FunctionName
	PipelineKey  = "ASIADEMOREMEDIATE001"
	// DeveloperRole/DeveloperSession: a developer, alice, who misconfigures
	// things; her key is also the one printed for --watch.
	DeveloperRole    = "arn:aws:iam::" + emulator.Account + ":role/developer"
	DeveloperSession = "alice"
	DeveloperKey     = "ASIADEMODEVELOPER001"
	// OtherAutomationRole/OtherAutomationSession: another automation that
	// keeps re-opening BucketFlapping, each time the pipeline fixes it.
	OtherAutomationRole    = "arn:aws:iam::" + emulator.Account + ":role/legacy-sync"
	OtherAutomationSession = "nightly-sync"
	OtherAutomationKey     = "ASIADEMONIGHTLYSYNC1"
)

// Names of the CloudTrail fast path's resources, as terraform/ names them.
const (
	StateTable = NamePrefix + "-state"
	// CloudTrailRulePrefix + service (s3, ec2) names the CloudTrail rules.
	CloudTrailRulePrefix = NamePrefix + "-cloudtrail-"
	// FlapLimit is the demo's FLAP_LIMIT (the default): the other
	// automation's fourth change ends escalated.
	FlapLimit = remediation.DefaultFlapLimit
)

// pipelineRoles are the roles Terraform puts in IGNORE_ACTOR_ARNS and in
// the CloudTrail rules' pattern: every function's role (terraform's
// local.function_role_arns).
func pipelineRoles() []string {
	var out []string
	for _, fn := range []string{"remediate", "report", "sweep"} {
		out = append(out, "arn:aws:iam::"+emulator.Account+":role/"+NamePrefix+"-"+fn)
	}
	return out
}

// identities maps the demo's access keys to the principals the CloudTrail
// stand-in records.
func identities() map[string]cloudtrailproxy.Identity {
	return map[string]cloudtrailproxy.Identity{
		PipelineKey:        cloudtrailproxy.AssumedRole(PipelineRole, FunctionName),
		DeveloperKey:       cloudtrailproxy.AssumedRole(DeveloperRole, DeveloperSession),
		OtherAutomationKey: cloudtrailproxy.AssumedRole(OtherAutomationRole, OtherAutomationSession),
	}
}

// recorded counts what the CloudTrail stand-in put on the bus, by
// principal, before passing it on.
type recorded struct {
	next cloudtrailproxy.Sink
	mu   sync.Mutex
	by   map[string]int
}

func (r *recorded) Put(ctx context.Context, ev cloudtrailproxy.Event) error {
	r.mu.Lock()
	r.by[ev.Principal]++
	r.mu.Unlock()
	return r.next.Put(ctx, ev)
}

// count is how many events the principals' calls made.
func (r *recorded) count(principals ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.by {
		if slices.Contains(principals, p) {
			n += c
		}
	}
	return n
}

func (r *recorded) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.by {
		n += c
	}
	return n
}

// startProxy starts the CloudTrail stand-in in front of the emulator,
// putting its events on the emulator's default bus.
func (d *demo) startProxy() error {
	d.recorded = &recorded{next: &cloudtrailproxy.EventBridge{Client: d.eb}, by: map[string]int{}}
	p, err := cloudtrailproxy.Start(cloudtrailproxy.Options{Target: d.srv.URL, Account: emulator.Account, Region: emulator.Region,
		Sink: d.recorded, Identities: identities(),
		OnError: func(err error) { d.printf("   ! CloudTrail stand-in: %v\n", err) }})
	if err != nil {
		return err
	}
	d.proxy = p
	return nil
}

// signedAs is an SDK configuration for the CloudTrail stand-in (the proxy)
// with one principal's access key.
func (d *demo) signedAs(key string) aws.Config {
	cfg := d.srv.AWSConfig()
	cfg.BaseEndpoint = aws.String(d.proxy.URL)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key, "testing", "")
	cfg.RetryMaxAttempts = 5
	return cfg
}

// clientsAs are the SDK clients of one principal, through the proxy.
func (d *demo) clientsAs(key string) *app.Clients {
	c := app.NewClients(d.signedAs(key))
	c.PathStyleS3 = true
	return c
}

// shortActor names an outcome's actor for the printout: role/session
// (or the user's name) instead of the whole ARN.
func shortActor(actor string) string {
	if actor == "" {
		return "-"
	}
	if _, rest, ok := strings.Cut(actor, ":role/"); ok {
		return rest
	}
	if _, rest, ok := strings.Cut(actor, ":user/"); ok {
		return rest
	}
	return actor
}

// cloudTrailCall is one call the demo makes through the stand-in after
// the pipeline is deployed.
type cloudTrailCall struct {
	what string // as the aws CLI would say it
	do   func(ctx context.Context) error
}

// fastPath is step 5: alice misconfigures new things through the
// CloudTrail stand-in; each call's event reaches the function, which fixes
// what the call broke (the remediator still reads the resource and
// decides).
func (d *demo) fastPath(ctx context.Context) error {
	d.printf("\n5. The CloudTrail fast path: %s/%s changes things; each API call reaches the function as an \"AWS API Call via CloudTrail\" event\n",
		shortActor(DeveloperRole), DeveloperSession)
	dev := d.clientsAs(DeveloperKey)
	s3c, ec2c := dev.S3(), dev.EC2()
	calls := []cloudTrailCall{
		{"s3api create-bucket --bucket " + BucketScratch + " --acl public-read", func(ctx context.Context) error {
			_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(BucketScratch), ACL: s3types.BucketCannedACLPublicRead})
			if err != nil {
				return fmt.Errorf("creating bucket %q: %w", BucketScratch, err)
			}
			d.baseline.Buckets = append(d.baseline.Buckets, BucketScratch)
			return nil
		}},
		{"ec2 run-instances --count 2 --metadata-options HttpTokens=optional", func(ctx context.Context) error {
			out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
				InstanceType: ec2types.InstanceTypeT3Micro,
				BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda1"),
					Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), VolumeSize: aws.Int32(8)}}},
				MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled},
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
					Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("alice-test")}}}}})
			if err != nil {
				return fmt.Errorf("running instances: %w", err)
			}
			for _, in := range out.Instances {
				d.baseline.Launched = append(d.baseline.Launched, aws.ToString(in.InstanceId))
			}
			return nil
		}},
		{"ec2 authorize-security-group-ingress --group-id " + d.baseline.WebSG + " --protocol tcp --port 22 --cidr 0.0.0.0/0", func(ctx context.Context) error {
			_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(d.baseline.WebSG),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0"), Description: aws.String("debugging")}}}}})
			if err != nil {
				return fmt.Errorf("authorizing ingress on security group %s: %w", d.baseline.WebSG, err)
			}
			return nil
		}},
		{"ec2 disable-ebs-encryption-by-default", func(ctx context.Context) error {
			if _, err := ec2c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
				return fmt.Errorf("turning EBS encryption by default off: %w", err)
			}
			return nil
		}},
	}
	for _, c := range calls {
		if err := d.callAndWait(ctx, shortActor(DeveloperRole)+"/"+DeveloperSession, c); err != nil {
			return err
		}
	}
	return nil
}

// callAndWait makes one call through the stand-in and waits until the
// function has handled the event it caused.
func (d *demo) callAndWait(ctx context.Context, who string, c cloudTrailCall) error {
	d.mu.Lock()
	want := d.cloudTrailHandled + 1
	d.mu.Unlock()
	d.printf("   %s: aws %s\n", who, c.what)
	if err := c.do(ctx); err != nil {
		return err
	}
	d.cloudTrailCalls++
	return d.waitCloudTrail(ctx, want)
}

// waitCloudTrail waits until the function has handled n CloudTrail events.
func (d *demo) waitCloudTrail(ctx context.Context, n int) error {
	deadline := time.After(d.opts.Timeout)
	for {
		d.mu.Lock()
		got := d.cloudTrailHandled
		d.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-d.handled:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("the function handled %d of %d CloudTrail events within %s", got, n, d.opts.Timeout)
		}
	}
}

// flapping is step 6: another automation re-opens BucketFlapping each time
// the pipeline fixes it, until the flap limit makes the outcome escalated.
func (d *demo) flapping(ctx context.Context) error {
	who := shortActor(OtherAutomationRole) + "/" + OtherAutomationSession
	d.printf("\n6. A fight with another automation: %s re-opens bucket %s each time the pipeline closes it\n", who, BucketFlapping)
	d.printf("   (FLAP_LIMIT=%d writes per resource and remediator within FLAP_WINDOW=%s, counted in the state store)\n", FlapLimit, d.cfg.FlapWindow)
	s3c := d.clientsAs(OtherAutomationKey).S3()
	reopen := cloudTrailCall{"s3api delete-public-access-block --bucket " + BucketFlapping, func(ctx context.Context) error {
		if _, err := s3c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(BucketFlapping)}); err != nil {
			return fmt.Errorf("deleting the public access block of bucket %q: %w", BucketFlapping, err)
		}
		return nil
	}}
	for round := 1; round <= FlapLimit+1; round++ {
		if err := d.callAndWait(ctx, who, reopen); err != nil {
			return err
		}
		last, ok := d.lastOutcome(BucketFlapping)
		if !ok || last.Action != remediation.ActionRemediated {
			break // escalated (or something the table shows): the other automation has won until a human steps in
		}
	}
	if last, ok := d.lastOutcome(BucketFlapping); ok && last.Action == remediation.ActionEscalated {
		d.printf("   escalated: %s\n", last.Reason)
	}
	return nil
}

// lastOutcome is the function's latest outcome on a resource.
func (d *demo) lastOutcome(resourceID string) (remediation.Outcome, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.outcomes) - 1; i >= 0; i-- {
		if d.outcomes[i].ResourceID == resourceID {
			return d.outcomes[i], true
		}
	}
	return remediation.Outcome{}, false
}
