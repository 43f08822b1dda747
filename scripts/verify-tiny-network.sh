#!/usr/bin/env bash
# Checks the network side of the "tiny" test image (scripts/build-test-image.sh)
# for real: boots it on QEMU/TCG with a virtio NIC on QEMU's user-mode network
# (slirp, restrict=on: the guest reaches nothing but slirp's own DHCP/DNS and
# the forwards below; every connection made from the host goes to 127.0.0.1).
#
#   scripts/verify-tiny-network.sh [OUT_DIR]     (default .data/test-image)
#
# uses OUT_DIR/tiny.qcow2 and OUT_DIR/tiny-build/initramfs (the build keeps
# it); builds nothing. Four checks, one QEMU at a time:
#   0. the udhcpc event script, run on the host with a stub `ip`: address,
#      option 121 routes (Neutron's 169.254.169.254/32), resolv.conf;
#   1. config drive with a keypair and a user_data script: the lease line,
#      "ssh keys from config-drive: 1", `ssh root@127.0.0.1 'echo ok'` through
#      a hostfwd, a pty session, ping of the gateway, and busybox httpd and
#      nc started by user_data answering through hostfwds;
#   2. no config drive, two NICs (both get a lease), a metadata service at
#      169.254.169.254:80 on the first: slirp's guestfwd only forwards
#      addresses inside its network, so that network is 169.254.0.0/16
#      (net=) and each connection runs `busybox httpd -i` on a directory
#      laid out like the EC2 metadata tree; keys from there;
#   3. a NIC nobody answers (a QEMU hub port with nothing else on it): the
#      banner comes as fast as without a NIC, the shell answers, and the
#      "no DHCP lease" line follows.
# With restrict=on slirp's DHCP offers no router and no DNS server, so the
# lease lines of the boots say "router none"; check 0 covers both options.
set -euo pipefail
umask 022

OUT_DIR="${1:-.data/test-image}"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
IMAGE="$OUT_DIR/tiny.qcow2"
INITRAMFS="$OUT_DIR/tiny-build/initramfs"
BANNER="Nimbus tiny image"
VDIR="$OUT_DIR/tiny-build/verify-network"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'verify-tiny-network: %s\n' "$*" >&2; exit 1; }
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install the Debian package $2"
}
need qemu-system-x86_64 qemu-system-x86
need ssh openssh-client
need ssh-keygen openssh-client
need genisoimage genisoimage
need busybox busybox-static
need python3 python3
need curl curl
[ -f "$IMAGE" ] || die "no $IMAGE: run scripts/build-test-image.sh $OUT_DIR first"
[ -x "$INITRAMFS/etc/udhcpc/default.script" ] ||
  die "no $INITRAMFS/etc/udhcpc/default.script: rebuild with scripts/build-test-image.sh --force $OUT_DIR"

rm -rf "$VDIR"
mkdir -p "$VDIR"
ssh-keygen -q -t ed25519 -N '' -C verify-tiny-network -f "$VDIR/id"
PUBKEY="$(cat "$VDIR/id.pub")"

# free_port: a TCP port on 127.0.0.1 nobody listens on (the kernel picks).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------
check_event_script() {
  local d="$VDIR/script"
  mkdir -p "$d/bin" "$d/root/etc" "$d/root/run/nimbus-net"
  printf '#!/bin/sh\necho "ip $*" >>"%s/ip.log"\n' "$d" >"$d/bin/ip"
  chmod 0755 "$d/bin/ip"
  # What dnsmasq sends on a Neutron subnet with host routes: option 121 with
  # the metadata route and the default route, the router option ignored.
  env -i PATH="$d/bin:/usr/bin:/bin" NIMBUS_NET_ROOT="$d/root" NIMBUS_NET_TTYS="$d/console" \
    NIMBUS_NET_KEYS=true interface=eth0 ip=10.0.0.5 mask=24 subnet=255.255.255.0 \
    broadcast=10.0.0.255 router=10.0.0.99 dns="10.0.0.2 10.0.0.3" domain=openstacklocal \
    staticroutes="169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1" \
    sh "$INITRAMFS/etc/udhcpc/default.script" bound
  # A second NIC without option 121: its router, at metric 101.
  env -i PATH="$d/bin:/usr/bin:/bin" NIMBUS_NET_ROOT="$d/root" NIMBUS_NET_TTYS="$d/console" \
    NIMBUS_NET_KEYS=true interface=eth1 ip=192.168.7.9 subnet=255.255.254.0 router=192.168.7.1 \
    sh "$INITRAMFS/etc/udhcpc/default.script" bound
  local want
  want="ip addr flush dev eth0
ip addr add 10.0.0.5/24 broadcast 10.0.0.255 dev eth0
ip route replace 169.254.169.254/32 via 10.0.0.2 dev eth0 metric 100
ip route replace 0.0.0.0/0 via 10.0.0.1 dev eth0 metric 100
ip addr flush dev eth1
ip addr add 192.168.7.9/23 dev eth1
ip route replace default via 192.168.7.1 dev eth1 metric 101"
  [ "$(cat "$d/ip.log")" = "$want" ] ||
    die "event script: ip commands differ; got:
$(cat "$d/ip.log")
want:
$want"
  grep -qx 'nimbus-net: eth0 lease 10.0.0.5/24 router 10.0.0.1 dns 10.0.0.2 10.0.0.3' "$d/console" ||
    die "event script: no eth0 lease line; console: $(cat "$d/console")"
  grep -qx 'nimbus-net: eth1 lease 192.168.7.9/23 router 192.168.7.1' "$d/console" ||
    die "event script: no eth1 lease line; console: $(cat "$d/console")"
  grep -qx 'nameserver 10.0.0.3' "$d/root/etc/resolv.conf" && grep -qx 'search openstacklocal' "$d/root/etc/resolv.conf" ||
    die "event script: resolv.conf: $(cat "$d/root/etc/resolv.conf")"
  log "event script: address, option 121 routes (router option ignored), metric per NIC, resolv.conf"
  sed 's/^/    /' "$d/console" >&2
}

