#!/usr/bin/env bash
# Compiles the C snippets of the user guides against the library, so a guide
# cannot drift from the headers, and runs the programs marked to run.
#
#   bash tests/docs_snippets.sh <source dir> <build dir>
#
# A snippet is marked by an HTML comment on the line before its ```c fence:
#
#   <!-- compile -->              a complete program: compiled and linked
#   <!-- compile: run -->         ... and run (MU_LOG_LEVEL=WARN, 60 s bound);
#                                 it must exit 0. If the next fenced block is
#                                 marked <!-- output -->, stdout must equal it.
#   <!-- compile: echo-server --> ... and run as `prog 0 THREADS 127.0.0.1` (0
#                                 and 2 I/O threads, listening on 127.0.0.1
#                                 only): it must log "listening on port N",
#                                 echo bytes over 127.0.0.1, log UP and DOWN,
#                                 and exit 0 on SIGTERM
#   <!-- compile: fragment -->    top-level definitions (no main): compiled
#                                 with -c after #include <cmuduo/cmuduo.h> and
#                                 the usual libc headers
#   <!-- no-compile: REASON -->   shown only (say why)
#
# A ```c block without a marker fails the check, so every C block of a guide
# is either compiled or explicitly excused. Every mu_/MU_ name in a guide's
# text must exist in include/ or src/. Flags: -std=gnu11 -Wall -Wextra
# -Werror; a sanitizer build's flags are added (from <build dir>/CMakeCache.txt)
# so the programs run under the same sanitizer as the rest of the suite (and
# --coverage in a coverage build, tests/coverage/coverage.sh).
set -euo pipefail

src=$(cd "${1:?usage: docs_snippets.sh <source dir> <build dir>}" && pwd)
build=$(cd "${2:?usage: docs_snippets.sh <source dir> <build dir>}" && pwd)
docs=("$src/docs/tcp.md" "$src/docs/http.md" "$src/docs/reactor.md" "$src/docs/threading.md")
lib=$build/lib/libcmuduo.a
work=$(mktemp -d "${TMPDIR:-/tmp}/cmuduo-docs.XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "docs_snippets: FAIL: $*" >&2
  exit 1
}

[[ -f $lib ]] || fail "$lib not built"

cache=$build/CMakeCache.txt
cc=cc
sanitize=()
if [[ -f $cache ]]; then
  cached=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
  [[ -n $cached ]] && cc=$cached
  case $(sed -n 's/^MU_SANITIZE:[A-Z]*=//p' "$cache") in
    address) sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer) ;;
    thread) sanitize=(-fsanitize=thread -fno-omit-frame-pointer) ;;
  esac
  # A coverage build's library needs gcov's runtime at link time.
  if grep -q '^CMAKE_C_FLAGS:[A-Z]*=.*--coverage' "$cache"; then sanitize+=(--coverage); fi
fi
cflags=(-std=gnu11 -Wall -Wextra -Werror -g "${sanitize[@]}" -I "$src/include")
libs=("$lib" -lpthread -lm)

