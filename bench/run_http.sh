#!/usr/bin/env bash
# HTTP benchmarks: cmuduo's http_server and web_server against nginx, both
# single-threaded, driven by wrk over keep-alive connections (see bench/README.md,
# "HTTP benchmarks").
#
#   bash bench/run_http.sh            full run: 3 rounds of 10 s runs, ~10 minutes
#   QUICK=1 bash bench/run_http.sh    smoke test: 1 round of 3 s runs, ~1 minute
#
# Installs wrk, nginx and curl with apt-get when missing (as root; the nginx
# package is kept from starting its system service), builds cmuduo's http_server
# and web_server (Release) in BUILD_DIR, makes a document root with files of
# 4 KiB and 1 MiB in a temporary directory, then measures every row:
#   hello  GET /hello: cmuduo `http_server -t 0 -a 127.0.0.1` vs nginx `return 200 "hello, world!\n"`
#   4k     GET /4k.bin: cmuduo `web_server -t 0 -a 127.0.0.1 -r DOCROOT` vs nginx (sendfile on)
#   1m     GET /1m.bin: the same with the 1 MiB file
# at 100 and 1000 connections, against nginx twice on the file rows:
# "nginx" (sendfile on, tcp_nopush off) and "nginx-nopush" (tcp_nopush on, as
# Debian's /etc/nginx/nginx.conf has it). nginx runs from bench/http/nginx.conf.in as one
# process (master_process off, daemon off, access_log off), with its pid, error
# log and temporary paths under the temporary directory, on 127.0.0.1 only.
# The server is pinned to CPU 0, `wrk -t1 --latency` to CPU 1. Before each run
# the response is checked with curl (status 200, the exact body, a second
# request on the same connection); a run whose check fails, or in which wrk
# reports non-2xx/3xx responses or socket errors, or after which the server is
# gone, is recorded as FAILED and shown as such (never as a number). Every row
# is run RUNS times with the servers interleaved (the order rotates each round);
# the medians go to bench/results/http.md, the raw lines to
# bench/results/http_raw.txt.
#
# Environment: QUICK=1, RUNS (3; QUICK 1), DURATION seconds per run (10; QUICK
# 3), ROWS (default "hello:100 hello:1000 4k:100 4k:1000 1m:100 1m:1000"),
# SERVERS (subset of "cmuduo nginx nginx-nopush"), WRK_TIMEOUT (5: seconds before wrk counts
# a request as timed out, which fails the run), BUILD_DIR (<repo>/build-hbench),
# NO_BUILD=1 (use the binaries already in BUILD_DIR/bin), NGINX (path of the
# nginx binary), PORT_BASE (61600), LOAD_MAX (0.5) and LOAD_WAIT (600): wait up
# to LOAD_WAIT s for the 1-minute load to fall under LOAD_MAX before starting;
# NOISE_MAX (10), NOISE_RETRIES (3), NOISE_BUDGET (40), QUIET_WAIT (30): as in
# run_tcp.sh, a run during which other processes used more than NOISE_MAX % of
# a core is kept as NOISY and run again; OUT (<repo>/bench/results/http.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/bench_lib.sh
source "$root/bench/bench_lib.sh"
bench_name=run_http
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
  runs=${RUNS:-1}
  duration=${DURATION:-3}
else
  runs=${RUNS:-3}
  duration=${DURATION:-10}
