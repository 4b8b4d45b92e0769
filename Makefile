# Mosaic — one front door. A fresh machine needs only Go, Node (>= 20) and make:
# every target installs what it needs.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
FUNCTIONS   := batch-ingest stream-ingest schema-api dataset-api profile-api collection-api profile-jobs
BIN         := $(CURDIR)/bin
NODE_DIR    := localstack/node
NODE_BIN    := $(NODE_DIR)/node_modules/.bin
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE         := $(BIN)/aws-lambda-rie
# staticcheck 2026.2.2
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck
ENV         ?= dev
EDGE        ?= 127.0.0.1:4566
DATA        ?=
TENANT      ?= mosaic
GO_SOURCES  := $(shell find functions shared localstack cmd -name '*.go' -not -path '*/node_modules/*' 2>/dev/null) go.mod go.sum

export CDK_DISABLE_CLI_TELEMETRY := true
export MOSAIC_TOOLS_DIR := $(CURDIR)/$(NODE_DIR)/node_modules
export MOSAIC_RIE := $(RIE)

GOFMT_LIST   := find . -name '*.go' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

.PHONY: help
help: ## show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------- tools

.PHONY: tools
tools: $(NODE_DIR)/node_modules/.installed $(RIE) $(STATICCHECK) awscli ## install the pinned Node tools, aws-lambda-rie, staticcheck and the AWS CLI

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

$(RIE):
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: awscli
awscli:
	@command -v aws >/dev/null 2>&1 || { echo "installing the AWS CLI (Debian awscli)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq awscli; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq awscli; fi; }

# ---------------------------------------------------------------- build

.PHONY: build
build: $(foreach f,$(FUNCTIONS),dist/$(f)/bootstrap) ## build the Lambda bootstraps for AWS (linux/arm64)

dist/%/bootstrap: $(GO_SOURCES)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

.PHONY: build-local
build-local: $(foreach f,$(FUNCTIONS),dist/local/$(f)/bootstrap) $(BIN)/mosaic-local ## build the bootstraps and the local cloud for this machine

dist/local/%/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

$(BIN)/mosaic-local: $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/mosaic-local

# ---------------------------------------------------------------- run

.PHONY: dev
dev: tools build-local ## run Mosaic on the local cloud (DATA=dir keeps data across restarts, TENANT=acme sets the tenant id)
	$(BIN)/mosaic-local -edge $(EDGE) -dist dist/local -rie $(RIE) -outputs cdk-outputs-local.json -tenant $(TENANT) $(if $(DATA),-data $(DATA))

# ---------------------------------------------------------------- test

.PHONY: test
test: tools build-local ## run every test: unit, store, infra (with the race detector) and end-to-end
	@echo "== format, vet and staticcheck"
	@unformatted=$$($(GOFMT_LIST)); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./localstack/e2e/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./localstack/e2e/...
	@echo "== unit, store and infra tests, with the race detector"
	MOSAIC_REQUIRE_EMULATORS=1 $(GO) test -race -count=1 -timeout 15m ./...
	@echo "== end-to-end tests on the local cloud"
	MOSAIC_REQUIRE_EMULATORS=1 MOSAIC_LOCAL_BIN=$(BIN)/mosaic-local MOSAIC_DIST=$(CURDIR)/dist/local \
		$(GO) test -count=1 -tags e2e -timeout 18m ./localstack/e2e/...

.PHONY: lint
lint: tools ## gofmt, go vet, staticcheck, and cfn-lint on the synthesized templates
	@unformatted=$$($(GOFMT_LIST)); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(MAKE) synth
	cfn-lint cdk.out/*.template.json

.PHONY: bench
bench: build-local ## measure the speed bars of docs/quality.md (writes bench/results.json and bench/REPORT.md; BENCH_ARGS='-only p2,p6 -p7-large=false' runs a subset)
	$(GO) run ./cmd/mosaic-bench -benchtime 1s -count 5 $(BENCH_ARGS)

# ---------------------------------------------------------------- deploy

.PHONY: synth
synth: tools build ## synthesize the CloudFormation templates (ENV=dev|staging|prod)
	$(NODE_BIN)/cdk synth -c env=$(ENV) --quiet

.PHONY: deploy
deploy: tools build ## deploy to AWS with your credentials (ENV=dev|staging|prod)
	$(NODE_BIN)/cdk deploy --all -c env=$(ENV) --require-approval never --outputs-file cdk-outputs-$(ENV).json

.PHONY: localstack-up
localstack-up: ## start LocalStack with Docker (needs LOCALSTACK_AUTH_TOKEN)
	docker compose -f localstack/docker-compose.yml up -d --wait

.PHONY: localstack-deploy
localstack-deploy: tools build ## deploy the stacks into a running LocalStack
	AWS_ENDPOINT_URL=http://localhost:4566 AWS_ENDPOINT_URL_S3=http://localhost:4566 AWS_S3_FORCE_PATH_STYLE=1 \
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
		sh -c '$(NODE_BIN)/cdklocal bootstrap -c env=$(ENV) && $(NODE_BIN)/cdklocal deploy --all -c env=$(ENV) --require-approval never --outputs-file cdk-outputs-localstack.json'

.PHONY: clean
clean: ## remove build output, synthesized templates and local data
	rm -rf dist cdk.out .local cdk-outputs*.json
