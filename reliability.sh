#!/usr/bin/env bash
# The reliability suite in one command (RELIABILITY.md): runs, through ./test.sh (which provisions
# what the tests need), every test RELIABILITY.md's tables cite (the names are read from the file,
# so a row cannot cite a test this script does not run), checks each of them ran and passed, and
# prints the figures the tests measured (their `RELIABILITY:` lines, seeds included) with a
# summary. The whole output is kept in target/reliability.log, the figures in
# target/reliability-figures.md.
#
#   ./reliability.sh            run and print
#   ./reliability.sh --write    also put the figures into RELIABILITY.md ("Figures from the last run")
#
# Replay a seeded run: ITERATR_RELIABILITY_SEED=N ./reliability.sh (the seed is printed).
set -uo pipefail
cd "$(dirname "$0")"

write=0
[ "${1:-}" = "--write" ] && write=1

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
LOG="$TARGET/reliability.log"
FIGURES="$TARGET/reliability-figures.md"
mkdir -p "$TARGET"
: >"$LOG"
status=0

# Every test name the tables cite: `module::test` (unit tests of the library live under
# fuzz_tests::, session:: and orchestrator::, the rest are integration tests in tests/it).
mapfile -t cited < <(grep -oE '`[a-z0-9_]+(::[a-z0-9_]+)+`' RELIABILITY.md | tr -d '`' | sort -u)
lib=()
it=()
for t in "${cited[@]}"; do
    case "$t" in
        fuzz_tests::* | session::* | orchestrator::*) lib+=("$t") ;;
        *) it+=("$t") ;;
    esac
done
echo "reliability.sh: ${#cited[@]} tests cited by RELIABILITY.md (${#lib[@]} unit, ${#it[@]} integration)" | tee -a "$LOG"

started=$(date +%s)
if [ ${#lib[@]} -gt 0 ]; then
    ./test.sh --lib -- --exact --nocapture "${lib[@]}" 2>&1 | tee -a "$LOG" || status=1
fi
if [ ${#it[@]} -gt 0 ]; then
    ./test.sh --test it -- --exact --nocapture "${it[@]}" 2>&1 | tee -a "$LOG" || status=1
fi
took=$(($(date +%s) - started))

# Each cited test ran (its name on a `test NAME ...` line) and none failed.
missing=()
for t in "${cited[@]}"; do
    grep -qE "^test $t \.\.\. " "$LOG" || grep -qE "(^| )test $t( |$)" "$LOG" || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
    status=1
    echo
    echo "cited by RELIABILITY.md but not run (renamed or removed?):"
    printf '  %s\n' "${missing[@]}"
fi
failed=$(grep -hE '^test .* \.\.\. FAILED$' "$LOG" | sed 's/^test //; s/ \.\.\. FAILED$//')
[ -n "$failed" ] && status=1

passed=$(grep -h '^test result:' "$LOG" | awk '{p += $4; f += $6} END {printf "%d passed, %d failed", p, f}')
fuzz=$(grep -h '^RELIABILITY: fuzz' "$LOG" | grep -o '[0-9]* executions' | awk '{s += $1} END {print s + 0}')
{
    echo "\`./reliability.sh\` on $(date -u +%Y-%m-%d), $(nproc 2>/dev/null || echo '?') cores, debug build," \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'): ${#cited[@]} cited tests, $passed, in ${took} s."
    echo "Every line below is printed by the test that measured it (\`RELIABILITY:\` lines in"
    echo "\`target/reliability.log\`); a failed check stops its test before it prints."
    echo
    grep -h '^RELIABILITY:' "$LOG" | grep -v '^RELIABILITY: kill [0-9]*/' | sed 's/^RELIABILITY: /- /'
    echo "- fuzz executions in all (parsers and MCP tools): $fuzz"
    kills=$(grep -h '^RELIABILITY: kill [0-9]*/' "$LOG" | sed 's/^RELIABILITY: kill [0-9]*\/[0-9]*: //' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
    [ -n "$kills" ] && echo "- kill points of the seeded run: $kills"
} >"$FIGURES"

echo
echo "== reliability figures (from $LOG) =="
sed 's/^/  /' "$FIGURES"
if [ -n "$failed" ]; then
    echo
    echo "failed:"
    printf '  %s\n' $failed
fi

if [ "$write" -eq 1 ]; then
    if [ "$status" -eq 0 ]; then
        python3 - "$FIGURES" <<'EOF'
import re, sys
figures = open(sys.argv[1]).read().strip()
doc = open("RELIABILITY.md").read()
begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
if begin not in doc or end not in doc:
    sys.exit("RELIABILITY.md has no figures block to replace")
head, rest = doc.split(begin, 1)
_, tail = rest.split(end, 1)
open("RELIABILITY.md", "w").write(f"{head}{begin}\n{figures}\n{end}{tail}")
print("RELIABILITY.md: figures written")
EOF
    else
        echo "RELIABILITY.md left as it was: the run failed"
    fi
fi

if [ "$status" -eq 0 ]; then echo "reliability suite: passed"; else echo "reliability suite: FAILED (see $LOG)"; fi
exit "$status"