fi
rows=${ROWS:-hello:100 hello:1000 4k:100 4k:1000 1m:100 1m:1000}
wrk_timeout=${WRK_TIMEOUT:-5}
build=${BUILD_DIR:-$root/build-hbench}
port_base=${PORT_BASE:-61600} # above the ephemeral range, apart from run_tcp.sh's ports
load_max=${LOAD_MAX:-0.5}
load_wait=${LOAD_WAIT:-600}
noise_max=${NOISE_MAX:-10}
noise_retries=${NOISE_RETRIES:-3}
noise_budget=${NOISE_BUDGET:-40}
quiet_wait=${QUIET_WAIT:-30}
retries_used=0
out=${OUT:-$root/bench/results/http.md}
raw=${out%.md}_raw.txt
command_line=$(command_of bench/run_http.sh QUICK RUNS DURATION ROWS SERVERS WRK_TIMEOUT BUILD_DIR \
  NO_BUILD NGINX PORT_BASE LOAD_MAX LOAD_WAIT NOISE_MAX NOISE_RETRIES NOISE_BUDGET QUIET_WAIT OUT)
hz=$(getconf CLK_TCK)
tmp=$(mktemp -d)
docroot=$tmp/www
server_pid=
made_policy=

# Ends only the processes this script started, by pid.
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- setup --------------------------------------------------------------------

nginx_bin() {
  if [ -n "${NGINX:-}" ]; then echo "$NGINX"; else command -v nginx || echo /usr/sbin/nginx; fi
}

install_tools() {
  local missing=()
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ -x "$(nginx_bin)" ] || missing+=(nginx)
  [ "${#missing[@]}" -gt 0 ] || return 0
  if ! apt_usable; then
    log "missing ${missing[*]} and apt-get not usable"
    return 0
  fi
  # The nginx package starts a system nginx on port 80 unless policy-rc.d says
  # no (Docker images ship one that does); ours lives only for the install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local p
  for p in "${missing[@]}"; do
    case $p in
      # Debian 12's nginx-light is nginx plus a module; older releases have
      # only the flavours.
      nginx) apt_install nginx >&2 || apt_install nginx-light >&2 || log "installing nginx failed" ;;
      *) apt_install "$p" >&2 || log "installing $p failed" ;;
    esac
  done
  if [ -n "$made_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
    made_policy=
  fi
}

build_cmuduo() {
  if [ "${NO_BUILD:-0}" != 1 ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMU_BUILD_TESTS=OFF \
      -DMU_BUILD_BENCH=OFF >&2
    cmake --build "$build" -j"$(nproc)" --target http_server web_server >&2
  fi
  # Named now: others may commit while the benchmark runs. The checkout the
  # build was configured from (with NO_BUILD=1, BUILD_DIR may be another's).
  local src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)
  src=${src:-$root}
  built_rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$src" status --porcelain -- src include examples 2>/dev/null)" ]; then
    built_rev="$built_rev + uncommitted changes under src/, include/ or examples/"
  fi
  if [ "$src" != "$root" ]; then built_rev="$built_rev (checkout $src)"; fi
}

pick_servers() {
  local s all=()
  for s in ${SERVERS:-cmuduo nginx nginx-nopush}; do
    case $s in
      cmuduo)
        if [ -x "$build/bin/http_server" ] && [ -x "$build/bin/web_server" ]; then
          all+=(cmuduo)
        else
          log "no $build/bin/http_server or web_server: cmuduo is not measured"
        fi
        ;;
      nginx | nginx-nopush)
        if [ -x "$(nginx_bin)" ]; then all+=("$s"); else log "no nginx: $s is not measured"; fi
        ;;
      *) log "unknown server $s" ;;
    esac
  done
  echo "${all[@]}"
}

