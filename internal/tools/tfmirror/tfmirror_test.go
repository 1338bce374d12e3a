package tfmirror

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

const aws = "registry.terraform.io/hashicorp/aws"

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFindReadsBothLayouts(t *testing.T) {
	empty := t.TempDir()
	other := t.TempDir() // another provider only
	touch(t, filepath.Join(other, "registry.terraform.io/hashicorp/random/3.6.0/linux_amd64/terraform-provider-random_v3.6.0_x5"))
	m := t.TempDir()
	p := filepath.Join(m, "registry.terraform.io/hashicorp/aws")
	touch(t, filepath.Join(p, "5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"))
	touch(t, filepath.Join(p, "terraform-provider-aws_6.19.0_linux_amd64.zip"))
	touch(t, filepath.Join(p, "5.9.0/linux_amd64/terraform-provider-aws_v5.9.0_x5"))
	// Not for this platform, or not a provider: ignored.
	touch(t, filepath.Join(p, "7.0.0/darwin_arm64/terraform-provider-aws_v7.0.0_x5"))
	touch(t, filepath.Join(p, "terraform-provider-aws_7.1.0_windows_amd64.zip"))
	if err := os.MkdirAll(filepath.Join(p, "8.0.0/linux_amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(p, "README"))

	got := find(aws, []string{filepath.Join(empty, "missing"), empty, other, m}, "linux_amd64")
	if got == nil {
		t.Fatal("mirror not found")
	}
	if got.Dir != m || got.Source != aws {
		t.Errorf("found %+v, want the mirror %s", got, m)
	}
	if want := []string{"5.9.0", "5.100.0", "6.19.0"}; !slices.Equal(got.Versions, want) {
		t.Errorf("versions %q, want %q (numeric order, this platform only)", got.Versions, want)
	}
	if got.Highest() != "6.19.0" {
		t.Errorf("highest %s", got.Highest())
	}
	if find(aws, []string{empty, other}, "linux_amd64") != nil {
		t.Error("found a mirror where there is none")
	}
	if find(aws, []string{m}, "linux_arm64") != nil {
		t.Error("found a provider for another platform")
	}
}

func TestCandidatesStartWithTheEnvironment(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	t.Setenv(EnvMirror, a+string(os.PathListSeparator)+b)
	t.Setenv("TF_PLUGIN_CACHE_DIR", "")
	t.Setenv("XDG_DATA_DIRS", "/nonexistent-share")
	c := Candidates()
	if len(c) < 3 || c[0] != a || c[1] != b {
		t.Fatalf("candidates %q, want %s and %s first", c, a, b)
	}
	if !slices.Contains(c, "/nonexistent-share/terraform/plugins") {
		t.Errorf("candidates %q lack the XDG data directory's terraform/plugins", c)
	}
}

func TestCLIConfigIsValidHCL(t *testing.T) {
	// A path with characters HCL treats specially.
	m := &Mirror{Dir: `/tmp/odd "dir" ${x} %{y} \z`, Source: aws, Versions: []string{"5.100.0"}}
	path := filepath.Join(t.TempDir(), "cli.tfrc")
	if err := m.WriteCLIConfig(path); err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatalf("%v\n%s", diags, m.CLIConfig())
	}
	attr := func(path ...string) cty.Value {
		t.Helper()
		body := f.Body.(*hclsyntax.Body)
		for _, name := range path[:len(path)-1] {
			var next *hclsyntax.Body
			for _, b := range body.Blocks {
				if b.Type == name {
					next = b.Body
				}
			}
			if next == nil {
				t.Fatalf("no block %s in:\n%s", name, m.CLIConfig())
			}
			body = next
		}
		a, ok := body.Attributes[path[len(path)-1]]
		if !ok {
			t.Fatalf("no attribute %q in:\n%s", path, m.CLIConfig())
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("%q: %v", path, diags)
		}
		return v
	}
	if got := attr("provider_installation", "filesystem_mirror", "path"); got.AsString() != m.Dir {
		t.Errorf("path %q, want %q", got.AsString(), m.Dir)
	}
	only := cty.TupleVal([]cty.Value{cty.StringVal(aws)})
	if inc, exc := attr("provider_installation", "filesystem_mirror", "include"), attr("provider_installation", "direct", "exclude"); !inc.RawEquals(only) || !exc.RawEquals(only) {
		t.Errorf("include %#v, exclude %#v: want the provider from the mirror only", inc, exc)
	}
}
