// Package tfmirror finds a Terraform provider in a local filesystem mirror
// (the layout `terraform providers mirror` writes, which Terraform's plugin
// cache also uses) and writes a CLI configuration that installs the provider
// from there, so that `terraform init` needs no access to the registry.
package tfmirror

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// EnvMirror names the variable that lists mirror directories to search
// first (separated by the OS path-list separator).
const EnvMirror = "TF_PROVIDER_MIRROR"

// Mirror is a mirror directory that holds a provider for this platform.
type Mirror struct {
	// Dir is the mirror's root: it holds <hostname>/<namespace>/<type>/.
	Dir string
	// Source is the provider's address, e.g. registry.terraform.io/hashicorp/aws.
	Source string
	// Versions are the versions found for this platform, lowest first.
	Versions []string
}

// Highest returns the highest version the mirror holds.
func (m *Mirror) Highest() string { return m.Versions[len(m.Versions)-1] }

// Candidates returns the directories Find searches, in order: those in
// $TF_PROVIDER_MIRROR, $TF_PLUGIN_CACHE_DIR, Terraform's implied local mirror
// directories on Unix (terraform.d/plugins under the working directory,
// ~/.terraform.d/plugins, $XDG_DATA_HOME/terraform/plugins and
// terraform/plugins under each $XDG_DATA_DIRS), then every directory one
// level below /opt, /usr/local/share, /usr/share, /usr/local/lib, /var/lib
// and the home directory, and their plugins/ subdirectories: machine images
// put mirrors in such places (e.g. /opt/<something>).
func Candidates() []string {
	var dirs []string
	add := func(d string) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, d := range filepath.SplitList(os.Getenv(EnvMirror)) {
		add(d)
	}
	add(os.Getenv("TF_PLUGIN_CACHE_DIR"))
	add("terraform.d/plugins")
	home, _ := os.UserHomeDir()
	if home != "" {
		add(filepath.Join(home, ".terraform.d", "plugins"))
	}
	dataHome := os.Getenv("XDG_DATA_HOME")
	if dataHome == "" && home != "" {
		dataHome = filepath.Join(home, ".local", "share")
	}
	if dataHome != "" {
		add(filepath.Join(dataHome, "terraform", "plugins"))
	}
	dataDirs := os.Getenv("XDG_DATA_DIRS")
	if dataDirs == "" {
		dataDirs = "/usr/local/share:/usr/share"
	}
	for _, d := range filepath.SplitList(dataDirs) {
		add(filepath.Join(d, "terraform", "plugins"))
	}
	for _, base := range []string{"/opt", "/usr/local/share", "/usr/share", "/usr/local/lib", "/var/lib", home} {
		if base == "" {
			continue
		}
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				add(filepath.Join(base, e.Name()))
				add(filepath.Join(base, e.Name(), "plugins"))
			}
		}
	}
	return dirs
}

// Find returns the first of dirs that holds source (hostname/namespace/type)
// for this platform, in the unpacked or the packed (zip) layout; nil when
// none does.
func Find(source string, dirs []string) *Mirror {
	return find(source, dirs, runtime.GOOS+"_"+runtime.GOARCH)
}

func find(source string, dirs []string, platform string) *Mirror {
	parts := strings.Split(source, "/")
	if len(parts) != 3 {
		return nil
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		if vs := versions(filepath.Join(abs, parts[0], parts[1], parts[2]), parts[2], platform); len(vs) > 0 {
			return &Mirror{Dir: abs, Source: source, Versions: vs}
		}
	}
	return nil
}

// versions lists the versions under a provider directory of a mirror:
// unpacked <version>/<os>_<arch>/ directories with a terraform-provider-<type>
// executable in them, and packed terraform-provider-<type>_<version>_<os>_<arch>.zip
// files.
func versions(dir, typ, platform string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	packedPrefix, packedSuffix := "terraform-provider-"+typ+"_", "_"+platform+".zip"
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			if v, ok := strings.CutPrefix(name, packedPrefix); ok {
				if v, ok := strings.CutSuffix(v, packedSuffix); ok && parseVersion(v) != nil {
					set[v] = true
				}
			}
			continue
		}
		if parseVersion(name) == nil {
			continue
		}
		bins, _ := filepath.Glob(filepath.Join(dir, name, platform, "terraform-provider-"+typ+"*"))
		if len(bins) > 0 {
			set[name] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return compareVersions(out[i], out[j]) < 0 })
	return out
}

// parseVersion parses major.minor.patch (a pre-release suffix is kept out
// of the comparison); nil when v is not a version.
func parseVersion(v string) []int {
	core, _, _ := strings.Cut(v, "-")
	fields := strings.Split(core, ".")
	if len(fields) != 3 {
		return nil
	}
	out := make([]int, 3)
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil
		}
		out[i] = n
	}
	return out
}

func compareVersions(a, b string) int {
	va, vb := parseVersion(a), parseVersion(b)
	for i := range 3 {
		if va[i] != vb[i] {
			return va[i] - vb[i]
		}
	}
	return strings.Compare(a, b)
}

// CLIConfig returns a Terraform CLI configuration that installs the
// mirror's provider from the mirror only and every other provider from its
// registry.
func (m *Mirror) CLIConfig() string {
	return fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %s
    include = [%s]
  }
  direct {
    exclude = [%s]
  }
}
`, hclString(m.Dir), hclString(m.Source), hclString(m.Source))
}

// WriteCLIConfig writes CLIConfig to path, for TF_CLI_CONFIG_FILE.
func (m *Mirror) WriteCLIConfig(path string) error {
	if err := os.WriteFile(path, []byte(m.CLIConfig()), 0o644); err != nil {
		return fmt.Errorf("writing the Terraform CLI configuration %s: %w", path, err)
	}
	return nil
}

// hclString quotes s as an HCL string literal: Go's quoting, with the
// template sequences ${ and %{ escaped.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}
