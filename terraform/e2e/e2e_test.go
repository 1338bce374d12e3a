// Package e2e deploys the Terraform module for real: for each example in
// terraform/examples/ it applies the module to a private moto_server, reads
// back what was deployed, requires a second plan to show no changes, and
// destroys everything. It runs with E2E=1 (make e2e, which builds the zips
// first) and needs the hashicorp/aws provider: from a local filesystem
// mirror when there is one (internal/tools/tfmirror), else from the
// registry. When the provider cannot be installed it says so and skips.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/tools/tfmirror"
	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

const providerSource = "registry.terraform.io/hashicorp/aws"

func TestMain(m *testing.M) {
	// moto creates AWS managed policies (service-role/AWS_ConfigRole, which
	// the Config recorder's role attaches) only when asked to.
	os.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	os.Exit(m.Run())
}

// setup is what every example shares.
type setup struct {
	terraform string // the terraform binary
	module    string // terraform/
	dist      string // the zips of make build
	arch      string // what dist/architecture says they were built for
	cliConfig string // TF_CLI_CONFIG_FILE for the mirror, or ""
	catalog   *catalog
}

// timing is how long each step of one example took.
type timing struct {
	example                                 string
	resources                               int
	init, apply, checks, plan, destroy, all time.Duration
}

func TestDeployExamples(t *testing.T) {
	if os.Getenv("E2E") == "" {
		t.Skip("deploys the module to moto_server with Terraform: run it with make e2e (E2E=1)")
	}
	start := time.Now()
	s := newSetup(t)
	examples, err := filepath.Glob(filepath.Join(s.module, "examples", "*.tfvars"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples in %s/examples (%v)", s.module, err)
	}
	var mu sync.Mutex
	var timings []timing
	t.Cleanup(func() {
		sort.Slice(timings, func(i, j int) bool { return timings[i].example < timings[j].example })
		var b strings.Builder
		fmt.Fprintf(&b, "%-12s %9s %6s %7s %7s %6s %8s %7s\n", "example", "resources", "init", "apply", "checks", "plan", "destroy", "total")
		for _, tm := range timings {
			fmt.Fprintf(&b, "%-12s %9d %6s %7s %7s %6s %8s %7s\n", tm.example, tm.resources, secs(tm.init), secs(tm.apply), secs(tm.checks), secs(tm.plan), secs(tm.destroy), secs(tm.all))
		}
		t.Logf("deployments (examples in parallel), %s in all:\n%s", secs(time.Since(start)), b.String())
	})
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".tfvars")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tm := deployExample(t, s, ex)
			tm.example = name
			mu.Lock()
			timings = append(timings, tm)
			mu.Unlock()
		})
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// newSetup finds terraform, the zips and the provider; it skips the test
// when the provider cannot be installed.
func newSetup(t *testing.T) *setup {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH (make tf-tools installs it)")
	}
	module, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dist := os.Getenv("E2E_DIST")
	if dist == "" {
		dist = filepath.Join(module, "..", "dist")
	}
	arch, err := os.ReadFile(filepath.Join(dist, "architecture"))
	if err != nil {
		t.Fatalf("no zips to deploy: %v (make build writes them with dist/architecture; make e2e runs it)", err)
	}
	s := &setup{terraform: bin, module: module, dist: dist, arch: strings.TrimSpace(string(arch)), catalog: loadCatalog(t, module)}
	dirs := tfmirror.Candidates()
	if m := tfmirror.Find(providerSource, dirs); m != nil {
		s.cliConfig = filepath.Join(t.TempDir(), "cli.tfrc")
		if err := m.WriteCLIConfig(s.cliConfig); err != nil {
			t.Fatal(err)
		}
		t.Logf("hashicorp/aws from the local mirror %s (versions %s)", m.Dir, strings.Join(m.Versions, ", "))
	} else {
		t.Logf("no local mirror of %s (searched %s=%q, Terraform's implied mirror directories and /opt/*, /usr/local/share/*, /usr/share/*, /usr/local/lib/*, /var/lib/*, ~/*); trying the registry",
			providerSource, tfmirror.EnvMirror, os.Getenv(tfmirror.EnvMirror))
	}
	// Install the provider once, in a scratch module with the module's
	// version constraint, to skip (not fail) when it cannot be had.
	probe := t.TempDir()
	if err := copyFile(filepath.Join(module, "versions.tf"), filepath.Join(probe, "versions.tf")); err != nil {
		t.Fatal(err)
	}
	tf := s.newTerraform(t, probe, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := tf.Init(ctx); err != nil {
		if providerUnavailable(err) {
			t.Skipf("SKIP: the hashicorp/aws provider cannot be installed here, so the module cannot be deployed. "+
				"Put it in a filesystem mirror (terraform providers mirror DIR; %s=DIR) or allow access to registry.terraform.io.\n%v", tfmirror.EnvMirror, err)
		}
		t.Fatalf("terraform init: %v", err)
	}
	return s
}

