#!/usr/bin/env bash
# Installs Prometheus Alertmanager from Debian (package prometheus-alertmanager, 0.25 on
# bookworm) for benches/outage.rs, unless an `alertmanager` or `prometheus-alertmanager` binary
# is already on PATH, and prints the binary's path on stdout.
#
# The package's own service is kept from running: the benchmark starts its own Alertmanager on a
# free port with its own configuration, storage directory and clustering off, and a service on
# 9093 (with its gossip port 9094) would only take CPU from the measurement. A policy-rc.d that
# refuses starts is in place while the package installs (unless one exists already), and a
# service that was started anyway is stopped afterwards.
set -euo pipefail

find_binary() {
  command -v alertmanager 2>/dev/null || command -v prometheus-alertmanager 2>/dev/null || true
}

binary=$(find_binary)
if [ -z "$binary" ]; then
  echo "installing prometheus-alertmanager (apt-get)" >&2
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
  fi
  trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends prometheus-alertmanager >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends prometheus-alertmanager >&2
  fi
  binary=$(find_binary)
  if [ -z "$binary" ]; then
    echo "prometheus-alertmanager installed, but no alertmanager binary is on PATH" >&2
    exit 1
  fi
fi

# Stop the distribution's service if something started it (systemd or sysvinit).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus-alertmanager 2>/dev/null; then
  systemctl stop prometheus-alertmanager >&2 || true
  systemctl disable prometheus-alertmanager >&2 || true
elif [ -x /etc/init.d/prometheus-alertmanager ] && /etc/init.d/prometheus-alertmanager status >/dev/null 2>&1; then
  /etc/init.d/prometheus-alertmanager stop >&2 || true
fi

echo "$binary"
