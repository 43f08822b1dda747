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
# A watchdog for libvirt's QEMU capability probe ("qemu-system -machine
# none"): on these machines one probe once hung for 16 minutes, ignoring
# SIGTERM, and every libvirt call waited behind it. A probe normally ends in
# about 15 s; one older than 2 minutes is killed and libvirt probes again.
if ! pgrep -f nimbus-probe-watchdog >/dev/null; then
  setsid bash -c 'exec -a nimbus-probe-watchdog bash -c "
    while sleep 10; do
      for pid in \$(pgrep -f ^/usr/bin/qemu-system); do
        tr \"\\0\" \" \" </proc/\$pid/cmdline 2>/dev/null | grep -q \"machine none\" || continue
        age=\$(ps -o etimes= -p \$pid 2>/dev/null || echo 0)
        [ \"\${age:-0}\" -gt 120 ] && kill -9 \$pid 2>/dev/null
      done
    done"' >/dev/null 2>&1 < /dev/null &
fi
for _ in $(seq 100); do virsh -c "$uri" version >/dev/null 2>&1 && exit 0; sleep 0.2; done
echo "libvirtd did not come up on $uri" >&2
exit 1
