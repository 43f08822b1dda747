#!/usr/bin/env bash
# Brings up a whole cloud in the foreground: private PostgreSQL and Redis
# under the data dir, libvirt's daemons if they are not running, one
# nimbus and one nimbus-agent. Ctrl-C or SIGTERM stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${NIMBUS_DATA_DIR:-.data}}
[ $# -eq 0 ] || shift # the rest are flags for nimbus
mkdir -p "$data"; data=$(cd "$data" && pwd)
export NIMBUS_DATA_DIR=$data

scripts/services.sh start "$data" "${NIMBUS_PG_PORT:-15432}" "${NIMBUS_REDIS_PORT:-16379}"
# The public image "tiny": a Debian kernel and a busybox initramfs on a
# small disk, built once from Debian packages and seeded at first start.
scripts/build-test-image.sh "$data/test-image" >/dev/null
export NIMBUS_SEED_IMAGE=${NIMBUS_SEED_IMAGE:-$data/test-image/tiny.qcow2}
export NIMBUS_AGENT_STATE_DIR=${NIMBUS_AGENT_STATE_DIR:-$data/agent}
set -a; . "$data/env"; set +a

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "==> stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/services.sh stop "$data"
  echo "==> stopped"
}
trap cleanup INT TERM EXIT

uri=${NIMBUS_LIBVIRT_URI:-qemu:///system}
if [[ "$uri" == qemu://* ]]; then
  # No systemd here: start libvirt's daemons ourselves when they are not up.
  scripts/libvirt.sh "$uri"
fi

# The external network "public" (DevStack's 172.24.4.0/24 unless
# NIMBUS_PUBLIC_NETWORK says otherwise; empty: none): a veth pair stands
# for the host's physical uplink. The agent puts nimbus-pub1 on the
# network's bridge; nimbus-pub0 keeps the network's first address on this
# host (as DevStack's br-ex), so floating IPs answer here.
export NIMBUS_PUBLIC_NETWORK=${NIMBUS_PUBLIC_NETWORK-172.24.4.0/24}
if [ -n "$NIMBUS_PUBLIC_NETWORK" ] && [ "$(id -u)" -eq 0 ]; then
  if ! ip link show nimbus-pub0 >/dev/null 2>&1; then
    ip link add nimbus-pub0 type veth peer name nimbus-pub1
  fi
  hostaddr=$(python3 -c "import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(f'{next(n.hosts())}/{n.prefixlen}')" "$NIMBUS_PUBLIC_NETWORK")
  ip addr replace "$hostaddr" dev nimbus-pub0
  ip link set nimbus-pub0 up
  ip link set nimbus-pub1 up
  export NIMBUS_AGENT_PHYSICAL_INTERFACES=${NIMBUS_AGENT_PHYSICAL_INTERFACES:-public:nimbus-pub1}
fi

bin/nimbus "$@" &
pids+=($!)
NIMBUS_LIBVIRT_URI=$uri bin/nimbus-agent &
pids+=($!)
# Whichever exits first ends the run.
wait -n "${pids[@]}" || true