// providerUnavailable tells an init that could not get the provider from
// other failures.
func providerUnavailable(err error) bool {
	for _, s := range []string{"Failed to query available provider packages", "Failed to install provider", "could not connect to registry",
		"no available releases match", "no such host", "i/o timeout", "connection refused", "TLS handshake timeout", "Provider registry not available"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// newTerraform returns a Terraform runner in dir whose environment points
// the provider at the emulator (extra) and installs it from the mirror.
func (s *setup) newTerraform(t *testing.T, dir string, extra []string) *tfexec.Terraform {
	t.Helper()
	tf, err := tfexec.NewTerraform(dir, s.terraform)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		// Nothing of the caller's AWS or Terraform settings.
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "TF_") {
			continue
		}
		env[k] = v
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	env["CHECKPOINT_DISABLE"] = "1"
	if s.cliConfig != "" {
		env["TF_CLI_CONFIG_FILE"] = s.cliConfig
	} else if f := os.Getenv("TF_CLI_CONFIG_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			env["TF_CLI_CONFIG_FILE"] = f
		}
	}
	if err := tf.SetEnv(env); err != nil {
		t.Fatal(err)
	}
	return tf
}

// deployExample applies, checks, re-plans and destroys one example.
func deployExample(t *testing.T, s *setup, tfvars string) timing {
	var tm timing
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	srv := emulator.StartT(t)
	work := t.TempDir()
	copyModule(t, s.module, work)
	// The provider, for moto: path-style S3 URLs (moto's host is an IP
	// address), no real credentials to check, and CloudTrail through a
	// proxy that works around a moto bug (cloudTrailNameProxy).
	provider := `provider "aws" {
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {
    cloudtrail = "` + cloudTrailNameProxy(t, srv.URL) + `"
  }
}
`
	if err := os.WriteFile(filepath.Join(work, "zz_e2e_provider.tf"), []byte(provider), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := s.newTerraform(t, work, srv.Env())
	log := &bytes.Buffer{}
	tf.SetStdout(log)
	tf.SetStderr(log)
	fail := func(step string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nlast lines of Terraform's output:\n%s\nmoto_server:\n%s", step, err, tail(log.String(), 60), tail(srv.Log(), 30))
	}

	overrides := map[string]string{
		"dist_dir": s.dist,
		// The access-log bucket receives logs about the other buckets and
		// is never empty.
		"bucket_force_destroy": "true",
		"architecture":         s.arch,
	}
	in := loadInputs(t, s.module, tfvars, overrides)
	var vars []string
	for _, k := range sortedKeys(overrides) {
		vars = append(vars, k+"="+overrides[k])
	}
	applyOpts := []tfexec.ApplyOption{tfexec.VarFile(tfvars)}
	planOpts := []tfexec.PlanOption{tfexec.VarFile(tfvars)}
	destroyOpts := []tfexec.DestroyOption{tfexec.VarFile(tfvars)}
	for _, v := range vars {
		applyOpts = append(applyOpts, tfexec.Var(v))
		planOpts = append(planOpts, tfexec.Var(v))
		destroyOpts = append(destroyOpts, tfexec.Var(v))
	}

	step := time.Now()
	if err := tf.Init(ctx); err != nil {
		fail("terraform init", err)
	}
	tm.init = time.Since(step)

	step = time.Now()
	t.Logf("applying %s (moto_server at %s)", filepath.Base(tfvars), srv.URL)
	applyErr := tf.Apply(ctx, applyOpts...)
	tm.apply = time.Since(step)
	if applyErr != nil {
		fail("terraform apply", applyErr)
	}
	state, err := tf.Show(ctx)
	if err != nil {
		fail("terraform show", err)
	}
	outputs, err := tf.Output(ctx)
	if err != nil {
		fail("terraform output", err)
	}
	st := newStateIndex(state)
	tm.resources = st.count
	t.Logf("applied %d resources in %s", st.count, secs(tm.apply))

	step = time.Now()
	d := &deployment{t: t, ctx: ctx, srv: srv, in: in, setup: s, state: st, outputs: outputs}
	d.check()
	tm.checks = time.Since(step)

	step = time.Now()
	planFile := filepath.Join(work, "replan")
	changes, err := tf.Plan(ctx, append(planOpts, tfexec.Out(planFile))...)
	tm.plan = time.Since(step)
	if err != nil {
		fail("terraform plan", err)
	}
	if changes {
		shown, err := tf.ShowPlanFileRaw(ctx, planFile)
		if err != nil {
			shown = err.Error()
		}
		t.Errorf("a second plan right after apply wants changes (the module does not converge, or the provider reads back something else than it wrote):\n%s", shown)
	}

	step = time.Now()
	if err := tf.Destroy(ctx, destroyOpts...); err != nil {
		fail("terraform destroy", err)
	}
	tm.destroy = time.Since(step)
	after, err := tf.Show(ctx)
	if err != nil {
		fail("terraform show after destroy", err)
	}
	if n := newStateIndex(after).count; n != 0 {
		t.Errorf("%d resources left in the state after destroy", n)
	}
	d.checkDestroyed()

	// Zips built for one architecture are not deployed as the other.
	other := map[string]string{"arm64": "x86_64", "x86_64": "arm64"}[s.arch]
	wrongArch := []tfexec.PlanOption{tfexec.VarFile(tfvars), tfexec.Var("architecture=" + other)}
	for _, v := range vars {
		if !strings.HasPrefix(v, "architecture=") {
			wrongArch = append(wrongArch, tfexec.Var(v))
		}
	}
	if _, err := tf.Plan(ctx, wrongArch...); err == nil || !strings.Contains(err.Error(), "were built for "+s.arch) {
		t.Errorf("a plan with architecture = %s for zips built for %s: %v, want the precondition's error", other, s.arch, err)
	}
	tm.all = time.Since(began)
	t.Logf("init %s, apply %s, checks %s, plan %s, destroy %s", secs(tm.init), secs(tm.apply), secs(tm.checks), secs(tm.plan), secs(tm.destroy))
	return tm
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// copyModule copies the module's Terraform (not its Go, tests or examples)
// to dir, where Terraform may write its working files and state.
func copyModule(t *testing.T, module, dir string) {
	t.Helper()
	skip := func(name string, isDir bool) bool {
		if isDir {
			return name == "e2e" || name == "testdata" || name == "examples" || strings.HasPrefix(name, ".")
		}
		return strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".tfvars") || strings.HasPrefix(name, "terraform.tfstate") ||
			strings.HasPrefix(name, ".") || name == "README.md"
	}
	// The walk creates subdirectories as it meets them, but never dir
	// itself: a file sorted before the first subdirectory (archive.tf
	// before cloudformation/) would have nowhere to go.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("copying the module to %s: %v", dir, err)
	}
	err := filepath.WalkDir(module, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(module, path)
		if err != nil || rel == "." {
			return err
		}
		if skip(e.Name(), e.IsDir()) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		return copyFile(path, filepath.Join(dir, rel))
	})
	if err != nil {
		t.Fatalf("copying the module to %s: %v", dir, err)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// stateIndex is the deployed resources of a Terraform state, by type.
type stateIndex struct {
	count  int
	byType map[string][]*tfjson.StateResource
}

func newStateIndex(s *tfjson.State) *stateIndex {
	idx := &stateIndex{byType: map[string][]*tfjson.StateResource{}}
	if s == nil || s.Values == nil {
		return idx
	}
	var walk func(m *tfjson.StateModule)
	walk = func(m *tfjson.StateModule) {
		for _, r := range m.Resources {
			if r.Mode == tfjson.ManagedResourceMode {
				idx.count++
				idx.byType[r.Type] = append(idx.byType[r.Type], r)
			}
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(s.Values.RootModule)
	return idx
}

// attr returns a string attribute of every resource of a type.
func (s *stateIndex) attr(typ, name string) []string {
	var out []string
	for _, r := range s.byType[typ] {
		if v, ok := r.AttributeValues[name].(string); ok {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// byKey returns the resources of a type by their for_each key.
func (s *stateIndex) byKey(typ string) map[string]*tfjson.StateResource {
	out := map[string]*tfjson.StateResource{}
	for _, r := range s.byType[typ] {
		if k, ok := r.Index.(string); ok {
			out[k] = r
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var errNotFound = errors.New("not found")
