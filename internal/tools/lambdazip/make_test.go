package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// `make build GOARCH=<the other architecture>` builds zips whose bootstrap
// is for that architecture, and records Lambda's name for it. make exports
// command-line variables to recipes, so GOARCH once reached `go run
// ./internal/tools/lambdazip` too, which then could not run here.
func TestMakeBuildForTheOtherArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function: not with -short")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	goarch, machine, lambdaArch := "arm64", elf.EM_AARCH64, "arm64"
	if runtime.GOARCH == "arm64" {
		goarch, machine, lambdaArch = "amd64", elf.EM_X86_64, "x86_64"
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile at the repository root: %v", err)
	}
	dist := t.TempDir()
	cmd := exec.Command(makeBin, "-C", root, "build", "GOARCH="+goarch, "DIST="+dist)
	// Not the settings of a make that runs this test (make test).
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GOARCH", "GOOS":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make build GOARCH=%s: %v\n%s", goarch, err, out)
	}
	zips, _ := filepath.Glob(filepath.Join(dist, "*.zip"))
	if len(zips) == 0 {
		t.Fatalf("make build wrote no zip to %s:\n%s", dist, out)
	}
	for _, z := range zips {
		if m := bootstrapMachine(t, z); m != machine {
			t.Errorf("%s: bootstrap is for %v, want %v (GOARCH=%s)", filepath.Base(z), m, machine, goarch)
		}
	}
	stamp, err := os.ReadFile(filepath.Join(dist, "architecture"))
	if err != nil || strings.TrimSpace(string(stamp)) != lambdaArch {
		t.Errorf("dist/architecture = %q (%v), want %q", stamp, err, lambdaArch)
	}
}

func bootstrapMachine(t *testing.T, path string) elf.Machine {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("bootstrap")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	e, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: bootstrap is not an ELF executable: %v", path, err)
	}
	return e.Machine
}
