#!/usr/bin/env bash
# kmgen set-up: installs everything (Debian Chromium and Node.js if missing, the Python
# package into .venv, the pinned JS tooling with `npm ci`), then runs the main job on examples/.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v node >/dev/null || missing+=(nodejs npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# PySpark 4 (the spark extra) needs Java 17 or newer.
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || missing+=(openjdk-17-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "kmgen needs: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,spark]'
npm ci --no-audit --no-fund --loglevel=error

# The main job: build every example site into dist/<site>/ (committed; CI checks it is current).
for config in examples/*.toml; do
  .venv/bin/kmgen build --config "$config"
done
