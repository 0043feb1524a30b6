#!/usr/bin/env bash
# What an idle consumer costs the test broker, with no Tocsin involved: starts tansu with each
# storage engine, creates an empty 8-partition topic, and for each fetch wait runs one idle
# consumer (kafka-python, a client independent of librdkafka) for SECS seconds, printing the
# broker's CPU seconds from /proc. Then the broker alone, with no client, for comparison.
#
#   bash scripts/broker-idle-cost.sh            # waits 10 and 100 ms, memory and sqlite storage
#   WAITS="10 100 500" SECS=30 bash scripts/broker-idle-cost.sh
#
# Needs tansu on PATH (scripts/ensure-tansu.sh) and python3 with the package index; kafka-python
# is installed, pinned, into target/broker-idle-venv the first time. Figures: BENCHMARKS.md.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."
waits=${WAITS:-"10 100"}
secs=${SECS:-15}
venv=target/broker-idle-venv
if ! "$venv/bin/python" -c 'import kafka' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kafka-python==2.0.2
fi
work=$(mktemp -d)
broker=
cleanup() { [ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/idle.py" <<'PY'
import sys, time
from kafka import KafkaConsumer, TopicPartition
port, wait_ms, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", fetch_max_wait_ms=wait_ms,
                         enable_auto_commit=False, api_version=(2, 5, 0))
consumer.assign([TopicPartition("idle", p) for p in range(8)])
consumer.seek_to_beginning()
end = time.time() + secs
while time.time() < end:
    consumer.poll(timeout_ms=100)
PY

cpu_seconds() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }

for storage in memory://tansu/ sqlite://broker.db; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$work" && rm -f broker.db && exec tansu broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$storage") >"$work/broker.log" 2>&1 &
  broker=$!
  for _ in $(seq 50); do grep -q "ready in" "$work/broker.log" && break; sleep 0.2; done
  tansu topic create --broker "tcp://127.0.0.1:$port" --partitions 8 idle >/dev/null
  for wait in $waits; do
    before=$(cpu_seconds "$broker")
    "$venv/bin/python" "$work/idle.py" "$port" "$wait" "$secs"
    after=$(cpu_seconds "$broker")
    echo "$storage, one idle consumer, fetch wait $wait ms: broker CPU $(python3 -c "print(f'{($after - $before) / $secs * 100:.1f}')") % of a core"
  done
  before=$(cpu_seconds "$broker"); sleep "$secs"; after=$(cpu_seconds "$broker")
  echo "$storage, no client: broker CPU $(python3 -c "print(f'{($after - $before) / $secs * 100:.1f}')") % of a core"
  kill "$broker"; wait "$broker" 2>/dev/null || true; broker=
done
