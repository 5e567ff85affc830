#!/usr/bin/env bash
# bench/fuzz/bench_fuzz.sh: sequences per second of `fusecheck fuzz` on memfs (issue 10 asks for
# at least 100), wall and CPU time per sequence (the fuzzer, its actors and memfs together),
# and, given a second build, the ratio against it measured in the same run, interleaved.
# Usage: bench/fuzz/bench_fuzz.sh BIN_DIR [BASELINE_BIN_DIR] [ROUNDS] [RUNS]   (root, /dev/fuse)
#   BIN_DIR holds fusecheck, fusecheck-actor and fusecheck-memfs (build/bin); BASELINE_BIN_DIR
#   the same of another build, e.g. a copy of an older build/bin. Rounds alternate which build
#   goes first; each round runs both with the same seed (the round number).
set -euo pipefail
bin=${1:?usage: bench_fuzz.sh BIN_DIR [BASELINE_BIN_DIR] [ROUNDS] [RUNS]}
base=${2:-}
rounds=${3:-5}
runs=${4:-1000}
TIMEFORMAT='%R %U %S'

# One run: prints "wall cpu status" (seconds; cpu = user + sys of the whole process tree;
# status = fusecheck's exit code: a run that found a counterexample stopped early).
measure() {
  local dir=$1 seed=$2 times status=0
  times=$( { time "$dir/fusecheck" fuzz --seed "$seed" --runs "$runs" --out /dev/null >/dev/null 2>&1; } 2>&1) || status=$?
  awk -v status="$status" '{printf "%.3f %.3f %d\n", $1, $2 + $3, status}' <<<"$times"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "fuzz bench: $(date -u '+%F %H:%M') UTC, $(nproc) CPUs, $runs sequences per run," \
  "load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| round | build | wall s | CPU s | sequences/s | wall ms/seq | CPU ms/seq |"
echo "|---|---|---:|---:|---:|---:|---:|"
new_rates=() base_rates=() ratios=() new_cpu=() base_cpu=()
for round in $(seq 1 "$rounds"); do
  order=(new) skipped=0
  [[ -n $base ]] && { ((round % 2)) && order=(new base) || order=(base new); }
  for which in "${order[@]}"; do
    dir=$bin
    [[ $which == base ]] && dir=$base
    read -r wall cpu status < <(measure "$dir" "$round")
    if ((status != 0)); then
      # Not comparable (it stopped early, then shrank); the round has no ratio.
      printf '| %d | %s | %s | %s | exit %d: not counted | | |\n' "$round" "$which" "$wall" "$cpu" "$status"
      skipped=1
      continue
    fi
    rate=$(awk -v n="$runs" -v w="$wall" 'BEGIN {printf "%.1f", n / w}')
    printf '| %d | %s | %s | %s | %s | %.2f | %.2f |\n' "$round" "$which" "$wall" "$cpu" "$rate" \
      "$(awk -v n="$runs" -v w="$wall" 'BEGIN {print 1000 * w / n}')" \
      "$(awk -v n="$runs" -v c="$cpu" 'BEGIN {print 1000 * c / n}')"
    if [[ $which == new ]]; then
      new_rates+=("$rate") new_cpu+=("$cpu")
    else
      base_rates+=("$rate") base_cpu+=("$cpu")
    fi
  done
  if [[ -n $base ]] && ((!skipped)); then
    ratios+=("$(awk -v a="${new_rates[-1]}" -v b="${base_rates[-1]}" 'BEGIN {printf "%.3f", a / b}')")
  fi
done
echo
echo "median sequences/s: $(printf '%s\n' "${new_rates[@]}" | median) ($bin)," \
  "median CPU s per run: $(printf '%s\n' "${new_cpu[@]}" | median)"
if [[ -n $base ]]; then
  echo "median sequences/s: $(printf '%s\n' "${base_rates[@]}" | median) ($base)," \
    "median CPU s per run: $(printf '%s\n' "${base_cpu[@]}" | median)"
  echo "median of the per-round speed ratios (higher is faster): $(printf '%s\n' "${ratios[@]}" | median)x"
fi
