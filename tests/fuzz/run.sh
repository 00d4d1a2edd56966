#!/usr/bin/env bash
# One libFuzzer run (make fuzz runs one per core at a time): TARGET for SECONDS over a copy
# of its checked-in corpus in build-fuzz/corpus/TARGET (kept between runs), with its
# dictionary if it has one. Prints one line: the target, its executions, exec/s, the
# coverage (edges) and features, the corpus size, and FAILED when it found a crash, a
# leak or a timeout (left in build-fuzz/artifacts/TARGET/, the log in
# build-fuzz/fuzz_TARGET.log). Exits non-zero then.
#   tests/fuzz/run.sh TARGET SECONDS
set -uo pipefail
t=$1
secs=$2
cd "$(dirname "$0")/../.."
mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t"
cp -n "tests/fuzz/corpus/$t/"* "build-fuzz/corpus/$t/"
dict=()
[ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
log="build-fuzz/fuzz_$t.log"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="build-fuzz/artifacts/$t/" "${dict[@]}" "build-fuzz/corpus/$t" >"$log" 2>&1
rc=$?
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")
ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$last")
corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
status=ok
[ $rc -ne 0 ] && status=FAILED
printf '| %s | %s s | %s | %s | %s | %s | %s | %s |\n' "$t" "$secs" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
  "${corp:-?}" "$status"
if [ $rc -ne 0 ]; then tail -n 30 "$log" >&2; fi
exit $rc
