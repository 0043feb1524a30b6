#!/usr/bin/env bash
# Makes a Python virtual environment with aiosmtpd (the SMTP server the email plugin's tests
# talk to) at the path given, unless one is already there. Versions are pinned so every run
# tests against the same server. Needs python3 and the Python package index.
set -euo pipefail
venv="$1"
if "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0
"$venv/bin/python" -c 'import aiosmtpd'
