#!/usr/bin/env bash
# Scale: hold N concurrent connections (default 100,000) to a cmuduo echo
# server on this machine and check it still echoes byte-exact.
#
#   bash bench/run_scale.sh [N]
#   SCALE_BUILD=build-scale SCALE_PROCS=8 bash bench/run_scale.sh 100000
#
# Builds the library (Release, in $SCALE_BUILD), bench/scale_server.c (muduo's
# EchoServer) and bench/scale_client.c. Raises the soft descriptor limit to the
# hard one, and the hard one (and fs.nr_open) to what N needs where it is
# allowed (root with CAP_SYS_RESOURCE). When one process cannot hold N
# descriptors, the server runs as several processes, each on a port of its
# own, and the client as several processes too; every figure below is their
# sum.
#
# Everything is on 127.0.0.1: client connection i connects to the server port
# i % (number of servers), from a source port the kernel picks. One
# destination has only the ephemeral port range (~28,000 ports), so there are
# always enough server ports for N.
#
# Prints: time until all N are connected (client side) and until every one has
# echoed one byte (so the servers accepted and serve all N), a sample of
# connections echoing SCALE_BYTES bytes each checked byte for byte, the
# servers' RSS idle and with the N connections held, RSS per connection, and
# the kernel's TCP memory (/proc/net/sockstat, pages; not in any RSS).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
build=${SCALE_BUILD:-$root/build-scale}
sample=${SCALE_SAMPLE:-1000}
bytes=${SCALE_BYTES:-16384}

# ---- limits -------------------------------------------------------------------
need=$((n + 1000))
nr_open=$(cat /proc/sys/fs/nr_open)
if (( nr_open < need )); then
  sysctl -q -w fs.nr_open="$need" 2>/dev/null || true
fi
if (( $(ulimit -Hn) < need )); then
  ulimit -Hn "$need" 2>/dev/null || true
fi
hard=$(ulimit -Hn)
ulimit -Sn "$hard"
# Per process: some of the limit kept free (listener, epoll, eventfd, logs).
per_proc=$((hard * 9 / 10))
(( per_proc >= 100 )) || { echo "scale: the descriptor limit ($hard) is too low" >&2; exit 1; }
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
per_port=$(((hi - lo + 1) * 9 / 10)) # source ports per destination, with room
(( per_proc < per_port )) && per_port=$per_proc
procs=${SCALE_PROCS:-$(((n + per_port - 1) / per_port))}
(( procs >= 1 && procs <= 64 )) || { echo "scale: SCALE_PROCS must be 1..64" >&2; exit 2; }
if (( procs * per_port < n )); then
  echo "scale: $procs server ports x $per_port connections each is too few for $n" >&2
  exit 1
fi
threads=${SCALE_THREADS:-$((procs == 1 ? 2 : 0))}

# ---- build --------------------------------------------------------------------
echo "scale: building the library (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMU_BUILD_TESTS=OFF \
  -DMU_BUILD_BENCH=OFF -DMU_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target cmuduo >/dev/null
cc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$root/include" -o "$build/scale_server" \
  "$root/bench/scale_server.c" "$build/lib/libcmuduo.a" -lpthread -lm
cc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$build/scale_client" "$root/bench/scale_client.c"

# ---- run ----------------------------------------------------------------------
# One free port per server process, each picked by the kernel.
read -r -a ports <<<"$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$procs")"
port_list=$(IFS=,; echo "${ports[*]}")
log=$(mktemp -d)
servers=()
clients=()
cleanup() {
  local p
  for p in "${clients[@]}" "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$log"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
sum_rss() {
  local p t=0
  for p in "$@"; do t=$((t + $(rss_kb "$p"))); done
  echo "$t"
}
tcp_mem_pages() { awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat; }

listening() { # number of the server ports listening
  local p c=0
  for p in "${ports[@]}"; do ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && c=$((c + 1)); done
  echo "$c"
}
for ((i = 0; i < procs; i++)); do
  "$build/scale_server" -p "${ports[$i]}" -t "$threads" >"$log/server$i.out" 2>&1 &
  servers+=($!)
done
for _ in $(seq 100); do
  (( $(listening) >= procs )) && break
  sleep 0.1
done
for p in "${servers[@]}"; do
  kill -0 "$p" 2>/dev/null || { cat "$log"/server*.out; echo "scale: a server did not start" >&2; exit 1; }
done
sleep 0.5
rss0=$(sum_rss "${servers[@]}")
mem0=$(tcp_mem_pages)
echo "scale: $procs server process(es) on 127.0.0.1 ports $port_list, $threads I/O threads each, descriptor limit $hard per process"
echo "scale: $n connections from $procs client process(es), all from 127.0.0.1"

start=$(date +%s.%N)
first=0
for ((i = 0; i < procs; i++)); do
  count=$(((n - first) / (procs - i)))
  "$build/scale_client" -p "$port_list" -n "$count" -i "$first" \
    -k $((sample / procs)) -b "$bytes" -H 900 >"$log/client$i.out" 2>&1 &
  clients+=($!)
  first=$((first + count))
done
for ((i = 0; i < procs; i++)); do
  while ! grep -q '^holding' "$log/client$i.out"; do
    if ! kill -0 "${clients[$i]}" 2>/dev/null; then
      cat "$log/client$i.out"
      echo "scale: client $i failed" >&2
      exit 1
    fi
    for p in "${servers[@]}"; do
      kill -0 "$p" 2>/dev/null || { cat "$log"/server*.out; echo "scale: a server died" >&2; exit 1; }
    done
    sleep 0.5
  done
done
sleep 1
rss1=$(sum_rss "${servers[@]}")
mem1=$(tcp_mem_pages)
client_rss=$(sum_rss "${clients[@]}")
estab=0
for p in "${ports[@]}"; do
  estab=$((estab + $(ss -Htn state established "( sport = :$p )" 2>/dev/null | wc -l)))
done
per_server=$(for p in "${servers[@]}"; do ls "/proc/$p/fd" | wc -l; done | tr '\n' ' ')

field() { cat "$log"/client*.out | awk -v k="$1" '$1 == k {print $2}'; }
max_of() { sort -g | tail -1; }
sum_of() { awk '{s += $1} END {printf "%.0f", s}'; }
connect_done=$(field connect_done_epoch | max_of)
ping_done=$(field ping_done_epoch | max_of)
echo "connections $n"
echo "connect_all_seconds $(awk -v a="$start" -v b="$connect_done" 'BEGIN {printf "%.2f", b - a}')"
echo "echo_all_seconds $(awk -v a="$start" -v b="$ping_done" 'BEGIN {printf "%.2f", b - a}')"
echo "sample_connections $(field sample_connections | sum_of)"
echo "sample_bytes_checked $(field sample_bytes_checked | sum_of)"
echo "server_established $estab"
echo "server_descriptors_per_process $per_server"
echo "server_rss_idle_kib $rss0"
echo "server_rss_held_kib $rss1"
echo "server_rss_per_connection_bytes $(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')"
echo "client_rss_kib $client_rss"
echo "kernel_tcp_mem_pages_idle $mem0"
echo "kernel_tcp_mem_pages_held $mem1"
for p in "${clients[@]}"; do kill "$p" 2>/dev/null || true; done
wait "${clients[@]}" 2>/dev/null || true
clients=()
if cat "$log"/server*.out | grep -q .; then
  echo "scale: server output (warnings and errors):"
  cat "$log"/server*.out | head -20
fi
(( estab >= n )) || { echo "scale: the servers hold only $estab of $n connections" >&2; exit 1; }
echo "scale: ok"
