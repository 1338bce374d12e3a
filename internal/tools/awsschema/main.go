// Command awsschema writes the part of the hashicorp/aws provider schema that
// the Terraform module uses into terraform/testdata/aws-schema, where the
// schema test (go test ./terraform) reads it: the schema of every aws_*
// resource and data source type the module's .tf files declare, plus the
// names of all the provider's types (so that the test can tell a type the
// provider lacks from one the subset lacks).
//
// The schema comes from one of:
//
//	-terraform        terraform init + terraform providers schema -json, with the
//	                  provider from a local filesystem mirror when one exists
//	                  (see internal/tools/tfmirror), else from the registry
//	-json FILE        the output of `terraform providers schema -json` ("-": stdin)
//	-dir DIR          that output split per type: DIR/resource_schemas/<type>.json
//	                  and DIR/data_source_schemas/<type>.json
//
// `make aws-schema` runs it with -terraform.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/autoremediate/autoremediate/internal/tools/tfmirror"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Source is the provider whose schema is kept.
const Source = "registry.terraform.io/hashicorp/aws"

// Index is provider.json: where the subset comes from and every type name
// of the provider.
type Index struct {
	Comment         string   `json:"//"`
	Provider        string   `json:"provider"`
	Version         string   `json:"version"`
	ResourceTypes   []string `json:"resource_types"`
	DataSourceTypes []string `json:"data_source_types"`
}

// schema is one provider's schema: raw per-type documents ({"version": N,
// "block": {...}}), by type name.
type schema struct {
	resources, dataSources map[string]json.RawMessage
}

func main() {
	var (
		module   = flag.String("module", "terraform", "the Terraform module whose types are kept")
		out      = flag.String("out", "terraform/testdata/aws-schema", "directory to write")
		useTF    = flag.Bool("terraform", false, "get the schema from `terraform providers schema -json`")
		jsonFile = flag.String("json", "", "get the schema from this output of `terraform providers schema -json` (- for stdin)")
		dir      = flag.String("dir", "", "get the schema from this directory of per-type files (resource_schemas/, data_source_schemas/)")
		version  = flag.String("version", "", "the provider version of -json or -dir; with -terraform, the version to install (default: the module's constraint)")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: awsschema (-terraform | -json FILE -version V | -dir DIR -version V) [-module DIR] [-out DIR]\n\n"+
			"Writes the %s schema of the types the module uses to -out.\n\n", Source)
		flag.PrintDefaults()
	}
	flag.Parse()
	sources := 0
	for _, set := range []bool{*useTF, *jsonFile != "", *dir != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if !*useTF && *version == "" {
		fmt.Fprintln(os.Stderr, "awsschema: -version is required with -json and -dir (the schema does not say which provider version it is)")
		os.Exit(2)
	}
	if err := run(*module, *out, *useTF, *jsonFile, *dir, *version); err != nil {
		fmt.Fprintln(os.Stderr, "awsschema:", err)
		os.Exit(1)
	}
}

func run(module, out string, useTF bool, jsonFile, dir, version string) error {
	resources, dataSources, err := ModuleTypes(module)
	if err != nil {
		return err
	}
	var s *schema
	switch {
	case useTF:
		s, version, err = fromTerraform(context.Background(), module, version)
	case jsonFile == "-":
		s, err = fromJSON(os.Stdin)
	case jsonFile != "":
		var f *os.File
		if f, err = os.Open(jsonFile); err == nil {
			s, err = fromJSON(f)
			f.Close()
		}
	default:
		s, err = fromDir(dir)
	}
	if err != nil {
		return err
	}
	if err := write(out, s, version, resources, dataSources); err != nil {
		return err
	}
	fmt.Printf("wrote the hashicorp/aws %s schema of %d resource and %d data source types to %s\n", version, len(resources), len(dataSources), out)
	return nil
}

