#!/usr/bin/env bash
# Reactor benchmarks: cmuduo against libevent and libuv (see bench/README.md).
#
#   bash bench/run_reactor.sh        (or: make bench)
#
# Installs libevent-dev, libuv1-dev and pkg-config when they are missing (needs
# root and apt-get; without them only cmuduo is measured), builds in Release in
# build-bench, runs every benchmark RUNS times with the implementations
# interleaved, and writes the medians as a Markdown table to
# bench/results/reactor.md (the raw RESULT lines go to reactor_raw.txt).
#
# Environment: RUNS (default 5), BUILD_DIR (default <repo>/build-bench),
# WAKEUP_SAMPLES (default 20000), TIMERS (default 1000000),
# FUNCTORS (default 2000000), MU_SOURCE_REV (names the sources when they are
# not a git checkout), OUT (default <repo>/bench/results/reactor.md; the raw
# lines go beside it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/bench_lib.sh
source "$root/bench/bench_lib.sh"
build=${BUILD_DIR:-$root/build-bench}
runs=${RUNS:-5}
wakeup_samples=${WAKEUP_SAMPLES:-20000}
timers=${TIMERS:-1000000}
functors=${FUNCTORS:-2000000}
out=${OUT:-$root/bench/results/reactor.md}
raw=${out%.md}_raw.txt
impls="cmuduo libevent libuv"

have_peers() {
  command -v pkg-config >/dev/null 2>&1 &&
    pkg-config --exists libevent libevent_pthreads libuv
}

install_peers() {
  have_peers && return 0
  if ! apt_usable; then
    echo "run_reactor: libevent/libuv development files missing and apt-get is" \
      "not usable here: measuring cmuduo alone" >&2
    return 0
  fi
  local pkgs="libevent-dev libuv1-dev pkg-config"
  # shellcheck disable=SC2086
  apt_install $pkgs ||
    echo "run_reactor: installing $pkgs failed: measuring cmuduo alone" >&2
}

build_all() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMU_BUILD_TESTS=OFF \
    -DMU_BUILD_EXAMPLES=OFF -DMU_BUILD_BENCH=ON
  cmake --build "$build" -j"$(nproc)"
}

# Threaded benchmarks get the loop thread and the other thread(s) on different
# cores; single-threaded ones run on core 1 (core 0 takes most of the noise).
if [ "$(nproc)" -ge 2 ]; then
  threaded=(taskset -c "0,1")
  thread_args=(--loop-cpu=1 --producer-cpu=0)
  single=(taskset -c 1)
else
  threaded=(taskset -c 0)
  thread_args=(--loop-cpu=0 --producer-cpu=0)
  single=(taskset -c 0)
fi

# run_one IMPL PROGRAM PIN... -- ARGS...: runs bin/PROGRAM_IMPL if it was built
# and appends its RESULT lines to the raw file.
run_one() {
  local impl=$1 prog=$2
  shift 2
  local exe=$build/bin/${prog}_${impl}
  [ -x "$exe" ] || return 0
  local pin=()
  while [ "$1" != -- ]; do
    pin+=("$1")
    shift
  done
  shift
  MU_POLLER=epoll "${pin[@]}" "$exe" "$@" | grep '^RESULT' >>"$raw"
}

run_all() {
  : >"$raw"
  local impl p
  for p in 1 2; do
    for _ in $(seq "$runs"); do
      for impl in $impls; do
        run_one "$impl" bench_functors "${threaded[@]}" -- "${thread_args[@]}" \
          --producers="$p" --n="$functors"
      done
    done
  done
  for _ in $(seq "$runs"); do
    for impl in $impls; do
      run_one "$impl" bench_timers "${single[@]}" -- --n="$timers"
      # The same peer, but allocating every event inside the timed region.
      if [ "$impl" = libevent ]; then
        run_one libevent bench_timers "${single[@]}" -- --n="$timers" --alloc
      fi
    done
  done
  for _ in $(seq "$runs"); do
    for impl in $impls; do
      run_one "$impl" bench_wakeup "${threaded[@]}" -- "${thread_args[@]}" \
        --samples="$wakeup_samples"
    done
  done
}

