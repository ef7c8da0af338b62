#!/usr/bin/env bash
# web_server end to end, with curl: build/bin/web_server on 127.0.0.1 (a port
# the kernel picks, read from its log) serving a temporary docroot.
#
#   bash tests/web_server.sh <source dir> <build dir>
#
# Checks: file contents and Content-Type; index.html for "/" and "/sub/";
# 301 for a directory without its slash and 403 for one without an index;
# 304 by If-Modified-Since and by If-None-Match (and 200 when they do not
# match); 206 for one range (and a suffix range), 416 past the end, 200 for
# several ranges and for an If-Range that does not match; HEAD (length, no
# body); 405 with Allow; dot files 404; a 3 MiB file byte for byte; traversal
# attempts ("..", "%2e%2e", "%2f", symlinks out of the docroot, absolute
# ones, a symlinked directory outside) get 400/403/404 and never a byte of the
# file outside. Then SIGTERM: the server must exit 0 having logged its clean
# stop (under ASan, a leak fails that exit). All of it twice: with no I/O
# thread (-t 0, as the benchmark runs it) and with two. Every wait is bounded.
set -euo pipefail

src=$(cd "${1:?usage: web_server.sh <source dir> <build dir>}" && pwd)
build=$(cd "${2:?usage: web_server.sh <source dir> <build dir>}" && pwd)
bin=$build/bin/web_server
[ -x "$bin" ] || {
  echo "web_server: FAIL: $bin not built" >&2
  exit 1
}

if ! command -v curl >/dev/null 2>&1; then
  echo "web_server: installing curl" >&2
  if ! { apt-get update -qq && apt-get install -y -qq curl; } >/dev/null 2>&1; then
    echo "web_server: FAIL: curl is missing and could not be installed" >&2
    exit 1
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cmuduo-web.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fails=0
checks=0
fail() {
  echo "web_server: FAIL: $*" >&2
  fails=$((fails + 1))
}
ok() {
  checks=$((checks + 1))
}

# ---- the docroot ---------------------------------------------------------------
www=$work/www
mkdir -p "$www/sub" "$www/empty" "$www/.git" "$work/outside"
secret="TOP-SECRET-$RANDOM$RANDOM-do-not-serve"
echo "$secret" >"$work/secret.txt"
echo "$secret" >"$work/outside/secret.txt"
printf '<!DOCTYPE html><title>root</title>\n' >"$www/index.html"
printf 'hello, static world\n' >"$www/a.txt"
printf 'body { color: red }\n' >"$www/style.css"
head -c 3000 /dev/urandom >"$www/img.png"
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom >"$www/big.bin"
printf 'sub index\n' >"$www/sub/index.html"
printf 'git config\n' >"$www/.git/config"
printf 'dot\n' >"$www/.env"
ln -s a.txt "$www/in.txt"                 # stays inside: served
ln -s ../secret.txt "$www/out.txt"        # relative, leads out
ln -s "$work/secret.txt" "$www/abs.txt"   # absolute, leads out
ln -s ../outside "$www/outdir"            # a directory outside
ln -s ../../secret.txt "$www/sub/up.txt"  # two levels out

# ---- helpers -------------------------------------------------------------------
# get PATH [curl options...]: the response's head in $work/head (CRs dropped),
# its body in $work/body, its status in $status.
get() {
  local path=$1
  shift
  : >"$work/head"
  : >"$work/body"
  status=$(curl -sS --max-time 10 --path-as-is -o "$work/body" -D "$work/head.raw" \
    -w '%{http_code}' "$@" "$base$path" 2>"$work/curl.err") || status=000
  tr -d '\r' <"$work/head.raw" >"$work/head" 2>/dev/null || true
}

# header NAME: the value of NAME in the last response ("" if absent).
header() {
  grep -i "^$1:" "$work/head" | head -1 | sed 's/^[^:]*: *//' || true
}

expect_status() { # what want
  if [ "$status" = "$2" ]; then ok; else fail "$1: status $status, want $2"; fi
}

expect_header() { # what name want
  local got
  got=$(header "$2")
  if [ "$got" = "$3" ]; then ok; else fail "$1: $2 '$got', want '$3'"; fi
}

expect_body_file() { # what file
  if cmp -s "$work/body" "$2"; then ok; else fail "$1: body differs from $2"; fi
}

expect_empty_body() { # what
  if [ ! -s "$work/body" ]; then ok; else fail "$1: has a body"; fi
}

