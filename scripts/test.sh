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
# ./web is named first so it starts first: listed last (as ./... orders
# it) its 13 minutes ran alone at the end with the other lane idle, and
# make test took 27.7 minutes instead of about 16.
#
# CI keeps only the last lines of what make test prints, and a failing
# test's "--- FAIL" lines are far above them, under the agents' logs: the
# run's output is kept and, on failure, every failure is printed again at
# the end with the lines that follow it.
log="$dir/go-test.log"
if ! go test -race -count=1 -p 2 -timeout 25m ./web ./... "$@" 2>&1 | tee "$log"; then
	echo
	echo "=== the failures above, again:"
	grep -E -A 12 -- '^\s*--- FAIL|^panic:|^FAIL\s' "$log" | grep -v -E 'level=|^redis: |^ok\s|^\?\s' | head -n 300
	exit 1
fi
# Every fuzz target for a short budget, about two minutes in all with the
# builds: the seed corpora in testdata/fuzz ran above as ordinary tests;
# this looks for new failing inputs, which go test writes to the package's
# testdata/fuzz for the next run.
#
# The budget is a count of inputs per target (-fuzztime Nx, sized to a few
# seconds each here; FUZZSCALE multiplies them), not a duration: with a
# duration, Go's fuzz coordinator (go1.26) can fail a target with a bare
# "context deadline exceeded" when the deadline closes its done channel
# before the workers' context sees it (internal/fuzz's stop only hides the
# latter's error). CI failed that way on FuzzUUID and then twice in a row
# on FuzzLoginCSRF with no failing input; a count has no deadline.
scale=${FUZZSCALE:-1}
while read -r pkg target count; do
	if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$((count * scale))x" -parallel 1 "$pkg" 2>&1); then
		printf '%s\n' "$out"
		exit 1
	fi
	printf '%s\n' "$out" | tail -n 1
done <<'TARGETS'
./internal/diskimage FuzzInspectHeader 30000
./internal/validate FuzzText 30000
./internal/validate FuzzRegex 30000
./internal/validate FuzzUUID 30000
./compute-agent/hypervisor/libvirtdriver FuzzDomainXML 5000
./internal/queue FuzzDecode 3000
./internal/policy FuzzPolicyAgainstReference 30000
./internal/identity FuzzTokenValidate 3000
./handlers/portal FuzzSessionAndCSRF 5000
./handlers/portal FuzzLoginCSRF 300
./handlers/portal FuzzSafeNext 3000
./handlers/console FuzzHandshake 1000
TARGETS
