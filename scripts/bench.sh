#!/usr/bin/env bash
# Measures the Keystone API of one nimbus on loopback with wrk: token
# validation (GET /identity/v3/auth/tokens) and a cheap authenticated call
# (GET /identity/v3/auth/projects), each at concurrency 1, 8 and 32, and
# prints requests/s with p50 and p99 latency. Everything it needs (a private
# PostgreSQL, Redis and nimbus on free ports) is made for the run and removed
# afterwards. Called by `make bench` (which builds bin/nimbus first).
#
#   BENCH_DURATION  length of each measured run (wrk -d), default 10s
#   BENCH_REPEAT    measure the whole set this many times and report the
#                   median of each cell, default 1
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10s}
repeat=${BENCH_REPEAT:-1}
warmup=2s
concurrencies=(1 8 32)
endpoints=(tokens projects)
declare -A path=([tokens]=/identity/v3/auth/tokens [projects]=/identity/v3/auth/projects)
admin_pw=bench-admin-pw

die() { echo "bench: $*" >&2; exit 1; }

[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, not '$repeat'"
[[ "$duration" =~ ^[0-9]+[smh]?$ ]] || die "BENCH_DURATION must look like 10s, 3s or 1m, not '$duration'"
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -x bin/nimbus ] || die "bin/nimbus is missing: run make build (or make bench)"

dir=$(mktemp -d /tmp/nimbus-bench.XXXXXX)
nimbus_pid= wrk_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$wrk_pid" ]; then kill -TERM "$wrk_pid" 2>/dev/null || true; wait "$wrk_pid" 2>/dev/null || true; fi
  if [ -n "$nimbus_pid" ] && kill -0 "$nimbus_pid" 2>/dev/null; then
    kill -TERM "$nimbus_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$nimbus_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nimbus_pid" 2>/dev/null || true
    wait "$nimbus_pid" 2>/dev/null || true
  fi
  scripts/services.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Show nimbus's log when it fails to come up or dies mid-run.
nimbus_die() {
  echo "bench: $*" >&2
  if [ -s "$dir/nimbus.log" ]; then
    echo "--- last lines of the nimbus log ---" >&2
    tail -n 30 "$dir/nimbus.log" >&2
  fi
  exit 1
}

# --- services and nimbus -----------------------------------------------------

# Only the settings below reach nimbus: a NIMBUS_* variable from the caller's
# environment (NIMBUS_SEED=false, NIMBUS_PUBLIC_URL, ...) must not change what
# is measured.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^NIMBUS_' || true)

scripts/services.sh start "$dir" >/dev/null || die "could not start PostgreSQL and Redis"
set -a; . "$dir/env"; set +a

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# The console proxy is off: config ignores an empty NIMBUS_CONSOLE_LISTEN
# (empty means unset there), so the flag -console-listen= turns it off.
NIMBUS_LISTEN=127.0.0.1:$port NIMBUS_CONSOLE_LISTEN= NIMBUS_DATA_DIR=$dir/data \
  NIMBUS_ADMIN_PASSWORD=$admin_pw NIMBUS_LOG_LEVEL=warn \
  bin/nimbus -console-listen= >"$dir/nimbus.log" 2>&1 &
nimbus_pid=$!

