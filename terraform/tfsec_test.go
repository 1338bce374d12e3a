package terraform

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyModule copies the module's Terraform files, templates and
// remediators.json to a temporary directory.
func copyModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	paths, err := filepath.Glob(filepath.Join(moduleDir(t), "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	tpls, _ := filepath.Glob(filepath.Join(moduleDir(t), "templates", "*"))
	paths = append(append(paths, tpls...), filepath.Join(moduleDir(t), "remediators.json"))
	for _, p := range paths {
		rel, _ := filepath.Rel(moduleDir(t), p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tfsecFindings runs tfsec on dir and returns the descriptions of its
// aws-iam-no-policy-wildcards findings.
func tfsecFindings(t *testing.T, tfsec, dir string) []string {
	t.Helper()
	// tfsec exits 1 when it finds something; the JSON says what.
	out, err := exec.Command(tfsec, dir, "--no-colour", "--format", "json", "--minimum-severity", "LOW").Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("running tfsec: %v", err)
	}
	var res struct {
		Results []struct {
			LongID      string `json:"long_id"`
			Description string `json:"description"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("reading tfsec's JSON: %v\n%s", err, out)
	}
	var found []string
	for _, r := range res.Results {
		if r.LongID == "aws-iam-no-policy-wildcards" {
			found = append(found, r.Description)
		}
	}
	slices.Sort(found)
	return found
}

// TestTfsecChecksGeneratedStatements: tfsec evaluates the IAM statements
// the module reads from remediators.json and flags a sensitive action on
// "*" or on an ARN wildcard in them, except through the "patterns"
// statement, whose wildcards are accepted. Runs when tfsec is on PATH
// (make tf-tools installs it).
func TestTfsecChecksGeneratedStatements(t *testing.T) {
	tfsec, err := exec.LookPath("tfsec")
	if err != nil {
		t.Skip("tfsec is not on PATH (make tf-tools installs it)")
	}
	dir := copyModule(t)
	if got := tfsecFindings(t, tfsec, dir); len(got) > 0 {
		t.Fatalf("tfsec flags the module as it is: %q", got)
	}

	path := filepath.Join(dir, "remediators.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	stmt := func(sid, action, resource string) any {
		return map[string]any{"sid": sid, "actions": []string{action}, "resources": []string{resource}}
	}
	first := doc["names"].([]any)[0].(string)
	perms := doc["remediators"].(map[string]any)[first].(map[string]any)["permissions"].(map[string]any)
	add := func(scope string, s any) { perms[scope] = append(perms[scope].([]any), s) }
	add("unscoped", stmt("DoctoredUnscoped", "s3:PutBucketPolicy", "*"))
	add("scoped", stmt("DoctoredScoped", "s3:DeleteBucket", "arn:aws:s3:::*"))
	add("patterns", stmt("DoctoredPattern", "s3:DeleteBucketPolicy", "arn:aws:s3:::*"))
	doc["sweep_permissions"] = append(doc["sweep_permissions"].([]any), stmt("DoctoredSweep", "s3:PutBucketPolicy", "*"))
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}

	got := tfsecFindings(t, tfsec, dir)
	want := []string{
		"IAM policy document uses sensitive action 's3:DeleteBucket' on wildcarded resource 'arn:aws:s3:::*'",
		"IAM policy document uses sensitive action 's3:PutBucketPolicy' on wildcarded resource '*'", // remediators
		"IAM policy document uses sensitive action 's3:PutBucketPolicy' on wildcarded resource '*'", // sweep
	}
	if !slices.Equal(got, want) {
		t.Errorf("tfsec on a remediators.json with bad statements found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// tfsecAll runs tfsec on dir with the variables of tfvars (HCL) and
// returns the long IDs of all its findings.
func tfsecAll(t *testing.T, tfsec, dir, tfvars string) []string {
	t.Helper()
	vars := filepath.Join(t.TempDir(), "test.tfvars")
	if err := os.WriteFile(vars, []byte(tfvars), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tfsec, dir, "--no-colour", "--format", "json", "--minimum-severity", "LOW", "--tfvars-file", vars).Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("running tfsec: %v", err)
	}
	var res struct {
		Results []struct {
			LongID string `json:"long_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("reading tfsec's JSON: %v\n%s", err, out)
	}
	var found []string
	for _, r := range res.Results {
		found = append(found, r.LongID)
	}
	slices.Sort(found)
	return found
}

// TestTfsecChecksTheTrail: make tf-sec checks the defaults, where no trail
// is created; with create_trail (and the Config recorder), tfsec's checks
// of the trail, the state table and the buckets pass too, and they can
// fail: a trail without log file validation is flagged.
func TestTfsecChecksTheTrail(t *testing.T) {
	tfsec, err := exec.LookPath("tfsec")
	if err != nil {
		t.Skip("tfsec is not on PATH (make tf-tools installs it)")
	}
	vars := "create_trail = true\ncreate_config_recorder = true\n"
	dir := copyModule(t)
	if got := tfsecAll(t, tfsec, dir, vars); len(got) > 0 {
		t.Fatalf("tfsec flags the module with create_trail: %q", got)
	}
	path := filepath.Join(dir, "cloudtrail.tf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doctored := strings.Replace(string(b), "enable_log_file_validation    = true", "enable_log_file_validation    = false", 1)
	if doctored == string(b) {
		t.Fatal("cloudtrail.tf no longer sets enable_log_file_validation as the test expects: update the mutation")
	}
	if err := os.WriteFile(path, []byte(doctored), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tfsecAll(t, tfsec, dir, vars); !slices.Contains(got, "aws-cloudtrail-enable-log-validation") {
		t.Errorf("tfsec on a trail without log file validation found %q", got)
	}
}

// TestTfsecChecksMemberStatements: tfsec evaluates the member role's
// statements, which the member module reads from the root's
// remediators.json, and flags a sensitive action on "*" in them (from a
// remediator or the sweep); a wildcard inside an ARN passes through the
// statement whose wildcards are accepted, as in the root module.
func TestTfsecChecksMemberStatements(t *testing.T) {
	tfsec, err := exec.LookPath("tfsec")
	if err != nil {
		t.Skip("tfsec is not on PATH (make tf-tools installs it)")
	}
	root := copyModule(t)
	member := filepath.Join(root, "modules", "member")
	if err := os.MkdirAll(member, 0o755); err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(memberDir(t), "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf files in the member module (%v)", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(member, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := tfsecFindings(t, tfsec, member); len(got) > 0 {
		t.Fatalf("tfsec flags the member module as it is: %q", got)
	}

	path := filepath.Join(root, "remediators.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	stmt := func(sid, action, resource string) any {
		return map[string]any{"sid": sid, "actions": []string{action}, "resources": []string{resource}}
	}
	first := doc["names"].([]any)[0].(string)
	perms := doc["remediators"].(map[string]any)[first].(map[string]any)["permissions"].(map[string]any)
	perms["unscoped"] = append(perms["unscoped"].([]any), stmt("DoctoredUnscoped", "s3:PutBucketPolicy", "*"))
	perms["patterns"] = append(perms["patterns"].([]any), stmt("DoctoredPattern", "s3:DeleteBucketPolicy", "arn:aws:s3:::*"))
	doc["sweep_permissions"] = append(doc["sweep_permissions"].([]any), stmt("DoctoredSweep", "s3:PutBucketPolicy", "*"))
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got := tfsecFindings(t, tfsec, member)
	want := []string{
		"IAM policy document uses sensitive action 's3:PutBucketPolicy' on wildcarded resource '*'", // remediator
		"IAM policy document uses sensitive action 's3:PutBucketPolicy' on wildcarded resource '*'", // sweep
	}
	if !slices.Equal(got, want) {
		t.Errorf("tfsec on a member module reading bad statements found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
