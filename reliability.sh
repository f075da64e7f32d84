#!/usr/bin/env bash
# The reliability suite in one command (RELIABILITY.md): kills at the worst moment, a
# misbehaving agent, a failing store, hostile input (fuzzing) and security, through ./test.sh
# (which provisions what the tests need). Prints the figures the tests report on their
# `RELIABILITY:` lines, then a summary. The whole output is kept in target/reliability.log.
# Replay a seeded run: ITERATR_RELIABILITY_SEED=N ./reliability.sh
set -uo pipefail
cd "$(dirname "$0")"

LOG="${CARGO_TARGET_DIR:-$PWD/target}/reliability.log"
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
status=0
# The parsers' fuzz properties (unit tests), then every reliability_* test and the MCP fuzzing
# (integration tests, one binary).
./test.sh --lib fuzz -- --nocapture 2>&1 | tee -a "$LOG" || status=1
./test.sh --test it -- reliability_ fuzz_mcp --nocapture 2>&1 | tee -a "$LOG" || status=1

echo
echo "== reliability figures (from $LOG) =="
grep -h '^RELIABILITY:' "$LOG" | sed 's/^RELIABILITY: /  /'
fuzz=$(grep -h '^RELIABILITY: fuzz' "$LOG" | grep -o '[0-9]* executions' | awk '{s += $1} END {print s + 0}')
passed=$(grep -h '^test result:' "$LOG" | awk '{p += $4; f += $6} END {printf "%d passed, %d failed", p, f}')
echo "  fuzz executions in all: $fuzz"
echo "  tests: $passed"
if [ "$status" -eq 0 ]; then echo "reliability suite: passed"; else echo "reliability suite: FAILED (see $LOG)"; fi
exit "$status"