ready=
for _ in $(seq 600); do
  kill -0 "$nimbus_pid" 2>/dev/null || nimbus_die "nimbus exited during start"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/identity/v3" || true)
  if [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || nimbus_die "nimbus did not answer 200 on $base/identity/v3 within 60 s"

# issue_token prints the X-Subject-Token of a new project-scoped admin token.
issue_token() {
  local body resp tok
  body='{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"'$admin_pw'"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}'
  resp=$(curl -si --max-time 30 -H 'Content-Type: application/json' -d "$body" "$base/identity/v3/auth/tokens") ||
    nimbus_die "POST /identity/v3/auth/tokens failed"
  tok=$(printf '%s\n' "$resp" | tr -d '\r' | awk 'tolower($1) == "x-subject-token:" { print $2; exit }')
  [ -n "$tok" ] || nimbus_die "no X-Subject-Token in the answer to POST /identity/v3/auth/tokens: $(printf '%s\n' "$resp" | head -n 1 | tr -d '\r')"
  printf '%s\n' "$tok"
}
admin_token=$(issue_token)
# The token under validation is a second one, not the caller's own.
subject_token=$(issue_token)

headers_for() {
  case $1 in
    tokens) printf '%s\n' "X-Auth-Token: $admin_token" "X-Subject-Token: $subject_token" ;;
    projects) printf '%s\n' "X-Auth-Token: $admin_token" ;;
  esac
}

# Each endpoint must answer 200 before it is measured: a benchmark of 401s
# would be fast and meaningless.
for ep in "${endpoints[@]}"; do
  args=()
  while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$ep")
  code=$(curl -s -o "$dir/check.out" -w '%{http_code}' --max-time 10 "${args[@]}" "$base${path[$ep]}" || true)
  [ "$code" = 200 ] || nimbus_die "GET ${path[$ep]} answered $code, not 200: $(head -c 300 "$dir/check.out" 2>/dev/null)"
done

# --- measuring -----------------------------------------------------------------

warnings=()

# run_wrk EP CONC DURATION OUT: one wrk run against endpoint EP.
run_wrk() {
  local ep=$1 c=$2 d=$3 out=$4 t args=()
  t=$(( c < 2 ? c : 2 ))
  while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$ep")
  # In the background and waited for, so that a signal to this script is
  # handled at once and not only when wrk ends.
  wrk -t "$t" -c "$c" -d "$d" --latency "${args[@]}" "$base${path[$ep]}" >"$out" 2>&1 &
  wrk_pid=$!
  if ! wait "$wrk_pid"; then
    wrk_pid=
    cat "$out" >&2
    nimbus_die "wrk failed on ${path[$ep]} at c=$c"
  fi
  wrk_pid=
  kill -0 "$nimbus_pid" 2>/dev/null || nimbus_die "nimbus died while measuring ${path[$ep]} at c=$c"
}

# parse_wrk FILE prints "rps p50_ms p99_ms" from wrk --latency output.
parse_wrk() {
  awk '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000
      if (u == "ms") return n
      if (u == "s")  return n * 1000
      if (u == "m")  return n * 60000
      if (u == "h")  return n * 3600000
      return -1
    }
    /Latency Distribution/ { dist = 1; next }
    dist && $1 == "50%" { p50 = ms($2) }
    dist && $1 == "99%" { p99 = ms($2); dist = 0 }
    $1 == "Requests/sec:" { rps = $2 }
    END {
      if (rps == "" || p50 == "" || p99 == "" || p50 < 0 || p99 < 0) exit 1
      printf "%.2f %.2f %.2f\n", rps, p50, p99
    }' "$1"
}

# check_wrk FILE LABEL collects a warning for failed requests in a run.
check_wrk() {
  local n s
  n=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2 }' "$1")
  [ -z "$n" ] || warnings+=("$2: $n non-2xx/3xx responses")
  s=$(grep -m1 'Socket errors' "$1" | sed 's/^ *//' || true)
  [ -z "$s" ] || warnings+=("$2: $s")
}

