#!/usr/bin/env bash
# TCP benchmarks: cmuduo's pingpong_server against echo servers on libevent,
# libuv, libev and a bare epoll loop (see bench/README.md, "TCP benchmarks").
#
#   bash bench/run_tcp.sh            full run, ~17 minutes on a quiet machine
#   QUICK=1 bash bench/run_tcp.sh    smoke test: 1 round of 2 s runs
#
# Installs libevent-dev, libuv1-dev, libev-dev and pkg-config when missing (as
# root, with apt-get; without them only what is present is measured), builds
# cmuduo's pingpong server and client in BUILD_DIR and the peers in
# BUILD_DIR/peers (bench/tcp/ is a CMake project of its own, never part of the
# main build), then:
#   1. pingpong throughput: every server, single-threaded, against the same
#      client (cmuduo's pingpong_client), at 16 KiB x 1, 10, 100, 1000 sessions
#      and 4 KiB x 100, with server and client on different cores and on one
#      core; the server's CPU time per GiB echoed from /proc/PID/stat;
#   2. memory per idle connection: the server's VmRSS growth over IDLE_CONNS
#      idle connections held by bench/tcp/idle_client.
# Every measurement is repeated RUNS times with the servers interleaved (the
# order rotates each round) and the medians go to bench/results/tcp.md; the raw
# lines go to bench/results/tcp_raw.txt.
#
# Environment: QUICK=1, RUNS (3; QUICK 1), DURATION seconds per pingpong run (5;
# QUICK 2), IDLE_CONNS (10000), BUILD_DIR (<repo>/build-tbench), PORT_BASE
# (61100), SERVERS (subset, e.g. "cmuduo epoll"), MODES ("shared split", or
# one of them: one core, two cores), LOAD_MAX (0.5) and
# LOAD_WAIT (600): wait up to LOAD_WAIT s for the 1-minute load to fall under
# LOAD_MAX before starting; NOISE_MAX (10), NOISE_RETRIES (3), NOISE_BUDGET
# (60): a pingpong run during which other processes used more than NOISE_MAX %
# of one core is discarded and run again, up to NOISE_RETRIES times per run and
# NOISE_BUDGET times in all; before each run the script waits, up to
# QUIET_WAIT (30) s, for a second in which other processes use at most
# NOISE_MAX % of a core; OUT (<repo>/bench/results/tcp.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/bench_lib.sh
source "$root/bench/bench_lib.sh"
bench_name=run_tcp
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
  runs=${RUNS:-1}
  duration=${DURATION:-2}
else
  runs=${RUNS:-3}
  duration=${DURATION:-5}
fi
idle_conns=${IDLE_CONNS:-10000}
build=${BUILD_DIR:-$root/build-tbench}
peers=$build/peers
port_base=${PORT_BASE:-61100} # above the ephemeral range: nobody else's connection holds it
load_max=${LOAD_MAX:-0.5}
load_wait=${LOAD_WAIT:-600}
noise_max=${NOISE_MAX:-10}
noise_retries=${NOISE_RETRIES:-3}
noise_budget=${NOISE_BUDGET:-60}
quiet_wait=${QUIET_WAIT:-30}
modes=${MODES:-shared split}
retries_used=0
out=${OUT:-$root/bench/results/tcp.md}
raw=${out%.md}_raw.txt
command_line=$(command_of bench/run_tcp.sh QUICK RUNS DURATION IDLE_CONNS SERVERS MODES BUILD_DIR \
  PORT_BASE LOAD_MAX LOAD_WAIT NOISE_MAX NOISE_RETRIES NOISE_BUDGET QUIET_WAIT OUT)
hz=$(getconf CLK_TCK)
tmp=$(mktemp -d)
server_pid=
idle_pid=

# Ends only the processes this script started, by pid.
cleanup() {
  if [ -n "$idle_pid" ]; then kill "$idle_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- setup ------------------------------------------------------------------

have_peer_headers() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libevent libuv &&
    [ -e /usr/include/ev.h ]
}

