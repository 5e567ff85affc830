#!/usr/bin/env bash
# bench/harness/bench_harness.sh: the harness's own speed as rows of bench/README.md's table:
# a full `fusecheck run`, one scenario step (an actor round trip: stat) and `fusecheck fuzz`
# sequences per second, each on memfs against the same on a fresh tmpfs target (dir:, nothing
# between the actors and the kernel), and the start-up (`fusecheck list` of every scenario
# against one test's), measured in the same run, interleaved, median of rounds.
# Usage: bench/harness/bench_harness.sh BIN_DIR [ROUNDS]   (root, /dev/fuse; BIN_DIR: build/bin)
set -euo pipefail
bin=${1:?usage: bench_harness.sh BIN_DIR [ROUNDS]}
rounds=${2:-3}
steps=10000   # stats in the round-trip scenario (repeat's most); one more has a single stat
fuzz_runs=300

work=$(mktemp -d /tmp/fusecheck-bench-harness.XXXXXX)
mkdir -p "$work/tmpfs" "$work/scenarios/bench" "$work/results"
mount -t tmpfs none "$work/tmpfs"
trap 'umount "$work/tmpfs" 2>/dev/null || true; rm -rf "$work"' EXIT

round_trip_scenario() {  # name, stats
  printf '%s\n' "format: 1" "title: $2 stats of one file, for bench_harness.sh" \
    "refs: [\"man 2 stat\"]" "tags: [bench]" \
    "setup:" "  - {op: create_file, path: f, data: x}" "steps:" \
    "  - {repeat: $2, steps: [{op: stat, path: f}]}" >"$work/scenarios/bench/$1.yaml"
}
round_trip_scenario many "$steps"
round_trip_scenario one 1

target() { [ "$1" = memfs ] && echo memfs || echo "dir:$work/tmpfs"; }
exclusive() { [ "$1" = memfs ] || echo --exclusive; }

# Wall seconds of the whole conformance suite.
full_run() {
  TIMEFORMAT=%R
  { time "$bin/fusecheck" run --fs "$(target "$1")" $(exclusive "$1") -q --results "$work/results" \
    >/dev/null 2>&1 || true; } 2>&1
}

# Microseconds per step: the many-stat test's duration less the one-stat test's, per stat.
round_trip() {
  "$bin/fusecheck" run --fs "$(target "$1")" $(exclusive "$1") -q --scenarios "$work/scenarios" \
    --results "$work/results" --json "$work/rt.json" >/dev/null 2>&1 || true
  python3 - "$work/rt.json" "$steps" <<'EOF'
import json, sys
tests = {t["name"]: t for t in json.load(open(sys.argv[1]))["tests"]}
many, one = tests["bench/many"], tests["bench/one"]
assert many["verdict"] == one["verdict"] == "PASS", (many["verdict"], one["verdict"])
print(f'{(many["seconds"] - one["seconds"]) / (int(sys.argv[2]) - 1) * 1e6:.2f}')
EOF
}

# Sequences per second of the fuzzer (seed = the round, the same on both targets). The tmpfs
# target's coarse clock is detected and its times compared as tmpfs's are (docs/fuzzing.md,
# "Times"); a run that stopped at a counterexample would inflate the rate, so it fails the bench.
fuzz_rate() {
  local seconds
  TIMEFORMAT=%R
  if ! seconds=$({ time "$bin/fusecheck" fuzz --fs "$(target "$1")" $(exclusive "$1") \
    --seed "$2" --runs "$fuzz_runs" --out /dev/null >/dev/null 2>&1; } 2>&1); then
    echo "bench_harness: fusecheck fuzz on $1 found a counterexample (seed $2)" >&2
    return 1
  fi
  awk -v s="$seconds" -v n="$fuzz_runs" 'BEGIN {printf "%.1f\n", n / s}'
}

# Milliseconds of a `fusecheck list` (every scenario file loaded, or with a --filter).
list_ms() {
  local start end
  start=$(date +%s%N)
  "$bin/fusecheck" list -q "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  awk -v ns="$((end - start))" 'BEGIN {printf "%.1f\n", ns / 1e6}'
}
one_test=setattr/chmod-by-owner-sets-mode
list_samples=5  # per round: a listing is short

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A got
for ((round = 1; round <= rounds; round++)); do
  order=(memfs tmpfs)
  ((round % 2 == 0)) && order=(tmpfs memfs)
  for fs in "${order[@]}"; do
    got[full_$fs]+="$(full_run "$fs") "
    got[rt_$fs]+="$(round_trip "$fs") "
    got[fuzz_$fs]+="$(fuzz_rate "$fs" "$round") "
  done
  for ((sample = 0; sample < list_samples; sample++)); do
    got[list_all]+="$(list_ms) "
    got[list_one]+="$(list_ms --filter "$one_test") "
  done
done
m() { tr ' ' '\n' <<<"${got[$1]}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx\n", a / b}'; }
full_m=$(m full_memfs) full_t=$(m full_tmpfs) rt_m=$(m rt_memfs) rt_t=$(m rt_tmpfs)
fuzz_m=$(m fuzz_memfs) fuzz_t=$(m fuzz_tmpfs) list_a=$(m list_all) list_o=$(m list_one)
echo "| harness: full conformance run, memfs (ratio: tmpfs time / memfs time; tmpfs skips what it lacks) | s | $full_m | $full_t tmpfs | $(ratio "$full_t" "$full_m") |"
echo "| harness: one scenario step (stat through an actor), memfs (ratio: tmpfs time / memfs time) | us | $rt_m | $rt_t tmpfs | $(ratio "$rt_t" "$rt_m") |"
echo "| fuzz: sequences per second, $fuzz_runs per run, memfs against tmpfs (baseline: a tmpfs target) | sequences/s | $fuzz_m | $fuzz_t tmpfs | $(ratio "$fuzz_m" "$fuzz_t") |"
echo "| harness: start-up, \`fusecheck list\` of every scenario file (baseline: the listing of one test, \`--filter\`; ratio: baseline / value) | ms | $list_a | $list_o one test | $(ratio "$list_o" "$list_a") |"