# ---------------------------------------------------------------------------
# boot NAME QEMU_ARGS...: starts QEMU in the background with the serial port
# and the monitor on pipes ($VDIR/NAME/serial.log collects the serial output).
QPID="" BOOT_DIR="" SERIAL="" START=""
boot() {
  local name="$1"; shift
  BOOT_DIR="$VDIR/$name"
  SERIAL="$BOOT_DIR/serial.log"
  mkdir -p "$BOOT_DIR"
  local p
  for p in ser mon; do mkfifo "$BOOT_DIR/$p.in" "$BOOT_DIR/$p.out"; done
  START=$(date +%s.%N)
  timeout 300 qemu-system-x86_64 -machine pc,accel=tcg -m 256 -display none -no-reboot \
    -drive "file=$IMAGE,format=qcow2,if=virtio,snapshot=on" "$@" \
    -chardev "pipe,id=ser0,path=$BOOT_DIR/ser" -serial chardev:ser0 \
    -chardev "pipe,id=mon0,path=$BOOT_DIR/mon" -mon chardev=mon0,mode=readline \
    >"$BOOT_DIR/qemu.log" 2>&1 &
  QPID=$!
  cat "$BOOT_DIR/ser.out" >"$SERIAL" &
  cat "$BOOT_DIR/mon.out" >"$BOOT_DIR/monitor.log" &
  exec 6<>"$BOOT_DIR/ser.in" 8<>"$BOOT_DIR/mon.in"
}

# halt: ACPI power button, as Nimbus's stop; QEMU killed if that fails.
halt() {
  printf 'system_powerdown\n' >&8
  local i
  for i in $(seq 1 300); do
    kill -0 "$QPID" 2>/dev/null || break
    sleep 0.1
  done
  kill "$QPID" 2>/dev/null || true
  wait "$QPID" 2>/dev/null || true
  exec 6>&- 8>&-
  QPID=""
}
trap '[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true' EXIT

elapsed() { echo "$(date +%s.%N) $START" | awk '{printf "%.1f", $1 - $2}'; }
# wait_for PATTERN SECONDS: until the serial log has PATTERN, while QEMU runs.
wait_for() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    grep -qa -- "$1" "$SERIAL" && return 0
    kill -0 "$QPID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
fail() {
  echo "verify FAILED: $*" >&2
  echo "--- serial log tail ($SERIAL):" >&2
  tail -n 40 "$SERIAL" | tr -d '\r' >&2
  echo "--- qemu:" >&2
  cat "$BOOT_DIR/qemu.log" >&2
  exit 1
}
# line PATTERN: the serial line matching PATTERN, from "nimbus-net:" on (a
# line printed while the serial shell shows its prompt follows the prompt).
line() { grep -a -- "$1" "$SERIAL" | head -n1 | tr -d '\r' | sed 's/.*nimbus-net:/nimbus-net:/'; }

