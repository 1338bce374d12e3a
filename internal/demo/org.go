package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/awsid"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/orgproxy"
	"github.com/autoremediate/autoremediate/remediation"
)

// The organisation demo's settings.
const (
	// OrgRegion2 is the second region the organisation demo misconfigures
	// and acts in (REGIONS = emulator.Region, OrgRegion2).
	OrgRegion2 = "eu-west-1"
	// OrgExternalID is the demo's MEMBER_ROLE_EXTERNAL_ID, which the member
	// roles' trust policies require.
	OrgExternalID = "autoremediate-demo"
	// MemberNamePrefix names the member accounts: demo-member-1, ...
	MemberNamePrefix = "demo-member"
	// orgConcurrency is how many events the function handles at once (as
	// Lambda runs invocations side by side).
	orgConcurrency = 8
)

// OrgRegions are the regions the organisation demo acts in.
var OrgRegions = []string{emulator.Region, OrgRegion2}

// AccountResult is one account's line of the organisation demo's table.
type AccountResult struct {
	Account, Name string
	// Central is the function's own account (acted in with its own
	// credentials); HasRole tells whether a member has its member role.
	Central, HasRole bool
	// Events were sent for the account; Remediated, Failed and Other count
	// the function's outcomes.
	Events, Remediated, Failed, Other int
	// Checks are the demo's misconfigurations in the account; Compliant
	// how many of them are fixed, read back with the account's own
	// credentials after the run.
	Checks, Compliant int
	// AssumeRoles and Denied count the AssumeRole calls into the account's
	// member role (Denied: answered AccessDenied); Writes the changes
	// signed with credentials of the account (from the STS stand-in's
	// record).
	AssumeRoles, Denied, Writes int
	// Failure is the error of a failed outcome ("" without one).
	Failure string
}

// orgCheck is one misconfiguration the organisation demo makes, and how
// to read back whether it is fixed.
type orgCheck struct {
	account, region      string
	rule, resourceType   string
	resourceID, describe string
	fixed                func(ctx context.Context) (bool, error)
}

