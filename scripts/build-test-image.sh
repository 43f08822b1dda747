#!/usr/bin/env bash
# Builds "tiny", the public test image of Nimbus: a ~16 MB bootable x86_64
# qcow2 disk made only from Debian packages, small and quick enough to boot
# under QEMU's software emulation (TCG) in end-to-end tests.
#
#   scripts/build-test-image.sh [--verify] [--force] OUT_DIR
#
# writes OUT_DIR/tiny.qcow2 and keeps its intermediate files (the cached
# kernel .deb included) in OUT_DIR/tiny-build/. When OUT_DIR/tiny.qcow2 is
# newer than this script it is not rebuilt (--force rebuilds anyway).
# --verify then boots the image on QEMU/TCG and checks that it comes up.
#
# What is in it:
#   - the kernel of Debian's linux-image-cloud-amd64 (its serial console,
#     VGA text console and devtmpfs are built in);
#   - an initramfs of busybox-static whose /init prints a banner
#     ("Nimbus tiny image", hostname, kernel) on the serial console (ttyS0)
#     and on the VGA console (tty1, what VNC shows), reads the instance's
#     uuid/name/hostname from an OpenStack config drive (label config-2, the
#     IDE cdrom Nimbus attaches) when there is one, then hands over to
#     and runs the config drive's user_data when it is a script ("#!"), its
#     output on the serial console (as cloud-init runs scripts), then hands
#     over to busybox init, which keeps a password-less root shell on tty1, ttyS0
#     and hvc0 (virtio console) and powers off on an ACPI power-button press
#     (what Nimbus's "stop" sends before it pulls the plug);
#   - a FAT file system in a file holding kernel, initramfs and syslinux.cfg,
#     made bootable with `syslinux --install`, without a partition table:
#     syslinux writes its boot code into the FAT volume boot record, which is
#     sector 0 of the disk, so SeaBIOS runs it like an MBR.
# Nothing is mounted and nothing needs root, except `apt-get update` when the
# package lists are missing.
set -euo pipefail
umask 022 # QEMU runs as libvirt-qemu: everything it opens must be world-readable

usage() { echo "usage: $0 [--verify] [--force] OUT_DIR" >&2; exit 2; }

VERIFY=0 FORCE=0 OUT_DIR=""
for arg in "$@"; do
  case "$arg" in
    --verify) VERIFY=1 ;;
    --force) FORCE=1 ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *) [ -z "$OUT_DIR" ] || usage; OUT_DIR="$arg" ;;
  esac
done
[ -n "$OUT_DIR" ] || usage

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
IMAGE="$OUT_DIR/tiny.qcow2"
WORK="$OUT_DIR/tiny-build"

KERNEL_META=linux-image-cloud-amd64 # metapackage: depends on the real, versioned kernel
FAT_SIZE_KB=32768                   # the kernel is ~14 MB, the initramfs ~1.5 MB
BANNER="Nimbus tiny image"
# Modules the initramfs loads (the cloud kernel has them as modules, not
# built in). Their dependencies are added by the build, in load order.
#   sr_mod, isofs, ata_piix: read the config drive, an ISO 9660 image that
#     Nimbus attaches as an IDE cdrom (the PIIX IDE controller of the "pc"
#     machine); sr_mod first so the cdrom is bound as soon as ata_piix finds it.
#   button, evdev: see the ACPI power button so busybox acpid can power off.
#   virtio_pci, virtio_console: hvc0, the interactive console (virsh console)
#     of a Nimbus domain, whose ttyS0 goes to the console log file.
#   virtio_blk: /dev/vda, the root disk, which user_data scripts write to
#     and read from (the running system lives in RAM; the disk is where data
#     that must survive a snapshot, a resize or a migration goes).
MODULES=(sr_mod isofs ata_piix button evdev virtio_pci virtio_console virtio_blk)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-test-image: %s\n' "$*" >&2; exit 1; }

