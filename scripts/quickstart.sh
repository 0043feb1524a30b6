#!/usr/bin/env bash
# Tocsin end to end on the embedded defaults: a tansu broker, a SQLite config database with a
# webhook method attached to a sample alarm definition, a local webhook receiver, Tocsin, and one
# sample alarm published to the alarm topic. Prints the notification the receiver got.
#
# With --keep it then stays up as a demo: the API and the web console on, a sample token, a group
# rule, an inhibit rule and a silence, and a trickle of sample alarms on a few hosts, until Ctrl-C.
set -euo pipefail
keep=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
work="$PWD/.tocsin-quickstart"
broker_port=${BROKER_PORT:-19092}
http_port=${HTTP_PORT:-18085}
hook_port=${HOOK_PORT:-18086}
rm -rf "$work" && mkdir -p "$work"
# The demo's API token: a sample, for this machine only.
token=${TOCSIN_DEMO_TOKEN:-demo-token-3f9c2e7a41b8}

bash scripts/ensure-tansu.sh
cargo build --quiet --bin tocsin
tocsin="$PWD/target/debug/tocsin"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting the broker on 127.0.0.1:$broker_port"
(cd "$work" && exec tansu broker --listener-url "tcp://127.0.0.1:$broker_port" \
  --advertised-listener-url "tcp://127.0.0.1:$broker_port" --storage-engine memory://tansu/) >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "ready in" "$work/broker.log" && break; sleep 0.2; done
for topic in alarm-state-transitions alarm-notifications retry-notifications alarm-state-transitions-dead 60-seconds-notifications retry-notifications-dead filtered-alarm-transitions tocsin-history tocsin-history-dead; do
  tansu topic create --broker "tcp://127.0.0.1:$broker_port" --partitions 4 "$topic" >/dev/null
done

cat >"$work/tocsin.conf" <<CONF
# A monasca-notification style configuration; Tocsin's own options are in [database] url,
# [network], [kafka_producer] and [tocsin].
[kafka]
url = 127.0.0.1:$broker_port
group = monasca-notification

[database]
url = sqlite://$work/config.db

[notification_types]
enabled = webhook

[statsd]
enable = false

[network]
# The sample receiver listens on this machine, which tenant addresses may not reach by default.
allow = 127.0.0.1

[kafka_producer]
# The test broker mishandles multi-record batches (see docs/test-broker.md): one record per batch.
linger.ms = 0
batch.num.messages = 1

[api]
# The REST API and the web console (http://127.0.0.1:$http_port/ui/), for the sample tenant.
enabled = true
tokens = $token:tocsin-sample-tenant

[tocsin]
http_listen = 127.0.0.1:$http_port
CONF

echo "== creating the config database and a webhook method for definition quickstart-definition"
"$tocsin" db init --config-file "$work/tocsin.conf"
python3 - "$work/config.db" "http://127.0.0.1:$hook_port/alarms" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
now = "2026-01-01 00:00:00"
db.execute("INSERT OR IGNORE INTO notification_method_type (name) VALUES ('WEBHOOK')")
db.execute("INSERT INTO alarm_definition (id, tenant_id, name, expression, severity, created_at, updated_at) "
           "VALUES ('quickstart-definition', 'tocsin-sample-tenant', 'cpu high', 'avg(cpu.user_perc) > 90', 'HIGH', ?, ?)", (now, now))
db.execute("INSERT INTO notification_method (id, tenant_id, name, type, address, created_at, updated_at) "
           "VALUES ('quickstart-webhook', 'tocsin-sample-tenant', 'ops webhook', 'WEBHOOK', ?, ?, ?)", (sys.argv[2], now, now))
for state in ("ALARM", "OK"):
    db.execute("INSERT INTO alarm_action VALUES ('quickstart-definition', ?, 'quickstart-webhook')", (state,))
db.commit()
PY

echo "== starting the webhook receiver on 127.0.0.1:$hook_port"
python3 scripts/webhook_receiver.py "$hook_port" "$work/received.jsonl" >"$work/receiver.log" 2>&1 &
pids+=($!)

echo "== starting tocsin"
"$tocsin" run --config-file "$work/tocsin.conf" >"$work/tocsin.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -s "http://127.0.0.1:$http_port/healthz"; echo

echo "== publishing a sample alarm (OK -> ALARM)"
"$tocsin" publish-alarm --config-file "$work/tocsin.conf" --definition quickstart-definition --state ALARM

for _ in $(seq 150); do [ -s "$work/received.jsonl" ] && break; sleep 0.2; done
if [ ! -s "$work/received.jsonl" ]; then
  echo "no notification arrived; see $work/tocsin.log" >&2
  exit 1
fi
echo "== the notification that arrived at the webhook:"
cat "$work/received.jsonl"
sleep 1
echo "== tocsin's counters:"
curl -s "http://127.0.0.1:$http_port/metrics" | grep -E '^tocsin_(alarms_finished|notifications_sent)_total'
echo "== logs and data are in $work"

if [ "$keep" != true ]; then
  exit 0
fi

export TOCSIN_API_URL="http://127.0.0.1:$http_port" TOCSIN_TOKEN="$token"
echo "== demo: a group rule, an inhibit rule and a silence for the sample tenant"
"$tocsin" rules create group --name by-host --expression 'group by hostname' \
  --set group_wait=20s --set repeat_interval=30m --set 'alarm_actions=["quickstart-webhook"]' --set 'ok_actions=["quickstart-webhook"]' >/dev/null
"$tocsin" rules create inhibit --name critical-hides-low \
  --expression 'source {severity=CRITICAL} targets {severity=LOW} group by hostname' --set wait_time=5s >/dev/null
"$tocsin" silence add --matcher hostname=maintenance-1 --duration 2h --name "maintenance-1 patching" >/dev/null

echo "== demo: a trickle of sample alarms (one every 3 s) on web-1..web-4, db-1 and maintenance-1"
(
  hosts=(web-1 web-2 web-3 web-4 db-1 maintenance-1)
  severities=(LOW LOW MEDIUM HIGH CRITICAL)
  states=(ALARM ALARM OK)
  while true; do
    host=${hosts[RANDOM % ${#hosts[@]}]}
    severity=${severities[RANDOM % ${#severities[@]}]}
    state=${states[RANDOM % ${#states[@]}]}
    "$tocsin" publish-alarm --config-file "$work/tocsin.conf" --definition quickstart-definition --state "$state" \
      --alarm-id "demo-$host-$severity" --name "cpu high on $host" --hostname "$host" --severity "$severity" >/dev/null 2>&1 || true
    sleep 3
  done
) &
pids+=($!)

cat <<EOF

Tocsin is running with the API and the web console:

  open   http://127.0.0.1:$http_port/ui/
  token  $token

  or from here:  TOCSIN_API_URL=$TOCSIN_API_URL TOCSIN_TOKEN=$token $tocsin history
                 TOCSIN_API_URL=$TOCSIN_API_URL TOCSIN_TOKEN=$token $tocsin groups

Notifications arrive in $work/received.jsonl; logs in $work. Ctrl-C stops everything.
EOF
wait
