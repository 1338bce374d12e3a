package terraform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The part of the AWS provider schema the module uses (testdata/aws-schema,
// written by `make aws-schema`: one file per type as `terraform providers
// schema -json` gives it) stands in for `terraform validate`, which needs
// the provider binary.

type schemaAttr struct {
	Type       json.RawMessage `json:"type"`
	Required   bool            `json:"required"`
	Optional   bool            `json:"optional"`
	Computed   bool            `json:"computed"`
	Deprecated bool            `json:"deprecated"`
}

type schemaBlockType struct {
	NestingMode string      `json:"nesting_mode"`
	Block       schemaBlock `json:"block"`
	MinItems    int         `json:"min_items"`
	MaxItems    int         `json:"max_items"`
}

type schemaBlock struct {
	Attributes map[string]schemaAttr      `json:"attributes"`
	BlockTypes map[string]schemaBlockType `json:"block_types"`
	Deprecated bool                       `json:"deprecated"`
}

// schemaIndex is testdata/aws-schema/provider.json: the provider version of
// the subset and the names of all its types.
type schemaIndex struct {
	Version         string   `json:"version"`
	ResourceTypes   []string `json:"resource_types"`
	DataSourceTypes []string `json:"data_source_types"`
}

// refreshHint tells how to update the subset.
const refreshHint = "run `make aws-schema` (go run ./internal/tools/awsschema -terraform, or -dir/-json with a full schema) to add it"

type schemaSet struct {
	dir   string
	index schemaIndex
	cache map[string]*schemaBlock
}

// loadSchemas reads the schema subset in dir.
func loadSchemas(t testing.TB, dir string) *schemaSet {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "provider.json"))
	if err != nil {
		t.Fatalf("reading the provider schema subset: %v (it is written by `make aws-schema`)", err)
	}
	s := &schemaSet{dir: dir, cache: map[string]*schemaBlock{}}
	if err := json.Unmarshal(raw, &s.index); err != nil {
		t.Fatalf("reading %s/provider.json: %v", dir, err)
	}
	if s.index.Version == "" || len(s.index.ResourceTypes) < 100 || len(s.index.DataSourceTypes) < 10 {
		t.Fatalf("%s/provider.json lacks the provider version or its type names", dir)
	}
	return s
}

// errNotInSubset is returned for a type the provider has but the subset
// does not.
var errNotInSubset = errors.New("not in the schema subset")

