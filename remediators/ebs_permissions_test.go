package remediators

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// tagConditionsAllow evaluates the ec2:ResourceTag conditions of the
// statements granting action against a resource's tags, as IAM does for
// the operators the definitions use; false when no statement grants it.
func tagConditionsAllow(t *testing.T, ps []remediation.Permission, action string, tags map[string]string) bool {
	t.Helper()
	for _, p := range ps {
		granted := false
		for _, a := range p.Actions {
			granted = granted || a == action
		}
		if !granted {
			continue
		}
		ok := true
		for _, c := range p.Conditions {
			key, isTag := strings.CutPrefix(c.Variable, "ec2:ResourceTag/")
			if !isTag {
				t.Fatalf("%s: condition on %s, which this test cannot evaluate", p.Sid, c.Variable)
			}
			v, present := tags[key]
			match := false
			for _, want := range c.Values {
				switch c.Test {
				case "StringEquals":
					match = match || (present && v == want)
				case "StringEqualsIgnoreCase":
					match = match || (present && strings.EqualFold(v, want))
				case "Null":
					match = match || (want == "true") == !present
				default:
					t.Fatalf("%s: operator %s, which this test cannot evaluate", p.Sid, c.Test)
				}
			}
			ok = ok && match
		}
		if ok {
			return true
		}
	}
	return false
}

// TestEBSPermissionsFollowTheEngine: the role may stop exactly the
// instances the migration and its undo agree to stop (stopAllowed), start
// and modify any instance (a rollback restarts one whose owner withdrew
// the tag after the stop), and delete only originals the migration tagged
// with their copy.
func TestEBSPermissionsFollowTheEngine(t *testing.T) {
	ps := EBSEncryptionDefinition().Permissions
	for _, tags := range []map[string]string{
		{}, {TagStopAllowed: "true"}, {TagStopAllowed: "True"}, {TagStopAllowed: "false"}, {TagStopAllowed: ""}, {"Name": "web"},
	} {
		var i ec2types.Instance
		for k, v := range tags {
			i.Tags = append(i.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		if got, want := tagConditionsAllow(t, ps, "ec2:StopInstances", tags), stopAllowed(i); got != want {
			t.Errorf("instance tagged %v: the role may stop it: %t; the engine stops it: %t", tags, got, want)
		}
		for _, a := range []string{"ec2:StartInstances", "ec2:ModifyInstanceAttribute"} {
			if !tagConditionsAllow(t, ps, a, tags) {
				t.Errorf("instance tagged %v: the role may not %s it, which a rollback needs", tags, a)
			}
		}
	}
	for _, tc := range []struct {
		tags map[string]string
		want bool
	}{
		{map[string]string{TagMigratedTo: "vol-0123456789abcdef0"}, true},
		{map[string]string{}, false},
		{map[string]string{tagStep: StepStop, TagMigratedFrom: "vol-0123456789abcdef0"}, false},
	} {
		if got := tagConditionsAllow(t, ps, "ec2:DeleteVolume", tc.tags); got != tc.want {
			t.Errorf("volume tagged %v: the role may delete it: %t, want %t", tc.tags, got, tc.want)
		}
	}
}
