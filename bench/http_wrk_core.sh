#!/usr/bin/env bash
# Where wrk's core goes while a server sends it a file: the share of wrk's CPU
# (CPU 1) spent transmitting the server's data for it, against reading.
#
#   bash bench/http_wrk_core.sh [SERVER_BINARY] [nginx]
#
# Starts web_server (default: build-hbench/bin/web_server, as run_http.sh
# builds it; "nginx" runs nginx from bench/http/nginx.conf.in with tcp_nopush
# off instead) on CPU 0 with a 1 MiB file, runs
# `taskset -c 1 wrk -t1 -c100 -d6s` on CPU 1 under `perf record -a -C 1 -g`,
# and prints wrk's requests/s and, from the profile (children included), the
# share of CPU 1's samples in:
#   tcp_write_xmit   the kernel transmitting queued segments: the server's
#                    data, sent on wrk's core as its reads open the window
#   handle_softirqs  packet processing (loopback delivery) on wrk's core
#   tcp_recvmsg      wrk reading its responses
# Over loopback, segments are delivered in the context of whoever makes the
# kernel send them; work done here for the server is missing from the
# server's own CPU time (bench/README.md, "HTTP benchmarks").
# Installs perf, wrk and nginx with apt-get when missing; 127.0.0.1 only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=${1:-$root/build-hbench/bin/web_server}
port=${PORT:-61690}
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=bench/bench_lib.sh
source "$root/bench/bench_lib.sh"
need() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || apt_install "$2" >&2
}
need perf linux-perf
need wrk wrk

mkdir -p "$tmp/www" "$tmp/nginx"
head -c 1048576 /dev/urandom >"$tmp/www/1m.bin"
chmod 755 "$tmp" "$tmp/www"
chmod 644 "$tmp/www/1m.bin"
if [ "${2:-}" = nginx ]; then
  need nginx nginx
  sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$port|g" -e "s|@DOCROOT@|$tmp/www|g" \
    -e "s|@NOPUSH@|off|g" "$root/bench/http/nginx.conf.in" >"$tmp/nginx/nginx.conf"
  taskset -c 0 "$(command -v nginx || echo /usr/sbin/nginx)" -p "$tmp/nginx" \
    -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
  pid=$!
else
  MU_POLLER=epoll taskset -c 0 "$server" -t 0 -a 127.0.0.1 -r "$tmp/www" -p "$port" \
    >"$tmp/server.log" 2>&1 &
  pid=$!
fi
for _ in $(seq 100); do
  ss -Htln "sport = :$port" | grep -q . && break
  sleep 0.05
done
curl -sf -o /dev/null "http://127.0.0.1:$port/1m.bin" 2>/dev/null || true
perf record -a -C 1 -g -o "$tmp/perf.data" -- sleep 6 >/dev/null 2>&1 &
perf_pid=$!
taskset -c 1 wrk -t1 -c100 -d6s "http://127.0.0.1:$port/1m.bin" | grep 'Requests/sec'
wait "$perf_pid"
perf report -i "$tmp/perf.data" --children --sort sym -g none 2>/dev/null |
  awk '$NF == "tcp_write_xmit" || $NF == "handle_softirqs" || $NF == "tcp_recvmsg" {
    printf "CPU 1 (wrk) %-16s %s of samples\n", $NF, $1 }'
