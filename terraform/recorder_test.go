package terraform

import (
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/remediators"
)

// plannedRecorder evaluates aws_config_configuration_recorder.this with
// vars: the resource types it records and its failed preconditions.
func plannedRecorder(t *testing.T, m *module, vars map[string]cty.Value) (recorded, failed []string) {
	t.Helper()
	e := newEval(t, m, vars)
	b := m.block(t, "resource", "aws_config_configuration_recorder", "this")
	g := findBlock(b.Body, "recording_group")
	if g == nil {
		t.Fatal("aws_config_configuration_recorder.this has no recording_group")
	}
	v, ok := e.attr(g.Body, "resource_types", nil)
	if !ok {
		t.Fatal("aws_config_configuration_recorder.this: recording_group has no resource_types")
	}
	return ctyStrings(t, "recording_group.resource_types", v), preconditions(t, e, b)
}

// unrecorded returns "rule: type" for each scope resource type of the
// definitions' managed rules that recorded lacks.
func unrecorded(defs []remediators.Definition, recorded []string) []string {
	var out []string
	for _, d := range defs {
		for _, r := range d.Rules {
			for _, rt := range r.ResourceTypes {
				if !slices.Contains(recorded, rt) {
					out = append(out, r.Name+": "+rt)
				}
			}
		}
	}
	return out
}

// TestRecorderRecordsRuleScopes: by default the recorder the module creates
// records every resource type a deployed Config rule is scoped to (a rule
// whose type is not recorded never evaluates, silently); a given list
// lacking one fails the plan naming the types and rules, and a given list
// that has them all is recorded as given.
func TestRecorderRecordsRuleScopes(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	defs := remediators.Definitions()
	create := map[string]cty.Value{"create_config_recorder": cty.True}

	recorded, failed := plannedRecorder(t, m, create)
	if miss := unrecorded(defs, recorded); len(miss) > 0 {
		t.Errorf("the default recorder records %q: the rules %q never evaluate", recorded, miss)
	}
	if len(failed) > 0 {
		t.Errorf("defaults: failed preconditions %q", failed)
	}

	// The list the module defaulted to before the security group rules.
	old := []string{"AWS::S3::Bucket", "AWS::EC2::Instance", "AWS::EC2::Volume"}
	miss := unrecorded(defs, old)
	if len(miss) == 0 {
		t.Fatalf("the old list %q records every rule's scope: this test checks nothing", old)
	}
	_, failed = plannedRecorder(t, m, map[string]cty.Value{"create_config_recorder": cty.True, "config_recorder_resource_types": strs(old...)})
	if len(failed) != 1 {
		t.Fatalf("recording %q: failed preconditions %q, want one naming %q", old, failed, miss)
	}
	for _, rt := range miss {
		rule, typ, _ := strings.Cut(rt, ": ")
		if !strings.Contains(failed[0], rule) || !strings.Contains(failed[0], typ) {
			t.Errorf("recording %q: the precondition says %q, want it to name %s and %s", old, failed[0], rule, typ)
		}
	}

	// A superset is honoured as given.
	more := append(slices.Clone(recorded), "AWS::IAM::Role")
	got, failed := plannedRecorder(t, m, map[string]cty.Value{"create_config_recorder": cty.True, "config_recorder_resource_types": strs(more...)})
	if !slices.Equal(got, more) || len(failed) > 0 {
		t.Errorf("recording %q: recorder records %q, failed preconditions %q", more, got, failed)
	}

	// Only the deployed rules count: with the security group remediator
	// off, its type is neither recorded nor required.
	var others []string
	var sgTypes []string
	for _, d := range defs {
		if d.Name == remediators.EC2SecurityGroupIngressName {
			for _, r := range d.Rules {
				sgTypes = append(sgTypes, r.ResourceTypes...)
			}
			continue
		}
		others = append(others, d.Name)
	}
	if len(sgTypes) == 0 {
		t.Fatalf("no definition %s with scoped rules", remediators.EC2SecurityGroupIngressName)
	}
	vars := map[string]cty.Value{"create_config_recorder": cty.True, "enabled_remediators": strs(others...)}
	recorded, failed = plannedRecorder(t, m, vars)
	for _, rt := range sgTypes {
		if slices.Contains(recorded, rt) {
			t.Errorf("without ec2-security-group-ingress the recorder still records %s (%q)", rt, recorded)
		}
	}
	if len(failed) > 0 {
		t.Errorf("without ec2-security-group-ingress: failed preconditions %q", failed)
	}

	// No deployed rule with a scope: nothing to record by default.
	allOff := map[string]cty.Value{}
	for _, d := range defs {
		for _, r := range d.Rules {
			allOff[r.Name] = cty.False
		}
	}
	_, failed = plannedRecorder(t, m, map[string]cty.Value{"create_config_recorder": cty.True, "config_rules": cty.MapVal(allOff)})
	if len(failed) != 1 || !strings.Contains(failed[0], "nothing to record") {
		t.Errorf("no Config rule deployed: failed preconditions %q, want one saying there is nothing to record", failed)
	}
}