SSH_PORT=""
# gssh ARGS...: ssh to the guest through the hostfwd on 127.0.0.1.
gssh() {
  ssh -i "$VDIR/id" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR root@127.0.0.1 "$@"
}
# ssh_ok: until `ssh ... 'echo ok'` answers ok (dropbear may still be starting).
ssh_ok() {
  local out="" deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    out="$(gssh 'echo ok' 2>"$BOOT_DIR/ssh.err" </dev/null || true)"
    [ "$out" = ok ] && return 0
    sleep 2
  done
  fail "ssh root@127.0.0.1 -p $SSH_PORT 'echo ok' did not answer ok: $(tail -n 3 "$BOOT_DIR/ssh.err")"
}

# ---------------------------------------------------------------------------
check_config_drive_boot() {
  local cd="$VDIR/cd" uuid="3f0c1c52-6d8e-4b7a-9c1e-000000000e71"
  mkdir -p "$cd/openstack/latest"
  # As compute-agent/agent/configdrive.go writes it; the key with Nova's
  # trailing "\n".
  printf '{"availability_zone":"nova","devices":[],"hostname":"verify-net","keys":[{"data":"%s\\n","name":"verify","type":"ssh"}],"launch_index":0,"meta":{},"name":"verify-net","project_id":"p","public_keys":{"verify":"%s\\n"},"uuid":"%s"}' \
    "$PUBKEY" "$PUBKEY" "$uuid" >"$cd/openstack/latest/meta_data.json"
  # user_data serving TCP: busybox httpd on 8080, nc on 9000 (a greeting per
  # connection, -ll -e) and 9001 (one line received into a file).
  cat >"$cd/openstack/latest/user_data" <<'EOF'
#!/bin/sh
echo "httpd-ok-$((6*7))" >/www/check.txt
busybox httpd -p 8080 -h /www
printf '#!/bin/sh\necho nc-ok-42\n' >/run/nc-hello
chmod 0755 /run/nc-hello
busybox nc -ll -p 9000 -e /run/nc-hello &
busybox nc -l -p 9001 >/run/nc-got &
echo "user-data: servers started"
EOF
  genisoimage -o "$VDIR/config.iso" -V config-2 -J -r -quiet "$cd"

  SSH_PORT="$(free_port)"
  local http_port nc_port nc2_port
  http_port="$(free_port)" nc_port="$(free_port)" nc2_port="$(free_port)"
  boot config-drive \
    -drive "file=$VDIR/config.iso,format=raw,if=ide,index=0,media=cdrom,readonly=on" \
    -nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22,hostfwd=tcp:127.0.0.1:$http_port-:8080,hostfwd=tcp:127.0.0.1:$nc_port-:9000,hostfwd=tcp:127.0.0.1:$nc2_port-:9001"
  wait_for "$BANNER" 120 || fail "no banner"
  log "[config drive] banner after $(elapsed) s"
  wait_for "nimbus-net: eth0 lease " 60 || fail "no lease line"
  log "[config drive] lease after $(elapsed) s: $(line 'nimbus-net: eth0 lease ')"
  wait_for "nimbus-net: ssh keys from config-drive: 1" 5 || fail "no 'ssh keys from config-drive: 1' line"
  log "[config drive] $(line 'nimbus-net: ssh keys from')"
  wait_for "nimbus-net: ssh host key ed25519 SHA256:" 60 || fail "no host key line"
  log "[config drive] $(line 'nimbus-net: ssh host key')"
  ssh_ok
  log "[config drive] ssh -i KEY -p $SSH_PORT root@127.0.0.1 'echo ok' -> ok, after $(elapsed) s"

  local out
  out="$(gssh 'stat -c "%a %n" /root/.ssh /root/.ssh/authorized_keys; cat /root/.ssh/authorized_keys' </dev/null)"
  printf '%s\n' "$out" | grep -qx '700 /root/.ssh' || fail "/root/.ssh mode: $out"
  printf '%s\n' "$out" | grep -qx '600 /root/.ssh/authorized_keys' || fail "authorized_keys mode: $out"
  printf '%s\n' "$out" | grep -qxF "$PUBKEY" || fail "authorized_keys does not hold the key: $out"
  log "[config drive] authorized_keys holds the key (dir 700, file 600)"
  # An interactive session gets a pty (devpts is mounted).
  out="$(printf 'tty; exit\n' | gssh -tt 2>/dev/null | tr -d '\r' | grep -a '^/dev/pts/' || true)"
  [ -n "$out" ] || fail "no pty for an interactive ssh session"
  log "[config drive] interactive ssh: tty is $out"
  # No password logins.
  if ssh -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o PubkeyAuthentication=no -o LogLevel=ERROR root@127.0.0.1 true </dev/null 2>/dev/null; then
    fail "ssh without a key got in"
  fi
  log "[config drive] ssh without the key: refused"
  out="$(gssh 'ip -4 addr show dev eth0 | grep inet; ip route; cat /etc/resolv.conf; hostname; grep verify-net /etc/hosts; ping -c 1 -W 5 10.0.2.2 | grep "bytes from"' </dev/null 2>&1)" ||
    fail "network state over ssh: $out"
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  printf '%s\n' "$out" | grep -q 'bytes from 10.0.2.2' || fail "no ping reply from the gateway"
  log "[config drive] guest config above; ping of the gateway 10.0.2.2 answered"
  gssh 'cat /var/log/dropbear.log /var/log/udhcpc.eth0.log' </dev/null >"$BOOT_DIR/guest-logs.txt" 2>&1 || true

  wait_for "user-data: servers started" 10 || fail "user_data did not start its servers"
  out="$(curl -s --max-time 20 "http://127.0.0.1:$http_port/check.txt" || true)"
  [ "$out" = "httpd-ok-42" ] || fail "busybox httpd (user_data, port 8080) answered '$out'"
  out="$(curl -s --max-time 20 "http://127.0.0.1:$http_port/" || true)"
  [ "$out" = "Nimbus tiny image on verify-net" ] || fail "GET / on port 8080 answered '$out'"
  log "[config drive] user_data's busybox httpd -p 8080 -h /www answers through hostfwd"
  out="$(busybox nc 127.0.0.1 "$nc_port" </dev/null | tr -d '\r' || true)"
  [ "$out" = "nc-ok-42" ] || fail "busybox nc -ll -p 9000 -e answered '$out'"
  echo "nc-line-42" | busybox nc -w 5 127.0.0.1 "$nc2_port" >/dev/null || true
  out="$(gssh 'cat /run/nc-got' </dev/null)"
  [ "$out" = "nc-line-42" ] || fail "busybox nc -l -p 9001 received '$out'"
  log "[config drive] user_data's busybox nc -ll -p 9000 -e and nc -l -p 9001 answer through hostfwd"
  halt
}