// runOrg is the organisation demo (Options.Accounts): an AWS Organization
// with member accounts on the emulator, the central function fixing each
// account's misconfigurations in that account, and the per-account table.
func (d *demo) runOrg(ctx context.Context) (*Result, error) {
	start := time.Now()
	n := d.opts.Accounts
	proxy, err := orgproxy.Start(orgproxy.Options{Target: d.srv.URL, Central: emulator.Account,
		Identities: map[string]cloudtrailproxy.Identity{PipelineKey: cloudtrailproxy.AssumedRole(PipelineRole, FunctionName)},
		OnError:    func(err error) { d.printf("   ! STS stand-in: %v\n", err) }})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	d.printf("\n== autoremediate demo: one central deployment for an AWS Organization, on a local AWS emulator ==\n")
	d.printf("emulator: moto_server at %s; the central (security) account is %s, where the function runs\n", d.srv.URL, emulator.Account)
	d.printf("STS (stand-in): a proxy at %s in front of the emulator answers every AssumeRole as STS does\n", proxy.URL)
	d.printf("   (moto grants any, even into a role that does not exist) and records which account's key signed each call.\n")

	direct := d.srv.AWSConfig()
	direct.RetryMaxAttempts = 5
	d.printf("\n1. The organisation: AWS Organizations with %d member accounts\n", n)
	members, err := orgproxy.CreateMembers(ctx, direct, MemberNamePrefix, n)
	if err != nil {
		return nil, err
	}
	accounts := []*AccountResult{{Account: emulator.Account, Name: "central", Central: true}}
	in := map[string]aws.Config{emulator.Account: direct}
	trust := orgproxy.MemberTrustPolicy(emulator.Account, []string{PipelineRole}, OrgExternalID)
	for i, m := range members {
		a := &AccountResult{Account: m, Name: fmt.Sprintf("%s-%d", MemberNamePrefix, i+1), HasRole: i < n-1}
		accounts = append(accounts, a)
		if in[m], err = orgproxy.InAccount(ctx, direct, m); err != nil {
			return nil, err
		}
		if !a.HasRole {
			d.printf("   %s %-16s no member role: its member stack was never deployed\n", m, a.Name)
			continue
		}
		if err := orgproxy.CreateRole(ctx, in[m], app.DefaultMemberRoleName, trust); err != nil {
			return nil, fmt.Errorf("creating the member role in account %s: %w", m, err)
		}
		d.printf("   %s %-16s member role %s, trusting %s with external ID %q (as terraform/modules/member creates it)\n",
			m, a.Name, app.DefaultMemberRoleName, shortActor(PipelineRole), OrgExternalID)
	}

	d.printf("\n2. The same misconfigurations in every account, in %s: EBS encryption by default off and an instance\n", strings.Join(OrgRegions, " and "))
	d.printf("   accepting IMDSv1 in each region, and a bucket without a public access block (made with each account's own credentials)\n")
	var checks []orgCheck
	for _, a := range accounts {
		cs, err := misconfigure(ctx, in[a.Account], a.Account)
		if err != nil {
			return nil, err
		}
		a.Checks = len(cs)
		checks = append(checks, cs...)
	}

	cfg, err := app.Load(func(k string) string {
		return map[string]string{"METRICS_MODE": app.MetricsAPI, "REGIONS": strings.Join(OrgRegions, ","),
			"MEMBER_ROLE_EXTERNAL_ID": OrgExternalID, "IGNORE_ACTOR_ARNS": strings.Join(pipelineRoles(), ",")}[k]
	})
	if err != nil {
		return nil, err
	}
	central := d.srv.AWSConfig()
	central.RetryMaxAttempts = 5
	central.BaseEndpoint = aws.String(proxy.URL)
	central.Credentials = signedWith(PipelineKey)
	clients := app.NewClients(central)
	clients.PathStyleS3 = true
	h, err := app.NewHandler(cfg, clients, app.NewLogger(d.opts.Log, cfg.LogLevel))
	if err != nil {
		return nil, err
	}
	d.printf("\n3. The central function (%s, signed as %s) handles every account's Config compliance change events,\n", FunctionName, shortActor(PipelineRole))
	d.printf("   forwarded to the central bus: REGIONS=%s, MEMBER_ROLE_NAME=%s, MEMBER_ROLE_EXTERNAL_ID=%s\n",
		strings.Join(OrgRegions, ","), cfg.MemberRoleName, OrgExternalID)
	outcomes, err := d.sendOrgEvents(ctx, h, checks)
	if err != nil {
		return nil, err
	}

	byAccount := map[string]*AccountResult{}
	for _, a := range accounts {
		byAccount[a.Account] = a
	}
	for _, o := range outcomes {
		a := byAccount[o.Account]
		if a == nil {
			return nil, fmt.Errorf("an outcome for account %s, to which no event was sent: %+v", o.Account, o)
		}
		switch o.Action {
		case remediation.ActionRemediated:
			a.Remediated++
		case remediation.ActionFailed:
			a.Failed++
			if a.Failure == "" {
				a.Failure = o.Error
			}
		default:
			a.Other++
		}
	}
	for _, c := range checks {
		ok, err := c.fixed(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading back %s in %s %s: %w", c.describe, c.account, c.region, err)
		}
		a := byAccount[c.account]
		a.Events++
		if ok {
			a.Compliant++
		}
	}
	metrics, elsewhere, misattributed := 0, 0, 0
	for _, c := range proxy.Calls() {
		a := byAccount[c.Account]
		// A fix in a member must be signed with its member role's key; a
		// bucket (names are global in the emulator) only in its account.
		if c.Write() && c.Service != "monitoring" {
			owner := strings.TrimSuffix(strings.TrimPrefix(c.Bucket, "demo-"), "-uploads")
			if (a != nil && !a.Central && c.Role != memberRoleARN(c.Account)) || (c.Bucket != "" && owner != c.Account) {
				misattributed++
			}
		}
		if role := c.RoleARN(); role != "" {
			if m := byAccount[arnAccount(role)]; m != nil {
				m.AssumeRoles++
				if c.Denied {
					m.Denied++
				}
			}
		}
		switch {
		case !c.Write():
		case c.Service == "monitoring":
			metrics++
			if c.Account != emulator.Account {
				elsewhere++
			}
		case a != nil:
			a.Writes++
		}
	}
	d.reportOrg(accounts, metrics, elsewhere, misattributed, time.Since(start))
	res := &Result{ServerURL: d.srv.URL, ProxyURL: proxy.URL, Outcomes: outcomes, Events: len(checks)}
	for _, a := range accounts {
		res.Accounts = append(res.Accounts, *a)
	}
	return res, nil
}