results=$dir/results   # lines: endpoint conc rps p50 p99
: >"$results"
total=$(( repeat * ${#endpoints[@]} * ${#concurrencies[@]} ))
n=0
for (( r = 1; r <= repeat; r++ )); do
  for ep in "${endpoints[@]}"; do
    echo "warm-up  ${path[$ep]} (c=32, $warmup)" >&2
    run_wrk "$ep" 32 "$warmup" "$dir/wrk.out"
    for c in "${concurrencies[@]}"; do
      n=$(( n + 1 ))
      echo "[$n/$total] ${path[$ep]} c=$c ($duration)" >&2
      run_wrk "$ep" "$c" "$duration" "$dir/wrk.out"
      label="run $r ${path[$ep]} c=$c"
      check_wrk "$dir/wrk.out" "$label"
      vals=$(parse_wrk "$dir/wrk.out") || { cat "$dir/wrk.out" >&2; nimbus_die "could not parse the wrk output of $label"; }
      echo "$ep $c $vals" >>"$results"
    done
  done
done

# median EP C FIELD: the median over the repeats of one column (3=rps, 4=p50, 5=p99).
median() {
  awk -v ep="$1" -v c="$2" -v f="$3" '$1 == ep && $2 == c { print $f }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f\n", m }'
}

# --- report --------------------------------------------------------------------

go_ver=$( (go version 2>/dev/null || echo "go n/a") | awk '{ print $3 }')
wrk_ver=$(wrk --version 2>&1 | head -n 1 | sed 's/ *Copyright.*//' || true)
echo
echo "nimbus bench  $(date '+%Y-%m-%d %H:%M:%S %Z')  nproc=$(nproc)  $go_ver  ${wrk_ver:-wrk n/a}"
runs="1 run"; [ "$repeat" = 1 ] || runs="median of $repeat runs"
echo "127.0.0.1, $duration per cell ($runs), 2 s warm-up per endpoint, threads = min(c,2)"
echo
fmt='%-32s %5s %12s %10s %10s\n'
# shellcheck disable=SC2059
printf "$fmt" endpoint conc 'req/s' 'p50 ms' 'p99 ms'
# shellcheck disable=SC2059
printf "$fmt" "$(printf '%.0s-' {1..32})" ----- ------------ ---------- ----------
for ep in "${endpoints[@]}"; do
  for c in "${concurrencies[@]}"; do
    # shellcheck disable=SC2059
    printf "$fmt" "GET ${path[$ep]}" "$c" "$(median "$ep" "$c" 3)" "$(median "$ep" "$c" 4)" "$(median "$ep" "$c" 5)"
  done
done

echo
rps32=$(median tokens 32 3); p99_32=$(median tokens 32 5)
verdict=$(awk -v r="$rps32" -v p="$p99_32" 'BEGIN { print (r >= 15000 && p < 10) ? "PASS" : "MISS" }')
echo "target: validation at c=32 >= 15000 req/s with p99 < 10 ms"
echo "result: $verdict (validation at c=32: $rps32 req/s, p99 $p99_32 ms)"

if [ ${#warnings[@]} -gt 0 ]; then
  echo
  for w in "${warnings[@]}"; do echo "WARNING: $w"; done
fi

# Compute: 500 launches at concurrency 50 onto 20 agents on libvirt's test
# driver, then the server list and the portal Instances page with 1,000
# servers in the project (web/bench_test.go; BENCH_COMPUTE=0 skips it).
if [ "${BENCH_COMPUTE:-1}" = 1 ]; then
  kill "$nimbus_pid" 2>/dev/null || true
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchCompute$' -timeout 20m -v ./web/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )' || die "compute bench failed"
fi

# Networking: a security group rule's way to the host's filter and a
# port's to ACTIVE (p50/p99 of 20), and 200 launches with a port each
# against 200 without networks, on 10 agents whose datapaths live in
# namespaces of their own (handlers/network/bench_test.go; as root;
# BENCH_NETWORK=0 skips it).
if [ "${BENCH_NETWORK:-1}" = 1 ]; then
  kill "$nimbus_pid" 2>/dev/null || true
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchNetwork$' -timeout 20m -v ./handlers/network/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )|bench_test.go' || die "network bench failed"
  # The same launches on agents without datapaths: the controller's side.
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_BENCH=1 BENCH_NETWORK_DATAPATH=0 \
    go test -count=1 -run '^TestBenchNetwork$' -timeout 20m -v ./handlers/network/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )|bench_test.go' || die "network bench (no datapaths) failed"
fi

# Console proxy: bulk MB/s and 64-byte round trips at 1 and 16 sessions,
# direct, through a plain TCP relay, the console proxy (bin/nimbus
# -console-only) and websockify, each relay in a process of its own
# (handlers/console/bench_test.go; BENCH_REPEAT applies; BENCH_CONSOLE=0
# skips it).
if [ "${BENCH_CONSOLE:-1}" = 1 ]; then
  kill "$nimbus_pid" 2>/dev/null || true
  NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_BENCH=1 BENCH_REPEAT=$repeat \
    go test -count=1 -run '^TestBenchConsoleProxy$' -v ./handlers/console/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )' || die "console bench failed"
fi

# Live pages: 200 open page streams while ~500 changes a second are
# written for 30 s: delivery p50/p99 and the process's CPU
# (handlers/portal/bench_live_test.go; BENCH_LIVE=0 skips it).
if [ "${BENCH_LIVE:-1}" = 1 ]; then
  kill "$nimbus_pid" 2>/dev/null || true
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchLiveFanOut$' -timeout 10m -v ./handlers/portal/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )|^time=' || die "live fan-out bench failed"
fi

# Statistics: Redis memory per 1,000 VMs with full rings, and the time to
# record one 10 s round of 1,000 VMs (internal/stats/bench_test.go;
# BENCH_STATS=0 skips it).
if [ "${BENCH_STATS:-1}" = 1 ]; then
  NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchStats$' -v ./internal/stats/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )' || die "statistics bench failed"
fi

# QEMU lifecycle: pause->unpause and suspend->resume round trips (p50 of
# 10) on the tiny image, and a snapshot of a 1 GiB disk with 512 MiB
# written: MB/s and the controller's and agent's peak RSS during it
# (web/bench_qemu_test.go; BENCH_QEMU=0 skips it). libvirt's QEMU driver
# and the tiny image are set up as make test does. Then guest traffic
# (below).
if [ "${BENCH_QEMU:-1}" = 1 ]; then
  kill "$nimbus_pid" 2>/dev/null || true
  scripts/libvirt.sh qemu:///system || die "libvirt's QEMU driver did not come up (BENCH_QEMU=0 skips the QEMU bench)"
  scripts/build-test-image.sh .data/test-image >/dev/null || die "could not build the tiny test image"
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_TEST_IMAGE=$PWD/.data/test-image/tiny.qcow2 NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchQEMULifecycle$' -timeout 40m -v ./web/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )' || die "QEMU lifecycle bench failed"
  # Guest traffic: VM -> VM MB/s on one host through the fixed address and
  # the floating IP, with security groups and with port security off
  # (web/bench_qemu_network_test.go; as root: its datapath lives in
  # namespaces of the test's).
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_TEST_IMAGE=$PWD/.data/test-image/tiny.qcow2 NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchQEMUNetwork$' -timeout 20m -v ./web/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )|^time=' || die "guest traffic bench failed"
  # Volumes: sequential MB/s in a guest on a volume of its own host and on
  # one over NBD from the other, each against its root disk; create from
  # the tiny image and from a 1 GiB one (web/bench_qemu_volume_test.go).
  NIMBUS_TEST_DATABASE_URL=$NIMBUS_TEST_DATABASE_URL NIMBUS_TEST_REDIS_URL=$NIMBUS_TEST_REDIS_URL \
    NIMBUS_TEST_BIN_DIR=$PWD/bin NIMBUS_TEST_IMAGE=$PWD/.data/test-image/tiny.qcow2 NIMBUS_BENCH=1 \
    go test -count=1 -run '^TestBenchQEMUVolumes$' -timeout 40m -v ./web/ 2>&1 |
    grep -vE '^(=== RUN|--- PASS|PASS|ok )|^time=' || die "volume bench failed"
fi
exit 0
