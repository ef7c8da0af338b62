#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with ASan+UBSan against the
# library, then runs each for a number of seconds.
#
#   bash fuzz/run.sh [seconds per target, default 30] [target ...]
#   bash fuzz/run.sh 60 fuzz_chunked
#
# The whole library (src/**/*.c) is compiled once with clang's coverage and
# sanitizer instrumentation into $FUZZ_BUILD/libcmuduo_fuzz.a (objects are
# rebuilt only when a source or a header they include changed); each target
# links what it needs from it. Binaries, logs and crash inputs go to
# $FUZZ_BUILD (default build-fuzz/ at the top of the checkout); the corpus each
# run grows goes to $FUZZ_WORK/<target>/ (default fuzz/corpus-work/, ignored by
# git; set it to start from the committed seeds alone, or so that two people
# fuzzing in one checkout do not share it), read together with the committed
# seeds in fuzz/corpus/<target>/. A target's dictionary is
# fuzz/<target>.dict, else fuzz/http.dict for the HTTP targets. A crash input
# is kept as $FUZZ_BUILD/crashes/<target>-crash-*; turn each into a regression
# test (tests/test_fuzz_regress_*.c). Exits non-zero if any target crashed.
# Not part of `make test`; `make fuzz` and `make fuzz-ci` call it.
#
# Without a clang that can link -fsanitize=fuzzer programs, it installs clang
# and the matching compiler-rt package with apt-get (Debian, Ubuntu).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-30}
[[ $# -gt 0 ]] && shift
out=${FUZZ_BUILD:-$root/build-fuzz}
workdir=${FUZZ_WORK:-$here/corpus-work}
jobs=${FUZZ_JOBS:-2}
started=$SECONDS

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)

# True when clang can build and link a libFuzzer program with the sanitizers
# the targets use; the fuzzer and sanitizer runtimes ship separately from clang
# on Debian (libclang-rt-<major>-dev since clang 14).
can_fuzz() {
  command -v clang >/dev/null || return 1
  local probe rc=0
  probe=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
    >"$probe/p.c"
  clang -fsanitize=fuzzer "${san[@]}" "$probe/p.c" -o "$probe/p" >/dev/null 2>&1 || rc=$?
  rm -rf "$probe"
  return $rc
}

apt_install() {
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$@" \
    >/dev/null
}

install_clang() {
  command -v apt-get >/dev/null ||
    { echo "fuzz: clang cannot link -fsanitize=fuzzer programs and there is no apt-get" >&2; exit 1; }
  echo "fuzz: installing clang and its compiler-rt runtimes with apt-get"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update >/dev/null
  command -v clang >/dev/null || apt_install clang
  can_fuzz && return 0
  # The runtimes package is named after clang's major version (Debian 12:
  # clang 14, libclang-rt-14-dev); older releases bundle them with clang.
  local major
  major=$(clang -dumpversion | cut -d. -f1)
  apt_install "libclang-rt-$major-dev"
}

if ! can_fuzz; then
  install_clang
  can_fuzz || { echo "fuzz: clang cannot build -fsanitize=fuzzer programs" >&2; exit 1; }
fi

# True when $1 (an object) is older than its source or any header its .d lists.
stale() {
  local obj=$1 dep=${1%.o}.d f
  [[ -f $obj && -f $dep ]] || return 0
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
    [[ $f -nt $obj ]] && return 0
  done
  return 1
}

# Compiles src/**/*.c into $out/libcmuduo_fuzz.a, $jobs compilers at a time.
build_library() {
  local objdir=$out/obj src rel obj objs=() failed=0
  mkdir -p "$objdir"
  while IFS= read -r src; do
    rel=${src#"$root"/src/}
    obj=$objdir/${rel//\//_}
    obj=${obj%.c}.o
    objs+=("$obj")
    stale "$obj" || continue
    rm -f "$obj"
    clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter \
      -fsanitize=fuzzer-no-link "${san[@]}" -I"$root/include" -I"$root/src" \
      -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" &
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
  done < <(find "$root/src" -name '*.c' | sort)
  wait
  for obj in "${objs[@]}"; do
    [[ -f $obj ]] || { echo "fuzz: failed to compile $obj" >&2; failed=1; }
  done
  [[ $failed -eq 0 ]] || exit 1
  rm -f "$out/libcmuduo_fuzz.a"
  ar rcs "$out/libcmuduo_fuzz.a" "${objs[@]}"
}

dict_for() {
  if [[ -f $here/$1.dict ]]; then
    echo "$here/$1.dict"
  elif [[ $1 == fuzz_http_parser || $1 == fuzz_chunked ]]; then
    echo "$here/http.dict"
  fi
}

mkdir -p "$out/crashes"
passed=0
nfailed=0
echo "fuzz: building the library with clang"
build_library
echo "fuzz: library built in $((SECONDS - started))s"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${targets[@]}"; do
  src=$here/$t.c
  [[ -f $src ]] || { echo "fuzz: no such target $t" >&2; exit 2; }
  echo "fuzz: building $t"
  clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer "${san[@]}" \
    -I"$root/include" -I"$root/src" -I"$root/src/http" -I"$root/tests" \
    -I"$root/examples/common" \
    "$src" "$out/libcmuduo_fuzz.a" -lpthread -lm -o "$out/$t"
  work=$workdir/$t
  seeds=$here/corpus/$t
  mkdir -p "$work" "$seeds"
  dict=()
  d=$(dict_for "$t")
  [[ -n $d ]] && dict=(-dict="$d")
  echo "fuzz: running $t for ${secs}s"
  log=$out/$t.log
  if "$out/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$out/crashes/$t-" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz: $t ok: ${execs:-?} executions, $cov, $ft, corpus $(ls "$work" | wc -l) files"
    passed=$((passed + 1))
  else
    failed=1
    nfailed=$((nfailed + 1))
    echo "fuzz: $t FAILED, see $log; inputs:" >&2
    ls "$out/crashes" | grep "^$t-" >&2 || true
    grep -m1 -A30 'ERROR\|runtime error\|differ\|CHECK\|mismatch' "$log" >&2 || tail -40 "$log" >&2
  fi
done
echo "fuzz: done in $((SECONDS - started))s"
echo "fuzz: $passed passed, $nfailed failed"
exit $failed
