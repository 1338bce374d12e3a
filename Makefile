# Build, test and run the auto-remediation pipeline. Every tool the targets
# need is installed by the targets themselves (see `tools`, `browser` and
# `tf-tools`).

SHELL      := /bin/bash
GO         ?= go
GOARCH     ?= arm64
DIST       := dist
BIN        := bin
FUNCTIONS  := remediate sweep report sweepworker
GO_SOURCES := $(shell find . -name '*.go' -not -path './dist/*' -not -path './bin/*') go.mod go.sum
GOBIN      := $(shell $(GO) env GOPATH)/bin
# make exports command-line variables (make build GOARCH=amd64) and
# environment variables to every recipe: GOOS and GOARCH would then reach `go
# run`, `go test` and `go install` too, which would build their programs for
# the Lambda platform instead of this machine. Only the Lambda build sets them.
unexport GOOS GOARCH
# Lambda's name of the architecture the zips are built for (the module's
# `architecture` variable).
LAMBDA_ARCH = $(or $(LAMBDA_ARCH_$(GOARCH)),$(error GOARCH=$(GOARCH): Lambda runs arm64 or amd64 (x86_64) only))
LAMBDA_ARCH_arm64 := arm64
LAMBDA_ARCH_amd64 := x86_64
export PATH := $(GOBIN):$(PATH)
export GOFLAGS := -buildvcs=false

.PHONY: all build cli test lint bench benchstat fuzz demo tools browser e2e aws-schema clean tf-check tf-fmt tf-lint tf-sec tf-tools validate

all: build

## build: dist/<function>.zip for each Lambda function, for arm64 (Graviton)
## by default; GOARCH=amd64 builds them for x86_64 (deploy those with the
## module's architecture = "x86_64"). dist/architecture records which: the
## module refuses to deploy zips built for the other architecture.
build: $(FUNCTIONS:%=$(DIST)/%.zip)
	@echo $(LAMBDA_ARCH) > $(DIST)/architecture

# The zip depends on the sources and on the architecture it was built for;
# dist/architecture is written once every zip is built for the new one.
$(DIST)/.arch-$(GOARCH):
	@mkdir -p $(DIST) && rm -f $(DIST)/.arch-* $(DIST)/architecture && touch $@

$(DIST)/%.zip: $(GO_SOURCES) $(DIST)/.arch-$(GOARCH)
	@mkdir -p $(DIST)/$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags "-s -w" -o $(DIST)/$*/bootstrap ./functions/$*
	$(GO) run ./internal/tools/lambdazip $@ $(DIST)/$*/bootstrap
	@ls -l $@ | awk '{print "built " $$NF " (" $$5 " bytes, $(GOARCH) = Lambda $(LAMBDA_ARCH))"}'

## cli: bin/remediate for this machine
cli: $(BIN)/remediate
# The version remediate --version prints: the nearest tag and commit ("devel"
# outside a git checkout).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
$(BIN)/remediate: $(GO_SOURCES)
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $@ ./cmd/remediate

## tools: what the demo and the tests need, when it is missing: moto_server
## (pip install)
tools:
	@command -v moto_server >/dev/null || pip install 'moto[server]'

## browser: headless Chromium for the dashboard page's browser test
## (internal/demo), installed with apt-get when missing and possible (as
## root). Where it cannot be installed the test is skipped, and says so;
## REQUIRE_BROWSER=1 (CI) makes both fail instead.
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable
browser:
	@for b in $(BROWSERS); do command -v $$b >/dev/null && exit 0; done; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && apt-get install -y chromium; \
	  elif [ -n "$$REQUIRE_BROWSER" ]; then \
	    echo "no Chromium, and it cannot be installed here (needs root and apt-get)"; exit 1; \
	  else \
	    echo "NOTE: no Chromium, and it cannot be installed here (needs root and apt-get): the dashboard browser test will be skipped."; \
	    echo "      Install it (sudo apt-get install chromium, or sudo make browser) to run it."; \
	  fi

## test: every test, including the ones against the AWS emulator and the
## dashboard page in headless Chromium, and the Terraform checks
test: tools browser lint tf-check
	$(GO) test -count=1 -timeout 8m ./...

## e2e: deploy terraform/ for real: build the zips, then for each example in
## terraform/examples/ apply the module to a private moto_server, read back
## what was deployed, re-plan (no changes allowed) and destroy. It needs the
## hashicorp/aws provider: from a local filesystem mirror when there is one
## (TF_PROVIDER_MIRROR, Terraform's implied mirror directories, /opt/*, ...),
## else from the registry; when it cannot be installed the test says so and
## skips.
e2e: tools tf-tools build
	E2E=1 E2E_DIST=$(abspath $(DIST)) $(GO) test -count=1 -timeout 15m -v -run 'TestDeploy' ./terraform/e2e/

## aws-schema: refresh terraform/testdata/aws-schema, the part of the
## hashicorp/aws schema the module uses (read by the schema test), with
## `terraform providers schema -json`. AWS_SCHEMA_ARGS='-dir DIR -version V'
## takes it from a full schema split per type instead.
AWS_SCHEMA_ARGS ?= -terraform -version '~> 6.0'
aws-schema:
	$(GO) run ./internal/tools/awsschema $(AWS_SCHEMA_ARGS)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## tf-check: the Terraform static checks of terraform/ and terraform/modules/*:
## terraform fmt, tflint (recommended rules of the bundled terraform ruleset,
## no warnings) and tfsec (no findings). The Go tests in terraform/ (go test
## ./terraform) add the provider schema check and the consistency of the
## modules with the code.
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

# The root module and the modules it ships (modules/member): tflint walks
# them with --recursive; tfsec scans one root module at a time.
tf-lint: tf-tools
	tflint --chdir=$(TF_DIR) --recursive --minimum-failure-severity=notice --format=compact

tf-sec: tf-tools
	@set -e; for m in $(TF_DIR) $(wildcard $(TF_DIR)/modules/*); do \
	  echo "tfsec $$m"; tfsec $$m --no-colour --concise-output --minimum-severity LOW; \
	done

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
	$(GO) test -run '^$$' -fuzz FuzzParseCloudTrail -fuzztime $(FUZZTIME) ./events
	$(GO) test -run '^$$' -fuzz 'FuzzParse$$' -fuzztime $(FUZZTIME) ./events

## demo: the whole pipeline on the local emulator (ARGS=--watch keeps it running;
## ACCOUNTS=3, or ARGS="--accounts 3", runs it across an organisation of 3
## member accounts)
demo: tools $(BIN)/remediate
	$(BIN)/remediate demo $(if $(ACCOUNTS),--accounts $(ACCOUNTS)) $(ARGS)

clean:
	rm -rf $(DIST) $(BIN)
