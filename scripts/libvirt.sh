#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running (there is no
# systemd here). libvirtd runs under `tini -s`, a child subreaper: the
# QEMU processes libvirt starts daemonize and are reparented, and in a
# container whose PID 1 does not reap, every capability probe would leave a
# zombie that libvirt then waits on for minutes (measured: a domain define
# took 2.5 to 8 minutes; under tini it takes about 1 s once caps are cached).
set -euo pipefail
uri=${1:-qemu:///system}
pgrep -x virtlogd >/dev/null || virtlogd -d
if ! pgrep -x libvirtd >/dev/null; then
  rm -f /run/libvirtd.pid
  setsid tini -s -- libvirtd >/dev/null 2>&1 < /dev/null &
fi
for _ in $(seq 100); do virsh -c "$uri" version >/dev/null 2>&1 && exit 0; sleep 0.2; done
echo "libvirtd did not come up on $uri" >&2
exit 1