install_peers() {
  have_peer_headers && return 0
  if ! apt_usable; then
    log "peer libraries missing and apt-get not usable: measuring what is present"
    return 0
  fi
  local pkgs="libevent-dev libuv1-dev libev-dev pkg-config"
  # shellcheck disable=SC2086
  apt_install $pkgs >&2 || log "installing $pkgs failed: measuring what is present"
}

build_all() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMU_BUILD_TESTS=OFF \
    -DMU_BUILD_BENCH=OFF >&2
  cmake --build "$build" -j"$(nproc)" --target pingpong_server pingpong_client >&2
  # Named now: others may commit while the benchmark runs.
  built_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ]; then
    built_rev="$built_rev + uncommitted changes under src/ or include/"
  fi
  cmake -S "$root/bench/tcp" -B "$peers" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build "$peers" -j"$(nproc)" >&2
}

# The server command for a name, with PORT to be substituted.
server_cmd() {
  case $1 in
    cmuduo) echo "$build/bin/pingpong_server -t 0 -a 127.0.0.1 -p" ;;
    *) echo "$peers/bin/echo_$1 -p" ;;
  esac
}

pick_servers() {
  local s all=()
  for s in ${SERVERS:-cmuduo libevent libuv libev epoll}; do
    local bin
    bin=$(server_cmd "$s" | cut -d' ' -f1)
    if [ -x "$bin" ]; then all+=("$s"); else log "no $bin: $s is not measured"; fi
  done
  echo "${all[@]}"
}

# ---- process helpers ----------------------------------------------------------

# Nanoseconds on the CPU (exact, where utime + stime are sampled at the tick).
run_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }

# start_server NAME CPU PORT: sets server_pid once the port is listening.
start_server() {
  local cmd
  cmd=$(server_cmd "$1")
  # shellcheck disable=SC2086
  MU_POLLER=epoll taskset -c "$2" $cmd "$3" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  wait_listening "$server_pid" "$3" && return 0
  log "server $1 did not listen on port $3:"
  cat "$tmp/server.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# ---- pingpong -------------------------------------------------------------------

# pingpong ROUND MODE SERVER BLOCK SESSIONS: one run, one RESULT line in $raw.
pingpong() {
  local round=$1 mode=$2 name=$3 block=$4 sessions=$5 scpu ccpu port
  if [ "$mode" = split ]; then scpu=0 ccpu=1; else scpu=1 ccpu=1; fi
  port=$(next_port)
  start_server "$name" "$scpu" "$port"
  sleep 0.2
  local t0 o0 st0 t1 o1 st1 ns0 ns1
  t0=$(cpu_ticks "$server_pid")
  ns0=$(run_ns "$server_pid")
  o0=$(other_ticks "$server_pid")
  st0=$(steal_ticks)
  /usr/bin/time -f '%U %S' -o "$tmp/client.time" taskset -c "$ccpu" \
    "$build/bin/pingpong_client" -a 127.0.0.1 -p "$port" -t 0 -b "$block" \
    -s "$sessions" -d "$duration" >"$tmp/client.out" 2>"$tmp/client.err" || {
    log "client failed against $name:"
    cat "$tmp/client.err" >&2
    exit 1
  }
  if ! t1=$(cpu_ticks "$server_pid"); then
    log "server $name died during the run:"
    cat "$tmp/server.log" >&2
    exit 1
  fi
  ns1=$(run_ns "$server_pid")
  o1=$(other_ticks "$server_pid")
  st1=$(steal_ticks)
  stop_server
  local bytes mibs avg client_s
  bytes=$(awk '/^total bytes read/ { sub(/,/, "", $4); print $4 }' "$tmp/client.out")
  avg=$(awk '/^total bytes read/ { print $(NF - 1) }' "$tmp/client.out")
  mibs=$(awk '/^throughput/ { print $2 }' "$tmp/client.out")
  client_s=$(awk '{ print $1 + $2 }' "$tmp/client.time")
  # other/steal: CPU time of other processes and stolen by the hypervisor, in
  # percent of one core over the run.
  awk -v r="$round" -v m="$mode" -v n="$name" -v b="$block" -v s="$sessions" \
    -v mibs="$mibs" -v bytes="$bytes" -v avg="$avg" -v st=$((t1 - t0)) -v hz="$hz" \
    -v other=$((o1 - o0)) -v steal=$((st1 - st0)) -v cs="$client_s" -v d="$duration" \
    -v ns=$((ns1 - ns0)) 'BEGIN {
      srv = st / hz; if (other < 0) other = 0; gib = bytes / 1073741824
      printf "PINGPONG round=%s mode=%s server=%s block=%s sessions=%s mibs=%s bytes=%s " \
             "avg_msg=%s server_cpu_s=%.2f cpu_s_per_gib=%.4f sched_s_per_gib=%.4f " \
             "client_cpu_s=%.2f mib_per_cpu_s=%.1f other_cpu_pct=%.1f steal_pct=%.1f\n",
             r, m, n, b, s, mibs, bytes, avg, srv, srv / gib, ns / 1e9 / gib, cs,
             bytes / 1048576 / (ns / 1e9 + cs), 100 * other / hz / d, 100 * steal / hz / d
    }' >>"$raw"
  tail -n 1 "$raw" >&2
}

