#!/usr/bin/env bash
# The main job: installs what is missing, generates the synthetic benchmark, trains a tiny GroupViT
# on its captions, evaluates it zero-shot, writes its pictures and prints the mIoU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
python3 tools/demo_job.py "$@"
