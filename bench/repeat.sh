#!/usr/bin/env bash
# bench/repeat.sh: runs one benchmark command RUNS times, PAUSE seconds apart, and prints each of
# its table rows once with the median of the runs' ratios and every run's ratio: for a row whose
# runs minutes apart differ by more than one run's interval (the machine changes, not the code).
# Usage: bench/repeat.sh RUNS PAUSE COMMAND [ARGS...]   e.g. bench/repeat.sh 5 60 build/bin/bench_meta
set -euo pipefail
if (($# < 3)) || ! [[ $1 =~ ^[1-9][0-9]*$ && $2 =~ ^[0-9]+$ ]]; then
  echo "usage: bench/repeat.sh RUNS PAUSE_SECONDS COMMAND [ARGS...]" >&2
  exit 2
fi
runs=$1 pause=$2
shift 2
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for ((run = 1; run <= runs; run++)); do
  ((run == 1)) || sleep "$pause"
  echo "repeat: run $run of $runs, load average $(cut -d' ' -f1 /proc/loadavg)" >&2
  "$@" | grep '^| ' | sed "s/^/$run\t/" >>"$rows" ||
    { echo "repeat: run $run failed or printed no table row" >&2 && exit 1; }
done

echo "Measured $(date -u '+%F %H:%M') UTC: $runs runs of \`$*\`, $pause s apart."
echo
echo "| benchmark | unit | median measured | median ratio of the runs | every run's ratio |"
echo "|---|---|---:|---:|---|"
# Rows keep the order of their first appearance; a ratio is the number its cell starts with. A
# row is known by its name and its baseline's (one subject can be compared with two), without
# the peak in flight that bench_latency reports in the name.
awk -F'\t' '
  {
    split($2, cell, "|")
    name = cell[2]; sub(/ \(peak in flight [0-9]+\)/, "", name); gsub(/^ +| +$/, "", name)
    baseline = cell[5]; sub(/^ *[0-9.]+ */, "", baseline); sub(/ +$/, "", baseline)
    if (baseline != "") name = name " vs " baseline
    unit = cell[3]; gsub(/^ +| +$/, "", unit)
    ratio = cell[6]; sub(/^ +/, "", ratio); ratio = ratio + 0
    if (!(name in count)) { order[++names] = name; units[name] = unit }
    measured[name, count[name] + 1] = cell[4] + 0
    values[name, ++count[name]] = ratio
  }
  function median_of(array, n,    a, b, t) {
    for (a = 2; a <= n; a++) for (b = a; b > 1 && array[b - 1] > array[b]; b--) { t = array[b]; array[b] = array[b - 1]; array[b - 1] = t }
    return n % 2 ? array[(n + 1) / 2] : (array[n / 2] + array[n / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= names; i++) {
      name = order[i]; n = count[name]; list = ""
      for (k = 1; k <= n; k++) {
        ratios[k] = values[name, k]; rates[k] = measured[name, k]
        list = list (k > 1 ? ", " : "") sprintf("%.3f", values[name, k])
      }
      printf "| %s | %s | %.6g | %.3fx | %s |\n", name, units[name], median_of(rates, n), median_of(ratios, n), list
    }
  }' "$rows"
