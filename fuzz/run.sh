#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with ASan+UBSan against the
# library sources they need, then runs each for a number of seconds.
#
#   bash fuzz/run.sh [seconds per target, default 30] [target ...]
#   bash fuzz/run.sh 60 fuzz_chunked
#
# Binaries, logs and crash inputs go to $FUZZ_BUILD (default build-fuzz/ at the
# top of the checkout); the corpus each run grows goes to fuzz/corpus-work/
# <target>/ (ignored by git), read together with the committed seeds in
# fuzz/corpus/<target>/. A crash input is kept as $FUZZ_BUILD/crashes/
# <target>-crash-*; turn each into a regression test. Exits non-zero if any
# target crashed. Not part of `make test`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-30}
[[ $# -gt 0 ]] && shift
out=${FUZZ_BUILD:-$root/build-fuzz}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

# libFuzzer comes with clang's runtime libraries (Debian: libclang-rt-14-dev).
can_fuzz() {
  command -v clang >/dev/null || return 1
  local probe
  probe=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
    >"$probe/p.c"
  clang -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >/dev/null 2>&1
  local rc=$?
  rm -rf "$probe"
  return $rc
}
if ! can_fuzz; then
  echo "fuzz: installing clang and libclang-rt-14-dev with apt-get"
  apt-get update >/dev/null
  apt-get install -y clang libclang-rt-14-dev >/dev/null
  can_fuzz || { echo "fuzz: clang cannot build -fsanitize=fuzzer programs" >&2; exit 1; }
fi

# The sources a target needs: the HTTP layer and the allocator hooks.
lib_sources=("$root"/src/http/*.c "$root/src/base/alloc.c")
mkdir -p "$out/crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${targets[@]}"; do
  src=$here/$t.c
  [[ -f $src ]] || { echo "fuzz: no such target $t" >&2; exit 2; }
  echo "fuzz: building $t"
  clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/src/http" -I"$root/tests" \
    "$src" "${lib_sources[@]}" -o "$out/$t"
  work=$here/corpus-work/$t
  seeds=$here/corpus/$t
  mkdir -p "$work" "$seeds"
  dict=()
  [[ -f $here/http.dict ]] && dict=(-dict="$here/http.dict")
  echo "fuzz: running $t for ${secs}s"
  log=$out/$t.log
  if "$out/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$out/crashes/$t-" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz: $t ok: ${execs:-?} executions, $cov, corpus $(ls "$work" | wc -l) files"
  else
    failed=1
    echo "fuzz: $t FAILED, see $log; inputs:" >&2
    ls "$out/crashes" | grep "^$t-" >&2 || true
    grep -m1 -A30 'ERROR\|runtime error\|differ\|CHECK' "$log" >&2 || tail -40 "$log" >&2
  fi
done
exit $failed
