package app_test

// `remediate undo` with the exemption (Undo.Exempt, the CLI's default) on
// moto_server: the reverted resource is tagged before the revert's write,
// and the next event for it (a Config evaluation, as a fixture) is exempt
// instead of a fix; the account's EBS default cannot carry a tag and is
// fixed again, as the outcome says.

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// undoExempt reverts an outcome as `remediate undo` does by default.
func (r *rig) undoExempt(o remediation.Outcome, want remediation.Action) remediation.Outcome {
	r.t.Helper()
	got, err := r.handler.Revert(ctx(r.t), remediation.Undo{Outcome: o, Mode: remediation.ModeEnforce, Actor: "arn:aws:iam::123456789012:user/test", Exempt: true})
	if got.Action != want {
		r.t.Fatalf("undo of %s on %s: %s (reason %q, error %q, %v), want %s", o.Remediator, o.ResourceID, got.Action, got.Reason, got.Error, err, want)
	}
	return got
}

// ec2Tags reads the tags of an instance, security group or volume.
func (r *rig) ec2Tags(id string) map[string]string {
	r.t.Helper()
	out, err := r.EC2.DescribeTags(ctx(r.t), &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if err != nil {
		r.t.Fatalf("reading tags of %s: %v", id, err)
	}
	tags := map[string]string{}
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags
}

func checkExemptTags(t *testing.T, what string, tags map[string]string, o remediation.Outcome) {
	t.Helper()
	if tags["auto-remediation"] != "off" || !strings.HasPrefix(tags["autoremediate:reverted-at"], "20") {
		t.Errorf("%s tags after undo: %v, want auto-remediation=off and autoremediate:reverted-at", what, tags)
	}
	if et, _ := o.After[remediation.ExemptTagsKey].(map[string]any); et["auto-remediation"] != "off" || !strings.Contains(o.Reason, " auto-remediation=off, autoremediate:reverted-at=") || !strings.Contains(o.Reason, "first, so that the pipeline leaves it as restored") {
		t.Errorf("outcome after %v, reason %q", o.After, o.Reason)
	}
}

func TestUndoExemptsInstanceOnEmulator(t *testing.T) {
	r := newRig(t, map[string]string{"IMDS_LOOKBACK_DAYS": "0"})
	id := r.launchIMDSv1()
	o := r.mustRun(fixtureIMDSv2, id, remediation.ActionRemediated)
	u := r.undoExempt(o, remediation.ActionReverted)
	checkExemptTags(t, "instance", r.ec2Tags(id), u)
	r.mustRun(fixtureIMDSv2, id, remediation.ActionExempt)
	if got := r.metadataOptions(id); got.HttpTokens != ec2types.HttpTokensStateOptional {
		t.Fatalf("after undo and the next event: HttpTokens %q, want optional as restored", got.HttpTokens)
	}
}

func TestUndoExemptsSecurityGroupOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	ssh4 := sgSpec{"tcp", 22, 22, "0.0.0.0/0"}
	id := r.newGroup("undo-exempt-sg", []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("web")}}, ssh4)
	o := r.mustRun(sgFixture, id, remediation.ActionRemediated)

	// Changed since: refused, and nothing tagged.
	r.newRule(id, ssh4)
	r.undoExempt(o, remediation.ActionNeedsManual)
	if tags := r.ec2Tags(id); len(tags) != 1 || tags["team"] != "web" {
		t.Fatalf("a refused undo tagged the group: %v", tags)
	}
	r.mustRun(sgFixture, id, remediation.ActionRemediated)

	u := r.undoExempt(o, remediation.ActionReverted)
	tags := r.ec2Tags(id)
	checkExemptTags(t, "security group", tags, u)
	if tags["team"] != "web" {
		t.Errorf("the group's own tag is gone: %v", tags)
	}
	r.mustRun(sgFixture, id, remediation.ActionExempt)
	if got := r.ingress(id); !equalStrings(got, specs(ssh4)) {
		t.Fatalf("after undo and the next event the rules are %v, want %v", got, specs(ssh4))
	}
}

// The region's EBS default has no tag: reverted, the reason says what
// keeps the pipeline off it, and the next event turns it on again.
func TestUndoEBSDefaultCannotBeExemptedOnEmulator(t *testing.T) {
	r := newRig(t, nil)
	r.setEBSDefault(false)
	o := r.mustRun(fixtureEBSDefault, emulatorAccount, remediation.ActionRemediated)
	u := r.undoExempt(o, remediation.ActionReverted)
	if r.ebsDefault() || u.After[remediation.ExemptTagsKey] != nil ||
		!strings.Contains(u.Reason, "carries no tag") || !strings.Contains(u.Reason, "REMEDIATOR_MODES=ebs-encryption=dry-run") {
		t.Fatalf("undo: default on %t, after %v, reason %q", r.ebsDefault(), u.After, u.Reason)
	}
	r.mustRun(fixtureEBSDefault, emulatorAccount, remediation.ActionRemediated)
}
