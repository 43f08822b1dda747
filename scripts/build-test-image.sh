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
#   - networking, in the background (boot never waits for it): every virtio
#     NIC (ethN) gets DHCP from busybox udhcpc (address, router, DNS, the
#     classless static routes of option 121), one "nimbus-net: ethN lease
#     ADDR/LEN router GW" line on the serial console per lease; root's SSH
#     keys come from the config drive's public_keys or, without one, from
#     the metadata service (169.254.169.254, EC2 layout), and Debian's
#     dropbear serves SSH on port 22 (root, keys only); user_data can serve
#     TCP with busybox httpd or nc. scripts/verify-tiny-network.sh checks it;
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
FAT_SIZE_KB=32768                   # the kernel is ~14 MB, the initramfs ~3.6 MB
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
#   virtio_net: the NICs (eth0, eth1, ...) of a Nimbus/Neutron port; brings
#     failover and net_failover as dependencies. af_packet (udhcpc's raw
#     socket) and unix are built into the cloud kernel.
MODULES=(sr_mod isofs ata_piix button evdev virtio_pci virtio_console virtio_blk virtio_net)

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
  # The SSH server: dropbear is dynamically linked; ldd names its libraries.
  need dropbear dropbear-bin
  need dropbearkey dropbear-bin
  need ldd libc-bin
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
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,etc/udhcpc,etc/dropbear,proc,sys,dev,mnt,tmp,root,run,var/log,www}
  cp "$busybox" "$root/bin/busybox"
  # Applet links made here rather than with busybox --install at boot: the
  # image is then usable even if /init is replaced (rdinit=/bin/sh).
  local applet
  for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done

  # The SSH server and its key tool, with their shared libraries.
  copy_elf_closure "$root" /usr/sbin/dropbear /usr/bin/dropbearkey

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
ip link set lo up

# say: to /dev/console (the serial port, last console= on the command line)
# and to tty1 (the VGA screen): the kernel sends init's output to one only.
say() {
  echo "$*"
  echo "$*" >/dev/tty1 2>/dev/null
}

# Config drive: the filesystem labelled config-2 (the cdrom, usually sr0).
# ata_piix's module init returns once its ports are probed, so it is there
# by now if there is one; a short wait covers a slow probe.
uuid="" name="" keys_from=""
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
    # The keypair's public keys: the values of the public_keys object
    # ({"name": "ssh-ed25519 AAAA... comment\n"}), JSON escapes \n and \/
    # undone. The config drive is the source of keys when there is one
    # (cloud-init's ConfigDrive datasource); the metadata service is asked
    # only without one (nimbus-ssh-keys, once a NIC has a lease).
    tr -d '\n' <"$md" | sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p' |
      awk -F'"' '{ for (i = 4; i <= NF; i += 4) { v = $i; gsub(/\\n/, "", v); gsub(/\\\//, "/", v); if (v != "") print v } }' >/run/ssh-keys
    keys_from=config-drive
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

printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$(hostname)" >/etc/hosts
echo "Nimbus tiny image on $(hostname)" >/www/index.html

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

# Network: each NIC gets DHCP (udhcpc, kept running for renewals), then the
# SSH server starts; all in the background, so that boot takes no longer
# with a NIC than without, and a NIC nobody answers holds nothing up.
mkdir -p /run/nimbus-net
if [ -n "$keys_from" ]; then
  mkdir /run/nimbus-net/keys # the udhcpc script asks the metadata service unless this exists
  /sbin/nimbus-ssh-keys install "$keys_from" /run/ssh-keys
fi
if ls -d /sys/class/net/eth* >/dev/null 2>&1; then
  /sbin/nimbus-net </dev/null >/dev/console 2>&1 &
fi

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
# On the consoles; an SSH session (dropbear sets SSH_CONNECTION) used a key.
[ -n "$SSH_CONNECTION" ] || echo "login: root (no password)"
EOF
  # busybox acpid runs /etc/acpi/<action> for the built-in "PWRF" ->
  # "PWRF/00000080" rule, i.e. on the power button.
  printf '#!/bin/sh\nexec /sbin/poweroff\n' >"$root/etc/acpi/PWRF/00000080"
  chmod 0755 "$root/etc/acpi/PWRF/00000080"
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"

  # What dropbear's C library reads: users from /etc/passwd (glibc 2.36 has
  # the "files" NSS module built in), root's shell listed as a login shell.
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  echo /bin/sh >"$root/etc/shells"
  # Login records (dropbear writes them; who reads them).
  ln -s /run "$root/var/run"
  touch "$root/run/utmp" "$root/var/log/wtmp" "$root/var/log/lastlog"
  write_network_scripts "$root"

  # newc is the only cpio format the kernel unpacks; files owned by root
  # whoever builds; sorted, for stable archives.
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -9 -n >"$WORK/initrd.img"
}

