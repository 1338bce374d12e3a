package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestModuleTypesFollowsLocalModules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "root", "main.tf"), `
resource "aws_sqs_queue" "q" {}
resource "aws_sqs_queue" "r" {}
resource "terraform_data" "x" {}
data "aws_region" "current" {}
module "local" { source = "../child" }
module "registry" { source = "terraform-aws-modules/s3-bucket/aws" }
`)
	// A module shipped in root/modules/, called by its users, not by root.
	writeFile(t, filepath.Join(dir, "root", "modules", "member", "main.tf"), `
resource "aws_iam_role" "r" {}
data "aws_partition" "current" {}
`)
	writeFile(t, filepath.Join(dir, "child", "main.tf"), `
resource "aws_sns_topic" "t" {}
module "back" { source = "../root" }
`)
	res, data, err := ModuleTypes(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"aws_iam_role", "aws_sns_topic", "aws_sqs_queue"}; !slices.Equal(res, want) {
		t.Errorf("resources %q, want %q", res, want)
	}
	if want := []string{"aws_partition", "aws_region"}; !slices.Equal(data, want) {
		t.Errorf("data sources %q, want %q", data, want)
	}
}

func TestWriteKeepsOnlyTheModulesTypes(t *testing.T) {
	full := t.TempDir()
	for _, f := range []string{"resource_schemas/aws_sqs_queue.json", "resource_schemas/aws_s3_bucket.json", "data_source_schemas/aws_region.json"} {
		writeFile(t, filepath.Join(full, f), `{"version":0,"block":{"attributes":{"name":{"type":"string","optional":true}}}}`)
	}
	s, err := fromDir(full)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "subset")
	writeFile(t, filepath.Join(out, "resource_schemas", "aws_stale.json"), "{}")
	if err := write(out, s, "6.19.0", []string{"aws_sqs_queue"}, []string{"aws_region"}); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			files = append(files, rel)
		}
		return nil
	})
	want := []string{"README.md", "data_source_schemas/aws_region.json", "provider.json", "resource_schemas/aws_sqs_queue.json"}
	if !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	var idx Index
	raw, err := os.ReadFile(filepath.Join(out, "provider.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Version != "6.19.0" || !slices.Equal(idx.ResourceTypes, []string{"aws_s3_bucket", "aws_sqs_queue"}) || !slices.Equal(idx.DataSourceTypes, []string{"aws_region"}) {
		t.Errorf("index %+v: want the version and every type of the provider", idx)
	}

	// A type the provider lacks is the module's mistake, not a reason to
	// write a subset without it.
	err = write(out, s, "6.19.0", []string{"aws_sqs_queueue"}, nil)
	if err == nil || !strings.Contains(err.Error(), "resource aws_sqs_queueue") {
		t.Errorf("got %v, want an error naming the missing type", err)
	}
}

func TestFromJSONReadsTheProvidersSchema(t *testing.T) {
	doc := `{"format_version":"1.0","provider_schemas":{
  "registry.terraform.io/hashicorp/random":{"resource_schemas":{"random_id":{"version":0,"block":{}}}},
  "registry.terraform.io/hashicorp/aws":{"resource_schemas":{"aws_sqs_queue":{"version":0,"block":{}}},"data_source_schemas":{"aws_region":{"version":0,"block":{}}}}}}`
	s, err := fromJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.resources) != 1 || s.resources["aws_sqs_queue"] == nil || s.dataSources["aws_region"] == nil {
		t.Errorf("got %d resources, %d data sources: want aws's only", len(s.resources), len(s.dataSources))
	}
	if _, err := fromJSON(strings.NewReader(`{"provider_schemas":{}}`)); err == nil {
		t.Error("no error for a schema without hashicorp/aws")
	}
}