no_secret() { # what
  if grep -q "$secret" "$work/body" "$work/head" 2>/dev/null; then
    fail "$1: THE FILE OUTSIDE THE DOCROOT WAS SERVED"
  else
    ok
  fi
}

# The whole suite against one server with `threads` I/O threads.
suite() {
  local threads=$1
  # ---- start ---------------------------------------------------------------------
  "$bin" -p 0 -a 127.0.0.1 -t "$threads" -r "$www" >"$work/log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "web_server: FAIL: the server did not start" >&2
    sed 's/^/  | /' "$work/log" >&2
    exit 1
  fi
  base=http://127.0.0.1:$port
  echo "web_server: serving $www on port $port with $threads I/O threads"

  # ---- content and types -----------------------------------------------------------
  get /a.txt
  expect_status "GET /a.txt" 200
  expect_body_file "GET /a.txt" "$www/a.txt"
  expect_header "GET /a.txt" Content-Type "text/plain; charset=utf-8"
  expect_header "GET /a.txt" Content-Length "$(stat -c %s "$www/a.txt")"
  expect_header "GET /a.txt" Accept-Ranges bytes
  [ -n "$(header ETag)" ] && ok || fail "GET /a.txt: no ETag"
  lm=$(header Last-Modified)
  etag=$(header ETag)
  [ -n "$lm" ] && ok || fail "GET /a.txt: no Last-Modified"

  get /style.css
  expect_header "GET /style.css" Content-Type "text/css; charset=utf-8"
  get /img.png
  expect_header "GET /img.png" Content-Type "image/png"
  expect_body_file "GET /img.png" "$www/img.png"
  get /big.bin
  expect_status "GET /big.bin" 200
  expect_header "GET /big.bin" Content-Type "application/octet-stream"
  expect_body_file "GET /big.bin (3 MiB)" "$www/big.bin"
  get /in.txt
  expect_status "GET /in.txt (symlink inside)" 200
  expect_body_file "GET /in.txt" "$www/a.txt"

  # several requests on one kept-alive connection
  if curl -sS --max-time 10 "$base/a.txt" "$base/index.html" "$base/a.txt" \
    -o "$work/k1" -o "$work/k2" -o "$work/k3" 2>"$work/curl.err" &&
    cmp -s "$work/k1" "$www/a.txt" && cmp -s "$work/k2" "$www/index.html" &&
    cmp -s "$work/k3" "$www/a.txt"; then
    ok
  else
    fail "three requests on one connection"
  fi

  # ---- directories -------------------------------------------------------------------
  get /
  expect_status "GET /" 200
  expect_body_file "GET /" "$www/index.html"
  expect_header "GET /" Content-Type "text/html; charset=utf-8"
  get /sub/
  expect_status "GET /sub/" 200
  expect_body_file "GET /sub/" "$www/sub/index.html"
  get /sub
  expect_status "GET /sub" 301
  expect_header "GET /sub" Location "/sub/"
  get "/sub?x=1"
  expect_header "GET /sub?x=1" Location "/sub/?x=1"
  get /empty/
  expect_status "GET /empty/ (no index)" 403
  get /empty
  expect_status "GET /empty" 301
  get /a.txt/
  expect_status "GET /a.txt/" 404
  get /nothing-here
  expect_status "GET /nothing-here" 404
  get //sub
  expect_status "GET //sub" 301
  expect_header "GET //sub (no open redirect)" Location "/sub/"

  # ---- conditional requests ------------------------------------------------------------
  get /a.txt -H "If-Modified-Since: $lm"
  expect_status "If-Modified-Since = Last-Modified" 304
  expect_empty_body "304 by date"
  expect_header "304 by date" ETag "$etag"
  get /a.txt -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"
  expect_status "If-Modified-Since 1970" 200
  get /a.txt -H "If-Modified-Since: not a date"
  expect_status "If-Modified-Since garbage" 200
  get /a.txt -H "If-None-Match: $etag"
  expect_status "If-None-Match = ETag" 304
  expect_empty_body "304 by tag"
  get /a.txt -H "If-None-Match: \"other\", W/$etag"
  expect_status "If-None-Match weak in a list" 304
  get /a.txt -H "If-None-Match: *"
  expect_status "If-None-Match *" 304
  get /a.txt -H "If-None-Match: \"other\"" -H "If-Modified-Since: $lm"
  expect_status "If-None-Match wins over If-Modified-Since" 200
  get /a.txt -I -H "If-None-Match: $etag"
  expect_status "HEAD If-None-Match" 304

  # ---- ranges ----------------------------------------------------------------------------
  size=$(stat -c %s "$www/big.bin")
  get /big.bin -r 0-9
  expect_status "Range 0-9" 206
  expect_header "Range 0-9" Content-Range "bytes 0-9/$size"
  expect_header "Range 0-9" Content-Length 10
  head -c 10 "$www/big.bin" >"$work/want"
  expect_body_file "Range 0-9" "$work/want"
  get /big.bin -r 1000000-1999999
  expect_status "Range 1000000-1999999" 206
  head -c 2000000 "$www/big.bin" | tail -c 1000000 >"$work/want"
  expect_body_file "Range 1000000-1999999" "$work/want"
  get /big.bin -r -5
  expect_status "Range -5" 206
  expect_header "Range -5" Content-Range "bytes $((size - 5))-$((size - 1))/$size"
  tail -c 5 "$www/big.bin" >"$work/want"
  expect_body_file "Range -5" "$work/want"
  get /big.bin -r "$size-"
  expect_status "Range past the end" 416
  expect_header "Range past the end" Content-Range "bytes */$size"
  get /big.bin -r 0-1,5-6
  expect_status "two ranges" 200
  expect_body_file "two ranges: whole file" "$www/big.bin"
  get /big.bin -H "Range: bytes=0-9" -H "If-Range: \"stale\""
  expect_status "If-Range stale" 200
  get /a.txt -H "Range: bytes=0-4" -H "If-Range: $etag"
  expect_status "If-Range current tag" 206
  get /a.txt -H "Range: bytes=0-4" -H "If-Range: $lm"
  expect_status "If-Range current date" 206

  # ---- HEAD and methods ---------------------------------------------------------------------
  get /big.bin -I
  expect_status "HEAD /big.bin" 200
  expect_header "HEAD /big.bin" Content-Length "$size"
  # HEAD on a raw socket: the head and not one byte of body.
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'HEAD /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  timeout 10 cat <&3 >"$work/raw" || true
  exec 3<&- 3>&-
  if [ "$(tail -c 4 "$work/raw" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] &&
    grep -q "^HTTP/1.1 200" "$work/raw"; then
    ok
  else
    fail "HEAD on a raw socket: body bytes after the head"
  fi
  get /a.txt -X POST -d x=1
  expect_status "POST" 405
  expect_header "POST" Allow "GET, HEAD"
  get /a.txt -X DELETE
  expect_status "DELETE" 405

  # ---- what must never be served ---------------------------------------------------------------
  get /.git/config
  expect_status "GET /.git/config" 404
  get /.env
  expect_status "GET /.env" 404
  get /%2egit/config
  expect_status "GET /%2egit/config" 404
  for path in /../secret.txt /%2e%2e/secret.txt /%2E%2E/secret.txt /..%2fsecret.txt \
    /%2e%2e%2fsecret.txt /sub/..%2f..%2fsecret.txt /sub/%2e%2e/%2e%2e/secret.txt \
    /.%2e/secret.txt /%2f..%2fsecret.txt /out.txt /abs.txt /outdir/secret.txt \
    /sub/up.txt /a.txt%00 /%00 /%zz "/..\\secret.txt" /outdir/ /outdir; do
    get "$path"
    case $status in
      400 | 403 | 404) ok ;;
      *) fail "GET $path: status $status, want 400/403/404" ;;
    esac
    no_secret "GET $path"
  done
  # A target without the leading slash never reaches a file.
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET ../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  timeout 10 cat <&3 >"$work/raw" || true
  exec 3<&- 3>&-
  if grep -q "^HTTP/1.1 4" "$work/raw" && ! grep -q "$secret" "$work/raw"; then
    ok
  else
    fail "GET ../secret.txt (no leading slash)"
  fi

  # ---- stop ------------------------------------------------------------------------------
  kill -TERM "$pid"
  rc=
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rc=0
      wait "$pid" || rc=$?
      break
    fi
    sleep 0.05
  done
  if [ -z "$rc" ]; then
    fail "the server did not stop within 10 s of SIGTERM"
  elif [ "$rc" != 0 ]; then
    fail "the server exited with status $rc"
    sed 's/^/  | /' "$work/log" >&2
  elif ! grep -q "stopped cleanly" "$work/log"; then
    fail "no clean stop in the log"
  else
    ok
  fi
  pid=
}

suite 0
suite 2

if [ "$fails" -gt 0 ]; then
  echo "web_server: $fails of $((checks + fails)) checks FAILED" >&2
  exit 1
fi
echo "web_server: all $checks checks passed"