# Splits one guide into snippet files and a manifest: "index mode line doc".
# Code blocks go to NNN.c, an <!-- output --> block to NNN.out (NNN being the
# code block it follows).
extract() {
  local doc=$1 prefix=$2
  awk -v prefix="$prefix" -v doc="$doc" '
    function marker_of(line) {
      if (line ~ /^<!-- compile -->$/) return "program"
      if (line ~ /^<!-- compile: run -->$/) return "run"
      if (line ~ /^<!-- compile: echo-server -->$/) return "echo-server"
      if (line ~ /^<!-- compile: fragment -->$/) return "fragment"
      if (line ~ /^<!-- no-compile: .+ -->$/) return "none"
      if (line ~ /^<!-- output -->$/) return "output"
      return ""
    }
    in_block {
      if ($0 ~ /^```[ \t]*$/) { in_block = 0; close(file); next }
      if (file != "") print > file
      next
    }
    /^```/ {
      in_block = 1
      file = ""
      mode = marker_of(prev)
      if ($0 ~ /^```c[ \t]*$/) {
        if (mode == "" || mode == "output") {
          printf "%s:%d: a ```c block without a compile marker\n", doc, NR > "/dev/stderr"
          bad = 1
          next
        }
        if (mode == "none") next
        n++
        file = sprintf("%s%03d.c", prefix, n)
        printf "%03d %s %d %s\n", n, mode, NR, doc > (prefix "manifest")
      } else if (mode == "output") {
        if (n == 0) { printf "%s:%d: output block before any program\n", doc, NR > "/dev/stderr"; bad = 1; next }
        file = sprintf("%s%03d.out", prefix, n)
        printf "" > file
      }
      next
    }
    { if ($0 != "") prev = $0 }
    END {
      if (in_block) { printf "%s: unterminated code block\n", doc > "/dev/stderr"; bad = 1 }
      exit bad
    }
  ' "$doc"
}

# Compiles one snippet; a #line directive makes diagnostics name the guide's
# own lines.
compile() { # compile <mode> <src> <out> <doc> <fence line>
  local mode=$1 c=$2 out=$3 doc=$4 line=$5 log=$work/cc.log tu=$2.tu.c
  {
    if [[ $mode == fragment ]]; then
      printf '%s\n' '#include <errno.h>' '#include <fcntl.h>' '#include <pthread.h>' \
        '#include <stdio.h>' '#include <stdlib.h>' '#include <string.h>' \
        '#include <sys/stat.h>' '#include <unistd.h>' '#include <cmuduo/cmuduo.h>'
    fi
    printf '#line %d "%s"\n' $((line + 1)) "$doc"
    cat "$c"
  } >"$tu"
  if [[ $mode == fragment ]]; then
    "$cc" "${cflags[@]}" -Wno-unused-function -c "$tu" -o "$out" >"$log" 2>&1 ||
      { sed 's/^/  | /' "$log" >&2; fail "$doc:$line does not compile"; }
  else
    "$cc" "${cflags[@]}" "$tu" "${libs[@]}" -o "$out" >"$log" 2>&1 ||
      { sed 's/^/  | /' "$log" >&2; fail "$doc:$line does not compile"; }
  fi
}

run_program() { # run_program <bin> <expected output file or ""> <where>
  local bin=$1 expected=$2 where=$3 out=$work/run.out rc=0
  timeout 60 env MU_LOG_LEVEL=WARN "$bin" >"$out" 2>"$work/run.err" || rc=$?
  if ((rc != 0)); then
    sed 's/^/  | /' "$out" "$work/run.err" >&2
    fail "$where exited with status $rc"
  fi
  if [[ -n $expected ]] && ! cmp -s "$out" "$expected"; then
    diff -u "$expected" "$out" | sed 's/^/  | /' >&2 || true
    fail "$where printed something else than the output block after it"
  fi
}

# Waits up to ~20 s for a pattern in a file.
wait_for() {
  local pattern=$1 file=$2
  for _ in $(seq 200); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Echo server check: ephemeral port, a line and 1000 numbered lines echoed
# byte for byte, a DOWN line when the client closes, and one connection left
# open that the server must close (its DOWN line) when SIGTERM stops it.
check_echo_server() { # check_echo_server <bin> <threads> <where>
  local bin=$1 threads=$2 where=$3 log=$work/echo.log port line
  "$bin" 0 "$threads" 127.0.0.1 >"$log" 2>&1 &
  server_pid=$!
  wait_for 'listening on port [0-9]+' "$log" || fail "$where: no 'listening on port' line: $(cat "$log")"
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$log" | head -1)
  ((port > 0)) || fail "$where: bad port '$port'"

  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'hello, cmuduo\n' >&3
  IFS= read -r -t 20 line <&3 || fail "$where: no echo"
  [[ $line == 'hello, cmuduo' ]] || fail "$where: echoed '$line'"
  seq 1 1000 >&3
  timeout 20 head -n 1000 <&3 >"$work/echoed" || fail "$where: the 1000 lines did not come back"
  seq 1 1000 | cmp -s - "$work/echoed" || fail "$where: the 1000 lines came back changed"
  exec 3<&-
  wait_for 'is DOWN' "$log" || fail "$where: no DOWN line after the client closed: $(cat "$log")"
  # The connection's name holds the listening address: 127.0.0.1, never 0.0.0.0.
  grep -qF -- "-127.0.0.1:$port#1 is UP" "$log" || fail "$where: not listening on 127.0.0.1: $(cat "$log")"

  exec 3<>"/dev/tcp/127.0.0.1/$port" # left open: the server's free closes it
  wait_for '#2 is UP' "$log" || fail "$where: second connection not UP"
  kill -TERM "$server_pid"
  local rc=0
  for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$server_pid" 2>/dev/null && fail "$where: still running 20 s after SIGTERM"
  wait "$server_pid" || rc=$?
  server_pid=
  exec 3<&-
  ((rc == 0)) || fail "$where: exited with status $rc after SIGTERM: $(cat "$log")"
  [[ $(grep -c 'is DOWN' "$log") == 2 ]] || fail "$where: want 2 DOWN lines: $(cat "$log")"
  if grep -E ' (WARN|ERROR|FATAL) ' "$log" >&2; then fail "$where logged a warning"; fi
  echo "docs_snippets: ok: $where echoes with $threads I/O threads"
}

# Every mu_/MU_ name a guide mentions, in prose and tables too, must exist in
# the headers or the sources: a guide may not invent or keep a dead name.
check_names() { # check_names <doc> <rel>
  local name missing=()
  while read -r name; do
    [[ $name == *_ ]] && continue # a pattern such as mu_tcp_client_set_*
    grep -rqw -- "$name" "$src/include" "$src/src" || missing+=("$name")
  done < <(grep -oE '\b(mu|MU)_[A-Za-z0-9_]+' "$1" | sort -u)
  ((${#missing[@]} == 0)) || fail "$2 names what does not exist: ${missing[*]}"
}

total=0
for doc in "${docs[@]}"; do
  rel=${doc#"$src"/}
  check_names "$doc" "$rel"
  prefix=$work/$(basename "$doc" .md)-
  : >"${prefix}manifest"
  extract "$doc" "$prefix" || fail "$rel: badly marked snippets (see above)"
  while read -r idx mode line _; do
    where="$rel:$line"
    c=$prefix$idx.c
    bin=$prefix$idx.bin
    compile "$mode" "$c" "$bin" "$rel" "$line"
    case $mode in
      run)
        expected=
        [[ -f $prefix$idx.out ]] && expected=$prefix$idx.out
        run_program "$bin" "$expected" "$where"
        ;;
      echo-server)
        check_echo_server "$bin" 0 "$where"
        check_echo_server "$bin" 2 "$where"
        ;;
    esac
    echo "docs_snippets: ok: $where ($mode)"
    total=$((total + 1))
  done <"${prefix}manifest"
done
((total > 0)) || fail "no snippets found"
echo "docs_snippets: all $total snippets ok"
