#!/usr/bin/env bash
# Runs every benchmark script of bench/ (make bench). Each script builds what it
# needs and writes its table under bench/results/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/run_reactor.sh"
bash "$here/run_logging.sh"
bash "$here/run_tcp.sh"
bash "$here/run_http.sh"
