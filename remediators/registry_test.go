package remediators

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// countingClients builds real (unused) SDK clients and counts the builds.
type countingClients struct{ s3, ec2, cw, kms int }

var offlineConfig = aws.Config{Region: "us-east-1"}

func (c *countingClients) S3() *s3.Client   { c.s3++; return s3.NewFromConfig(offlineConfig) }
func (c *countingClients) EC2() *ec2.Client { c.ec2++; return ec2.NewFromConfig(offlineConfig) }
func (c *countingClients) KMS() *kms.Client { c.kms++; return kms.NewFromConfig(offlineConfig) }
func (c *countingClients) CloudWatch() *cloudwatch.Client {
	c.cw++
	return cloudwatch.NewFromConfig(offlineConfig)
}

func TestRegistryIsLazy(t *testing.T) {
	c := &countingClients{}
	reg, err := Registry(Definitions(), c, DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(reg.Names(), Catalog(Definitions()).Names()) {
		t.Errorf("registry names %v, catalog %v", reg.Names(), Catalog(Definitions()).Names())
	}
	for _, r := range reg.All() {
		if len(r.ResourceTypes()) == 0 {
			t.Errorf("%s: no resource types", r.Name())
		}
	}
	// names, resource types and permissions are known without a client
	_ = Permissions(Definitions())
	_ = SweepPermissions(Definitions())
	if _, err := TerraformInputs(Definitions()); err != nil {
		t.Fatal(err)
	}
	if *c != (countingClients{}) {
		t.Errorf("clients built before use: %+v", *c)
	}
}

func TestDefinitionsAreComplete(t *testing.T) {
	defs := Definitions()
	if err := Catalog(defs).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if d.New == nil || d.Summary == "" || len(d.Rules) == 0 || len(d.Controls) == 0 || len(d.Triggers) == 0 || len(d.Sweep) == 0 {
			t.Errorf("%s: incomplete definition: %+v", d.Name, d.Spec)
		}
		if r := d.New(&countingClients{}, DefaultOptions()); r.Name() != d.Name || !reflect.DeepEqual(r.ResourceTypes(), d.ResourceTypes) {
			t.Errorf("%s: built remediator says %s %v, definition %v", d.Name, r.Name(), r.ResourceTypes(), d.ResourceTypes)
		}
		rules := map[string]bool{}
		for _, r := range d.Rules {
			rules[r.Name] = true
			for _, rt := range r.ResourceTypes {
				if !slices.Contains(d.ResourceTypes, rt) {
					t.Errorf("%s: rule %s scopes %s, which the remediator does not handle", d.Name, r.Name, rt)
				}
			}
		}
		for _, c := range d.Sweep {
			if !rules[c.Rule] {
				t.Errorf("%s: the sweep checks rule %q, which the remediator does not declare", d.Name, c.Rule)
			}
			if !slices.Contains(d.ResourceTypes, c.Lister.ResourceType) || c.Lister.Key == "" || c.Lister.List == nil {
				t.Errorf("%s: sweep lister %q lists %s", d.Name, c.Lister.Key, c.Lister.ResourceType)
			}
		}
		for _, ctl := range d.Controls {
			if !controlID.MatchString(ctl) {
				t.Errorf("%s: %q is not a Security Hub control ID", d.Name, ctl)
			}
		}
		for _, tr := range d.Triggers {
			if !strings.HasSuffix(tr.Source, ".amazonaws.com") || tr.Name == "" {
				t.Errorf("%s: trigger %+v is not a CloudTrail event source and name", d.Name, tr)
			}
		}
	}
}

