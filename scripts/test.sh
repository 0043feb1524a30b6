#!/usr/bin/env bash
# The whole test suite: installs the tansu broker, the aiosmtpd SMTP server (for the email
# plugin's tests) and Chromium with ChromeDriver (for the console's end-to-end test) if missing,
# makes sure MariaDB and PostgreSQL are up, then runs lints, unit tests and the integration
# tests against those real servers, and every benchmark once, short.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/ensure-tansu.sh
bash scripts/ensure-databases.sh
bash scripts/ensure-aiosmtpd.sh target/aiosmtpd-venv
bash scripts/ensure-chromium.sh
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
# Every benchmark once in its short form (BENCH_SHORT=1: a few hundred alarms, seconds each), so
# that none can rot (all but benches/outage.rs, which needs Alertmanager installed): each still
# runs all of its checks (posts deduplicated by alarm id, committed offsets, the sent topic, a deadline on every wait, the manager's silenced/inhibited/grouped
# counts). Built by `cargo test` in the test profile, not by `cargo bench`: this reuses what
# `cargo test` just built (about 10 s to build the benchmarks and 10 s to run them, the
# grouped alarm-manager run included), where `cargo bench` would build every dependency again in
# release (about 10 minutes on 2 cores). The figures of a debug build mean nothing; the checks do.
BENCH_SHORT=1 cargo test --locked --bench pipeline --bench manager --bench rules --bench persist --bench encode --bench http_client
BENCH_SHORT=1 BENCH_GROUP_HOSTS=20 cargo test --locked --bench pipeline
