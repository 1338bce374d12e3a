package remediators

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// countingClients builds real (unused) SDK clients and counts the builds.
type countingClients struct{ s3, ec2, cw int }

var offlineConfig = aws.Config{Region: "us-east-1"}

func (c *countingClients) S3() *s3.Client   { c.s3++; return s3.NewFromConfig(offlineConfig) }
func (c *countingClients) EC2() *ec2.Client { c.ec2++; return ec2.NewFromConfig(offlineConfig) }
func (c *countingClients) CloudWatch() *cloudwatch.Client {
	c.cw++
	return cloudwatch.NewFromConfig(offlineConfig)
}

func TestAllIsLazy(t *testing.T) {
	c := &countingClients{}
	all := All(c, DefaultOptions())
	var names []string
	for _, r := range all {
		names = append(names, r.Name())
	}
	if !reflect.DeepEqual(names, Names()) {
		t.Errorf("All names %v, Names() %v", names, Names())
	}
	if *c != (countingClients{}) {
		t.Errorf("clients built before use: %+v", *c)
	}
	// the resource types are known without building
	types := map[string][]string{}
	for _, r := range all {
		types[r.Name()] = r.ResourceTypes()
	}
	want := map[string][]string{
		remediation.S3PublicAccessBlock: {"AWS::S3::Bucket"}, remediation.S3Encryption: {"AWS::S3::Bucket"},
		remediation.EC2IMDSv2: {"AWS::EC2::Instance"}, remediation.EBSEncryption: {"AWS::::Account", "AWS::EC2::Volume"},
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("resource types = %v", types)
	}
	if *c != (countingClients{}) {
		t.Errorf("clients built for ResourceTypes: %+v", *c)
	}
	// Permissions builds only that remediator's clients
	perms := Permissions()
	for _, r := range all {
		if !reflect.DeepEqual(r.Permissions(), perms[r.Name()]) {
			t.Errorf("%s: Permissions %v, Permissions()[name] %v", r.Name(), r.Permissions(), perms[r.Name()])
		}
	}
	if *c != (countingClients{s3: 2, ec2: 2, cw: 1}) {
		t.Errorf("clients built %+v, want s3 2 (one per S3 remediator), ec2 2, cloudwatch 1", *c)
	}
	for _, r := range all {
		r.Permissions()
	}
	if *c != (countingClients{s3: 2, ec2: 2, cw: 1}) {
		t.Errorf("remediators rebuilt: %+v", *c)
	}
}

func TestPermissionsAreIAMActions(t *testing.T) {
	perms := Permissions()
	names := make([]string, 0, len(perms))
	for n, actions := range perms {
		names = append(names, n)
		if len(actions) == 0 {
			t.Errorf("%s has no permissions", n)
		}
		for _, a := range actions {
			svc, action, ok := strings.Cut(a, ":")
			if !ok || (svc != "s3" && svc != "ec2" && svc != "cloudwatch") || action == "" || strings.ContainsAny(action, "* ") {
				t.Errorf("%s: %q is not a specific IAM action", n, a)
			}
		}
	}
	sort.Strings(names)
	want := append([]string(nil), Names()...)
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Permissions covers %v, want %v", names, want)
	}
}

func TestRegistry(t *testing.T) {
	reg, err := Registry(&countingClients{}, DefaultOptions(), nil)
	if err != nil || !reflect.DeepEqual(reg.Names(), Names()) {
		t.Fatalf("all: %v, %v", reg, err)
	}
	reg, err = Registry(&countingClients{}, DefaultOptions(), []string{"imdsv2", remediation.S3PublicAccessBlock})
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); !reflect.DeepEqual(got, []string{remediation.EC2IMDSv2, remediation.S3PublicAccessBlock}) {
		t.Errorf("Names = %v", got)
	}
	if _, err := Registry(&countingClients{}, DefaultOptions(), []string{"s3-magic"}); err == nil || !strings.Contains(err.Error(), `unknown remediator "s3-magic"`) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := Registry(&countingClients{}, DefaultOptions(), []string{"imdsv2", remediation.EC2IMDSv2}); err == nil {
		t.Error("duplicate accepted")
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
