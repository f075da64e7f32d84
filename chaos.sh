#!/usr/bin/env bash
# The chaos run (RELIABILITY.md, "Chaos"): the suite's seeded chaos test, for as long as asked.
# Rounds follow one another until --duration has passed, each on a fresh 3-node JetStream cluster,
# bare remote and three clones, with faults at seeded random times and the history checker after
# each; the first failing round stops the run, printing the violations and the seed to replay.
# The whole output is kept in target/chaos.log, the figures in target/chaos-figures.md.
#
#   ./chaos.sh [--seed N] [--duration 30m] [--write]
#
# --write also puts the figures into RELIABILITY.md (the "chaos" block). Replay a failed round
# with the seed it prints: ./chaos.sh --seed N (one round).
set -uo pipefail
cd "$(dirname "$0")"

seed=$(date +%s)
duration=0s
write=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seed) seed=${2:?--seed needs a number}; shift 2 ;;
        --duration) duration=${2:?--duration needs a time such as 30m}; shift 2 ;;
        --write) write=1; shift ;;
        *) echo "chaos.sh: unknown argument $1 (use --seed N, --duration 30m, --write)" >&2; exit 2 ;;
    esac
done
case "$seed" in '' | *[!0-9]*) echo "chaos.sh: --seed takes a number, not $seed" >&2; exit 2 ;; esac

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
LOG="$TARGET/chaos.log"
FIGURES="$TARGET/chaos-figures.md"
mkdir -p "$TARGET"
echo "chaos.sh: seed $seed, duration $duration" | tee "$LOG"
started=$(date +%s)
ITERATR_CHAOS_SEED="$seed" ITERATR_CHAOS_DURATION="$duration" \
    ./test.sh --test it -- --exact --nocapture chaos::a_seeded_chaos_run_keeps_every_invariant 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
took=$(($(date +%s) - started))
grep -q '^test chaos::a_seeded_chaos_run_keeps_every_invariant \.\.\. ok$' "$LOG" || status=1

{
    echo "\`./chaos.sh --seed $seed --duration $duration\` on $(date -u +%Y-%m-%d), $(nproc 2>/dev/null || echo '?') cores, debug build," \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ${took} s in all:"
    echo
    grep -h '^RELIABILITY: chaos' "$LOG" | sed 's/^RELIABILITY: /- /'
} >"$FIGURES"
echo
echo "== chaos figures (from $LOG) =="
sed 's/^/  /' "$FIGURES"

if [ "$write" -eq 1 ]; then
    if [ "$status" -eq 0 ]; then
        python3 - "$FIGURES" <<'PY'
import sys
figures = open(sys.argv[1]).read().strip()
doc = open("RELIABILITY.md").read()
begin, end = "<!-- chaos:begin -->", "<!-- chaos:end -->"
if begin not in doc or end not in doc:
    sys.exit("RELIABILITY.md has no chaos block to replace")
head, rest = doc.split(begin, 1)
_, tail = rest.split(end, 1)
open("RELIABILITY.md", "w").write(f"{head}{begin}\n{figures}\n{end}{tail}")
print("RELIABILITY.md: chaos figures written")
PY
    else
        echo "RELIABILITY.md left as it was: the run failed"
    fi
fi
if [ "$status" -eq 0 ]; then echo "chaos run: passed"; else echo "chaos run: FAILED (see $LOG)"; fi
exit "$status"