var controlID = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*\.[0-9]+$`)

func TestPermissionsAreIAMActions(t *testing.T) {
	check := func(who string, ps []remediation.Permission) {
		for _, p := range ps {
			if p.Sid == "" || !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(p.Sid) {
				t.Errorf("%s: statement id %q is not alphanumeric", who, p.Sid)
			}
			for _, a := range p.Actions {
				svc, action, ok := strings.Cut(a, ":")
				if !ok || (svc != "s3" && svc != "ec2" && svc != "cloudwatch" && svc != "kms") || action == "" || strings.ContainsAny(action, "* ") {
					t.Errorf("%s: %q is not a specific IAM action", who, a)
				}
			}
			for _, r := range p.Resources {
				if r != "*" && !strings.HasPrefix(r, "arn:{partition}:") {
					t.Errorf("%s: resource %q is neither * nor an ARN pattern", who, r)
				}
				if r == "*" && len(p.Resources) > 1 {
					t.Errorf("%s: statement %s mixes * with ARNs", who, p.Sid)
				}
			}
		}
	}
	for name, ps := range Permissions(Definitions()) {
		check(name, ps)
	}
	check("sweep", SweepPermissions(Definitions()))
}

func TestRegistry(t *testing.T) {
	defs := Definitions()
	reg, err := Registry(defs, &countingClients{}, DefaultOptions(), []string{"imdsv2", S3PublicAccessBlockName, EC2IMDSv2Name})
	if err != nil {
		t.Fatal(err)
	}
	// aliases map to names; the registry keeps the definitions' order
	if got := reg.Names(); !reflect.DeepEqual(got, []string{S3PublicAccessBlockName, EC2IMDSv2Name}) {
		t.Errorf("Names = %v", got)
	}
	if _, err := Registry(defs, &countingClients{}, DefaultOptions(), []string{"s3-magic"}); err == nil || !strings.Contains(err.Error(), `unknown remediator "s3-magic"`) {
		t.Errorf("unknown: %v", err)
	}
	dup := append(defs[:1:1], defs[0])
	if _, err := Registry(dup, &countingClients{}, DefaultOptions(), nil); err == nil {
		t.Error("a definition registered twice was accepted")
	}
}

func TestResolverKnowsEveryDefinedRule(t *testing.T) {
	defs := Definitions()
	r := remediation.NewRuleResolver(Catalog(defs), nil)
	for _, d := range defs {
		for _, m := range d.Rules {
			for _, name := range []string{m.Name, "securityhub-" + m.Name + "-a1b2c3", m.Name + "-conformance-pack-x9y8z7", remediation.OrgConfigRulePrefix + m.Name + "-dbgzf8ba", remediation.ControlTowerPrefix + m.Identifier} {
				rem, managed, ok := r.Resolve(name)
				if !ok || rem != d.Name || managed != m.Name {
					t.Errorf("Resolve(%q) = %q, %q, %t; want %q, %q", name, rem, managed, ok, d.Name, m.Name)
				}
			}
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := DefaultOptions()
	if o.ExemptTagKey != "auto-remediation" || !o.WebsiteGuard || o.SSEAlgorithm != "AES256" || o.IMDSLookback.Hours() != 14*24 ||
		o.VerifyAttempts < 1 || o.VerifyInterval <= 0 {
		t.Errorf("DefaultOptions = %+v", o)
	}
	if (Options{}).exemptKey() != DefaultExemptTagKey {
		t.Error("empty ExemptTagKey is not the default")
	}
	if (Options{}).now().IsZero() {
		t.Error("zero Options has no clock")
	}
	for v, want := range map[string]bool{"off": true, "OFF": true, "false": true, " False ": true, "on": false, "": false, "0": false, "no": false} {
		if exemptValue(v) != want {
			t.Errorf("exemptValue(%q) = %t", v, !want)
		}
	}
}

// iamActionOf maps an SDK operation to the IAM action that authorises it,
// where the two names differ (Service Authorization Reference).
var iamActionOf = map[string]string{
	"s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
	"s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
	"s3:GetBucketEncryption":  "s3:GetEncryptionConfiguration",
	"s3:PutBucketEncryption":  "s3:PutEncryptionConfiguration",
	"s3:ListBuckets":          "s3:ListAllMyBuckets",
}

// checkPermissionsCover fails when a method of the remediator's client
// interfaces has no IAM action in its definition's permissions, or when the
// definition grants an action no method needs.
func checkPermissionsCover(t *testing.T, d Definition, apis ...reflect.Type) {
	t.Helper()
	granted := map[string]bool{}
	for _, a := range remediation.PermissionActions(d.Permissions) {
		granted[a] = true
	}
	needed := map[string]bool{}
	for _, api := range apis {
		for i := 0; i < api.NumMethod(); i++ {
			m := api.Method(i)
			// the service is the package of the operation's input type
			svc := m.Type.In(1).Elem().PkgPath()
			svc = svc[strings.LastIndex(svc, "/")+1:]
			action := svc + ":" + m.Name
			if mapped, ok := iamActionOf[action]; ok {
				action = mapped
			}
			needed[action] = true
			if !granted[action] {
				t.Errorf("%s: %s calls %s, but its definition does not grant %s", d.Name, api.Name(), m.Name, action)
			}
		}
	}
	// What another service calls with the caller's permissions (EBS calls
	// KMS when it creates a volume with a customer managed key) is granted
	// only through that service, by kms:ViaService: no client method calls
	// it.
	viaService := map[string]bool{}
	for a := range granted {
		viaService[a] = true
	}
	for _, p := range d.Permissions {
		via := slices.ContainsFunc(p.Conditions, func(c remediation.Condition) bool { return c.Variable == "kms:ViaService" })
		for _, a := range p.Actions {
			viaService[a] = viaService[a] && via
		}
	}
	for a := range granted {
		if !needed[a] && !viaService[a] {
			t.Errorf("%s: the definition grants %s, which no client method needs", d.Name, a)
		}
	}
}
