# Shared shell helpers of the benchmark scripts (run_http.sh, run_tcp.sh,
# run_logging.sh, run_reactor.sh). This file is sourced, not run:
#
#   source "$root/bench/bench_lib.sh"
#
# It only defines functions and one awk text; it starts nothing and sets no
# shell options (the scripts keep their own `set -euo pipefail`). Functions
# read these variables of the sourcing script, where they use them:
#   bench_name   prefix of log lines (run_http, run_tcp)
#   raw          the raw results file
#   hz           clock ticks per second (getconf CLK_TCK)
#   load_max, load_wait                          wait_for_quiet
#   noise_max, quiet_wait                        wait_for_quiet_second
#   noise_max, noise_retries, noise_budget, retries_used   measure_quiet

# shellcheck shell=bash disable=SC2154 # the variables above are the script's

log() { printf '[%s %s] %s\n' "$bench_name" "$(date +%T)" "$*" >&2; }

# ---- setup ------------------------------------------------------------------

# Whether packages can be installed here: root, with apt-get.
apt_usable() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# apt_install PACKAGE...: installs, updating the package lists first only if
# the install fails without them. Output as apt prints it: the caller chooses
# where it goes.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "$@" || { apt-get update && apt-get install -y "$@"; }
}

# command_of SCRIPT VAR...: the command that reproduces this run, with the
# environment knobs that were set.
command_of() {
  local script=$1 v
  shift
  for v in "$@"; do
    if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi
  done
  printf 'bash %s' "$script"
}

cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }
loadavg3() { cut -d' ' -f1-3 /proc/loadavg; }
# The sources measured: git's name for the checkout ROOT, else MU_SOURCE_REV.
source_rev() { git -C "$1" describe --always --dirty 2>/dev/null || echo "${MU_SOURCE_REV:-unknown}"; }

# needs_two_cpus: exits unless the machine has CPUs 0 and 1 for taskset.
needs_two_cpus() {
  if [ "$(nproc)" -lt 2 ]; then
    log "needs 2 CPUs (taskset -c 0 and 1)"
    exit 1
  fi
}

# Many connections: as many descriptors as allowed, up to 65536.
raise_fd_limit() { ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; }

# ---- quiet machine ----------------------------------------------------------

load1() { cut -d' ' -f1 /proc/loadavg; }

# Waits up to load_wait seconds for the 1-minute load to fall under load_max.
wait_for_quiet() {
  local waited=0
  while awk -v l="$(load1)" -v m="$load_max" 'BEGIN { exit !(l > m) }'; do
    if [ "$waited" -ge "$load_wait" ]; then
      log "load still $(load1) after ${waited}s; measuring anyway (noted in the results)"
      return
    fi
    [ "$waited" = 0 ] && log "load $(load1) > $load_max: waiting for the machine to settle"
    sleep 10
    waited=$((waited + 10))
  done
}

# ---- process helpers --------------------------------------------------------

port_seq=0
# A new port above port_base for each server: a port just closed may linger.
next_port() {
  port_seq=$(((port_seq + 1) % 400))
  echo $((port_base + port_seq))
}

# utime + stime in clock ticks; field 2 may hold spaces, so count from ")".
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# A dead child stays in /proc as a zombie until it is reaped.
alive() { [ -e "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }

# Noise: CPU ticks used by every user-space process but this script and the
# server (given as $1), children included once reaped (cutime + cstime), so a
# short-lived test binary of someone else is counted through its parent. Kernel
# threads (PF_KTHREAD) are left out: they mostly carry our own loopback traffic.
other_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v me=$$ -v srv="$1" '{
    pid = $1; sub(/.*\) /, "")
    if (pid == me || pid == srv || int($7 / 2097152) % 2 == 1) next
    t += $12 + $13 + $14 + $15
  } END { print t + 0 }'
}