// signedWith is static credentials with access key id (the emulator does
// not check the secret).
func signedWith(id string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: "testing", Source: "demo"}, nil
	})
}

// misconfigure makes the demo's misconfigurations in one account (cfg
// signs in it, straight to the emulator) and returns its checks.
func misconfigure(ctx context.Context, cfg aws.Config, account string) ([]orgCheck, error) {
	var checks []orgCheck
	for _, region := range OrgRegions {
		c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
		if _, err := c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
			return nil, fmt.Errorf("turning off EBS encryption by default in %s %s: %w", account, region, err)
		}
		checks = append(checks, orgCheck{account: account, region: region, rule: "ec2-ebs-encryption-by-default", resourceType: "AWS::::Account",
			resourceID: account, describe: "EBS encryption by default",
			fixed: func(ctx context.Context) (bool, error) {
				out, err := c.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
				return err == nil && aws.ToBool(out.EbsEncryptionByDefault), err
			}})
		// moto launches any image ID (listing its thousand images per
		// region would cost a second per account and region).
		out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}}})
		if err != nil {
			return nil, fmt.Errorf("launching an instance in %s %s: %w", account, region, err)
		}
		id := aws.ToString(out.Instances[0].InstanceId)
		checks = append(checks, orgCheck{account: account, region: region, rule: "ec2-imdsv2-check", resourceType: "AWS::EC2::Instance",
			resourceID: id, describe: "instance " + id,
			fixed: func(ctx context.Context) (bool, error) {
				out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
				if err != nil || len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
					return false, cmpErr(err, "not found")
				}
				return out.Reservations[0].Instances[0].MetadataOptions.HttpTokens == ec2types.HttpTokensStateRequired, nil
			}})
	}
	// Bucket names are global: the account ID keeps each account's apart.
	bucket := "demo-" + account + "-uploads"
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, fmt.Errorf("creating bucket %s in account %s: %w", bucket, account, err)
	}
	checks = append(checks, orgCheck{account: account, region: emulator.Region, rule: "s3-bucket-level-public-access-prohibited", resourceType: "AWS::S3::Bucket",
		resourceID: bucket, describe: "bucket " + bucket,
		fixed: func(ctx context.Context) (bool, error) {
			out, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
			if err != nil {
				if strings.Contains(err.Error(), "NoSuchPublicAccessBlockConfiguration") {
					return false, nil
				}
				return false, err
			}
			c := out.PublicAccessBlockConfiguration
			return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets), nil
		}})
	return checks, nil
}

func cmpErr(err error, what string) error {
	if err != nil {
		return err
	}
	return errors.New(what)
}

// sendOrgEvents hands the function one NON_COMPLIANT compliance change
// event per check, as Config in the check's account and region sends it
// and the organisation bus delivers it, orgConcurrency at a time.
func (d *demo) sendOrgEvents(ctx context.Context, h *remediation.Handler, checks []orgCheck) ([]remediation.Outcome, error) {
	var (
		mu       sync.Mutex
		outcomes []remediation.Outcome
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, orgConcurrency)
	for _, c := range checks {
		raw, err := events.NewComplianceChange(events.ComplianceChange{ID: awsid.UUID(),
			Account: c.account, Region: c.region, RuleName: c.rule, ResourceType: c.resourceType, ResourceID: c.resourceID,
			New: events.ComplianceTypeNonCompliant, Old: events.ComplianceTypeCompliant, At: time.Now()})
		if err != nil {
			return nil, err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := h.Invoke(ctx, json.RawMessage(raw))
			o, ok := v.(remediation.Outcome)
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				if firstErr == nil {
					firstErr = fmt.Errorf("the function on the event for %s in %s %s: %v", c.describe, c.account, c.region, err)
				}
				return
			}
			outcomes = append(outcomes, o)
			what := o.Reason
			if o.Action == remediation.ActionFailed {
				what = short(o.Error, 90)
			} else if o.ActedAs != "" {
				what = "as " + shortSession(o.ActedAs)
			} else {
				what = "with the function's own credentials"
			}
			d.printf("   function: %-10s %-22s %s/%-9s %-30s %s\n", o.Action, o.Remediator, o.Account, o.Region, c.describe, what)
		}()
	}
	wg.Wait()
	return outcomes, firstErr
}

