package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// terraformPath is the real binary: these tests run terraform for real on
// modules with built-in resources only (no provider download). They fail,
// not skip, without it (`make test` installs it first).
func terraformPath(t *testing.T) string {
	t.Helper()
	p, err := FindTerraform(exec.LookPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// fixture copies a module of testdata into a fresh directory, so state and
// .terraform never land in the source tree.
func fixture(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func addresses(s Summary) []string {
	var out []string
	for _, c := range s.Changes {
		out = append(out, c.Action+" "+c.Address)
	}
	return out
}

func TestDeployLifecycle(t *testing.T) {
	ctx := context.Background()
	tfPath := terraformPath(t)
	dir := fixture(t, "module")
	var log bytes.Buffer

	// Declined: nothing is applied.
	var out bytes.Buffer
	res, err := Run(ctx, Options{Dir: dir, Terraform: tfPath, In: strings.NewReader("no\n"), Out: &out, Log: &log})
	if !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("declined plan: err = %v\n%s", err, log.String())
	}
	if res.Applied {
		t.Error("declined plan was applied")
	}
	if _, err := os.Stat(filepath.Join(dir, "terraform.tfstate")); err == nil {
		t.Error("a declined plan left a state file")
	}

	// Confirmed: created, outputs printed with the dashboard URL first.
	built := 0
	out.Reset()
	res, err = Run(ctx, Options{
		Dir: dir, Terraform: tfPath, In: strings.NewReader("yes\n"), Out: &out, Log: &log,
		Build: func(context.Context) error { built++; return nil },
	})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log.String())
	}
	if built != 1 {
		t.Errorf("Build ran %d times, want once", built)
	}
	// Terraform's progress is passed on, its JSON documents are not: the
	// plan JSON carries sensitive values in clear text.
	if strings.Contains(log.String(), "hunter2") || strings.Contains(log.String(), "format_version") {
		t.Errorf("the log shows Terraform's JSON (and the sensitive output):\n%s", log.String())
	}
	if !strings.Contains(log.String(), "Apply complete") {
		t.Errorf("the log lacks Terraform's progress:\n%s", log.String())
	}
	want := []string{"create terraform_data.pipeline", "create terraform_data.worker[0]", "create terraform_data.worker[1]"}
	if got := addresses(res.Plan); !slices.Equal(got, want) || res.Plan.Add != 3 || res.Plan.Change != 0 || res.Plan.Destroy != 0 {
		t.Errorf("plan = %+v, want %v", res.Plan, want)
	}
	if !res.Applied {
		t.Error("not applied")
	}
	text := out.String()
	for _, s := range []string{"Plan: 3 to add, 0 to change, 0 to destroy.", "+   terraform_data.worker[1] (create)", "Only 'yes' will be accepted"} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
	var names []string
	for _, o := range res.Outputs {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"dashboard_url", "aa_first_alphabetically", "secret", "workers"}) {
		t.Errorf("outputs in order %v", names)
	}
	outputs := text[strings.Index(text, "Outputs:"):]
	if !strings.HasPrefix(outputs, "Outputs:\n  dashboard_url = https://console.example/dashboards/demo\n") ||
		!strings.Contains(outputs, "secret = (sensitive)") || strings.Contains(outputs, "hunter2") ||
		!strings.Contains(outputs, `workers = ["demo-0","demo-1"]`) {
		t.Errorf("outputs printed:\n%s", outputs)
	}

	// Again: nothing to do, outputs still printed.
	out.Reset()
	res, err = Run(ctx, Options{Dir: dir, Terraform: tfPath, Out: &out, Log: &log})
	if err != nil {
		t.Fatalf("second deploy: %v\n%s", err, log.String())
	}
	if !res.Plan.Empty() || res.Applied || !strings.Contains(out.String(), "No changes") || len(res.Outputs) != 4 {
		t.Errorf("second deploy: %+v\n%s", res, out.String())
	}

	// -var and -var-file pass through: one worker fewer, the others renamed.
	varFile := filepath.Join(t.TempDir(), "small.tfvars")
	if err := os.WriteFile(varFile, []byte("replicas = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	res, err = Run(ctx, Options{Dir: dir, Terraform: tfPath, Vars: []string{"name=prod"}, VarFiles: []string{varFile}, AutoApprove: true, Out: &out, Log: &log})
	if err != nil {
		t.Fatalf("deploy with vars: %v\n%s", err, log.String())
	}
	want = []string{"update terraform_data.pipeline", "update terraform_data.worker[0]", "delete terraform_data.worker[1]"}
	if got := addresses(res.Plan); !slices.Equal(got, want) || res.Plan.Change != 2 || res.Plan.Destroy != 1 {
		t.Errorf("plan with vars = %v (%+v), want %v", got, res.Plan, want)
	}
	if strings.Contains(out.String(), "Only 'yes'") {
		t.Error("--auto-approve still asked")
	}
	if res.Outputs[0].Display() != "https://console.example/dashboards/prod" {
		t.Errorf("dashboard_url after the change = %s", res.Outputs[0].Display())
	}

	// Destroy: everything in the state goes, no outputs.
	out.Reset()
	res, err = Run(ctx, Options{Dir: dir, Terraform: tfPath, Destroy: true, Vars: []string{"name=prod"}, In: strings.NewReader("yes\n"), Out: &out, Log: &log})
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, log.String())
	}
	want = []string{"delete terraform_data.pipeline", "delete terraform_data.worker[0]"}
	if got := addresses(res.Plan); !slices.Equal(got, want) || !res.Applied || len(res.Outputs) != 0 {
		t.Errorf("destroy = %+v, want %v", res, want)
	}
	if !strings.Contains(out.String(), "Destroy plan: 0 to add, 0 to change, 2 to destroy.") || !strings.Contains(out.String(), "Destroyed.") {
		t.Errorf("destroy output:\n%s", out.String())
	}
	state, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if err != nil || strings.Contains(string(state), "terraform_data") {
		t.Errorf("state after destroy still has resources (%v):\n%s", err, state)
	}
}

