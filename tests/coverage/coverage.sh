#!/usr/bin/env bash
# Line coverage of the library (src/) by the whole test suite, run once with
# each poller, as `make test` runs it:
#
#   bash tests/coverage/coverage.sh [BUILD_DIR]   (default build-cov; or: make coverage)
#
# Builds an unoptimised --coverage build (counters updated atomically: counts
# from threads running the same code at once would otherwise be lost), runs
# ctest with MU_POLLER=epoll and MU_POLLER=poll (the counts add up), then
# prints one line per source file
# (lines run / lines that can run) and the total, and leaves the annotated
# sources (*.c.gcov, "#####" marks a line never run) in BUILD_DIR/gcov/.
# Failing tests are reported, and the script exits 1 after the table.
#
# What it cannot see: code run only in forked children that end with _exit
# (gcov writes its counts at exit), and code compiled out of this build.
# gcov comes with gcc; nothing else is needed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-cov}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DMU_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="--coverage -fprofile-update=atomic -O0" -DCMAKE_EXE_LINKER_FLAGS=--coverage >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
find "$build" -name '*.gcda' -delete # counts of this run only

status=0
for poller in epoll poll; do
  (cd "$build" && MU_POLLER=$poller ctest -j"$jobs" --output-on-failure >"$build/ctest-$poller.log" 2>&1) ||
    {
      status=1
      echo "coverage: tests failed with MU_POLLER=$poller (see $build/ctest-$poller.log)" >&2
    }
done

out=$build/gcov
rm -rf "$out"
mkdir -p "$out"
objs=$build/CMakeFiles/cmuduo_objects.dir
(
  cd "$out"
  find "$objs" -name '*.gcda' | while read -r gcda; do
    gcov -o "$(dirname "$gcda")" "$gcda" >/dev/null 2>&1 || true
  done
)

# gcov's first column: "-" no code, "#####" never run, a count otherwise.
echo "| file | lines run | lines | % |"
echo "|---|---:|---:|---:|"
for f in "$out"/*.c.gcov; do
  awk -F: -v name="$(basename "$f" .gcov)" '
    { c = $1; gsub(/ /, "", c) }
    c == "#####" { miss++ }
    c ~ /^[0-9]+\*?$/ { run++ }
    END { printf "| %s | %d | %d | %.1f |\n", name, run, run + miss, 100 * run / (run + miss) }' "$f"
done
cat "$out"/*.c.gcov | awk -F: '
  { c = $1; gsub(/ /, "", c) }
  c == "#####" { miss++ }
  c ~ /^[0-9]+\*?$/ { run++ }
  END { printf "| **total** | %d | %d | %.2f |\n", run, run + miss, 100 * run / (run + miss) }'
exit "$status"