# Random bytes, so that a server sending the wrong file or range is caught.
make_docroot() {
  mkdir -p "$docroot"
  head -c 4096 /dev/urandom >"$docroot/4k.bin"
  head -c 1048576 /dev/urandom >"$docroot/1m.bin"
  printf 'hello, world!\n' >"$tmp/hello.expected"
  # nginx may read as another user; the files hold nothing secret.
  chmod 755 "$tmp" "$docroot"
  chmod 644 "$docroot"/*.bin
}

# ---- process helpers ------------------------------------------------------------

# Nanoseconds on the CPU (exact, where utime + stime are sampled at the tick),
# summed over the threads: /proc/PID/schedstat is the main thread's alone.
run_ns() { cat "/proc/$1"/task/*/schedstat | awk '{ t += $1 } END { printf "%.0f\n", t }'; }
# Busy ticks of the whole machine, every CPU (user, nice, system, irq,
# softirq, steal): the server's work plus wrk's plus whatever the kernel did
# for either of them on the other's CPU.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# The server command for SERVER KIND PORT.
server_cmd() {
  case $1:$2 in
    cmuduo:hello) echo "$build/bin/http_server -t 0 -a 127.0.0.1 -p $3" ;;
    cmuduo:*) echo "$build/bin/web_server -t 0 -a 127.0.0.1 -r $docroot -p $3" ;;
    nginx*:*)
      local prefix=$tmp/nginx nopush=off
      [ "$1" = nginx-nopush ] && nopush=on
      mkdir -p "$prefix"
      sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$3|g" -e "s|@DOCROOT@|$docroot|g" \
        -e "s|@NOPUSH@|$nopush|g" "$root/bench/http/nginx.conf.in" >"$prefix/nginx.conf"
      echo "$(nginx_bin) -p $prefix -c $prefix/nginx.conf -e $prefix/error.log"
      ;;
  esac
}

# start_server SERVER KIND PORT: sets server_pid once the port is listening;
# returns 1 (with the log shown) if it does not.
start_server() {
  local cmd
  rm -rf "$tmp/nginx" # the previous nginx's log is not this server's
  cmd=$(server_cmd "$1" "$2" "$3")
  # shellcheck disable=SC2086
  MU_POLLER=epoll taskset -c 0 $cmd >"$tmp/server.log" 2>&1 &
  server_pid=$!
  wait_listening "$server_pid" "$3" && return 0
  log "server $1 ($cmd) did not listen on port $3:"
  server_log >&2
  stop_server
  return 1
}

server_log() {
  cat "$tmp/server.log"
  if [ -f "$tmp/nginx/error.log" ]; then cat "$tmp/nginx/error.log"; fi
}

# Stops the server; a crash on the way out (anything but a clean exit or death
# by the SIGTERM sent) is logged and noted in the raw file.
stop_server() {
  local rc=0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 143 ]; then
    log "server pid $server_pid exited with status $rc after SIGTERM:"
    server_log | tail -n 5 >&2
    echo "# server pid $server_pid exited with status $rc after SIGTERM" >>"$raw"
  fi
  server_pid=
}

path_of() { # KIND
  case $1 in hello) echo /hello ;; *) echo "/$1.bin" ;; esac
}

expected_of() { # KIND
  case $1 in hello) echo "$tmp/hello.expected" ;; *) echo "$docroot/$1.bin" ;; esac
}

# check_response URL EXPECTED: two GETs on one connection; both must be 200 with
# exactly the expected body, and the second must reuse the connection
# (keep-alive). Prints what was wrong and returns 1 otherwise.
check_response() {
  local url=$1 expected=$2 codes
  rm -f "$tmp/body1" "$tmp/body2"
  if ! codes=$(curl -sS --max-time 10 -o "$tmp/body1" -o "$tmp/body2" \
    -w '%{http_code} %{num_connects}\n' "$url" "$url" 2>"$tmp/curl.err"); then
    echo "curl failed: $(tr '\n' ' ' <"$tmp/curl.err")"
    return 1
  fi
  # shellcheck disable=SC2086
  set -- $codes
  if [ "$#" != 4 ] || [ "$1" != 200 ] || [ "$3" != 200 ]; then
    echo "status not 200: curl printed '$(tr '\n' ' ' <<<"$codes")'"
    return 1
  fi
  local b
  for b in body1 body2; do
    if ! cmp -s "$tmp/$b" "$expected"; then
      echo "wrong body ($(stat -c %s "$tmp/$b" 2>/dev/null || echo 0) bytes, expected $(stat -c %s "$expected"))"
      return 1
    fi
  done
  if [ "$4" != 0 ]; then
    echo "no keep-alive: the second request opened a new connection"
    return 1
  fi
}

