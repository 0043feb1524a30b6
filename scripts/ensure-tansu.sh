#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker used by the quickstart, the tests and the benchmarks,
# unless a tansu 0.6.0 is already on PATH. The storage features are required: the default build
# has no storage engine (see docs/test-broker.md). Builds once, in about 10 minutes.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if command -v tansu >/dev/null 2>&1 && tansu --version 2>/dev/null | grep -q '0\.6\.0'; then
  exit 0
fi
echo "installing the tansu broker (cargo install tansu 0.6.0; about 10 minutes, once)" >&2
cargo install tansu --locked --version 0.6.0 --features dynostore,postgres,libsql
