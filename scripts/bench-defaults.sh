#!/usr/bin/env bash
# The notification pipeline at Tocsin's defaults and at the best hand-tuned setting, against a
# fast receiver and one answering in 200 ms, in one run: the settings alternate, ROUNDS times
# (default 2), so that a machine that gets slower or faster during the run affects all alike.
# Prints each run's figures and a summary table. Every run is `cargo bench --bench pipeline`
# (benches/pipeline.rs); see its header for what is counted.
#
#   bash scripts/bench-defaults.sh            # ROUNDS=2 FAST_ALARMS=100000 SLOW_ALARMS=20000
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/ensure-tansu.sh >/dev/null

rounds=${ROUNDS:-2}
fast_alarms=${FAST_ALARMS:-100000}
slow_alarms=${SLOW_ALARMS:-20000}
# The input is written as a real producer writes it, in multi-record batches; the test broker
# then needs partition queues that never pause a partition (docs/test-broker.md), in every run.
# Without it the broker itself slows down after a one-record-per-batch load of 100,000.
export BENCH_BATCHED=1
broker_defect='[notification_engine]\npartition_queue = 20000'
defaults="$broker_defect"
# The best setting for a fast receiver found by hand (BENCHMARKS.md): few in flight, few sends,
# a short fetch wait for the notification engine, and no adaptation.
tuned_fast="$broker_defect"'\nadaptive_concurrency = false\nmax_concurrent_sends = 16\n[kafka_consumer_notification]\nfetch.wait.max.ms = 10'
tuned_fast_in_flight=32
# For a 200 ms receiver the most in flight the defaults allow, at once from the start.
tuned_slow="$broker_defect"'\nadaptive_concurrency = false\n[kafka_consumer_notification]\nfetch.wait.max.ms = 10'

cargo bench --bench pipeline --no-run >/dev/null 2>&1
out=$(mktemp -d)
run() { # name alarms delay_ms in_flight extra
    local name=$1 alarms=$2 delay=$3 in_flight=$4 extra=$5
    echo "== $name" >&2
    BENCH_ALARMS=$alarms BENCH_RECEIVER_DELAY_MS=$delay BENCH_IN_FLIGHT=$in_flight BENCH_EXTRA_CONFIG="$extra" \
        cargo bench --bench pipeline 2>/dev/null | tee -a "$out/$name"
}
for round in $(seq 1 "$rounds"); do
    run fast-default "$fast_alarms" 0 256 "$defaults"
    run fast-tuned "$fast_alarms" 0 "$tuned_fast_in_flight" "$tuned_fast"
    run slow-default "$slow_alarms" 200 256 "$defaults"
    run slow-tuned "$slow_alarms" 200 256 "$tuned_slow"
done
echo
echo "| receiver, setting | notifications/s | CPU µs per notification in Tocsin | latency p50 / p99 at 1,000/s | most posts in progress at once | broker CPU while Tocsin idles |"
echo "|---|---|---|---|---|---|"
for name in fast-default fast-tuned slow-default slow-tuned; do
    rates=$(grep -o 'throughput: [0-9]*' "$out/$name" | awk '{print $2}' | paste -sd/ -)
    cpu=$(grep -o 'CPU per notification: [0-9.]*' "$out/$name" | awk '{print $4}' | paste -sd/ -)
    lat=$(grep -o 'p50 [0-9.]* ms, p99 [0-9.]* ms' "$out/$name" | awk '{print $2 " / " $5}' | paste -sd';' -)
    idle=$(grep -o 'broker used [0-9.]* %' "$out/$name" | awk '{print $3}' | paste -sd/ -)
    most=$(grep -o 'at the receiver: [0-9]*' "$out/$name" | awk '{print $4}' | paste -sd/ -)
    echo "| $name | $rates | $cpu | $lat ms | $most | $idle % |"
done
