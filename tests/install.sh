#!/usr/bin/env bash
# Packaging test: install cmuduo into a temporary prefix, then build and run an
# outside program (tests/install_consumer) against that prefix only:
#   - pkg-config, shared:  cc main.c $(pkg-config --cflags --libs cmuduo)
#   - pkg-config, static:  cc -static main.c $(pkg-config --static --cflags --libs cmuduo)
#   - CMake find_package:  cmuduo::cmuduo (static) and cmuduo::cmuduo_shared
#
#   bash tests/install.sh <source dir> [<build dir>]
#
# The inner build is a fresh, unsanitized Release build without tests, examples
# or benchmarks, even when ctest runs this from a sanitizer build tree: it tests
# the packaging, and an ASan-instrumented libcmuduo.a would not link into a plain
# outside program. Only the C compiler is taken from <build dir>'s cache.
set -euo pipefail

src=$(cd "${1:?usage: install.sh <source dir> [<build dir>]}" && pwd)
outer_build=${2:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/cmuduo-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log
prefix=$work/prefix
expected='cmuduo consumer ok: 1 functor, 1 timer'

fail() {
  echo "install: FAIL: $*" >&2
  exit 1
}

# Runs a step with its output in $log, shown only if the step fails.
run() {
  local what=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "install: FAIL: $what" >&2
    echo "  command: $*" >&2
    sed 's/^/  | /' "$log" >&2
    exit 1
  fi
}

# Runs a consumer binary (with any VAR=value prefixes) and wants the known line.
check_output() {
  local what=$1
  shift
  local out
  # A bound, so a consumer whose timer never fires fails here, not at ctest's limit.
  out=$(timeout 30 env MU_LOG_LEVEL=WARN "$@" 2>&1) || fail "$what exited with $?: $out"
  grep -qxF "$expected" <<<"$out" || fail "$what printed: $out"
  echo "install: ok: $what"
}

# (Pipes into grep below print to /dev/null rather than use -q: with pipefail,
# grep -q quitting early can make the writer die of SIGPIPE and fail the check.)
needed_libs() {
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

cc=cc
if [[ -n $outer_build && -f $outer_build/CMakeCache.txt ]]; then
  cached=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$outer_build/CMakeCache.txt")
  [[ -n $cached ]] && cc=$cached
fi
command -v "$cc" >/dev/null || fail "no C compiler ($cc)"

if ! command -v pkg-config >/dev/null; then
  echo "install: pkg-config missing, installing it with apt-get"
  run "apt-get update" apt-get update
  run "apt-get install pkg-config" apt-get install -y pkg-config
fi

# ---- build and install the library -----------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
run "configure" cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_INSTALL_PREFIX="$prefix" -DMU_SANITIZE= \
  -DMU_BUILD_TESTS=OFF -DMU_BUILD_EXAMPLES=OFF -DMU_BUILD_BENCH=OFF
run "build" cmake --build "$work/build" -j"$jobs"
run "cmake --install" cmake --install "$work/build"

pc=$(find "$prefix" -name cmuduo.pc -print -quit)
[[ -n $pc ]] || fail "cmuduo.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in include/cmuduo/cmuduo.h include/cmuduo/base/logging.h \
  include/cmuduo/net/event_loop.h; do
  [[ -f $prefix/$f ]] || fail "$f not installed"
done
for f in libcmuduo.a libcmuduo.so libcmuduo.so.0 cmake/cmuduo/cmuduoConfig.cmake \
  cmake/cmuduo/cmuduoConfigVersion.cmake cmake/cmuduo/cmuduoTargets.cmake; do
  [[ -e $libdir/$f ]] || fail "$libdir/$f not installed"
done
nm "$libdir/libcmuduo.a" | grep '__[at]san_' >/dev/null &&
  fail "the installed library is sanitizer-instrumented"
# A function a header declares but no source defines links into the shared
# library as an undefined symbol, and fails only when a program calls it.
undefined=$(nm -D --undefined-only "$libdir/libcmuduo.so" | awk '$2 ~ /^mu_/ {print $2}')
[[ -z $undefined ]] || fail "libcmuduo.so leaves its own symbols undefined:" $undefined
# Internal headers stay in src/: nothing but the public tree under include/.
extra=$(find "$prefix/include" -mindepth 1 -maxdepth 1 ! -name cmuduo)
[[ -z $extra ]] || fail "unexpected files in include/: $extra"
leaked=$(find "$prefix/include" -name '*_internal.h' -o -name poller.h -o -name timer_queue.h)
[[ -z $leaked ]] || fail "internal headers installed: $leaked"
echo "install: ok: installed into the prefix (libdir ${libdir#"$prefix"/})"

# ---- pkg-config ---------------------------------------------------------------
export PKG_CONFIG_PATH=$libdir/pkgconfig
project_version=$(sed -n 's/^project(cmuduo VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
pc_version=$(pkg-config --modversion cmuduo) || fail "pkg-config cannot find cmuduo"
[[ $pc_version == "$project_version" ]] ||
  fail "pkg-config version $pc_version, project version $project_version"
# The .pc file's prefix is relative to its own folder (${pcfiledir}), so the
# tree can be installed with --prefix or moved: it must resolve to the prefix.
pc_prefix=$(pkg-config --variable=prefix cmuduo)
[[ $(realpath "$pc_prefix") == $(realpath "$prefix") ]] ||
  fail "cmuduo.pc names prefix $pc_prefix, not $prefix"

consumer=$src/tests/install_consumer
# Strict ISO C and warnings as errors: the public headers must not need the
# project's own gnu11 or _GNU_SOURCE.
strict=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
read -ra pc_shared <<<"$(pkg-config --cflags --libs cmuduo)"
read -ra pc_static <<<"$(pkg-config --static --cflags --libs cmuduo)"
run "pkg-config shared build" "$cc" "${strict[@]}" -pthread "$consumer/main.c" \
  "${pc_shared[@]}" -o "$work/app_pc_shared"
run "pkg-config static build" "$cc" "${strict[@]}" -static -pthread "$consumer/main.c" \
  "${pc_static[@]}" -o "$work/app_pc_static"

needed_libs "$work/app_pc_shared" | grep -x 'libcmuduo.so.0' >/dev/null ||
  fail "pkg-config shared build does not need libcmuduo.so.0"
resolved=$(LD_LIBRARY_PATH=$libdir ldd "$work/app_pc_shared" | sed -n 's/.*libcmuduo.so.0 => \([^ ]*\).*/\1/p')
[[ $resolved == "$libdir/libcmuduo.so.0" ]] ||
  fail "libcmuduo.so.0 resolves to '$resolved', not the prefix"
[[ -z $(needed_libs "$work/app_pc_static") ]] ||
  fail "static build needs shared libraries: $(needed_libs "$work/app_pc_static")"
check_output "pkg-config shared binary (LD_LIBRARY_PATH)" \
  LD_LIBRARY_PATH="$libdir" "$work/app_pc_shared"
check_output "pkg-config static binary" "$work/app_pc_static"

# ---- CMake find_package --------------------------------------------------------
run "find_package configure" cmake -S "$consumer" -B "$work/consumer" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix"
found=$(sed -n 's/^cmuduo_DIR:[A-Z]*=//p' "$work/consumer/CMakeCache.txt")
[[ $found == "$libdir/cmake/cmuduo" ]] || fail "find_package found cmuduo in '$found'"
run "find_package build" cmake --build "$work/consumer" -j"$jobs"
needed_libs "$work/consumer/app" | grep cmuduo >/dev/null &&
  fail "cmuduo::cmuduo app links the shared library"
needed_libs "$work/consumer/app_shared" | grep -x 'libcmuduo.so.0' >/dev/null ||
  fail "cmuduo::cmuduo_shared app does not need libcmuduo.so.0"
check_output "find_package cmuduo::cmuduo binary" "$work/consumer/app"
check_output "find_package cmuduo::cmuduo_shared binary (LD_LIBRARY_PATH)" \
  LD_LIBRARY_PATH="$libdir" "$work/consumer/app_shared"

echo "install: PASS"
