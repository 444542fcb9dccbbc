#!/usr/bin/env bash
# Installs what groupvit_d2 needs into the active Python, leaving alone what is already usable.
# torch/torchvision: a pair that imports together is kept; otherwise 2.14.1/0.29.1 are installed
# (torch 2.13.0 has no torchvision build that runs without CUDA libraries).
# Detectron2: installed only where `import detectron2` fails, so a user's own build is never replaced.
set -euo pipefail
PY=${PYTHON:-python3}
WITH_BROWSER=0
if [ "${1:-}" = "--with-browser" ]; then WITH_BROWSER=1; fi
PIP="$PY -m pip install --disable-pip-version-check -q"

if ! $PY -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "[install] torch 2.14.1 + torchvision 0.29.1"
  $PIP torch==2.14.1 torchvision==0.29.1
fi

# Detectron2's SemSegEvaluator needs numpy<2; opencv 4.10 is the last to accept numpy 1.x.
$PIP "numpy<2" "opencv-python-headless<4.11" open_clip_torch webdataset nltk ftfy pycocotools \
  fvcore iopath timm scipy scikit-learn pillow matplotlib safetensors tensorboard "transformers>=4.30" pytest
# ONNX export and its runner; the browser demo (Gradio) and its browser test (Selenium).
$PIP "numpy<2" onnx onnxruntime gradio selenium

# Noun extraction: the NLTK tagger data where its server is reachable (best effort, bounded in
# time), and the offline path's WordNet 3.0 database (Debian's wordnet-base) where it is missing.
if ! $PY -c "import nltk; nltk.data.find('taggers/averaged_perceptron_tagger_eng')" >/dev/null 2>&1; then
  # A closed network drops the connection silently: probe NLTK's data server for 5 s first.
  timeout 120 $PY - >/dev/null 2>&1 <<'PYEOF' || true
import socket
from urllib.parse import urlparse

import nltk

url = urlparse(nltk.downloader.Downloader().url)
socket.create_connection((url.hostname, url.port or 443), timeout=5).close()
nltk.download("averaged_perceptron_tagger_eng", quiet=True)
PYEOF
fi
if [ ! -f /usr/share/wordnet/index.noun ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  echo "[install] wordnet-base (WordNet 3.0, for offline noun extraction)"
  { $SUDO apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1 \
         && $SUDO apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null 2>&1; }; } \
    || echo "[install] wordnet-base could not be installed; noun extraction then needs the NLTK tagger data"
fi

# Headless Chromium for the browser demo's test and tools/screenshot_app.py (`--with-browser`, as
# tools/run_tests.sh asks): best effort, bounded in time; without it that test is skipped.
if [ "$WITH_BROWSER" = 1 ] && ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  echo "[install] chromium + chromium-driver (browser test of demo/app.py)"
  { timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null 2>&1 \
    || { timeout 300 $SUDO apt-get update -qq >/dev/null 2>&1 \
         && timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
              chromium chromium-driver >/dev/null 2>&1; }; } \
    || echo "[install] Chromium could not be installed; the browser test of demo/app.py will be skipped"
fi

if ! $PY -c "import detectron2" >/dev/null 2>&1; then
  echo "[install] Detectron2 (sal-detectron2 0.7.2 wheel, pure-Python part)"
  tmp=$(mktemp -d)
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.10 -d "$tmp" sal-detectron2==0.7.2
  # The wheel is tagged cp310 but its Python sources run on any 3.x; its _C extension is not
  # needed for semantic segmentation and Detectron2 v0.7 guards that import.
  whl=$(ls "$tmp"/sal_detectron2-0.7.2-*.whl)
  mv "$whl" "$tmp/sal_detectron2-0.7.2-py3-none-any.whl"
  $PY -m pip install --disable-pip-version-check -q --no-deps "$tmp/sal_detectron2-0.7.2-py3-none-any.whl"
  # Its runtime requirements, minus the ones above.
  $PIP "pycocotools>=2.0.2" termcolor yacs tabulate cloudpickle "hydra-core>=1.1" "omegaconf>=2.1" \
    black packaging
  rm -rf "$tmp"
fi

$PY -m pip install --disable-pip-version-check -q --no-deps -e "$(dirname "$0")/.."
