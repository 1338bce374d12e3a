# Build, test and run the auto-remediation pipeline. Every tool the targets
# need is installed by the targets themselves (see `tools`).

SHELL      := /bin/bash
GO         ?= go
GOARCH     ?= arm64
DIST       := dist
BIN        := bin
FUNCTIONS  := remediate
GO_SOURCES := $(shell find . -name '*.go' -not -path './dist/*' -not -path './bin/*') go.mod go.sum
GOBIN      := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
export GOFLAGS := -buildvcs=false

.PHONY: all build cli test lint bench fuzz demo tools clean

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

## test: every test, including the ones against the AWS emulator
test: tools lint
	$(GO) test -count=1 -timeout 8m ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: the performance measurements (reported, not asserted)
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 20m ./...

## fuzz: run the event parser fuzzer for a while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseComplianceChange -fuzztime $(FUZZTIME) ./events

## demo: the whole pipeline on the local emulator (ARGS=--watch keeps it running)
demo: tools $(BIN)/remediate
	$(BIN)/remediate demo $(ARGS)

clean:
	rm -rf $(DIST) $(BIN)
