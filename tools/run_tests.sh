#!/usr/bin/env bash
# Installs what is missing, then runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh --with-browser
# The tests are small: one thread a process avoids oversubscribing the cores when tests fork
# workers or run beside each other.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python3 -m pytest -q "$@"
