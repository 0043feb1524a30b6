#!/usr/bin/env bash
# The whole test suite: installs the tansu broker and the aiosmtpd SMTP server (for the email
# plugin's tests) if missing, makes sure MariaDB and PostgreSQL are up, then runs lints, unit
# tests and the integration tests against those real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/ensure-tansu.sh
bash scripts/ensure-databases.sh
bash scripts/ensure-aiosmtpd.sh target/aiosmtpd-venv
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