# wait_listening PID PORT: 0 once PID listens on PORT (up to 5 s), 1 if it
# does not or exits first.
wait_listening() {
  for _ in $(seq 100); do
    if ss -Htlnp "sport = :$2" | grep -q "pid=$1,"; then return 0; fi
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

# rotated ROUND ITEM...: the items rotated by ROUND - 1, so that no server
# always runs first or after the same one.
rotated() {
  local r=$((($1 - 1) % ($# - 1)))
  shift
  echo "${@:$((r + 1))}" "${@:1:$r}"
}

# ---- noise ------------------------------------------------------------------

# Waits, up to quiet_wait seconds, for a second in which other processes use
# at most noise_max % of a core: bursts of other work usually pass quickly.
wait_for_quiet_second() {
  local waited=0 a b
  while [ "$waited" -lt "$quiet_wait" ]; do
    a=$(other_ticks 0)
    sleep 1
    b=$(other_ticks 0)
    if awk -v t=$((b - a)) -v hz="$hz" -v m="$noise_max" 'BEGIN { exit !(100 * t / hz <= m) }'; then
      return 0
    fi
    waited=$((waited + 1))
  done
}

# measure_quiet TAG RUN ARGS...: RUN ARGS..., which appends a line to $raw,
# repeated (up to noise_retries times, noise_budget in all) while other
# processes took more than noise_max % of a core during it (its other_cpu_pct
# field). Only lines starting with TAG count; discarded ones stay as NOISY.
measure_quiet() {
  local tag=$1 tries=0 other
  shift
  while :; do
    wait_for_quiet_second
    "$@"
    tail -n 1 "$raw" | grep -q "^$tag " || return 0
    other=$(tail -n 1 "$raw" | grep -o 'other_cpu_pct=[^ ]*' | cut -d= -f2)
    if awk -v o="$other" -v m="$noise_max" 'BEGIN { exit !(o > m) }' &&
      [ "$tries" -lt "$noise_retries" ] && [ "$retries_used" -lt "$noise_budget" ]; then
      sed -i "\$ s/^$tag /NOISY /" "$raw"
      tries=$((tries + 1))
      retries_used=$((retries_used + 1))
      log "other processes used ${other}% of a core: run again"
      continue
    fi
    return 0
  done
}

# noise_of EMPTY: from raw lines on stdin, "median X%, max Y% of one core" of
# their other_cpu_pct, or EMPTY if there are none.
noise_of() {
  grep -o ' other_cpu_pct=[^ ]*' | cut -d= -f2 | sort -g |
    awk -v none="$1" '{ v[NR] = $1 } END { if (NR) printf "median %.1f%%, max %.1f%% of one core", v[int((NR + 1) / 2)], v[NR];
      else printf "%s", none }'
}

# ---- medians ----------------------------------------------------------------

# The median of the numbers on stdin, one a line; "-" if there are none.
median_lines() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
      else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# awk text for the RESULT lines of the bench_* programs ("RESULT BENCH IMPL
# METRIC VALUE"): collects them; median(BENCH SUBSEP METRIC SUBSEP IMPL) is
# the median ("" if none) and sets lo and hi; fmt(V, SCALE, DIGITS) shows the
# cell whose median was taken last as "median (min–max)".
# shellcheck disable=SC2034,SC2016 # awk text for the scripts' awk calls
bench_result_awk='
    function median(key,   n, i, j, v, a) {
      n = count[key]
      if (n == 0) return ""
      for (i = 1; i <= n; ++i) a[i] = vals[key, i]
      for (i = 2; i <= n; ++i) {
        v = a[i]
        for (j = i - 1; j >= 1 && a[j] > v; --j) a[j + 1] = a[j]
        a[j + 1] = v
      }
      lo = a[1]
      hi = a[n]
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(v, scale, digits) {
      if (v == "") return "n/a"
      if (lo == hi) return sprintf("%." digits "f", v / scale)
      return sprintf("%." digits "f (%." digits "f–%." digits "f)", v / scale, lo / scale,
                     hi / scale)
    }
    $1 == "RESULT" {
      key = $2 SUBSEP $4 SUBSEP $3
      vals[key, ++count[key]] = $5
    }
'

# ---- comparing two servers' runs --------------------------------------------

# compare_runs "A1 A2 ..." "B1 B2 ..." higher|lower: whether A's runs are
# better than B's beyond what the spread between runs explains (a two-sided
# Mann-Whitney U test, exact, at the 5% level; "higher" or "lower" says which
# way is better). Prints one word and the figures behind it:
#   "better (P=0.96, p=0.008)", "worse (...)" or "tie (...)"
# P: the share of (A run, B run) pairs in which A's run is the better one,
# ties counted half (0.5 when neither is ahead); p: the chance of a split at
# least this lopsided if both came from the same distribution. Medians alone
# cannot tell a difference from run-to-run noise; this can. "-" if either
# side has no runs.
compare_runs() {
  awk -v a="$1" -v b="$2" -v way="$3" 'BEGIN {
    n = split(a, x, " "); m = split(b, y, " ")
    if (n == 0 || m == 0) { print "-"; exit }
    u = 0 # pairs A wins, ties half
    for (i = 1; i <= n; ++i)
      for (j = 1; j <= m; ++j) {
        d = (way == "higher") ? x[i] - y[j] : y[j] - x[i]
        u += (d > 0) ? 1 : (d == 0 ? 0.5 : 0)
      }
    # c[j, k]: orderings of i A runs and j B runs with U = k, built row by row.
    for (j = 0; j <= m; ++j) prev[j, 0] = 1
    for (i = 1; i <= n; ++i) {
      for (j = 0; j <= m; ++j)
        for (k = 0; k <= i * j; ++k) {
          v = (k - j >= 0 && k - j <= (i - 1) * j) ? prev[j, k - j] : 0
          if (j > 0 && k <= i * (j - 1)) v += cur[j - 1, k]
          cur[j, k] = v
        }
      delete prev
      for (key in cur) prev[key] = cur[key]
      delete cur
    }
    total = 0; lo = 0; hi = 0
    for (k = 0; k <= n * m; ++k) {
      total += prev[m, k]
      if (k <= int(u)) lo += prev[m, k]
      if (k >= u) hi += prev[m, k]
    }
    p = 2 * ((lo < hi ? lo : hi) / total); if (p > 1) p = 1
    share = u / (n * m)
    word = (p < 0.05) ? (share > 0.5 ? "better" : "worse") : "tie"
    printf "%s (P=%.2f, p=%.3f)\n", word, share, p
  }'
}