# copy_elf_closure ROOT BINARY...: copies dynamically linked binaries into
# ROOT at their own paths, with the shared libraries ldd resolves for them
# and the dynamic loader, at the paths ldd prints (/lib/x86_64-linux-gnu,
# /lib64): glibc's loader searches that multiarch directory by default, so
# the initramfs needs no ld.so.cache.
copy_elf_closure() {
  local root="$1" bin lib; shift
  for bin in "$@"; do
    rm -f "$root$bin" # busybox may have an applet link of that name
    mkdir -p "$root${bin%/*}"
    cp "$bin" "$root$bin"
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root${lib%/*}"
      cp -L "$lib" "$root$lib"
    done
  done
}

# write_network_scripts ROOT: the guest's network side, run by /init when
# there is an ethN:
#   /sbin/nimbus-net          brings every ethN up with udhcpc, then the SSH
#                             server (dropbear, keys only, host keys in tmpfs);
#   /etc/udhcpc/default.script  applies a lease (address, router, option 121
#                             routes, DNS) and prints it on the console;
#   /sbin/nimbus-ssh-keys     installs root's authorized_keys from the config
#                             drive or the metadata service.
# Every line they print starts with "nimbus-net: " and goes to the serial
# console (what Nimbus logs and the tests read) and to tty1 (VNC).
write_network_scripts() {
  local root="$1"
  cat >"$root/sbin/nimbus-net" <<'EOF'
#!/bin/sh
# Started in the background by /init when there is at least one ethN.
mkdir -p /run/nimbus-net
n=0
for d in /sys/class/net/eth*; do
  [ -e "$d" ] || continue
  i="${d##*/}"
  ip link set "$i" up
  cut -d. -f1 /proc/uptime >"/run/nimbus-net/$i.start"
  # -O staticroutes: ask for option 121 (dnsmasq, Neutron's DHCP server,
  # sends only what is asked for). -t 5 -T 3 -A 3: five discovers 3 s
  # apart, then a "leasefail" event and a 3 s pause, for ever (so the
  # script's "no DHCP lease" line comes at the second one, ~33 s); udhcpc
  # stays to renew the lease. Its own chatter goes to a log, not the console.
  udhcpc -f -i "$i" -s /etc/udhcpc/default.script -O staticroutes -t 5 -T 3 -A 3 \
    </dev/null >>"/var/log/udhcpc.$i.log" 2>&1 &
  n=$((n + 1))
done
[ "$n" -gt 0 ] || exit 0

# The SSH server, after networking: port 22, root by public key only (-s: no
# passwords). Host keys live in a tmpfs and are new at every boot: the
# ed25519 one made now (its fingerprint on the console, to check against),
# the others (-R) made only if a client asks for that type.
mount -t tmpfs -o mode=0700,size=256k tmpfs /etc/dropbear
if dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1; then
  fp="$(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key 2>/dev/null | sed -n 's/^Fingerprint: //p')"
  for c in /dev/console /dev/tty1; do echo "nimbus-net: ssh host key ed25519 $fp" >"$c" 2>/dev/null; done
fi
while :; do
  dropbear -F -E -R -s -p 22 -P /run/dropbear.pid </dev/null >>/var/log/dropbear.log 2>&1
  sleep 1
done &
EOF

  cat >"$root/etc/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc's event script: $1 is deconfig, bound, renew, leasefail or nak; the
# lease is in $interface $ip $mask $subnet $broadcast $router $dns $domain
# $staticroutes (option 121 as "net/len gateway ..."). NIMBUS_NET_ROOT,
# NIMBUS_NET_TTYS and NIMBUS_NET_KEYS move its files, consoles and key
# fetcher for scripts/verify-tiny-network.sh, which runs it on the host.
root="${NIMBUS_NET_ROOT:-}"
state="$root/run/nimbus-net"
mkdir -p "$state"
say() {
  for c in ${NIMBUS_NET_TTYS:-/dev/console /dev/tty1}; do echo "nimbus-net: $*" >>"$c" 2>/dev/null; done
}
uptime_s() { cut -d. -f1 /proc/uptime; }

# Prefix length: udhcpc exports $mask; computed from $subnet if not.
prefix() {
  [ -n "$mask" ] && { echo "$mask"; return; }
  local bits=0 o
  for o in $(echo "$subnet" | tr . ' '); do
    while [ "$o" -gt 0 ]; do bits=$((bits + (o & 1))); o=$((o >> 1)); done
  done
  echo "$bits"
}

# Routes, with a metric per NIC (eth0 100, eth1 101, ...) so that several
# NICs' default routes coexist and eth0's wins. RFC 3442: when the server
# sends classless static routes (option 121), the router option is ignored;
# Neutron then puts the default route in option 121 itself, next to
# 169.254.169.254/32 (the metadata service) via its DHCP port.
routes() {
  local n="${interface#eth}"
  case "$n" in '' | *[!0-9]*) n=0 ;; esac
  metric=$((100 + n)) gw=""
  if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then
        ip route replace "$1" dev "$interface" metric "$metric"
      else
        ip route replace "$1" via "$2" dev "$interface" metric "$metric"
      fi
      case "$1" in
        0.0.0.0/0) gw="$2" ;;
        *) say "$interface route $1 via $2" ;;
      esac
      shift 2
    done
  elif [ -n "$router" ]; then
    set -- $router
    gw="$1"
    ip route replace default via "$1" dev "$interface" metric "$metric"
  fi
}