check_metadata_boot() {
  # The EC2 tree (Nova's metadata service, what cloud-init reads), served by
  # busybox httpd in inetd mode (-i), one process per connection.
  local md="$VDIR/md/latest/meta-data"
  mkdir -p "$md/public-keys/0"
  printf 'hostname\ninstance-id\npublic-keys/\n' >"$md/index.html"
  printf '0=verify\n' >"$md/public-keys/index.html"
  printf '%s\n' "$PUBKEY" >"$md/public-keys/0/openssh-key"
  SSH_PORT="$(free_port)"
  boot metadata \
    -nic "user,model=virtio-net-pci,restrict=on,net=169.254.0.0/16,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22,guestfwd=tcp:169.254.169.254:80-cmd:busybox httpd -i -h $VDIR/md" \
    -nic user,model=virtio-net-pci,restrict=on
  wait_for "$BANNER" 120 || fail "no banner"
  log "[metadata] banner after $(elapsed) s"
  wait_for "nimbus-net: eth0 lease " 60 || fail "no lease line"
  log "[metadata] lease after $(elapsed) s: $(line 'nimbus-net: eth0 lease ')"
  wait_for "nimbus-net: eth1 lease " 60 || fail "no lease line for the second NIC"
  log "[metadata] second NIC: $(line 'nimbus-net: eth1 lease ')"
  wait_for "nimbus-net: ssh keys from metadata-service: 1" 90 || fail "no 'ssh keys from metadata-service: 1' line"
  log "[metadata] $(line 'nimbus-net: ssh keys from') after $(elapsed) s"
  ssh_ok
  log "[metadata] ssh -i KEY -p $SSH_PORT root@127.0.0.1 'echo ok' -> ok"
  halt
}

check_silent_nic_boot() {
  boot silent-nic -netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0
  wait_for "$BANNER" 120 || fail "no banner"
  log "[NIC without DHCP] banner after $(elapsed) s"
  wait_for "# " 30 || fail "no shell prompt on ttyS0"
  # shellcheck disable=SC2016
  printf 'echo "shell-ok-$((6*7))"\r' >&6
  wait_for "shell-ok-42" 20 || fail "the serial shell does not answer"
  log "[NIC without DHCP] serial shell answers after $(elapsed) s"
  wait_for "nimbus-net: eth0 no DHCP lease" 90 || fail "no 'no DHCP lease' line"
  log "[NIC without DHCP] $(line 'nimbus-net: eth0 no DHCP lease') ($(elapsed) s after start)"
  halt
}

check_event_script
check_config_drive_boot
check_metadata_boot
check_silent_nic_boot
echo "verify-tiny-network OK: $IMAGE"
