#!/usr/bin/env bash
# Runs the fault-injection tests (test_fault_*) for many seeds and rates and
# sums what was injected. Not part of ctest (which runs each test once, with
# seeds from the clock); for longer hunts and for docs/reliability.md.
#
#   bash tests/fault/campaign.sh BUILD_DIR [SEEDS=20] [RATES="0.1 0.4"] [TESTS]
#   bash tests/fault/campaign.sh build 50 "0.05 0.2 0.5" "test_fault_echo"
#
# Seeds are 1..SEEDS, so any failure is replayed with the printed command.
# MU_POLLER is passed through (run once per poller if you want both). Exits
# non-zero if any run failed; its output is kept in BUILD_DIR/fault-campaign/.
set -uo pipefail

build=${1:?usage: campaign.sh BUILD_DIR [SEEDS] [RATES] [TESTS]}
seeds=${2:-20}
rates=${3:-"0.1 0.4"}
tests=${4:-"test_fault_echo test_fault_send_file test_fault_http test_fault_client"}
out=$build/fault-campaign
mkdir -p "$out"

declare -A total
runs=0
failed=0
started=$SECONDS
for t in $tests; do
  bin=$build/bin/$t
  [[ -x $bin ]] || { echo "campaign: no $bin (build it first)" >&2; exit 2; }
  for rate in $rates; do
    for ((s = 1; s <= seeds; s++)); do
      log=$out/$t-rate$rate-seed$s.log
      runs=$((runs + 1))
      if ! MU_FAULT_SEED=$s MU_FAULT_RATE=$rate "$bin" >"$log" 2>&1; then
        failed=$((failed + 1))
        echo "campaign: FAILED: MU_POLLER=${MU_POLLER:-epoll} MU_FAULT_SEED=$s MU_FAULT_RATE=$rate $bin (log $log)"
        grep -m3 -E 'CHECK|conn |wrong|ERROR: ' "$log" | sed 's/^/    /'
        continue
      fi
      # "fault: round: N eligible calls, M faults: EINTR=.. EAGAIN=.."
      while read -r key value; do
        total[$key]=$((${total[$key]:-0} + value))
      done < <(awk '/^fault: round: / {
          print "calls", $3; print "faults", $6
          for (i = 8; i <= NF; i++) { split($i, kv, "="); print kv[1], kv[2] }
        }' "$log")
    done
  done
done
echo "campaign: $runs runs ($tests; seeds 1..$seeds; rates $rates; poller ${MU_POLLER:-epoll}), $failed failed, $((SECONDS - started)) s"
printf 'campaign: totals:'
for k in calls faults EINTR EAGAIN short_read short_write ECONNRESET EPIPE EMFILE ENFILE \
  ECONNABORTED ECONNREFUSED EADDRNOTAVAIL; do
  printf ' %s=%s' "$k" "${total[$k]:-0}"
done
printf '\n'
[[ $failed -eq 0 ]]
