#!/usr/bin/env bash
# Installs the distribution's Chromium and ChromeDriver (for the console's end-to-end tests)
# when missing. Debian's packages, as the machine's package manager installs them.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
echo "installing chromium and chromium-driver from the distribution's packages" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromedriver >/dev/null