# /etc/resolv.conf: the DNS servers and domain of every NIC with a lease.
resolv() {
  {
    [ -z "$domain" ] || echo "search $domain"
    for d in $dns; do echo "nameserver $d"; done
  } >"$state/$interface.resolv"
  [ -n "$1" ] && rm -f "$state/$interface.resolv"
  cat "$state"/*.resolv >"$root/etc/resolv.conf" 2>/dev/null || : >"$root/etc/resolv.conf"
}

case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    rm -f "$state/$interface.lease"
    resolv drop
    ;;
  bound | renew)
    p="$(prefix)"
    old="$(cat "$state/$interface.lease" 2>/dev/null)"
    if [ "$1" = bound ] || [ "$old" != "$ip/$p" ]; then
      ip addr flush dev "$interface"
      ip addr add "$ip/$p" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    fi
    routes
    resolv
    echo "$ip/$p" >"$state/$interface.lease"
    if [ "$1" = bound ] || [ "$old" != "$ip/$p" ]; then
      say "$interface lease $ip/$p router ${gw:-none}${dns:+ dns $(echo $dns)}"
    fi
    # The first lease of the boot fetches root's SSH keys from the metadata
    # service, unless /init took them from the config drive (mkdir: once).
    if mkdir "$state/keys" 2>/dev/null; then
      ${NIMBUS_NET_KEYS:-/sbin/nimbus-ssh-keys metadata} </dev/null >/dev/null 2>&1 &
    fi
    ;;
  leasefail | nak)
    # Said once per NIC, after half a minute without a lease; udhcpc keeps trying.
    start="$(cat "$state/$interface.start" 2>/dev/null || echo 0)"
    waited=$(($(uptime_s) - start))
    if [ "$waited" -ge 30 ] && [ ! -e "$state/$interface.failed" ]; then
      : >"$state/$interface.failed"
      say "$interface no DHCP lease after $waited s, still trying"
    fi
    ;;
esac
exit 0
EOF

  cat >"$root/sbin/nimbus-ssh-keys" <<'EOF'
#!/bin/sh
# nimbus-ssh-keys install SOURCE FILE: root's authorized_keys from FILE.
# nimbus-ssh-keys metadata: from the metadata service (EC2 layout, what
#   cloud-init reads), retried for 60 s while it does not answer.
say() {
  for c in /dev/console /dev/tty1; do echo "nimbus-net: $*" >>"$c" 2>/dev/null; done
}

install_keys() { # SOURCE FILE [NOTE]
  mkdir -p /root/.ssh
  chmod 0700 /root /root/.ssh
  grep -E '^(ssh-|ecdsa-|sk-)' "$2" >/root/.ssh/authorized_keys.new 2>/dev/null
  chmod 0600 /root/.ssh/authorized_keys.new
  mv -f /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys
  say "ssh keys from $1: $(grep -c . /root/.ssh/authorized_keys)${3:+ ($3)}"
}

# get PATH: one request of at most 10 s (busybox wget has no working -T:
# Debian's build crashes on it), body to stdout.
url=http://169.254.169.254/latest/meta-data/public-keys
get() { timeout 10 wget -q -O - "$url/$1" 2>/run/nimbus-net/wget.err; }

case "$1" in
  install) install_keys "$2" "$3" ;;
  metadata)
    keys=/run/nimbus-net/metadata-keys
    : >"$keys"
    end=$(($(cut -d. -f1 /proc/uptime) + 60)) note=""
    while :; do
      if get 0/openssh-key >"$keys"; then
        # More than one key: the listing says "N=name" per key.
        for n in $(get "" | sed -n 's/^\([0-9][0-9]*\)=.*/\1/p'); do
          [ "$n" = 0 ] || { echo; get "$n/openssh-key"; } >>"$keys"
        done
        break
      fi
      # An HTTP error is an answer (no key for this instance): stop asking.
      if grep -q 'server returned error' /run/nimbus-net/wget.err; then
        note="$(sed -n 's/.*error: //p' /run/nimbus-net/wget.err | head -n1)"
        : >"$keys"
        break
      fi
      if [ "$(cut -d. -f1 /proc/uptime)" -ge "$end" ]; then
        note="169.254.169.254 did not answer in 60 s"
        : >"$keys"
        break
      fi
      sleep 2
    done
    install_keys metadata-service "$keys" "$note"
    ;;
  *) echo "usage: $0 install SOURCE FILE | metadata" >&2; exit 2 ;;
esac
EOF
  chmod 0755 "$root/sbin/nimbus-net" "$root/etc/udhcpc/default.script" "$root/sbin/nimbus-ssh-keys"
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
