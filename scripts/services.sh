#!/usr/bin/env bash
# Starts or stops a private PostgreSQL and Redis under DIR, on loopback
# ports that do not collide with system services, and writes DIR/env with
# the URLs. Usage: services.sh start|stop DIR [PG_PORT REDIS_PORT]
# Ports of 0 (the default for tests) pick free ones.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
pgdir=$dir/postgres; rdir=$dir/redis

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (run scripts/deps.sh)" >&2; exit 1; }

# PostgreSQL refuses to run as root: use the postgres system user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() {
  if [ -f "$pgdir/data/postmaster.pid" ]; then as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null || true; fi
  if [ -f "$rdir/redis.pid" ]; then
    pid=$(cat "$rdir/redis.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$rdir/redis.pid"
  fi
}

start() {
  local pgport=${1:-0} rport=${2:-0}
  [ "$pgport" != 0 ] || pgport=$(free_port)
  [ "$rport" != 0 ] || rport=$(free_port)
  chmod 711 "$dir"
  mkdir -p "$pgdir" "$rdir"
  [ -f "$dir/db-password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/db-password")
  [ -f "$dir/redis-password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/redis-password")
  local pgpw rpw; pgpw=$(cat "$dir/db-password"); rpw=$(cat "$dir/redis-password")

  if [ ! -f "$pgdir/data/PG_VERSION" ]; then
    [ "$(id -u)" -ne 0 ] || chown postgres: "$pgdir"
    pwfile=$(mktemp); echo "$pgpw" > "$pwfile"; chmod 644 "$pwfile"
    as_pg "$PGBIN/initdb" -D "$pgdir/data" -U nimbus --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
      -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${NIMBUS_PG_FSYNC:-on}" start >/dev/null
  else
    pgport=$(sed -n 4p "$pgdir/data/postmaster.pid")
  fi
  export PGPASSWORD=$pgpw
  "$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U nimbus -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='nimbus'" | grep -q 1 ||
    "$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U nimbus -d postgres -qc "CREATE DATABASE nimbus" >/dev/null

  if [ -f "$rdir/redis.pid" ] && kill -0 "$(cat "$rdir/redis.pid")" 2>/dev/null; then
    rport=$(cat "$rdir/port")
  else
    redis-server --bind 127.0.0.1 --port "$rport" --dir "$rdir" --appendonly yes --daemonize yes \
      --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" --requirepass "$rpw" --save "" >/dev/null
    echo "$rport" > "$rdir/port"
    for _ in $(seq 100); do redis-cli -p "$rport" -a "$rpw" --no-auth-warning ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  fi
  cat > "$dir/env" <<ENV
NIMBUS_DATABASE_URL=postgres://nimbus:$pgpw@127.0.0.1:$pgport/nimbus
NIMBUS_TEST_DATABASE_URL=postgres://nimbus:$pgpw@127.0.0.1:$pgport/postgres
NIMBUS_REDIS_URL=redis://:$rpw@127.0.0.1:$rport/0
NIMBUS_TEST_REDIS_URL=redis://:$rpw@127.0.0.1:$rport/1
ENV
  chmod 600 "$dir/env"
}

case "$cmd" in
  start) start "${3:-0}" "${4:-0}" ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR [PG_PORT REDIS_PORT]" >&2; exit 2 ;;
esac