// load returns the schema of a resource ("resource") or data source
// ("data"); nil when the type is unknown.
func (s *schemaSet) load(kind, typ string) (*schemaBlock, error) {
	key := kind + "." + typ
	if b, ok := s.cache[key]; ok {
		return b, nil
	}
	sub := "resource_schemas"
	names := s.index.ResourceTypes
	if kind == "data" {
		sub, names = "data_source_schemas", s.index.DataSourceTypes
	}
	if !slices.Contains(names, typ) {
		s.cache[key] = nil
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, sub, typ+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotInSubset
	} else if err != nil {
		return nil, err
	}
	var doc struct {
		Block schemaBlock `json:"block"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s/%s.json: %w", sub, typ, err)
	}
	s.cache[key] = &doc.Block
	return &doc.Block, nil
}

// Meta-arguments Terraform itself handles, at the top of a resource or data
// block.
var metaAttributes = []string{"count", "for_each", "provider", "depends_on"}
var metaBlocks = []string{"lifecycle", "provisioner", "connection"}

// checkSchemas returns every disagreement between the resource and data
// blocks of files and the provider schema.
func checkSchemas(s *schemaSet, files map[string]*hclsyntax.Body) ([]string, error) {
	var problems []string
	names := sortedKeys(files)
	for _, n := range names {
		for _, b := range files[n].Blocks {
			if (b.Type != "resource" && b.Type != "data") || len(b.Labels) != 2 {
				continue
			}
			typ := b.Labels[0]
			addr := fmt.Sprintf("%s:%d %s.%s", n, b.DefRange().Start.Line, typ, b.Labels[1])
			if b.Type == "data" {
				addr = fmt.Sprintf("%s:%d data.%s.%s", n, b.DefRange().Start.Line, typ, b.Labels[1])
			}
			if !strings.HasPrefix(typ, "aws_") {
				// terraform_data and other built-ins are checked by Terraform.
				continue
			}
			sch, err := s.load(b.Type, typ)
			if errors.Is(err, errNotInSubset) {
				problems = append(problems, fmt.Sprintf("%s: the provider schema subset (testdata/aws-schema) lacks the %s type %q: %s", addr, b.Type, typ, refreshHint))
				continue
			} else if err != nil {
				return nil, err
			}
			if sch == nil {
				problems = append(problems, fmt.Sprintf("%s: unknown %s type %q in hashicorp/aws %s", addr, b.Type, typ, s.index.Version))
				continue
			}
			problems = append(problems, checkBody(addr, b.Body, sch, true)...)
		}
	}
	for _, n := range names {
		refs, err := checkReferences(s, n, files[n])
		if err != nil {
			return nil, err
		}
		problems = append(problems, refs...)
	}
	return problems, nil
}

// checkReferences checks that aws_x.name.attr and data.aws_x.name.attr
// references name an attribute (or block) of the type's schema.
func checkReferences(s *schemaSet, file string, body *hclsyntax.Body) ([]string, error) {
	var problems []string
	var firstErr error
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		e, ok := n.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			return nil
		}
		tr := e.Traversal
		kind, rest := "resource", tr[1:]
		if tr.RootName() == "data" {
			kind = "data"
		} else if !strings.HasPrefix(tr.RootName(), "aws_") {
			return nil
		}
		var typ string
		if kind == "data" {
			if len(rest) < 1 {
				return nil
			}
			a, ok := rest[0].(hcl.TraverseAttr)
			if !ok {
				return nil
			}
			typ, rest = a.Name, rest[1:]
		} else {
			typ = tr.RootName()
		}
		if !strings.HasPrefix(typ, "aws_") || len(rest) < 2 {
			return nil
		}
		rest = rest[1:] // the resource name
		if _, ok := rest[0].(hcl.TraverseIndex); ok {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return nil
		}
		attr, ok := rest[0].(hcl.TraverseAttr)
		if !ok {
			return nil
		}
		sch, err := s.load(kind, typ)
		if errors.Is(err, errNotInSubset) {
			return nil // reported with the block
		} else if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		if sch == nil {
			return nil // reported with the block
		}
		_, isAttr := sch.Attributes[attr.Name]
		_, isBlock := sch.BlockTypes[attr.Name]
		if !isAttr && !isBlock {
			problems = append(problems, fmt.Sprintf("%s:%d: %s has no attribute %q", file, e.SrcRange.Start.Line, typ, attr.Name))
		} else if isAttr && sch.Attributes[attr.Name].Deprecated {
			problems = append(problems, fmt.Sprintf("%s:%d: %s.%s is deprecated", file, e.SrcRange.Start.Line, typ, attr.Name))
		}
		return nil
	})
	return problems, firstErr
}

func checkBody(addr string, body *hclsyntax.Body, sch *schemaBlock, top bool) []string {
	var problems []string
	for name, a := range body.Attributes {
		if top && slices.Contains(metaAttributes, name) {
			continue
		}
		at, ok := sch.Attributes[name]
		if !ok {
			if _, isBlock := sch.BlockTypes[name]; isBlock {
				problems = append(problems, fmt.Sprintf("%s: %s is a block, written as an attribute (%s = ...)", addr, name, name))
			} else {
				problems = append(problems, fmt.Sprintf("%s: unknown attribute %q", addr, name))
			}
			continue
		}
		if at.Computed && !at.Optional && !at.Required {
			problems = append(problems, fmt.Sprintf("%s: %s is computed by the provider and cannot be set", addr, name))
		}
		if at.Deprecated {
			problems = append(problems, fmt.Sprintf("%s: %s is deprecated", addr, name))
		}
		// Literal values (no references) must convert to the attribute type.
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() && len(a.Expr.Variables()) == 0 {
			if ty, err := ctyjson.UnmarshalType(at.Type); err == nil && v.IsKnown() && !v.IsNull() {
				if _, err := convert.Convert(v, ty); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s: %v (want %s)", addr, name, err, ty.FriendlyName()))
				}
			}
		}
	}
	for name, at := range sch.Attributes {
		if _, set := body.Attributes[name]; at.Required && !set {
			problems = append(problems, fmt.Sprintf("%s: missing required attribute %q", addr, name))
		}
	}

	static := map[string]int{}
	dynamic := map[string]bool{}
	for _, blk := range body.Blocks {
		name := blk.Type
		if top && slices.Contains(metaBlocks, name) {
			continue
		}
		content := blk.Body
		if name == "dynamic" {
			if len(blk.Labels) != 1 {
				problems = append(problems, fmt.Sprintf("%s: dynamic block without a label", addr))
				continue
			}
			name = blk.Labels[0]
			dynamic[name] = true
			var c *hclsyntax.Block
			for _, inner := range blk.Body.Blocks {
				if inner.Type == "content" {
					c = inner
				}
			}
			if c == nil {
				problems = append(problems, fmt.Sprintf("%s: dynamic %q has no content block", addr, name))
				continue
			}
			content = c.Body
		} else {
			static[name]++
		}
		bt, ok := sch.BlockTypes[name]
		if !ok {
			if _, isAttr := sch.Attributes[name]; isAttr {
				problems = append(problems, fmt.Sprintf("%s: %s is an attribute, written as a block (%s { ... })", addr, name, name))
			} else {
				problems = append(problems, fmt.Sprintf("%s: unknown block %q", addr, name))
			}
			continue
		}
		if bt.Block.Deprecated {
			problems = append(problems, fmt.Sprintf("%s: block %s is deprecated", addr, name))
		}
		problems = append(problems, checkBody(addr+" "+name, content, &bt.Block, false)...)
	}
	for name, bt := range sch.BlockTypes {
		max := bt.MaxItems
		if bt.NestingMode == "single" || bt.NestingMode == "group" {
			max = 1
		}
		if max > 0 && static[name] > max {
			problems = append(problems, fmt.Sprintf("%s: %d %s blocks, at most %d allowed", addr, static[name], name, max))
		}
		if bt.MinItems > 0 && static[name] < bt.MinItems && !dynamic[name] {
			problems = append(problems, fmt.Sprintf("%s: missing required block %q (at least %d)", addr, name, bt.MinItems))
		}
	}
	sort.Strings(problems)
	return problems
}

// TestTerraformMatchesProviderSchema checks every resource and data source
// of the module against the hashicorp/aws schema in testdata/aws-schema
// (6.x, the newest major version the module supports): unknown types, types
// the subset lacks,
// unknown attributes and blocks, missing required ones, block/attribute
// confusion, too many blocks, literal values of the wrong type, deprecated
// arguments.
func TestTerraformMatchesProviderSchema(t *testing.T) {
	s := loadSchemas(t, filepath.Join(moduleDir(t), "testdata", "aws-schema"))
	m := loadModule(t, moduleDir(t))
	n := 0
	for _, body := range m.files {
		for _, b := range body.Blocks {
			if b.Type == "resource" || b.Type == "data" {
				n++
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d resources and data sources found: is this the module?", n)
	}
	problems, err := checkSchemas(s, m.files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestSchemaCheckCatchesMistakes proves each kind of check can fail.
func TestSchemaCheckCatchesMistakes(t *testing.T) {
	s := loadSchemas(t, filepath.Join(moduleDir(t), "testdata", "aws-schema"))
	for _, tc := range []struct{ name, src, want string }{
		{"unknown type", `resource "aws_sqs_queueue" "q" {}`, `unknown resource type "aws_sqs_queueue"`},
		{"unknown data source", `data "aws_regions_of_the_world" "r" {}`, `unknown data type`},
		// A type of the provider the module does not use (yet).
		{"type missing from the subset", `resource "aws_gamelift_fleet" "f" {}`, "lacks the resource type \"aws_gamelift_fleet\": run `make aws-schema`"},
		{"data source missing from the subset", `data "aws_sagemaker_prebuilt_ecr_image" "i" {}`, "lacks the data type \"aws_sagemaker_prebuilt_ecr_image\": run `make aws-schema`"},
		{"unknown attribute", `resource "aws_sqs_queue" "q" { retention = 60 }`, `unknown attribute "retention"`},
		{"missing required", `resource "aws_sqs_queue_policy" "p" { queue_url = "u" }`, `missing required attribute "policy"`},
		{"block as attribute", `resource "aws_lambda_function" "f" {
  function_name = "f"
  role          = "r"
  tracing_config = { mode = "Active" }
}`, `tracing_config is a block`},
		{"attribute as block", `resource "aws_sqs_queue" "q" {
  tags { a = "b" }
}`, `tags is an attribute`},
		{"too many blocks", `resource "aws_lambda_function" "f" {
  function_name = "f"
  role          = "r"
  tracing_config { mode = "Active" }
  tracing_config { mode = "PassThrough" }
}`, `2 tracing_config blocks, at most 1`},
		{"missing required block", `resource "aws_config_config_rule" "r" { name = "x" }`, `missing required block "source"`},
		{"nested unknown", `resource "aws_cloudwatch_event_target" "t" {
  rule = "r"
  arn  = "a"
  retry_policy { maximum_retries = 3 }
}`, `retry_policy: unknown attribute "maximum_retries"`},
		{"wrong literal type", `resource "aws_lambda_function" "f" {
  function_name = "f"
  role          = "r"
  memory_size   = "lots"
}`, `memory_size`},
		{"unknown reference", `output "x" { value = aws_sqs_queue.q.queue_arn }`, `aws_sqs_queue has no attribute "queue_arn"`},
		{"deprecated reference", `output "x" { value = data.aws_region.r.name }`, `aws_region.name is deprecated`},
		{"deprecated", `data "aws_region" "r" {}
output "x" { value = 1 }
resource "aws_cloudwatch_event_rule" "r" { is_enabled = true }`, `is_enabled is deprecated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := hclparse.NewParser().ParseHCL([]byte(tc.src), "mutation.tf")
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			problems, err := checkSchemas(s, map[string]*hclsyntax.Body{"mutation.tf": f.Body.(*hclsyntax.Body)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q, got %q", tc.want, problems)
			}
		})
	}
}