# ---- one run --------------------------------------------------------------------

# Milliseconds from wrk's latency units (us, ms, s, m).
wrk_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print "-" }'
}

# Bytes from wrk's "NN.NNMB read" (binary units).
wrk_bytes() {
  awk -v v="$1" 'BEGIN {
    m = 1; if (v ~ /TB$/) m = 1099511627776; else if (v ~ /GB$/) m = 1073741824;
    else if (v ~ /MB$/) m = 1048576; else if (v ~ /KB$/) m = 1024
    sub(/[KMGT]?B$/, "", v); printf "%.0f\n", v * m }'
}

fail_run() { # ROUND SERVER KIND CONNS REASON
  printf 'FAILED round=%s server=%s kind=%s conns=%s reason=%s\n' "$1" "$2" "$3" "$4" \
    "$(tr ' \n' '_ ' <<<"$5" | sed 's/ $//')" >>"$raw"
  log "FAILED: $2 $3 x $4: $5"
}

# http_run ROUND SERVER KIND CONNS: one run, a RESULT or FAILED line in $raw.
http_run() {
  local round=$1 name=$2 kind=$3 conns=$4 port url why
  port=$(next_port)
  url="http://127.0.0.1:$port$(path_of "$kind")"
  if ! start_server "$name" "$kind" "$port"; then
    fail_run "$@" "server did not start"
    return 0
  fi
  if ! why=$(check_response "$url" "$(expected_of "$kind")"); then
    fail_run "$@" "response check: $why"
    server_log >&2
    stop_server
    return 0
  fi
  local t0 ns0 o0 b0 t1 ns1 o1 b1
  b0=$(busy_ticks)
  t0=$(cpu_ticks "$server_pid")
  ns0=$(run_ns "$server_pid")
  o0=$(other_ticks "$server_pid")
  if ! taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --timeout "${wrk_timeout}s" --latency \
    "$url" >"$tmp/wrk.out" 2>&1; then
    fail_run "$@" "wrk exited with an error: $(tail -n 3 "$tmp/wrk.out")"
    stop_server
    return 0
  fi
  if ! alive "$server_pid" || ! t1=$(cpu_ticks "$server_pid" 2>/dev/null); then
    local rc=0
    wait "$server_pid" 2>/dev/null || rc=$?
    server_pid=
    fail_run "$@" "server died during the run (exit status $rc; wrk: $(grep -E 'Socket errors|requests in' "$tmp/wrk.out" | tr -s ' \n' ' '))"
    server_log | tail -n 20 >&2
    return 0
  fi
  ns1=$(run_ns "$server_pid")
  b1=$(busy_ticks)
  o1=$(other_ticks "$server_pid")
  stop_server
  # The server's own warnings and errors go to the raw file: a benchmark is also
  # a test.
  local complaints
  complaints=$(server_log | grep -E 'WARN|ERROR|FATAL|\[(warn|error|crit|alert|emerg)\]' || true)
  if [ -n "$complaints" ]; then
    log "$name logged $(wc -l <<<"$complaints") warning/error line(s) during $kind x $conns:"
    head -n 5 <<<"$complaints" >&2
    head -n 5 <<<"$complaints" | sed "s/^/# $name $kind x $conns log: /" >>"$raw"
  fi
  local requests read rps p99 nonok sockerr
  requests=$(awk '/ requests in / { print $1 }' "$tmp/wrk.out")
  read=$(awk '/ requests in / { print $(NF - 1) }' "$tmp/wrk.out")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
  p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.out")
  nonok=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk.out")
  sockerr=$(grep 'Socket errors:' "$tmp/wrk.out" | sed 's/^ *//' || true)
  if [ -n "$nonok" ] || [ -n "$sockerr" ] || [ -z "$requests" ] || [ "${requests:-0}" = 0 ] ||
    [ -z "$p99" ]; then
    fail_run "$@" "wrk: ${nonok:+$nonok non-2xx/3xx responses; }${sockerr:-no socket errors}; ${requests:-no} requests"
    sed 's/^/# wrk: /' "$tmp/wrk.out" >>"$raw"
    return 0
  fi
  # A response shorter than the body would be a fast wrong answer; wrk's byte
  # count is rounded to two decimals, hence the margin.
  local bytes body
  bytes=$(wrk_bytes "$read")
  body=$(stat -c %s "$(expected_of "$kind")")
  if ! awk -v b="$bytes" -v r="$requests" -v s="$body" 'BEGIN { exit !(b / r >= 0.99 * s) }'; then
    fail_run "$@" "wrk read $read for $requests requests: less than the $body-byte body each"
    return 0
  fi
  awk -v r="$round" -v n="$name" -v k="$kind" -v c="$conns" -v rps="$rps" \
    -v p99="$(wrk_ms "$p99")" -v req="$requests" -v bytes="$bytes" -v st=$((t1 - t0)) \
    -v ns=$((ns1 - ns0)) -v hz="$hz" -v other=$((o1 - o0)) -v d="$duration" \
    -v busy=$((b1 - b0)) 'BEGIN {
      if (other < 0) other = 0
      printf "RESULT round=%s server=%s kind=%s conns=%s rps=%s p99_ms=%s requests=%s " \
             "bytes_per_req=%.0f server_ticks=%s cpu_us_per_req=%.3f sched_us_per_req=%.3f " \
             "all_cpu_us_per_req=%.3f other_cpu_pct=%.1f\n", r, n, k, c, rps, p99, req,
             bytes / req, st, st * 1e6 / hz / req, ns / 1e3 / req, busy * 1e6 / hz / req,
             100 * other / hz / d
    }' >>"$raw"
  tail -n 1 "$raw" >&2
}