// ModuleTypes returns the aws_* resource and data source types declared by
// the .tf files of a module, of the local modules it calls and of the
// modules it ships in its modules/ directory (terraform/modules/member,
// which the schema test checks too), sorted.
func ModuleTypes(dir string) (resources, dataSources []string, err error) {
	res, data := map[string]bool{}, map[string]bool{}
	visited := map[string]bool{}
	if err := moduleTypes(dir, res, data, visited); err != nil {
		return nil, nil, err
	}
	shipped, err := filepath.Glob(filepath.Join(dir, "modules", "*", "*.tf"))
	if err != nil {
		return nil, nil, err
	}
	for _, f := range shipped {
		if err := moduleTypes(filepath.Dir(f), res, data, visited); err != nil {
			return nil, nil, err
		}
	}
	if len(res)+len(data) == 0 {
		return nil, nil, fmt.Errorf("no aws_* resources or data sources in %s: is it the module?", dir)
	}
	return sortedKeys(res), sortedKeys(data), nil
}

func moduleTypes(dir string, res, data, visited map[string]bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if visited[abs] {
		return nil
	}
	visited[abs] = true
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no .tf files in %s", dir)
	}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return fmt.Errorf("parsing %s: %s", path, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch {
			case b.Type == "resource" && len(b.Labels) == 2 && strings.HasPrefix(b.Labels[0], "aws_"):
				res[b.Labels[0]] = true
			case b.Type == "data" && len(b.Labels) == 2 && strings.HasPrefix(b.Labels[0], "aws_"):
				data[b.Labels[0]] = true
			case b.Type == "module":
				// Local modules (source "./x" or "../x") are part of the
				// deployment; registry modules are not this module's code.
				a, ok := b.Body.Attributes["source"]
				if !ok {
					continue
				}
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || v.Type() != cty.String {
					continue
				}
				if src := v.AsString(); strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
					if err := moduleTypes(filepath.Join(dir, src), res, data, visited); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// fromJSON reads the output of `terraform providers schema -json`.
func fromJSON(r io.Reader) (*schema, error) {
	var doc struct {
		Schemas map[string]struct {
			Resources   map[string]json.RawMessage `json:"resource_schemas"`
			DataSources map[string]json.RawMessage `json:"data_source_schemas"`
		} `json:"provider_schemas"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the provider schemas: %w", err)
	}
	p, ok := doc.Schemas[Source]
	if !ok {
		return nil, fmt.Errorf("the provider schemas have no %s (providers: %s)", Source, strings.Join(sortedKeys(doc.Schemas), ", "))
	}
	return &schema{resources: p.Resources, dataSources: p.DataSources}, nil
}

// fromDir reads a schema split one file per type.
func fromDir(dir string) (*schema, error) {
	s := &schema{}
	for _, part := range []struct {
		sub string
		m   *map[string]json.RawMessage
	}{{"resource_schemas", &s.resources}, {"data_source_schemas", &s.dataSources}} {
		paths, err := filepath.Glob(filepath.Join(dir, part.sub, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("reading the provider schema: no %s/*.json in %s", part.sub, dir)
		}
		*part.m = map[string]json.RawMessage{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("reading the provider schema: %w", err)
			}
			(*part.m)[strings.TrimSuffix(filepath.Base(p), ".json")] = b
		}
	}
	return s, nil
}

// fromTerraform installs the provider in a scratch directory (from a local
// mirror when there is one) and asks Terraform for its schema; it returns
// the installed version.
func fromTerraform(ctx context.Context, module, version string) (*schema, string, error) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		return nil, "", errors.New("terraform is not on PATH (make tf-tools installs it)")
	}
	constraint := version
	if constraint == "" {
		if constraint, err = moduleConstraint(module); err != nil {
			return nil, "", err
		}
	}
	work, err := os.MkdirTemp("", "awsschema-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(work)
	main := fmt.Sprintf("terraform {\n  required_providers {\n    aws = {\n      source  = %q\n      version = %q\n    }\n  }\n}\n", "hashicorp/aws", constraint)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(main), 0o644); err != nil {
		return nil, "", err
	}
	env := append(os.Environ(), "TF_IN_AUTOMATION=1", "TF_DATA_DIR="+filepath.Join(work, ".terraform"), "CHECKPOINT_DISABLE=1")
	if m := tfmirror.Find(Source, tfmirror.Candidates()); m != nil {
		cfg := filepath.Join(work, "cli.tfrc")
		if err := m.WriteCLIConfig(cfg); err != nil {
			return nil, "", err
		}
		env = append(env, "TF_CLI_CONFIG_FILE="+cfg)
		fmt.Fprintf(os.Stderr, "using the provider mirror %s (versions %s)\n", m.Dir, strings.Join(m.Versions, ", "))
	} else {
		fmt.Fprintf(os.Stderr, "no local mirror of %s found (set %s to one); installing from the registry\n", Source, tfmirror.EnvMirror)
	}
	tf := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = work, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("terraform %s: %w\n%s%s", args[0], err, out, stderr.String())
		}
		return out, nil
	}
	if _, err := tf("init", "-input=false", "-no-color", "-backend=false"); err != nil {
		return nil, "", fmt.Errorf("installing hashicorp/aws %s (without it, take the schema from a file: make aws-schema AWS_SCHEMA_ARGS='-json FILE -version V' or '-dir DIR -version V'): %w", constraint, err)
	}
	out, err := tf("providers", "schema", "-json")
	if err != nil {
		return nil, "", err
	}
	s, err := fromJSON(bytes.NewReader(out))
	if err != nil {
		return nil, "", err
	}
	vout, err := tf("version", "-json")
	if err != nil {
		return nil, "", err
	}
	var v struct {
		Providers map[string]string `json:"provider_selections"`
	}
	if err := json.Unmarshal(vout, &v); err != nil || v.Providers[Source] == "" {
		return nil, "", fmt.Errorf("terraform version -json does not say which %s version was installed: %v\n%s", Source, err, vout)
	}
	return s, v.Providers[Source], nil
}

// moduleConstraint returns the module's version constraint on hashicorp/aws.
func moduleConstraint(module string) (string, error) {
	paths, err := filepath.Glob(filepath.Join(module, "*.tf"))
	if err != nil {
		return "", err
	}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return "", fmt.Errorf("parsing %s: %s", path, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "terraform" {
				continue
			}
			for _, rp := range b.Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				a, ok := rp.Body.Attributes["aws"]
				if !ok {
					continue
				}
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || !v.Type().IsObjectType() || !v.Type().HasAttribute("version") {
					return "", fmt.Errorf("%s: required_providers.aws is not a literal { source, version }", path)
				}
				return v.GetAttr("version").AsString(), nil
			}
		}
	}
	return "", fmt.Errorf("no required_providers.aws version constraint in %s", module)
}

// write replaces out with the schemas of the given types and the index.
func write(out string, s *schema, version string, resources, dataSources []string) error {
	var missing []string
	for _, part := range []struct {
		kind  string
		types []string
		m     map[string]json.RawMessage
	}{{"resource", resources, s.resources}, {"data source", dataSources, s.dataSources}} {
		for _, t := range part.types {
			if _, ok := part.m[t]; !ok {
				missing = append(missing, part.kind+" "+t)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("hashicorp/aws %s has no %s: fix the module first (the schema test says what is wrong)", version, strings.Join(missing, ", "))
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	for _, part := range []struct {
		sub   string
		types []string
		m     map[string]json.RawMessage
	}{{"resource_schemas", resources, s.resources}, {"data_source_schemas", dataSources, s.dataSources}} {
		if err := os.MkdirAll(filepath.Join(out, part.sub), 0o755); err != nil {
			return err
		}
		for _, t := range part.types {
			var b bytes.Buffer
			if err := json.Indent(&b, part.m[t], "", "  "); err != nil {
				return fmt.Errorf("the schema of %s is not JSON: %w", t, err)
			}
			b.WriteByte('\n')
			if err := os.WriteFile(filepath.Join(out, part.sub, t+".json"), b.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	idx := Index{
		Comment:         "Written by go run ./internal/tools/awsschema (make aws-schema); do not edit.",
		Provider:        Source,
		Version:         version,
		ResourceTypes:   sortedKeys(s.resources),
		DataSourceTypes: sortedKeys(s.dataSources),
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "provider.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	readme := fmt.Sprintf(`# hashicorp/aws %s schema: the part the module uses

Test data of the schema test (terraform/schema_test.go, part of `+"`make test`"+`): the schema of every
aws_* resource and data source type that the Terraform module declares, one file per type as
`+"`terraform providers schema -json`"+` gives it, and in provider.json the names of all the provider's types.

Written by `+"`make aws-schema`"+` (go run ./internal/tools/awsschema -terraform, or -json FILE / -dir DIR
with -version); do not edit. When the module starts using a type that is not here, the schema test fails
and says to run it again.
`, version)
	return os.WriteFile(filepath.Join(out, "README.md"), []byte(readme), 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
