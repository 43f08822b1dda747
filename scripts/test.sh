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
# -p 2: two packages at a time on these two cores.
go test -race -count=1 -p 2 -timeout 20m ./... "$@"
