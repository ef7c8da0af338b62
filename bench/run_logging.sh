#!/usr/bin/env bash
# Logging benchmarks: cmuduo's async back end, cmuduo synchronous to a log file,
# and a plain fprintf baseline, all writing ~100-byte lines to a file (see the
# "Logging benchmarks" section of bench/README.md).
#
#   bash bench/run_logging.sh        (also run by: make bench)
#
# Builds bench_logging in Release in BUILD_DIR, runs every measurement RUNS
# times with the three implementations interleaved, and writes the medians as a
# Markdown table to bench/results/logging.md (raw RESULT lines:
# bench/results/logging_raw.txt).
#
# Environment: RUNS (default 3), BUILD_DIR (default <repo>/build-bench),
# LINES (default 2000000, per throughput run), BURSTS (default 30),
# PAUSE_MS (default 100, between bursts), LOG_DIR (default BUILD_DIR/logging-files:
# the files are written there, on disk, and removed after each run),
# MU_SOURCE_REV (names the sources when they are not a git checkout),
# OUT (default <repo>/bench/results/logging.md; the raw lines go beside it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/bench_lib.sh
source "$root/bench/bench_lib.sh"
build=${BUILD_DIR:-$root/build-bench}
runs=${RUNS:-3}
lines=${LINES:-2000000}
bursts=${BURSTS:-30}
pause_ms=${PAUSE_MS:-100}
log_dir=${LOG_DIR:-$build/logging-files}
out=${OUT:-$root/bench/results/logging.md}
raw=${out%.md}_raw.txt
impls="async sync fprintf"

build_it() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMU_BUILD_TESTS=OFF \
    -DMU_BUILD_EXAMPLES=OFF -DMU_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j"$(nproc)" --target bench_logging
}

# The producer runs on CPU 1 and the async back end on CPU 0; with two
# producers, the second one shares CPU 0 with the back end (the machine has two
# cores). With one core everything shares it.
if [ "$(nproc)" -ge 2 ]; then
  pin=(taskset -c 0,1)
  cpus=(--cpu=1 --backend-cpu=0)
else
  pin=(taskset -c 0)
  cpus=(--cpu=0 --backend-cpu=0)
fi

run_one() {
  "${pin[@]}" "$build/bin/bench_logging" "${cpus[@]}" --dir="$log_dir" "$@" |
    grep '^RESULT' >>"$raw"
}

run_all() {
  : >"$raw"
  local impl
  for _ in $(seq "$runs"); do
    for impl in $impls; do
      run_one --impl="$impl" --mode=throughput --threads=1 --lines="$lines"
      run_one --impl="$impl" --mode=throughput --threads=2 --lines="$lines"
      run_one --impl="$impl" --mode=burst --bursts="$bursts" --pause-ms="$pause_ms"
    done
  done
}

make_table() {
  awk "$bench_result_awk"'
    function row(bench, metric, label, unit, scale, digits,   line, i, impl) {
      split("async sync fprintf", impl_list, " ")
      line = "| " label " | " unit
      for (i = 1; i <= 3; ++i) {
        v = median(bench SUBSEP metric SUBSEP impl_list[i])
        line = line " | " fmt(v, scale, digits)
      }
      print line " |"
    }
    END {
      print "| measurement | unit | cmuduo async | cmuduo sync (log_file) | fprintf baseline |"
      print "|---|---|---:|---:|---:|"
      row("throughput_t1", "rate", "1 thread: lines/s, all in the file", "M lines/s", 1e6, 2)
      row("throughput_t1", "ns_per_call", "1 thread: time per call", "ns", 1, 0)
      row("throughput_t1", "calls_rate", "1 thread: lines/s, calls only", "M lines/s", 1e6, 2)
      row("throughput_t2", "rate", "2 threads: lines/s, all in the file", "M lines/s", 1e6, 2)
      row("throughput_t2", "ns_per_call", "2 threads: time per call, per thread", "ns", 1, 0)
      row("burst", "median_us", "bursts of 1000 (muduo test): median per call", "us", 1, 3)
      row("burst", "p90_us", "bursts of 1000: p90 over the bursts", "us", 1, 3)
      row("throughput_t1", "line_bytes", "bytes per line", "bytes", 1, 1)
    }' "$raw"
}

targets() {
  awk "$bench_result_awk"'
    END {
      b = median("burst" SUBSEP "median_us" SUBSEP "async")
      r = median("throughput_t1" SUBSEP "rate" SUBSEP "async")
      b_ok = "NOT met"
      if (b <= 0.15) b_ok = "met"
      r_ok = "NOT met"
      if (r >= 2000000) r_ok = "met"
      printf "- target, front-end call <= 0.15 us median (muduo measures 0.18 us): %.3f us, %s\n", b, b_ok
      printf "- target, >= 2 M lines/s sustained, one thread, async to a file: %.2f M, %s\n", r / 1e6, r_ok
    }' "$raw"
}

describe_machine() {
  local cpu rev
  cpu=$(cpu_model)
  rev=$(source_rev "$root")
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: nproc=$(nproc), CPU: ${cpu:-unknown}, kernel: $(uname -sr);" \
    "files on $(df -T "$log_dir" | awk 'NR == 2 {print $2}') ($log_dir)"
  echo "- cmuduo: $rev (Release)"
  echo "- each cell: median of $runs runs (min–max), the three implementations" \
    "interleaved; producer on CPU ${cpus[0]#--cpu=}, async back end on CPU" \
    "${cpus[1]#--backend-cpu=}, a second producer on CPU ${cpus[1]#--backend-cpu=}"
  echo "- throughput: $lines lines of ~100 bytes per run; the clock stops when every" \
    "line is in the file (async: after stop; sync and fprintf: after the final" \
    "flush; no fsync). \"calls only\": until the last call returns"
  echo "- bursts: $bursts bursts of 1000 lines, ${pause_ms} ms apart, one thread;" \
    "per-burst microseconds per call, then the median over bursts"
  echo "- fprintf: the same line shape and length with a constant date column (no" \
    "clock read, no thread id)"
  echo "- load average (1, 5, 15 min) before: $load_before, after:" \
    "$(loadavg3) (2 cores shared with other work: load" \
    "above ~1 lowers the numbers and widens the spread)"
}

main() {
  build_it
  mkdir -p "$(dirname "$out")" "$log_dir"
  load_before=$(loadavg3)
  run_all
  {
    echo "# Logging benchmarks"
    echo
    echo "Produced by \`bash bench/run_logging.sh\` (RUNS=$runs)."
    echo
    describe_machine
    targets
    echo
    make_table
  } >"$out"
  rmdir "$log_dir" 2>/dev/null || true
  cat "$out"
}

main "$@"