# ---- idle connections -------------------------------------------------------------

# idle ROUND SERVER: RSS growth of the server over $idle_conns idle connections.
idle() {
  local round=$1 name=$2 port
  port=$(next_port)
  start_server "$name" 1 "$port"
  sleep 0.5
  local before fds0
  before=$(rss_kib "$server_pid")
  fds0=$(fd_count "$server_pid")
  taskset -c 0 "$peers/bin/idle_client" -a 127.0.0.1 -p "$port" -n "$idle_conns" -H 300 \
    >"$tmp/idle.out" 2>"$tmp/idle.err" &
  idle_pid=$!
  local ok=0
  for _ in $(seq 1200); do
    if grep -q '^connected' "$tmp/idle.out" && [ "$(fd_count "$server_pid")" -ge $((fds0 + idle_conns)) ]; then
      ok=1
      break
    fi
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    log "idle: $name did not reach $idle_conns connections (fds $(fd_count "$server_pid")):"
    cat "$tmp/idle.err" "$tmp/server.log" >&2
    exit 1
  fi
  sleep 1 # let the server finish whatever it does after accepting
  local after fds
  after=$(rss_kib "$server_pid")
  fds=$(fd_count "$server_pid")
  stop_server
  kill "$idle_pid" 2>/dev/null || true
  wait "$idle_pid" 2>/dev/null || true
  idle_pid=
  awk -v r="$round" -v n="$name" -v b="$before" -v a="$after" -v c="$idle_conns" \
    -v f="$((fds - fds0))" 'BEGIN {
      printf "IDLE round=%s server=%s conns=%s new_fds=%s rss_before_kib=%s rss_after_kib=%s " \
             "bytes_per_conn=%.1f\n", r, n, c, f, b, a, (a - b) * 1024 / c
    }' >>"$raw"
  tail -n 1 "$raw" >&2
  sleep 1 # the closed connections' teardown is not the next run's noise
}

# ---- report ---------------------------------------------------------------------------

