#!/usr/bin/env bash
# Installs inspector into .venv on a fresh Debian machine.
#   scripts/setup.sh        runtime only (enough for `streamlit run app.py`)
#   scripts/setup.sh --dev  plus test tools and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

python=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  .venv/bin/python -m pip install -q --no-deps tidecv==1.0.1  # see requirements-dev.txt
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi

# Make the checkout importable from the venv (bench scripts, streamlit pages) without a build step.
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
pwd > "$site/inspector-checkout.pth"
