#!/usr/bin/env bash
# Installs what is missing, then runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
python3 -m pytest -q "$@"
