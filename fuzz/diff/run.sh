#!/usr/bin/env bash
# Differential test of cmuduo's HTTP/1.1 request parser against Node.js's
# llhttp: generates a corpus (hand-written edge cases, framing combinations and
# seeded mutations), runs it through both, and prints every disagreement,
# classified (see compare.js). Not part of ctest.
#
#   bash fuzz/diff/run.sh [seed, default 1] [mutants per case, default 12] [combinations, default 1000]
#
# Env: DIFF_BUILD (build dir, default build-diff at the top of the checkout).
# Outputs go to $DIFF_BUILD/out/: corpus.bin, cmuduo.txt, llhttp.txt and
# details.txt (every differing case). Exits 0 whatever the differences: they
# are for a person to judge (README.md lists the verdicts so far).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seed=${1:-1}
mutants=${2:-12}
combos=${3:-1000}
build=${DIFF_BUILD:-$root/build-diff}
out=$build/out

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: node not found; installing nodejs" >&2
  apt-get update -qq && apt-get install -y -qq nodejs >/dev/null
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMU_BUILD_TESTS=OFF \
  -DMU_BUILD_EXAMPLES=OFF -DMU_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target cmuduo -j2 >/dev/null
lib=$(find "$build" -name libcmuduo.a -print -quit)
cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$root/include" "$here/cmuduo_dump.c" "$lib" -lpthread \
  -o "$build/cmuduo_dump"

mkdir -p "$out"
timeout 300 node "$here/corpus.js" "$seed" "$mutants" "$combos" >"$out/corpus.bin"
timeout 300 "$build/cmuduo_dump" <"$out/corpus.bin" >"$out/cmuduo.txt"
timeout 300 node "$here/llhttp_dump.js" <"$out/corpus.bin" >"$out/llhttp.txt"
echo "node $(node --version), llhttp $(node -p process.versions.llhttp)"
node "$here/compare.js" "$out/corpus.bin" "$out/cmuduo.txt" "$out/llhttp.txt" "$out/details.txt"
echo "every differing case: $out/details.txt"