func TestDeployReportsErrors(t *testing.T) {
	ctx := context.Background()
	tfPath := terraformPath(t)

	_, err := Run(ctx, Options{Dir: fixture(t, "broken"), Terraform: tfPath, AutoApprove: true})
	if err == nil || !strings.Contains(err.Error(), "terraform plan") || !strings.Contains(err.Error(), "not_declared") || !strings.Contains(err.Error(), "Reference to undeclared input variable") {
		t.Errorf("broken module: err = %v, want the plan error naming var.not_declared", err)
	}

	_, err = Run(ctx, Options{Dir: fixture(t, "module"), Terraform: tfPath, Vars: []string{"replicas"}, AutoApprove: true})
	if err == nil || !strings.Contains(err.Error(), "name=value") {
		t.Errorf("bad -var: err = %v", err)
	}

	_, err = Run(ctx, Options{Dir: fixture(t, "module"), Terraform: tfPath, Vars: []string{"replicas=many"}, AutoApprove: true})
	if err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("wrong variable type: err = %v", err)
	}

	_, err = Run(ctx, Options{Dir: fixture(t, "module"), Terraform: tfPath, VarFiles: []string{"no-such.tfvars"}, AutoApprove: true})
	if err == nil || !strings.Contains(err.Error(), "no-such.tfvars") {
		t.Errorf("missing var file: err = %v", err)
	}

	_, err = Run(ctx, Options{Dir: filepath.Join(t.TempDir(), "nowhere"), Terraform: tfPath})
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("missing directory: err = %v", err)
	}

	buildErr := errors.New("go build failed")
	_, err = Run(ctx, Options{Dir: fixture(t, "module"), Terraform: tfPath, Build: func(context.Context) error { return buildErr }})
	if !errors.Is(err, buildErr) {
		t.Errorf("failed build: err = %v", err)
	}

	// No confirmation source: not applied.
	_, err = Run(ctx, Options{Dir: fixture(t, "module"), Terraform: tfPath})
	if !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("no stdin: err = %v", err)
	}
}

func TestFindTerraform(t *testing.T) {
	_, err := FindTerraform(func(string) (string, error) { return "", exec.ErrNotFound })
	if !errors.Is(err, ErrTerraformMissing) || !strings.Contains(err.Error(), "install Terraform") {
		t.Errorf("missing terraform: err = %v", err)
	}
	var asked string
	p, err := FindTerraform(func(name string) (string, error) { asked = name; return "/opt/bin/terraform", nil })
	if err != nil || p != "/opt/bin/terraform" || asked != "terraform" {
		t.Errorf("FindTerraform = %q, %v (looked up %q)", p, err, asked)
	}
}

func TestTextLinesDropsJSONDocuments(t *testing.T) {
	var out bytes.Buffer
	w := &textLines{w: &out}
	for _, chunk := range []string{"Plan: 1 to add", ", 0 to change.\n{\"format_version\":\"1.2\",\"values\":{\"secret\":\"hunter}2\"}}\n", "{\n  \"terraform_version\": \"1.11.4\",\n", "  \"selections\": {}\n}\n", "  [1,2]\n\nApply complete!\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "Plan: 1 to add, 0 to change.\n\nApply complete!\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
