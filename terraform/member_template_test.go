package terraform

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediators"
)

// TestMemberTemplateIsCurrent: cloudformation/member.json is what go
// generate writes from the definitions.
func TestMemberTemplateIsCurrent(t *testing.T) {
	want, err := MemberTemplate(remediators.Definitions(), MemberOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(moduleDir(t), MemberTemplatePath))
	if err != nil {
		t.Fatalf("%v (go generate ./terraform writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go generate ./terraform", MemberTemplatePath)
	}
}

// TestMemberTemplateOptions: the options choose the permissions and the
// patterns; an unknown remediator is refused.
func TestMemberTemplateOptions(t *testing.T) {
	defs := remediators.Definitions()
	if _, err := MemberTemplate(defs, MemberOptions{Enabled: []string{"no-such-remediator"}}); err == nil || !strings.Contains(err.Error(), `"no-such-remediator"`) {
		t.Errorf("an unknown remediator: %v", err)
	}
	all, err := MemberTemplate(defs, MemberOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one, err := MemberTemplate(defs, MemberOptions{Enabled: []string{defs[0].Name}, SkipGeneratedRuleNames: true})
	if err != nil {
		t.Fatal(err)
	}
	other := defs[len(defs)-1].Permissions[0].Sid
	if !bytes.Contains(all, []byte(`"`+other+`"`)) || bytes.Contains(one, []byte(`"`+other+`"`)) {
		t.Errorf("statement %s: in the default template %t, in the template of %s alone %t", other, bytes.Contains(all, []byte(other)), defs[0].Name, bytes.Contains(one, []byte(other)))
	}
	for _, rule := range []string{"ForwardConfigSecurityhub", "ForwardConfigOrganization"} {
		if !bytes.Contains(all, []byte(rule)) || bytes.Contains(one, []byte(rule)) {
			t.Errorf("SkipGeneratedRuleNames should leave out %s, and only the rules of generated names", rule)
		}
	}
}

// TestMemberTemplateLints: cfn-lint (the CloudFormation linter, with the
// resource specifications of every region) finds nothing in the template,
// and finds a misspelt property. Runs when cfn-lint is on PATH.
func TestMemberTemplateLints(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH (pip install cfn-lint)")
	}
	path := filepath.Join(moduleDir(t), MemberTemplatePath)
	if out, err := exec.Command(lint, "--format", "parseable", path).CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", MemberTemplatePath, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "member.json")
	if err := os.WriteFile(bad, bytes.Replace(b, []byte(`"RoleArn"`), []byte(`"RoleARN"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lint, "--format", "parseable", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RoleARN") {
		t.Errorf("cfn-lint on a template with a misspelt property: %v\n%s", err, out)
	}
}