// shortSession names an assumed-role session ARN by role/session.
func shortSession(a string) string {
	if _, rest, ok := strings.Cut(a, ":assumed-role/"); ok {
		return rest
	}
	return a
}

// reportOrg prints the per-account table and what it shows.
func (d *demo) reportOrg(accounts []*AccountResult, metrics, metricsElsewhere, misattributed int, took time.Duration) {
	d.printf("\n4. Per account: compliance read back with each account's own credentials; AssumeRole calls and writes from the STS stand-in's record\n")
	d.mu.Lock()
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   ACCOUNT\tNAME\tACTED AS\tEVENTS\tFIXED\tCOMPLIANT\tFAILED\tASSUMEROLE\tWRITES")
	for _, a := range accounts {
		actedAs, assumes := app.DefaultMemberRoleName, strconv.Itoa(a.AssumeRoles)
		switch {
		case a.Central:
			actedAs, assumes = "own credentials", "-"
		case !a.HasRole:
			actedAs = "(no member role)"
		}
		if a.Denied > 0 {
			assumes = fmt.Sprintf("%d denied", a.Denied)
			if a.Denied < a.AssumeRoles {
				assumes = fmt.Sprintf("%d (%d denied)", a.AssumeRoles, a.Denied)
			}
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%d\t%d/%d\t%d\t%s\t%d\n", a.Account, a.Name, actedAs, a.Events, a.Remediated, a.Compliant, a.Checks, a.Failed, assumes, a.Writes)
	}
	tw.Flush()
	d.mu.Unlock()
	for _, a := range accounts {
		if a.Failure != "" {
			d.printf("\n   %s (%s) failed, as it would on AWS (STS denies the AssumeRole), with what to do:\n", a.Account, a.Name)
			d.printf("%s\n", wrap(a.Failure, 110, "     "))
		}
	}
	var withRole []string
	roles := 0
	for _, a := range accounts {
		if !a.Central && a.HasRole {
			roles++
			if a.AssumeRoles == 1 {
				withRole = append(withRole, a.Account)
			}
		}
	}
	d.printf("\n   Member roles assumed once for all of their account's events: %d of the %d members that have one; the credentials\n", len(withRole), roles)
	d.printf("   are cached until shortly before they expire.\n")
	if misattributed == 0 {
		d.printf("   Every fix in a member was signed with its member role's key, every bucket fixed with its own account's.\n")
	} else {
		d.printf("   ! %d fixes were signed with another account's credentials than the resource's (see the outcome log)\n", misattributed)
	}
	where := "all signed in the central account: nothing is published into member accounts"
	if metricsElsewhere > 0 {
		where = fmt.Sprintf("%d of them signed in a member account", metricsElsewhere)
	}
	d.printf("   Outcome metrics: %d PutMetricData calls, %s.\n", metrics, where)
	d.printf("   done in %s\n", took.Round(10*time.Millisecond))
}

// wrap breaks s into lines of at most width characters (words kept whole),
// each prefixed with indent.
func wrap(s string, width int, indent string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, indent+line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, indent+line)
	}
	return strings.Join(lines, "\n")
}

// memberRoleARN is the member role's ARN in account.
func memberRoleARN(account string) string {
	return "arn:aws:iam::" + account + ":role/" + app.DefaultMemberRoleName
}

// arnAccount is the account field of an ARN ("" when it has none).
func arnAccount(a string) string {
	parts := strings.SplitN(a, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
