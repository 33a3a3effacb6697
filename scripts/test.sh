#!/usr/bin/env bash
# Runs kmgen's whole test suite (Python, Node and Chromium). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: kmgen's suite must never be empty." >&2
  exit 1
fi
exit "$code"