# Medians per (bench, metric, impl) and one table row per (bench, metric).
make_table() {
  awk -v runs="$runs" "$bench_result_awk"'
    function row(bench, metric, label, unit, scale, digits, lower_better,
                 cm, best, v, i, impl, line, ratio) {
      split("libevent libuv libevent-alloc", peers, " ")
      cm = median(bench SUBSEP metric SUBSEP "cmuduo")
      line = "| " label " | " unit " | " fmt(cm, scale, digits)
      best = ""
      for (i = 1; i <= 3; ++i) {
        v = median(bench SUBSEP metric SUBSEP peers[i])
        line = line " | " fmt(v, scale, digits)
        if (v == "") continue
        if (best == "" || (lower_better ? v < best : v > best)) best = v
      }
      if (unit == "ratio") ratio = "–"  # a diagnostic, not a contest
      else ratio = (cm == "" || best == "" || cm == 0) ? "n/a" : \
              sprintf("%.2f", lower_better ? best / cm : cm / best)
      print line " | " ratio " |"
    }
    END {
      print "| benchmark | unit | cmuduo | libevent | libuv | libevent, evtimer_new | cmuduo vs best peer |"
      print "|---|---|---:|---:|---:|---:|---:|"
      row("functors_p1", "rate", "(a) cross-thread functors, 1 producer", "M functors/s", 1e6, 2, 0)
      row("functors_p2", "rate", "(a) cross-thread functors, 2 producers", "M functors/s", 1e6, 2, 0)
      row("timers", "total", "(b) 1M timers, cold: add + cancel", "M ops/s", 1e6, 2, 0)
      row("timers", "add", "(b) 1M timers, cold: add", "M ops/s", 1e6, 2, 0)
      row("timers", "cancel", "(b) 1M timers, cold: cancel", "M ops/s", 1e6, 2, 0)
      row("timers", "total_warm", "(b) 1M timers, warm: add + cancel", "M ops/s", 1e6, 2, 0)
      row("timers", "add_warm", "(b) 1M timers, warm: add", "M ops/s", 1e6, 2, 0)
      row("timers", "cancel_warm", "(b) 1M timers, warm: cancel", "M ops/s", 1e6, 2, 0)
      row("timers", "cpu_share", "(b) timers: CPU time / wall time (1 = never preempted)", "ratio", 1, 2, 0)
      row("wakeup", "median", "(c) cross-thread wake-up, median", "us", 1, 1, 1)
      row("wakeup", "p99", "(c) cross-thread wake-up, p99", "us", 1, 1, 1)
    }' "$raw"
}

describe_machine() {
  local cpu kernel
  cpu=$(cpu_model)
  kernel=$(uname -sr)
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: nproc=$(nproc), CPU: ${cpu:-unknown}, kernel: $kernel"
  local rev
  rev=$(source_rev "$root")
  echo "- cmuduo: $rev" \
    "(Release), poller epoll;" \
    "libevent $(pkg-config --modversion libevent 2>/dev/null || echo absent)," \
    "libuv $(pkg-config --modversion libuv 2>/dev/null || echo absent)"
  echo "- each cell: median of $runs runs (min–max), implementations interleaved;" \
    "threaded benchmarks: loop thread on CPU ${thread_args[0]#--loop-cpu=}," \
    "other threads on CPU ${thread_args[1]#--producer-cpu=}; timers: one thread on" \
    "CPU ${single[2]}"
  echo "- timers: each process adds then cancels the timers 3 times; cold is the" \
    "first round (the library grows its structures while timed), warm the third"
  echo "- load average (1, 5, 15 min) before: $load_before, after: $(loadavg3)" \
    "(other work on the machine lowers the numbers and widens the spread)"
  echo "- last column: cmuduo / best peer for rates, best peer / cmuduo for" \
    "latencies: above 1 means cmuduo is better"
}

main() {
  install_peers
  build_all
  mkdir -p "$(dirname "$out")"
  load_before=$(loadavg3)
  run_all
  {
    echo "# Reactor benchmarks"
    echo
    echo "Produced by \`bash bench/run_reactor.sh\` (RUNS=$runs)."
    echo
    describe_machine
    echo
    make_table
  } >"$out"
  cat "$out"
}

main "$@"
