#!/usr/bin/env bash
# The whole test suite: installs the tansu broker if missing, makes sure MariaDB and PostgreSQL
# are up, then runs lints, unit tests and the integration tests against those real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/ensure-tansu.sh
bash scripts/ensure-databases.sh
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