# ---- report ------------------------------------------------------------------------

# median_of SERVER KIND CONNS FIELD: median over the RESULT lines, "-" if none.
median_of() {
  grep "^RESULT .* server=$1 kind=$2 conns=$3 " "$raw" | grep -o " $4=[^ ]*" | cut -d= -f2 |
    median_lines
}

failures_of() { grep -c "^FAILED .* server=$1 kind=$2 conns=$3 " "$raw" || true; }

label_of() {
  case $1 in hello) echo "GET /hello" ;; 4k) echo "4 KiB file" ;; 1m) echo "1 MiB file" ;; esac
}

# A cell: the median, with the failed runs counted beside it.
cell() { # SERVER KIND CONNS FIELD FORMAT
  local m f
  m=$(median_of "$1" "$2" "$3" "$4")
  f=$(failures_of "$1" "$2" "$3")
  if [ "$m" = - ]; then
    if [ "$f" -gt 0 ]; then echo "**failed**"; else echo "-"; fi
    return
  fi
  # shellcheck disable=SC2059
  printf "$5" "$m"
  if [ "$f" -gt 0 ]; then printf ' (%s failed)' "$f"; fi
  echo
}

ratio() { # A B
  awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else printf "-" }'
}

# The peers measured on a row: nginx-nopush differs from nginx only with
# sendfile, so it runs on the file rows alone.
runs_row() { # SERVER KIND
  [ "$1" != nginx-nopush ] || [ "$2" != hello ]
}

# best_nginx_name KIND CONNS FIELD max|min: the nginx config with the better
# median (empty if neither ran the row).
best_nginx_name() {
  local s v best=- name=''
  for s in nginx nginx-nopush; do
    v=$(median_of "$s" "$1" "$2" "$3")
    [ "$v" = - ] && continue
    if [ "$best" = - ] || awk -v v="$v" -v b="$best" -v w="$4" \
      'BEGIN { exit !(w == "max" ? v > b : v < b) }'; then best=$v name=$s; fi
  done
  echo "$name"
}