# need CMD PACKAGE: fail early naming the Debian package that provides CMD.
need() {
  command -v "$1" >/dev/null 2>&1 ||
    die "'$1' not found: install the Debian package $2 (apt-get install $2, or scripts/deps.sh)"
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# ---------------------------------------------------------------------------
# The image is made from Debian's packages in tiny-build/ and written to
# OUT_DIR/tiny.qcow2 at the very end (atomically, so an interrupted run never
# leaves a half-written image that looks fresh).
build_image() {
  need apt-get apt
  need apt-cache apt
  need dpkg dpkg
  need cpio cpio
  need gzip gzip
  need mkfs.vfat dosfstools
  need mcopy mtools
  need syslinux syslinux
  need qemu-img qemu-utils
  # The initramfs has no C library: busybox must be the static build. The
  # dynamic "busybox" package also ships /bin/busybox (the two conflict).
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
    die "busybox-static is not installed: install the Debian package busybox-static"
  local busybox=/bin/busybox
  [ -x "$busybox" ] || die "$busybox missing: reinstall the Debian package busybox-static"

  mkdir -p "$WORK"
  local deb kdir kver vmlinuz
  deb="$(kernel_deb)"
  log "kernel package: ${deb##*/}"

  # Unpack it (dpkg -x needs no root and installs nothing). About a second;
  # the tree (~100 MB, all modules) is removed once the image is made.
  kdir="$WORK/kernel"
  rm -rf "$kdir"
  dpkg -x "$deb" "$kdir"
  vmlinuz="$(find "$kdir/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)"
  [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in ${deb##*/}"
  kver="${vmlinuz##*/vmlinuz-}"
  [ -d "$kdir/lib/modules/$kver" ] || die "no lib/modules/$kver in ${deb##*/}"

  build_initramfs "$busybox" "$kdir/lib/modules/$kver" "$kver"

  # The boot disk: FAT in a file, files copied in with mtools, boot code
  # written by syslinux (its mtools-based installer, no mounting).
  log "FAT boot disk ($((FAT_SIZE_KB / 1024)) MB) with syslinux"
  cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  # console=ttyS0 last: it becomes /dev/console, so the serial log (what
  # Nimbus records and the tests read) gets init's output as well; tty0
  # gets the kernel log on the VGA screen. loglevel=4: warnings and errors
  # only, the screen stays readable.
  APPEND initrd=/initrd.img console=tty0 console=ttyS0,115200 loglevel=4
EOF
  local fat="$WORK/fat.img"
  rm -f "$fat"
  mkfs.vfat -C -n TINY "$fat" "$FAT_SIZE_KB" >/dev/null
  # MTOOLS_SKIP_CHECK: the file's size is not a floppy/disk geometry mtools
  # knows; it would refuse it otherwise.
  export MTOOLS_SKIP_CHECK=1
  mcopy -i "$fat" "$vmlinuz" ::/vmlinuz
  mcopy -i "$fat" "$WORK/initrd.img" ::/initrd.img
  mcopy -i "$fat" "$WORK/syslinux.cfg" ::/syslinux.cfg
  syslinux --install "$fat"

  qemu-img convert -q -f raw -O qcow2 "$fat" "$IMAGE.tmp"
  chmod 0644 "$IMAGE.tmp"
  mv -f "$IMAGE.tmp" "$IMAGE"
  rm -rf "$fat" "$kdir" # the qcow2 holds them; a rebuild makes them again in seconds
}

# kernel_deb prints the path of the real kernel's .deb in tiny-build/,
# downloading it (apt-get download, no installation) only when it is not
# cached there yet.
# shellcheck disable=SC2012 # ls -t: newest .deb; the names are Debian's
kernel_deb() {
  local pkg cached
  pkg="$(kernel_package)"
  if [ -z "$pkg" ]; then
    # No package lists: use a cached .deb if there is one, else fetch lists.
    cached="$(ls -1t "$WORK"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)"
    if [ -n "$cached" ]; then echo "$cached"; return; fi
    log "apt-get update (no package lists for $KERNEL_META)"
    $SUDO apt-get update -q >&2
    pkg="$(kernel_package)"
    [ -n "$pkg" ] || die "cannot resolve $KERNEL_META to a kernel package"
  fi
  cached="$(ls -1t "$WORK/${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$cached" ]; then
    log "apt-get download $pkg"
    # APT::Sandbox::User=root: as root apt otherwise drops to _apt, which
    # cannot write here, and warns. apt-get download can fail on stale
    # lists (the mirror no longer has that version): update once and retry.
    (cd "$WORK" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || {
      log "apt-get download failed, apt-get update and retry"
      $SUDO apt-get update -q >&2
      pkg="$(kernel_package)"
      (cd "$WORK" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    }
    cached="$(ls -1t "$WORK/${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
    [ -n "$cached" ] || die "apt-get download $pkg left no .deb in $WORK"
    # A new kernel version replaces the cached one.
    find "$WORK" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${cached##*/}" -delete
  fi
  echo "$cached"
}

# kernel_package resolves the metapackage to the versioned kernel package it
# depends on (linux-image-6.1.0-NN-cloud-amd64); empty without package lists.
kernel_package() {
  apt-cache depends "$KERNEL_META" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1
}

# module_closure MODDIR NAME...: prints the modules' paths (relative to
# MODDIR) with their dependencies first, read from each .ko's own modinfo
# ("depends=" in the .modinfo section): the .deb has no modules.dep (depmod
# runs at install time) and kmod's tools may not be installed.
module_closure() {
  local moddir="$1"; shift
  declare -A seen=()
  visit() {
    local name="${1//-/_}" path dep deps
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    if grep -qE "/${name}\.ko(\.[a-z]+)?$" "$moddir/modules.builtin" 2>/dev/null; then
      return 0 # built in: nothing to load
    fi
    path="$(grep -E "/${name}\.ko$" "$moddir/modules.order" | head -n1 || true)"
    if [ -z "$path" ] || [ ! -f "$moddir/$path" ]; then
      die "module $name not found in $moddir (compressed modules are not handled)"
    fi
    deps="$(tr '\0' '\n' <"$moddir/$path" | sed -n 's/^depends=//p' | head -n1)"
    for dep in ${deps//,/ }; do visit "$dep"; done
    echo "$path"
  }
  local m
  for m in "$@"; do visit "$m"; done
}

build_initramfs() {
  local busybox="$1" moddir="$2" kver="$3"
  local root="$WORK/initramfs"
  log "initramfs (busybox-static, kernel $kver)"
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,mnt,tmp,root,run,var/log}
  cp "$busybox" "$root/bin/busybox"
  # Applet links made here rather than with busybox --install at boot: the
  # image is then usable even if /init is replaced (rdinit=/bin/sh).
  local applet
  for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done

  # Modules and their load order (dependencies first).
  local list path
  list="$(module_closure "$moddir" "${MODULES[@]}")"
  mkdir -p "$root/lib/modules"
  : >"$root/etc/modules"
  for path in $list; do
    cp "$moddir/$path" "$root/lib/modules/"
    echo "${path##*/}" >>"$root/etc/modules"
  done

  cat >"$root/init" <<'EOF'
#!/bin/sh
# /init of the Nimbus tiny image: early setup, banner, config drive, then
# busybox init (PID 1 for good: it keeps the shells running and never exits).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
hostname tiny

# Modules for the config drive (IDE cdrom, ISO 9660), the ACPI power button
# and the virtio console, in dependency order. A module missing or failing
# only costs that feature.
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done </etc/modules

# say: to /dev/console (the serial port, last console= on the command line)
# and to tty1 (the VGA screen): the kernel sends init's output to one only.
say() {
  echo "$*"
  echo "$*" >/dev/tty1 2>/dev/null
}

# Config drive: the filesystem labelled config-2 (the cdrom, usually sr0).
# ata_piix's module init returns once its ports are probed, so it is there
# by now if there is one; a short wait covers a slow probe.
uuid="" name=""
dev=""
for i in 1 2 3 4 5; do
  dev="$(findfs LABEL=config-2 2>/dev/null)" && break
  [ -e /sys/class/block/sr0 ] || break # no cdrom at all: nothing to wait for
  dev=""; sleep 0.2
done
[ -z "$dev" ] && [ -b /dev/sr0 ] && dev=/dev/sr0
if [ -n "$dev" ] && mount -t iso9660 -o ro "$dev" /mnt 2>/dev/null; then
  md=/mnt/openstack/latest/meta_data.json
  if [ -r "$md" ]; then
    # One line of JSON (as Nimbus writes it). Drop the nested objects that
    # hold user-chosen keys (meta, public_keys, keys), then take the
    # top-level string fields.
    flat="$(tr -d '\n' <"$md" | sed -e 's/"meta": *{[^}]*}//' -e 's/"public_keys": *{[^}]*}//' -e 's/"keys": *\[[^]]*\]//')"
    field() { echo "$flat" | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
    uuid="$(field uuid)"
    name="$(field name)"
    h="$(field hostname)"
    [ -n "$h" ] && hostname "$h" 2>/dev/null
  fi
  # user_data that is a script runs once the banner is out (below), as
  # cloud-init runs "#!" user data.
  ud=/mnt/openstack/latest/user_data
  if [ -r "$ud" ] && [ "$(head -c 2 "$ud")" = "#!" ]; then
    cp "$ud" /run/user-data
    chmod 0755 /run/user-data
  fi
  umount /mnt
fi

say ""
say "Nimbus tiny image"
say "hostname: $(hostname)"
say "kernel: $(uname -r)"
if [ -n "$uuid$name" ]; then
  say "uuid: $uuid"
  say "name: $name"
else
  say "config drive: none"
fi
{
  echo "Nimbus tiny image"
  echo "hostname: $(hostname)  kernel: $(uname -r)"
  [ -z "$uuid$name" ] || echo "uuid: $uuid  name: $name"
} >/etc/motd

# In the background: a script that waits or loops must not hold up init.
if [ -x /run/user-data ]; then
  say "user-data: start"
  (/run/user-data; say "user-data: exit $?") &
fi

# busybox init: a root shell on the VGA console, the serial port and the
# virtio console when there is one (init would retry a missing tty every
# second), respawned when it exits; acpid for the power button. The leading
# "-" makes login shells, which read /etc/profile.
{
  echo "tty1::respawn:-/bin/sh"
  echo "ttyS0::respawn:-/bin/sh"
  [ -c /dev/hvc0 ] && echo "hvc0::respawn:-/bin/sh"
  echo "::respawn:/sbin/acpid -f"
  echo "::ctrlaltdel:/sbin/reboot"
  echo "::shutdown:/bin/sync"
} >/etc/inittab

exec /sbin/init
EOF
  chmod 0755 "$root/init"

  cat >"$root/etc/profile" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
export PS1='\h:\w# '
cd /root
echo "login: root (no password)"
EOF
  # busybox acpid runs /etc/acpi/<action> for the built-in "PWRF" ->
  # "PWRF/00000080" rule, i.e. on the power button.
  printf '#!/bin/sh\nexec /sbin/poweroff\n' >"$root/etc/acpi/PWRF/00000080"
  chmod 0755 "$root/etc/acpi/PWRF/00000080"
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"

  # newc is the only cpio format the kernel unpacks; files owned by root
  # whoever builds; sorted, for stable archives.
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -9 -n >"$WORK/initrd.img"
}

# ---------------------------------------------------------------------------
# --verify: boot the image like Nimbus does (pc machine, TCG, virtio disk,
# config drive as an IDE cdrom), with the serial port and the monitor on
# pipes, and check the banner, the config drive's uuid, the serial shell
# and the ACPI power-off.
verify_image() {
  need qemu-system-x86_64 qemu-system-x86
  need timeout coreutils
  local vdir="$WORK/verify"
  rm -rf "$vdir"
  mkdir -p "$vdir"
  local serial="$vdir/serial.log" hvc="$vdir/hvc0.log"
  local uuid="3f0c1c52-6d8e-4b7a-9c1e-000000007e57"
  local cdrom=() iso_tool="" t
  for t in genisoimage mkisofs xorrisofs; do
    if command -v "$t" >/dev/null; then iso_tool="$t"; break; fi
  done
  if [ -n "$iso_tool" ]; then
    # The same layout, label and options as compute-agent/agent/configdrive.go
    # (a "name" in meta must not be taken for the instance's).
    mkdir -p "$vdir/cd/openstack/latest"
    printf '{"availability_zone":"nova","devices":[],"hostname":"verify-tiny","launch_index":0,"meta":{"name":"not-this"},"name":"verify-tiny","project_id":"p","public_keys":{},"uuid":"%s"}' \
      "$uuid" >"$vdir/cd/openstack/latest/meta_data.json"
    # A user_data script: run at boot, output on the serial console, and
    # the root disk (virtio_blk) there for it to keep data on.
    printf '#!/bin/sh\necho "ud-ran-$((6*7))"\n[ -b /dev/vda ] && echo "vda: present"\n' >"$vdir/cd/openstack/latest/user_data"
    "$iso_tool" -o "$vdir/config.iso" -V config-2 -J -r -quiet "$vdir/cd"
    cdrom=(-drive "file=$vdir/config.iso,format=raw,if=ide,index=0,media=cdrom,readonly=on")
  else
    log "no genisoimage/mkisofs/xorrisofs: verifying without a config drive"
  fi

  # Pipe chardevs (QEMU writes NAME.out and reads NAME.in) for the serial
  # port, a virtio console (hvc0, as Nimbus domains have) and the monitor.
  local p
  for p in ser hvc mon; do mkfifo "$vdir/$p.in" "$vdir/$p.out"; done
  local start qpid
  start=$(date +%s.%N)
  timeout 300 qemu-system-x86_64 -machine pc,accel=tcg -m 256 -display none -no-reboot \
    -drive "file=$IMAGE,format=qcow2,if=virtio,snapshot=on" "${cdrom[@]}" \
    -chardev "pipe,id=ser0,path=$vdir/ser" -serial chardev:ser0 \
    -device virtio-serial-pci -chardev "pipe,id=hvc0,path=$vdir/hvc" -device virtconsole,chardev=hvc0 \
    -chardev "pipe,id=mon0,path=$vdir/mon" -mon chardev=mon0,mode=readline \
    >"$vdir/qemu.log" 2>&1 &
  qpid=$!
  cat "$vdir/ser.out" >"$serial" &
  cat "$vdir/hvc.out" >"$hvc" &
  cat "$vdir/mon.out" >"$vdir/monitor.log" &
  # Hold the .in pipes open for writing so QEMU never sees EOF on them.
  exec 6<>"$vdir/ser.in" 7<>"$vdir/hvc.in" 8<>"$vdir/mon.in"
  # shellcheck disable=SC2064
  trap "kill $qpid 2>/dev/null || true; exec 6>&- 7>&- 8>&-" EXIT

  elapsed() { echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}'; }
  # wait_for FILE PATTERN SECONDS: until FILE has PATTERN, while QEMU runs.
  wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
      grep -qa -- "$2" "$1" && return 0
      kill -0 "$qpid" 2>/dev/null || return 1
      sleep 0.1
    done
    return 1
  }
  fail() {
    echo "verify FAILED: $*" >&2
    echo "--- serial log tail ($serial):" >&2
    tail -n 30 "$serial" | tr -d '\r' >&2
    echo "--- qemu:" >&2
    cat "$vdir/qemu.log" >&2
    exit 1
  }

  wait_for "$serial" "$BANNER" 120 || fail "no \"$BANNER\" on the serial console within 120 s"
  log "booted to the banner in $(elapsed) s (TCG)"
  if [ -n "$iso_tool" ]; then
    wait_for "$serial" "uuid: $uuid" 10 || fail "config drive uuid not printed"
    wait_for "$serial" "name: verify-tiny" 5 || fail "config drive name not printed"
    log "config drive read: uuid and name printed"
    wait_for "$serial" "ud-ran-42" 20 || fail "the user_data script did not run"
    wait_for "$serial" "vda: present" 5 || fail "no /dev/vda for user_data scripts"
    log "user_data script ran, /dev/vda present"
  fi
  # The shells: send a command whose output differs from its echo.
  local tty fd file
  for tty in ttyS0 hvc0; do
    if [ "$tty" = ttyS0 ]; then fd=6 file="$serial"; else fd=7 file="$hvc"; fi
    wait_for "$file" "# " 20 || fail "no shell prompt on $tty"
    # shellcheck disable=SC2016
    printf 'echo "%s-ok-$((6*7))"\r' "$tty" >&"$fd"
    wait_for "$file" "$tty-ok-42" 20 || fail "the shell on $tty does not run commands"
    log "shell on $tty answers"
  done
  # A screenshot of the VGA console (tty1), what the cloud's VNC console shows.
  printf 'screendump %s/vga.png -f png\n' "$vdir" >&8
  wait_for "$vdir/monitor.log" "screendump" 5 || true
  sleep 1
  [ -s "$vdir/vga.png" ] && log "VGA console screenshot: $vdir/vga.png"
  # Nimbus stops an instance with an ACPI power-button press first.
  local t0=$SECONDS
  printf 'system_powerdown\n' >&8
  for _ in $(seq 1 600); do
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$qpid" 2>/dev/null && fail "no power-off within 60 s of an ACPI power-button press"
  log "ACPI power button: powered off in $((SECONDS - t0)) s"
  wait
  echo "--- serial log tail:"
  tail -n 12 "$serial" | tr -d '\r'
  echo "verify OK: $IMAGE"
}

# ---------------------------------------------------------------------------
need flock util-linux
mkdir -p "$WORK"
# One build at a time per OUT_DIR (make run and the tests may both ask).
exec 9>"$WORK/.lock"
flock 9
if [ "$FORCE" = 0 ] && [ -f "$IMAGE" ] && [ "$IMAGE" -nt "$SELF" ]; then
  echo "$IMAGE"
else
  t0=$SECONDS
  build_image
  log "built $IMAGE ($(du -k "$IMAGE" | cut -f1) KB on disk, $(stat -c %s "$IMAGE") bytes) in $((SECONDS - t0)) s"
  echo "$IMAGE"
fi
flock -u 9
if [ "$VERIFY" = 1 ]; then
  verify_image
fi
