#!/usr/bin/env bash
# Install what the project needs and is missing; fast when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/../.."
export UV_PYTHON_DOWNLOADS=never

step() { printf 'setup: %s\n' "$*"; }

if ! command -v python3.11 >/dev/null && ! python3 -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "setup: ERROR: Python 3.11 is required (uv must not download one)" >&2; exit 1
fi
if command -v uv >/dev/null; then UV=(uv); elif python3 -m uv --version >/dev/null 2>&1; then UV=(python3 -m uv); else
  step "installing uv with pip"
  python3 -m pip install --quiet --user uv
  UV=(python3 -m uv)
fi
step "Python environment (uv sync --frozen)"
"${UV[@]}" sync --frozen --quiet

missing=()
for tool in java mvn go; do command -v "$tool" >/dev/null || missing+=("$tool"); done
debs=()
command -v java >/dev/null || debs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || debs+=(maven)
command -v go >/dev/null || debs+=(golang-go)
command -v chromium >/dev/null || debs+=(chromium)     # browser tests (Playwright drives Debian's Chromium)
command -v prometheus >/dev/null || debs+=(prometheus) # dashboard proof and promtool rule tests
if [ ${#debs[@]} -gt 0 ]; then
  step "Debian packages: ${debs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
fi
# --- browser tests: axe-core (npm) for the WCAG checks; tests/browser/package-lock.json pins it ---
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null; then
    step "Debian package: npm"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  step "axe-core for the browser tests (npm ci)"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi
# --- end of the axe-core step ---
step "Kafka jars and FerretDB"
.venv/bin/python -m deploy.local.stack install
step "done"