# best_nginx KIND CONNS FIELD max|min: that better median ("-" if none).
best_nginx() {
  local name
  name=$(best_nginx_name "$@")
  if [ -n "$name" ]; then median_of "$name" "$1" "$2" "$3"; else echo -; fi
}

# metric_table FIELD FORMAT max|min: a row per test, a column per server,
# then cmuduo against the better nginx.
metric_table() {
  printf '| test | conns | cmuduo | nginx | nginx-nopush | cmuduo / best nginx |\n'
  printf '|---|---:|---:|---:|---:|---:|\n'
  local row k c srv cells
  for row in $rows; do
    k=${row%%:*} c=${row#*:}
    cells="| $(label_of "$k") | $c |"
    for srv in cmuduo nginx nginx-nopush; do cells+=" $(cell "$srv" "$k" "$c" "$1" "$2") |"; done
    cells+=" $(ratio "$(median_of cmuduo "$k" "$c" "$1")" "$(best_nginx "$k" "$c" "$1" "$3")") |"
    echo "$cells"
  done
}

# The issue's targets against the better nginx, per row: req/s >= 1,
# p99 <= 1, server CPU per request <= 0.9.
targets() {
  printf '| test | conns | req/s | p99 | server CPU | machine CPU |\n'
  printf '|---|---:|---:|---:|---:|---:|\n'
  local row k c r p u a
  for row in $rows; do
    k=${row%%:*} c=${row#*:}
    r=$(ratio "$(median_of cmuduo "$k" "$c" rps)" "$(best_nginx "$k" "$c" rps max)")
    p=$(ratio "$(median_of cmuduo "$k" "$c" p99_ms)" "$(best_nginx "$k" "$c" p99_ms min)")
    u=$(ratio "$(median_of cmuduo "$k" "$c" cpu_us_per_req)" "$(best_nginx "$k" "$c" cpu_us_per_req min)")
    a=$(ratio "$(median_of cmuduo "$k" "$c" all_cpu_us_per_req)" "$(best_nginx "$k" "$c" all_cpu_us_per_req min)")
    printf '| %s | %s | %s %s | %s %s | %s %s | %s %s |\n' "$(label_of "$k")" "$c" \
      "$r" "$(verdict "$r" ge 1)" "$p" "$(verdict "$p" le 1)" "$u" "$(verdict "$u" le 0.9)" \
      "$a" "$(verdict "$a" le 0.9)"
  done
}

values_of() { # SERVER KIND CONNS FIELD: the kept runs' values, space-separated
  grep "^RESULT .* server=$1 kind=$2 conns=$3 " "$raw" | grep -o " $4=[^ ]*" | cut -d= -f2 |
    tr '\n' ' '
}

# runs_cell KIND CONNS FIELD max|min: compare_runs of cmuduo's runs against
# those of the nginx config with the better median.
runs_cell() {
  local peer
  peer=$(best_nginx_name "$1" "$2" "$3" "$4")
  [ -n "$peer" ] || { echo -; return; }
  echo "$(compare_runs "$(values_of cmuduo "$1" "$2" "$3")" "$(values_of "$peer" "$1" "$2" "$3")" \
    "$([ "$4" = max ] && echo higher || echo lower)") vs $peer"
}

# The runs behind each ratio of targets(): is cmuduo's difference from the
# better nginx larger than the spread between runs?
runs_table() {
  printf '| test | conns | req/s | p99 | server CPU | machine CPU |\n'
  printf '|---|---:|---|---|---|---|\n'
  local row k c
  for row in $rows; do
    k=${row%%:*} c=${row#*:}
    printf '| %s | %s | %s | %s | %s | %s |\n' "$(label_of "$k")" "$c" \
      "$(runs_cell "$k" "$c" rps max)" "$(runs_cell "$k" "$c" p99_ms min)" \
      "$(runs_cell "$k" "$c" cpu_us_per_req min)" "$(runs_cell "$k" "$c" all_cpu_us_per_req min)"
  done
}

verdict() { # RATIO ge|le LIMIT
  awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (r == "-") print ""; else if (op == "ge" ? r >= l : r <= l) print "(met)"; else print "(**missed**)" }'
}

details() {
  printf '| test | conns | cmuduo response bytes | nginx response bytes | cmuduo CPU µs/req (schedstat) | nginx CPU µs/req (schedstat) | nginx-nopush CPU µs/req (schedstat) |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|\n'
  local row k c
  for row in $rows; do
    k=${row%%:*} c=${row#*:}
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(label_of "$k")" "$c" \
      "$(cell cmuduo "$k" "$c" bytes_per_req %.0f)" "$(cell nginx "$k" "$c" bytes_per_req %.0f)" \
      "$(cell cmuduo "$k" "$c" sched_us_per_req %.2f)" "$(cell nginx "$k" "$c" sched_us_per_req %.2f)" \
      "$(cell nginx-nopush "$k" "$c" sched_us_per_req %.2f)"
  done
}

noise_summary() { grep '^RESULT ' "$raw" | noise_of "no run kept"; }

versions() {
  local v
  v=$("$(nginx_bin)" -v 2>&1 | sed 's/.*version: //') || v="nginx not found"
  printf '%s, ' "$v"
  dpkg-query -W -f='wrk ${Version}' wrk 2>/dev/null || printf 'wrk (version unknown)'
}

write_report() {
  local nfailed
  nfailed=$(grep -c '^FAILED ' "$raw" || true)
  {
    echo "# HTTP benchmarks: cmuduo against nginx"
    echo
    echo "Written by \`bench/run_http.sh\` (method: bench/README.md, \"HTTP benchmarks\")."
    if [ "$quick" = 1 ]; then
      echo
      echo "**QUICK=1 smoke test ($runs run(s) of $duration s): checks that the script works; not figures.**"
    fi
    echo
    echo "- command: \`$command_line\`"
    echo "- date: $started_at to $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(nproc) CPUs, $(cpu_model), Linux $(uname -r)"
    echo "- load (\`uptime\`): before: $uptime_before; after: $(uptime | sed 's/^ *//')"
    echo "- cmuduo: built from $built_rev, Release, MU_POLLER=epoll, \`-t 0\` (one thread); $(versions)"
    echo "- method: keep-alive, \`taskset -c 1 wrk -t1 -cN -d${duration}s --latency\`, server on CPU 0 (nginx: 1 process, master_process off, access_log off, sendfile on; tcp_nopush off for \"nginx\", on for \"nginx-nopush\", as Debian ships it); $runs run(s) per cell (median shown), servers interleaved in a rotating order, a fresh server per run"
    echo "- noise: CPU time of other processes during the kept runs: $(noise_summary); runs discarded and repeated because other processes used more than $noise_max% of a core: $(grep -c '^NOISY ' "$raw" || true)"
    echo "- failed runs (wrong response, non-2xx/3xx, socket errors, server gone): $nfailed"
    echo
    echo "## Against the issue's targets"
    echo
    echo "cmuduo / the better of the two nginx configurations, per metric (medians):"
    echo "req/s at least 1, p99 at most 1, server CPU per request at most 0.9. The"
    echo "machine CPU column is not one of the targets; see the last section."
    echo
    targets
    echo
    echo "Each ratio against the spread of the runs behind it: a two-sided"
    echo "Mann-Whitney U test of cmuduo's runs against the better nginx's (exact, 5%"
    echo "level; \`compare_runs\` in bench/bench_lib.sh). \"better\" or \"worse\": the"
    echo "difference is larger than run-to-run noise explains; \"tie\": it is not. P is"
    echo "the share of run pairs in which cmuduo's run was the better one."
    echo
    runs_table
    echo
    echo "## Requests per second (median; higher is better)"
    echo
    metric_table rps %.0f max
    echo
    echo "## p99 latency, ms (median; lower is better)"
    echo
    metric_table p99_ms %.3f min
    echo
    echo "## Server CPU µs per request (median; lower is better)"
    echo
    echo "The server's utime + stime over the run (\`/proc/PID/stat\`, $hz Hz ticks)"
    echo "divided by the requests wrk completed."
    echo
    metric_table cpu_us_per_req %.2f min
    echo
    echo "## Machine CPU µs per request (median; lower is better)"
    echo
    echo "Busy time of both CPUs over the run (\`/proc/stat\`: user, nice, system, irq,"
    echo "softirq, steal) divided by the requests wrk completed: the server's work,"
    echo "wrk's, and what the kernel did for either on the other's CPU. Over loopback"
    echo "a sender's segments are delivered by whoever makes the kernel transmit them:"
    echo "the sender when the receive window is open, the receiver (its ACKs, sent as"
    echo "it reads) when the sender had to queue. A server that keeps the client's"
    echo "window full can thus hand part of its own work to wrk's CPU and look cheaper"
    echo "per request while serving fewer requests; this column counts it wherever it"
    echo "ran."
    echo
    metric_table all_cpu_us_per_req %.2f min
    echo
    echo "## Details (median)"
    echo
    echo "Response bytes: bytes wrk read per request (headers + body). CPU from"
    echo "\`/proc/PID/schedstat\`: the same CPU time, counted in nanoseconds instead of"
    echo "sampled at the tick."
    echo
    details
    if [ "$nfailed" -gt 0 ]; then
      echo
      echo "## Failed runs"
      echo
      grep '^FAILED ' "$raw" | sed 's/^FAILED /- /; s/_/ /g'
    fi
    echo
    echo "Raw lines: \`$(basename "$raw")\`."
  } >"$out"
}

# ---- main ------------------------------------------------------------------------------

# COMPARE_ONLY=RAW: measure nothing; print the target tables (medians, and the
# runs compared) from the raw lines of an earlier run.
if [ -n "${COMPARE_ONLY:-}" ]; then
  raw=$COMPARE_ONLY
  rows=$(sed -n 's/^# servers: .*; rows: \(.*\); runs .*/\1/p' "$raw")
  echo "From \`$raw\`:$(head -n 1 "$raw" | cut -d, -f2-)"
  echo
  targets
  echo
  runs_table
  exit 0
fi

install_tools
for t in wrk curl taskset ss; do
  command -v "$t" >/dev/null 2>&1 || { log "needs $t"; exit 1; }
done
if [[ " ${SERVERS:-cmuduo} " == *" cmuduo "* ]]; then build_cmuduo; else built_rev="(cmuduo not built)"; fi
read -r -a servers <<<"$(pick_servers)"
[ "${#servers[@]}" -gt 0 ] || { log "nothing to measure"; exit 1; }
raise_fd_limit
needs_two_cpus
make_docroot
mkdir -p "$(dirname "$out")"
wait_for_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
uptime_before=$(uptime | sed 's/^ *//')
{
  echo "# bench/run_http.sh raw results, $started_at, $command_line"
  echo "# servers: ${servers[*]}; rows: $rows; runs $runs; duration $duration s"
} >"$raw"
log "servers: ${servers[*]}; $runs round(s) of $duration s runs"

for round in $(seq "$runs"); do
  # Rotate the order so that no server always runs first.
  read -r -a order <<<"$(rotated "$round" "${servers[@]}")"
  echo "# round $round start, loadavg $(loadavg3)" >>"$raw"
  for row in $rows; do
    for s in "${order[@]}"; do
      runs_row "$s" "${row%%:*}" || continue
      measure_quiet RESULT http_run "$round" "$s" "${row%%:*}" "${row#*:}"
    done
  done
done
echo "# end, loadavg $(loadavg3)" >>"$raw"

write_report
log "wrote $out"
cat "$out"
