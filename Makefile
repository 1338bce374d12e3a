# Build, test and run the auto-remediation pipeline. Every tool the targets
# need is installed by the targets themselves (see `tools`).

SHELL      := /bin/bash
GO         ?= go
GOARCH     ?= arm64
DIST       := dist
BIN        := bin
FUNCTIONS  := remediate sweep report
GO_SOURCES := $(shell find . -name '*.go' -not -path './dist/*' -not -path './bin/*') go.mod go.sum
GOBIN      := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
export GOFLAGS := -buildvcs=false

.PHONY: all build cli test lint bench benchstat fuzz demo tools clean tf-check tf-fmt tf-lint tf-sec tf-tools validate

all: build

## build: dist/<function>.zip for each Lambda function (GOARCH=arm64 by default, GOARCH=amd64 for x86)
build: $(FUNCTIONS:%=$(DIST)/%.zip)

# The zip depends on the sources and on the architecture it was built for.
$(DIST)/.arch-$(GOARCH):
	@mkdir -p $(DIST) && rm -f $(DIST)/.arch-* && touch $@

$(DIST)/%.zip: $(GO_SOURCES) $(DIST)/.arch-$(GOARCH)
	@mkdir -p $(DIST)/$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags "-s -w" -o $(DIST)/$*/bootstrap ./functions/$*
	$(GO) run ./internal/tools/lambdazip $@ $(DIST)/$*/bootstrap
	@ls -l $@ | awk '{print "built " $$NF " (" $$5 " bytes, $(GOARCH))"}'

## cli: bin/remediate for this machine
cli: $(BIN)/remediate
$(BIN)/remediate: $(GO_SOURCES)
	$(GO) build -trimpath -o $@ ./cmd/remediate

## tools: install what the targets need when it is missing
tools:
	@command -v moto_server >/dev/null || pip install 'moto[server]'
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }

## test: every test, including the ones against the AWS emulator, and the Terraform checks
test: tools lint tf-check
	$(GO) test -count=1 -timeout 8m ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## tf-check: the Terraform static checks: terraform fmt, tflint (recommended
## rules of the bundled terraform ruleset, no warnings) and tfsec (no
## findings). The Go tests in terraform/ (go test ./terraform) add the
## provider schema check and the consistency of the module with the code.
TF_DIR         := terraform
TERRAFORM_VER  := v1.5.7
TFLINT_VER     := v0.53.0
TFSEC_VER      := v1.28.14
tf-check: tf-fmt tf-lint tf-sec

tf-tools:
	@command -v terraform >/dev/null || { echo "installing terraform $(TERRAFORM_VER) into $(GOBIN)"; $(GO) install github.com/hashicorp/terraform@$(TERRAFORM_VER); }
	@command -v tflint >/dev/null || { echo "installing tflint $(TFLINT_VER) into $(GOBIN)"; $(GO) install github.com/terraform-linters/tflint@$(TFLINT_VER); }
	@command -v tfsec >/dev/null || { echo "installing tfsec $(TFSEC_VER) into $(GOBIN)"; $(GO) install github.com/aquasecurity/tfsec/cmd/tfsec@$(TFSEC_VER); }

tf-fmt: tf-tools
	terraform fmt -check -recursive -diff $(TF_DIR)

tf-lint: tf-tools
	tflint --chdir=$(TF_DIR) --minimum-failure-severity=notice --format=compact

tf-sec: tf-tools
	tfsec $(TF_DIR) --no-colour --concise-output --minimum-severity LOW

## validate: terraform init + validate with the real provider. Where the
## provider cannot be downloaded (no access to registry.terraform.io) it says
## so and succeeds: go test ./terraform checks the provider schema instead.
validate: tf-tools
	@data=$$(mktemp -d); trap 'rm -rf "$$data"' EXIT; \
	  if ! out=$$(cd $(TF_DIR) && TF_DATA_DIR=$$data terraform init -backend=false -input=false -no-color 2>&1); then \
	    if grep -qE 'hashicorp/aws' <<<"$$out" && grep -qE 'Failed to query available provider packages|Failed to install provider|could not connect to registry|no such host|i/o timeout|connection refused|TLS handshake timeout' <<<"$$out"; then \
	      echo "NOTE: terraform validate skipped: the hashicorp/aws provider cannot be downloaded here:"; \
	      grep -E 'Error:|could not connect|no such host|timeout|refused' <<<"$$out" | sed 's/^/  /'; \
	      echo "  The module is checked against the provider schema by: go test ./terraform"; \
	      exit 0; \
	    fi; \
	    echo "$$out"; exit 1; \
	  fi; \
	  cd $(TF_DIR) && TF_DATA_DIR=$$data terraform validate -no-color

## bench: the performance measurements (reported, not asserted): the Go
## benchmarks (functions/remediate: cold start, invoke times and peak RSS of the
## built bootstrap) and the size of each $(GOARCH) Lambda zip (target < 6 MiB for remediate.zip,
## the event path's cold start)
BENCH_COUNT ?= 1
bench: tools build
	@mkdir -p $(DIST)
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 30m ./... | tee $(DIST)/bench.txt
	@for z in $(FUNCTIONS:%=$(DIST)/%.zip); do \
	  stat -c '%s %n' $$z | awk '{ printf "zip size %s ($(GOARCH)): %d bytes = %.2f MiB%s\n", $$2, $$1, $$1/1048576, ($$2 ~ /remediate.zip$$/ ? " (target < 6 MiB)" : "") }'; \
	done

## benchstat: compare two `make bench` outputs, e.g. make benchstat OLD=old.txt NEW=dist/bench.txt
## (use BENCH_COUNT=6 or more for meaningful statistics)
NEW ?= $(DIST)/bench.txt
benchstat:
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
	benchstat $(OLD) $(NEW)

## fuzz: run the event parser fuzzer for a while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseComplianceChange -fuzztime $(FUZZTIME) ./events

## demo: the whole pipeline on the local emulator (ARGS=--watch keeps it running)
demo: tools $(BIN)/remediate
	$(BIN)/remediate demo $(ARGS)

clean:
	rm -rf $(DIST) $(BIN)
