#!/usr/bin/env bash
# The long run of the property tests (the `properties` modules beside the alarm and
# stored-notification decoders, the AQL and duration parsers and the configuration readers):
# builds the unit tests once with the `fuzz` profile (optimised, with overflow checks and debug
# assertions kept, so an integer overflow panics as it does in a debug test run), then runs
# every property, two at a time, with enough cases that together they generate at least TOTAL
# inputs (the first argument, 1,000,000 by default). Prints each property's case count and
# time, then the total and the elapsed time. Exits non-zero if any property failed, after
# printing its output, which ends with proptest's minimal failing input.
#
#   scripts/fuzz.sh [TOTAL]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

total=${1:-1000000}
[[ $total =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [TOTAL]: TOTAL is a whole number of inputs above 0" >&2; exit 2; }

build_log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$build_log" "$work"' EXIT

echo "building the unit tests (cargo test --profile fuzz --lib --no-run)"
if ! cargo test --locked --profile fuzz --lib --no-run >"$build_log" 2>&1; then
    cat "$build_log" >&2
    exit 1
fi
binary=$(sed -n 's/^ *Executable unittests src\/lib.rs (\(.*\))$/\1/p' "$build_log" | tail -n 1)
[[ -x $binary ]] || { cat "$build_log" >&2; echo "no unit-test binary found in cargo's output" >&2; exit 1; }

mapfile -t properties < <("$binary" --list 2>/dev/null | sed -n 's/^\(.*::properties::[^:]*\): test$/\1/p' | sort)
(( ${#properties[@]} > 0 )) || { echo "no property tests found in $binary" >&2; exit 1; }
cases=$(( (total + ${#properties[@]} - 1) / ${#properties[@]} ))
echo "${#properties[@]} properties x $cases cases, two at a time"

# Runs one property; leaves its output in $work/N.log and "status milliseconds" in $work/N.result.
run_one() {
    local index=$1 name=$2 started ended status=0
    started=$(date +%s%N)
    PROPTEST_CASES=$cases "$binary" --exact "$name" --test-threads=1 >"$work/$index.log" 2>&1 || status=$?
    ended=$(date +%s%N)
    # A filter that matched nothing also exits 0: only "1 passed" counts as a pass.
    if (( status == 0 )) && ! grep -q '^test result: ok. 1 passed' "$work/$index.log"; then
        status=1
    fi
    echo "$status $(( (ended - started) / 1000000 ))" >"$work/$index.result"
}
export -f run_one
export binary cases work

seconds() {
    awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'
}

started=$(date +%s%N)
for index in "${!properties[@]}"; do
    printf '%s\0%s\0' "$index" "${properties[$index]}"
done | xargs -0 -n 2 -P 2 bash -c 'run_one "$1" "$2"' _
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

failed=0
printf '\n%-90s %9s %9s  %s\n' property cases seconds result
for index in "${!properties[@]}"; do
    read -r status ms <"$work/$index.result"
    result=ok
    if (( status != 0 )); then
        result=FAILED
        failed=$(( failed + 1 ))
    fi
    printf '%-90s %9d %9s  %s\n' "${properties[$index]}" "$cases" "$(seconds "$ms")" "$result"
done
printf '\ntotal: %d inputs over %d properties in %s s; failed properties: %d\n' \
    $(( cases * ${#properties[@]} )) "${#properties[@]}" "$(seconds "$elapsed_ms")" "$failed"

if (( failed > 0 )); then
    for index in "${!properties[@]}"; do
        read -r status _ <"$work/$index.result"
        if (( status != 0 )); then
            echo
            echo "==== ${properties[$index]} ===="
            cat "$work/$index.log"
        fi
    done
    exit 1
fi
