#!/usr/bin/env bash
# Bring up the pinned OpenMMLab stack in ./.venv (idempotent; safe to re-run).
#
#   bash tools/bootstrap.sh            # create/refresh .venv, then check the stack
#
# Pinned: Python 3.11, torch 2.14.1, torchvision 0.29.1, mmengine 0.10.7,
# mmcv 2.1.0 (compiled CPU ops, built from its PyPI sdist), mmpretrain 1.2.0,
# mmsegmentation 1.2.2, mmdet 3.3.0.
#
# mmcv 2.1.0 ships no wheel for torch 2.14, so we build one from the sdist, once,
# into a cache outside the repo (MMCONMIM_WHEEL_CACHE, default
# ~/.cache/mmconmim/wheels) and reuse it afterwards. torch 2.14's headers need
# C++20, while mmcv's setup.py hard-codes -std=c++14/17: we patch those flags in
# the unpacked sdist (never in site-packages).
#
# Users with their own (CUDA) torch + mmcv skip this script: see README.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMCONMIM_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
WHEEL_CACHE="${MMCONMIM_WHEEL_CACHE:-$HOME/.cache/mmconmim/wheels}"
STAMP="$VENV/.mmconmim-bootstrap"

MMCV_VERSION=2.1.0
MMCV_SDIST_URL="https://files.pythonhosted.org/packages/a7/19/f97f0fd4d432113a232e75f965335be6b7bb6557ae9faf8051e9a012cadd/mmcv-2.1.0.tar.gz"
MMCV_SDIST_SHA256="d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f"

# Changing these lists (or setup.cfg) re-runs the install step; otherwise a
# re-run only checks the stack.
# setuptools: mmengine 0.10.7 needs pkg_resources (gone in 82), so we stay
# below 81. 80.x still warns that pkg_resources is deprecated whenever
# mmengine resolves an mmseg::/mmdet:: config (5-9 times a run);
# tools/benchmarks/downstream.sh hides exactly that message.
# BASE_REQS go in before mmcv is built (its build needs torch, setuptools,
# wheel, ninja); DOWNSTREAM_REQS after it, because they require mmcv and pip
# must find it already satisfied instead of trying mmcv's sdist itself.
BASE_REQS=(
  "torch==2.14.1" "torchvision==0.29.1"
  "setuptools<81" "wheel" "ninja"
  "mmengine==0.10.7"
)
DOWNSTREAM_REQS=(
  "mmpretrain==1.2.0" "mmsegmentation==1.2.2" "mmdet==3.3.0"
  "ftfy" "regex" "matplotlib" "tqdm" "pycocotools" "scipy"
  "timm==1.0.31" "safetensors==0.8.0"
  "pytest" "pytest-timeout"
  "click" "colorama" "pandas" "tabulate" "requests"
)
# openmim (`mim search/train/run mmconmim`) goes in without its declared
# dependencies: they pull opendatalab -> openxlab, which pins setuptools 60,
# packaging 24, rich 13 and filelock 3.14 (downgrades of this stack) and is
# used only by `mim download`. Its runtime needs are in DOWNSTREAM_REQS.
NO_DEPS_REQS=("openmim==0.3.9")

log() { printf '[bootstrap] %s\n' "$*"; }
t0=$(date +%s)

if ! command -v "$PYTHON_BIN" >/dev/null 2>&1; then
  echo "[bootstrap] error: $PYTHON_BIN not found (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

want_key="$(printf '%s\n' "${BASE_REQS[@]}" "${DOWNSTREAM_REQS[@]}" "${NO_DEPS_REQS[@]}" "mmcv==$MMCV_VERSION" | sha256sum | cut -c1-16)-$(sha256sum "$REPO_ROOT/setup.cfg" | cut -c1-16)"
have_key="$(cat "$STAMP" 2>/dev/null || true)"

build_mmcv_wheel() {
  mkdir -p "$WHEEL_CACHE"
  local work
  work="$(mktemp -d)"
  log "building mmcv $MMCV_VERSION wheel with compiled ops (about 20 min on 2 cores; done once, cached in $WHEEL_CACHE)"
  curl -fsSL --retry 3 -o "$work/mmcv.tar.gz" "$MMCV_SDIST_URL"
  echo "$MMCV_SDIST_SHA256  $work/mmcv.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$work/mmcv.tar.gz" -C "$work"
  local src="$work/mmcv-$MMCV_VERSION"
  # torch>=2.10 headers use C++20 features; mmcv's setup.py pins older standards.
  sed -i -E 's/(-|\/)std(=|:)c\+\+1[47]/\1std\2c++20/g' "$src/setup.py"
  if grep -qE '(-|/)std(=|:)c\+\+1[47]' "$src/setup.py"; then
    echo "[bootstrap] error: could not patch the C++ standard in mmcv's setup.py" >&2
    exit 1
  fi
  (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
     "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$work/dist" .)
  cp "$work"/dist/mmcv-"$MMCV_VERSION"-*.whl "$WHEEL_CACHE"/
  rm -rf "$work"
}

if [ "$want_key" != "$have_key" ]; then
  log "installing pinned requirements into $VENV"
  "${PIP[@]}" install -q --upgrade pip
  "${PIP[@]}" install -q "${BASE_REQS[@]}"

  if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    wheel="$(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$wheel" ]; then
      build_mmcv_wheel
      wheel="$(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    else
      log "reusing cached mmcv wheel $wheel"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
  fi
  "${PIP[@]}" install -q "${DOWNSTREAM_REQS[@]}"
  "${PIP[@]}" install -q --no-deps "${NO_DEPS_REQS[@]}"
  "${PIP[@]}" install -q -e "$REPO_ROOT" --no-build-isolation
  echo "$want_key" > "$STAMP"
else
  log "environment already up to date ($VENV)"
fi

log "checking the stack"
"$PY" "$REPO_ROOT/tools/misc/check_env.py"
log "done in $(( $(date +%s) - t0 )) s"
