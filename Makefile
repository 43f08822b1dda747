# Nimbus: `make run` brings up a whole cloud locally; `make test` runs
# every test against real PostgreSQL, Redis, libvirt, the openstack CLI and
# headless Chromium. Both install what they need first (scripts/deps.sh).

GO        ?= go
BIN       := bin
DATA_DIR  ?= $(or $(NIMBUS_DATA_DIR),.data)
TEMPL     := $(GO) tool templ

.PHONY: all deps assets generate build run test bench tempest check-generated clean

all: build

deps:
	scripts/deps.sh

# Front-end assets (tailwind CSS, htmx, noVNC) into static/dist, embedded
# into the nimbus binary. Built, not committed.
assets: deps
	npm run --silent build

# templ components: the generated *_templ.go files are committed, and
# check-generated (part of make test) fails when they are stale.
generate:
	$(TEMPL) generate -path views

build: deps assets generate
	$(GO) build -o $(BIN)/nimbus ./web
	$(GO) build -o $(BIN)/nimbus-agent ./compute-agent

run: build
	scripts/run.sh $(DATA_DIR)

test: build check-generated
	scripts/test.sh

bench: build
	scripts/bench.sh

# OpenStack's tempest (compute, identity, image API tests) against the
# running make run stack, or one it starts (docs/tempest.md).
tempest:
	scripts/tempest.sh $(DATA_DIR)

check-generated:
	$(TEMPL) generate -path views >/dev/null
	@git diff --exit-code --stat -- views || { echo "views/*_templ.go are stale: run make generate and commit"; exit 1; }

clean:
	rm -rf $(BIN) static/dist/vendor static/dist/*.css static/dist/*.js