# field LINE KEY: the value of key=value in a raw line.
median_of() { # KIND FILTER... FIELD: median of FIELD over raw lines matching all filters
  local kind=$1 field=${!#} lines
  lines=$(grep "^$kind " "$raw" || true)
  local f
  for f in "${@:2:$#-2}"; do lines=$(grep -- " $f " <<<"$lines " || true); done
  grep -o " $field=[^ ]*" <<<"$lines" | cut -d= -f2 | median_lines
}

values_of() { # KIND FILTER... FIELD: the values of FIELD, space-separated
  local kind=$1 field=${!#} lines f
  lines=$(grep "^$kind " "$raw" || true)
  for f in "${@:2:$#-2}"; do lines=$(grep -- " $f " <<<"$lines " || true); done
  grep -o " $field=[^ ]*" <<<"$lines" | cut -d= -f2 | tr '\n' ' '
}

# best_peer BLOCK SESSIONS FIELD higher|lower: the peer (not cmuduo, not the
# bare epoll loop) with the best median of FIELD on the shared core.
best_peer() {
  local s v best='' bestv=''
  for s in "${servers[@]}"; do
    [[ $s == cmuduo || $s == epoll ]] && continue
    v=$(median_of PINGPONG mode=shared "server=$s" "block=$1" "sessions=$2" "$3")
    [[ $v == - ]] && continue
    if [[ -z $best ]] || awk -v v="$v" -v b="$bestv" -v w="$4" \
      'BEGIN { exit !(w == "higher" ? v > b : v < b) }'; then best=$s bestv=$v; fi
  done
  echo "$best"
}

# runs_vs BLOCK SESSIONS PEER FIELD higher|lower: compare_runs of cmuduo's
# runs against PEER's on the shared core.
runs_vs() {
  [[ -n $3 ]] || { echo -; return; }
  compare_runs "$(values_of PINGPONG mode=shared server=cmuduo "block=$1" "sessions=$2" "$4")" \
    "$(values_of PINGPONG mode=shared "server=$3" "block=$1" "sessions=$2" "$4")" "$5"
}

rows=("16384 1" "16384 10" "16384 100" "16384 1000" "4096 100")

table() { # MODE FIELD
  local mode=$1 field=$2 s row
  if [[ " $modes " != *" $mode "* ]]; then
    echo "(not run: MODES=\"$modes\")"
    return
  fi
  printf '| block | sessions |'
  for s in "${servers[@]}"; do printf ' %s |' "$s"; done
  printf '\n|---|---|'
  for s in "${servers[@]}"; do printf -- '---:|'; done
  printf '\n'
  for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    set -- $row
    printf '| %s | %s |' "$(($1 / 1024)) KiB" "$2"
    for s in "${servers[@]}"; do
      printf ' %s |' "$(median_of PINGPONG "mode=$mode" "server=$s" "block=$1" "sessions=$2" "$field")"
    done
    printf '\n'
  done
}

# The targets of the issue, checked on the shared core. The CPU target is judged
# on utime + stime, as the issue defines it; the exact run time is shown beside.
targets() {
  local row
  if [[ " $modes " != *" shared "* ]]; then
    echo "(not run: MODES=\"$modes\")"
    return
  fi
  printf '| block | sessions | cmuduo MiB/s | best peer MiB/s | cmuduo / best peer | cmuduo / epoll | cmuduo CPU s/GiB | best peer CPU s/GiB | cmuduo / best peer CPU, exact run time | throughput target | CPU target | runs: MiB/s vs best peer | runs: MiB/s vs epoll | runs: CPU/GiB vs best peer |\n'
  printf '|---|---|---:|---|---:|---:|---:|---|---:|---|---|---|---|---|\n'
  for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    set -- $row
    local line="" s f peer cpu_peer runs_t runs_e runs_c
    peer=$(best_peer "$1" "$2" mibs higher)
    cpu_peer=$(best_peer "$1" "$2" cpu_s_per_gib lower)
    runs_t=$(runs_vs "$1" "$2" "$peer" mibs higher)
    runs_e=-
    [[ " ${servers[*]} " == *" epoll "* ]] && runs_e=$(runs_vs "$1" "$2" epoll mibs higher)
    runs_c=$(runs_vs "$1" "$2" "$cpu_peer" cpu_s_per_gib lower)
    # Without peers the CPU verdict is against the bare loop (the row says so).
    [[ -z $cpu_peer && $runs_e != - ]] && runs_c="$(runs_vs "$1" "$2" epoll cpu_s_per_gib lower) vs epoll"
    for s in "${servers[@]}"; do
      line+="$s"
      for f in mibs cpu_s_per_gib sched_s_per_gib; do
        line+=" $(median_of PINGPONG mode=shared "server=$s" "block=$1" "sessions=$2" $f)"
      done
      line+=";"
    done
    awk -v line="$line" -v b="$(($1 / 1024)) KiB" -v s="$2" -v rt="$runs_t" -v re_="$runs_e" \
      -v rc="$runs_c" 'BEGIN {
      n = split(line, e, ";"); best = -1; bestcpu = -1; bestsch = -1
      for (i = 1; i < n; ++i) {
        split(e[i], f, " ")
        if (f[1] == "cmuduo") { mu = f[2]; mucpu = f[3]; musch = f[4]; continue }
        if (f[1] == "epoll") { ep = f[2]; continue }
        if (f[2] + 0 > best) { best = f[2] + 0; bestname = f[1] }
        if (bestcpu < 0 || f[3] + 0 < bestcpu) { bestcpu = f[3] + 0; bestcpuname = f[1] }
        if (bestsch < 0 || f[4] + 0 < bestsch) { bestsch = f[4] + 0 }
      }
      if (mu == "" || (best < 0 && ep == "")) { printf "| %s | %s | (cmuduo or peers missing) |\n", b, s; exit }
      if (best < 0) { # SERVERS="cmuduo epoll": only the bare-loop half of the target
        re = mu / ep
        printf "| %s | %s | %.1f | - | - | %.3f | %.3f | - | - | %s (epoll part) | - | - | %s | %s |\n",
          b, s, mu, re, mucpu, (re >= 0.97) ? "met" : "**not met**", re_, rc
        exit
      }
      rb = mu / best; re = (ep > 0) ? mu / ep : 0
      tp = (rb >= 1 && (ep == 0 || re >= 0.97)) ? "met" : "**not met**"
      ct = (mucpu <= bestcpu) ? "met" : "**not met**"
      printf "| %s | %s | %.1f | %.1f (%s) | %.3f | %s | %.3f | %.3f (%s) | %.3f | %s | %s | %s | %s | %s |\n",
        b, s, mu, best, bestname, rb, (ep > 0) ? sprintf("%.3f", re) : "-", mucpu, bestcpu,
        bestcpuname, (bestsch > 0) ? musch / bestsch : 0, tp, ct, rt, re_, rc
    }'
  done
}

idle_table() {
  local s
  printf '| server | RSS before (KiB) | RSS after (KiB) | bytes per idle connection |\n'
  printf '|---|---:|---:|---:|\n'
  for s in "${servers[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$s" \
      "$(median_of IDLE "server=$s" rss_before_kib)" "$(median_of IDLE "server=$s" rss_after_kib)" \
      "$(median_of IDLE "server=$s" bytes_per_conn)"
  done
}

noise_summary() { # MODE
  grep "^PINGPONG .* mode=$1 " "$raw" | noise_of "not run"
}

versions() {
  local p
  for p in libevent-dev libuv1-dev libev-dev; do
    dpkg-query -W -f='${Package} ${Version}, ' "$p" 2>/dev/null || printf '%s: not installed, ' "$p"
  done | sed 's/, $//'
}

write_report() {
  {
    echo "# TCP benchmarks: cmuduo against libevent, libuv, libev and a bare epoll loop"
    echo
    echo "Written by \`bench/run_tcp.sh\` (method: bench/README.md, \"TCP benchmarks\")."
    echo
    echo "- command: \`$command_line\`"
    echo "- date: $started_at to $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(nproc) CPUs, $(cpu_model), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- cmuduo: built from $built_rev, RelWithDebInfo (-O2 -g), MU_POLLER=epoll; peers: $(versions)"
    echo "- runs: $runs per cell (median shown), $duration s per pingpong run, servers interleaved in a rotating order; client: cmuduo's pingpong_client -t 0 for every server"
    echo "- load average (1, 5, 15 min): before $load_before; after $(loadavg3) (our own server and client add up to 2 while running)"
    echo "- noise: CPU time of other processes during the kept runs: one core $(noise_summary shared); two cores $(noise_summary split); runs discarded and repeated because other processes used more than $noise_max% of a core: $(grep -c '^NOISY ' "$raw" || true); CPU stolen by the hypervisor: max $(grep -o ' steal_pct=[^ ]*' "$raw" | cut -d= -f2 | sort -g | tail -n 1)% of a core"
    echo
    echo "## Pingpong throughput, MiB/s (median)"
    echo
    echo "### One core: server and client both on CPU 1 (\`taskset -c 1\`)"
    echo
    table shared mibs
    echo
    echo "### Two cores: server on CPU 0, client on CPU 1"
    echo
    table split mibs
    echo
    echo "### One core, per CPU second: MiB echoed per second of server + client CPU time"
    echo
    echo "On one core the throughput is set by the CPU cost of server and client per"
    echo "byte; this divides the bytes by the CPU time the two actually got (server:"
    echo "schedstat, client: getrusage), so CPU taken by other processes does not lower it."
    echo
    table shared mib_per_cpu_s
    echo
    echo "## Server CPU seconds per GiB echoed (median)"
    echo
    echo "### One core"
    echo
    table shared cpu_s_per_gib
    echo
    echo "### Two cores"
    echo
    table split cpu_s_per_gib
    echo
    echo "## Server CPU seconds per GiB from the exact run time (/proc/PID/schedstat), one core (median)"
    echo
    echo "utime + stime are sampled at the scheduler tick (a few % of sampling noise"
    echo "over a 5 s run); this is the same quantity measured exactly."
    echo
    table shared sched_s_per_gib
    echo
    echo "## Average message the client received, bytes (median)"
    echo
    echo "The client echoes whatever arrives, so a server that reads or writes in"
    echo "smaller pieces than the block shows here."
    echo
    echo "### One core"
    echo
    table shared avg_msg
    echo
    echo "## Targets (one core)"
    echo
    echo "Throughput >= the best peer (libevent, libuv, libev) and >= 0.97x the bare"
    echo "epoll loop; CPU per GiB <= the best peer's."
    echo
    targets
    echo
    echo "## User-space memory per idle connection"
    echo
    echo "Server VmRSS before and after $idle_conns idle connections (opened by"
    echo "\`idle_client\`, all accepted, then 1 s to settle); growth / $idle_conns."
    echo "Target for cmuduo: <= 256 bytes. Kernel socket memory is not included."
    echo
    idle_table
    echo
    local verdict
    verdict=$(median_of IDLE server=cmuduo bytes_per_conn |
      awk '$1 == "-" { print "not measured"; exit } { print ($1 <= 256 ? "met" : "**not met**") " (" $1 " bytes)" }')
    echo "cmuduo idle-memory target: $verdict."
    echo
    echo "Raw lines: \`$(basename "$raw")\`."
  } >"$out"
}

# ---- main ------------------------------------------------------------------------------

# COMPARE_ONLY=RAW: measure nothing; print the one-core target table (medians,
# and the runs compared) from the raw lines of an earlier run.
if [ -n "${COMPARE_ONLY:-}" ]; then
  raw=$COMPARE_ONLY
  read -r -a servers <<<"$(sed -n 's/^# servers: \([^;]*\);.*/\1/p' "$raw")"
  modes=shared
  echo "From \`$raw\`:$(head -n 1 "$raw" | cut -d, -f2-)"
  echo
  targets
  exit 0
fi

install_peers
build_all
read -r -a servers <<<"$(pick_servers)"
[ "${#servers[@]}" -gt 0 ] || { log "nothing to measure"; exit 1; }
raise_fd_limit
if [ "$(ulimit -n)" -lt $((idle_conns + 64)) ]; then
  log "ulimit -n is $(ulimit -n), below $idle_conns connections: raise the hard limit"
  exit 1
fi
needs_two_cpus
mkdir -p "$(dirname "$out")"
wait_for_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_before=$(loadavg3)
{
  echo "# bench/run_tcp.sh raw results, $started_at, $command_line"
  echo "# servers: ${servers[*]}; runs $runs; duration $duration s; idle connections $idle_conns"
} >"$raw"
log "servers: ${servers[*]}; $runs round(s) of $duration s runs"

for round in $(seq "$runs"); do
  # Rotate the order so that no server always runs first or after the same one.
  read -r -a order <<<"$(rotated "$round" "${servers[@]}")"
  echo "# round $round start, loadavg $(loadavg3)" >>"$raw"
  for mode in $modes; do
    for row in "${rows[@]}"; do
      for s in "${order[@]}"; do
        # shellcheck disable=SC2086
        measure_quiet PINGPONG pingpong "$round" "$mode" "$s" $row
      done
    done
  done
  for s in "${order[@]}"; do idle "$round" "$s"; done
done
echo "# end, loadavg $(loadavg3)" >>"$raw"

write_report
log "wrote $out"
cat "$out"
