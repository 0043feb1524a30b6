#!/usr/bin/env bash
# The long fault suite (BENCHMARKS.md, "Reliability"): the property tests with 1,000,000+
# generated inputs (scripts/fuzz.sh), then the fault tests at full length against the real
# broker and databases: 10 kill -9 failovers of 10,000 alarms each, a 60 s database outage, a
# 5 minute webhook outage and a broker restart on durable storage. Prints one FAULT line per
# test; exits non-zero if anything was lost. Takes about 30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/ensure-tansu.sh
bash scripts/ensure-databases.sh
bash scripts/fuzz.sh
export TOCSIN_FAULT_RUNS="${TOCSIN_FAULT_RUNS:-10}"
export TOCSIN_FAULT_DB_OUTAGE_SECS="${TOCSIN_FAULT_DB_OUTAGE_SECS:-60}"
export TOCSIN_FAULT_WEBHOOK_OUTAGE_SECS="${TOCSIN_FAULT_WEBHOOK_OUTAGE_SECS:-300}"
log="$(mktemp)"
started=$(date +%s)
set +e
cargo test --locked --release --test it -- faults:: scale_out::a_killed_instance_loses_no_alarm \
  --nocapture --test-threads=1 >"$log" 2>&1
status=$?
set -e
grep -E '^(FAULT|test |test result)|panicked' "$log" || true
echo "fault tests: $(( $(date +%s) - started )) s, exit status $status (full output: $log)"
exit "$status"
