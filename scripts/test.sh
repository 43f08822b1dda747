#!/usr/bin/env bash
# Runs every test against a private PostgreSQL and Redis made for this run
# (random free ports, removed afterwards). Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/nimbus-test.XXXXXX)
cleanup() { scripts/services.sh stop "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT
NIMBUS_PG_FSYNC=off scripts/services.sh start "$dir"
set -a; . "$dir/env"; set +a
export NIMBUS_TEST_BIN_DIR=$PWD/bin
# Real QEMU for the end-to-end tests: libvirt's daemons (no systemd here)
# and the tiny image, built once and kept in .data/test-image.
scripts/libvirt.sh qemu:///system
scripts/build-test-image.sh .data/test-image >/dev/null
export NIMBUS_TEST_IMAGE=$PWD/.data/test-image/tiny.qcow2
mkdir -p test-artifacts
# -p 2: two packages at a time on these two cores. Most of the time goes
# to the suites that start whole controllers (controllertest): beside
# handlers/*, internal/compute and internal/controller, one to four minutes
# each, and web's end-to-end suites (QEMU, browser, CLI, fault runs), the
# long pole. Without the QEMU runs (no NIMBUS_TEST_IMAGE) web took about
# 5 minutes and the whole go test run about 16, with -race, here.
go test -race -count=1 -p 2 -timeout 25m ./... "$@"
# Every fuzz target for a short budget (FUZZTIME, default 7s each, about
# two minutes in all with the builds): the seed corpora in testdata/fuzz
# ran above as ordinary tests; this looks for new failing inputs, which
# go test writes to the package's testdata/fuzz for the next run.
fuzztime=${FUZZTIME:-7s}
while read -r pkg target; do
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg"
done <<'TARGETS'
./internal/diskimage FuzzInspectHeader
./internal/validate FuzzText
./internal/validate FuzzRegex
./internal/validate FuzzUUID
./compute-agent/hypervisor/libvirtdriver FuzzDomainXML
./internal/queue FuzzDecode
./internal/policy FuzzPolicyAgainstReference
./internal/identity FuzzTokenValidate
./handlers/portal FuzzSessionAndCSRF
./handlers/portal FuzzLoginCSRF
./handlers/portal FuzzSafeNext
./handlers/console FuzzHandshake
TARGETS
