#!/usr/bin/env bash
# Installs what Nimbus needs from Debian's packages (only what is missing)
# and the front-end packages from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  postgresql redis-server
  libvirt-daemon-system libvirt-dev qemu-system-x86 qemu-utils
  python3-openstackclient chromium wrk fonts-wqy-microhei
  busybox-static dosfstools mtools syslinux syslinux-common cpio genisoimage tini
  libvirt-clients libxml2-utils websockify
  iproute2 nftables conntrack dnsmasq-base dropbear-bin iputils-ping openssh-client procps
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
