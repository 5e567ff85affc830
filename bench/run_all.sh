#!/usr/bin/env bash
# bench/run_all.sh: builds and runs every on-demand benchmark and prints bench/README.md's one
# table (markdown), each row with the baseline measured in the same run and the ratio.
# Usage: bench/run_all.sh [BUILD_DIR]   (root, /dev/fuse; a Release or RelWithDebInfo build)
set -euo pipefail
trap 'echo "run_all: failed at line $LINENO" >&2' ERR
build=${1:-build}
cmake --build "$build" --target bench_meta bench_latency bench_io >&2
bin=$build/bin
pyfuse3=()
if /usr/bin/python3 -c 'import pyfuse3' 2>/dev/null; then
  pyfuse3=(--pyfuse3)
else
  echo "run_all: pyfuse3 rows skipped (apt-get install python3-pyfuse3)" >&2
fi
rows() { grep '^| ' || true; }

echo "Measured $(date -u '+%F %H:%M') UTC, $(nproc) CPUs, kernel $(uname -r)," \
  "commit $(git -C "$(dirname "$0")" rev-parse --short HEAD), load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| benchmark | unit | measured | baseline (same run) | ratio |"
echo "|---|---|---:|---:|---:|"
"$bin/bench_meta" | rows
"$bin/bench_latency" --clients 1,8,32,64 "${pyfuse3[@]}" | rows
# The goal compares with pyfuse3: a table without it says so in a row of its own.
((${#pyfuse3[@]})) || echo "| latency-bound fstat, pyfuse3 | | not measured: python3-pyfuse3 is not installed | | |"
# Thread scaling: short windows, many rounds (3 rounds of 2 s swung from 0.44x to 1.86x).
"$bin/bench_latency" --delay-us 0 --clients 2 --rounds 15 --seconds 0.5 --only fusepp-1,fusepp-2 | rows
# raw-mt-2: what libfuse's own two threads make of the same handlers on the same two CPUs.
"$bin/bench_latency" --delay-us 0 --compute-us 20 --clients 2 --rounds 15 --seconds 0.5 --only fusepp-1,fusepp-2,raw-mt-2 | rows
# Per-thread device fds (FUSE_DEV_IOC_CLONE), measured where libfuse implements them: N workers
# on cloned fds against N workers sharing the session's fd, N clients.
for n in 1 2 4; do
  "$bin/bench_latency" --delay-us 0 --clients $n --rounds 15 --seconds 0.5 --only raw-mt-$n,raw-mt-$n-clone | rows
done
"$bin/bench_io" | rows
"$bin/bench_io" --memfs-option writeback_cache | rows | grep 'buffered'
"$(dirname "$0")/harness/bench_harness.sh" "$bin" | rows
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
