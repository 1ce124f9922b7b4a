#!/usr/bin/env bash
# One command to set up kscript on a fresh machine: a virtual environment in .venv with
# the CPU build of torch, kscript, its test tools and Ray (the cluster extra); Debian's Chromium and ChromeDriver
# for the watch page's browser tests when apt-get is available and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# CPU torch first: an unpinned torch pulled in by diffusers could be a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# test tools, and Ray for `kscript build --cluster` and its tests (tests/test_cluster*.py)
.venv/bin/python -m pip install --quiet -e ".[test,cluster]"
# Byte-compile kscript as a regular (non-editable) install does: an editable install leaves
# it to the first run, and where PYTHONDONTWRITEBYTECODE is set every process compiled all of
# kscript again (0.09-0.10 s of each `kscript check`, load average 0.5-0.6).
.venv/bin/python -m compileall -q kscript grammar stdlib_effects >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "setup: could not install Chromium; the browser tests will be skipped" >&2
  else
    echo "setup: Chromium is not installed; the browser tests will be skipped" >&2
  fi
fi
echo "setup: done. Try: .venv/bin/kscript build examples/mini_film.kscene"
