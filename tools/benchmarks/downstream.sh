#!/usr/bin/env bash
# Train or test an mmseg/mmdet config on exported mmconmim backbone weights,
# the way mmpretrain's tools/benchmarks/mm{seg,det}/mim_*.sh do it: through
# openmim (`mim train|test mmseg|mmdet CFG --launcher pytorch -G GPUS ...`),
# which runs mmseg's / mmdet's own tools/train.py and tools/test.py, so their
# options (--tta, --show-dir, --amp, --resume, ...) pass straight through.
# Called by the wrappers in mmsegmentation/ and mmdetection/:
#   downstream.sh PKG dist_train  CONFIG PRETRAIN GPUS [train.py args...]
#   downstream.sh PKG slurm_train PARTITION JOB CONFIG PRETRAIN [WORK_DIR] [args...]
#   downstream.sh PKG dist_test   CONFIG CHECKPOINT GPUS [test.py args...]
#   downstream.sh PKG slurm_test  PARTITION JOB CONFIG CHECKPOINT [args...]
# PKG is mmseg or mmdet. PRETRAIN is the output of
# tools/model_converters/export_backbone.py; it becomes
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PRETRAIN,
# prefix='backbone.') (merged into your own --cfg-options, if any).
#
# DOWNSTREAM_LAUNCHER picks the route:
#   auto (default)  mim when CUDA is available, else ours
#   mim             upstream scripts through openmim; GPUS=0 runs them in one
#                   CPU process (--launcher none)
#   ours            tools/dist_train.sh / dist_test.sh (torchrun; on machines
#                   without CUDA GPUS processes on gloo, which upstream's
#                   pytorch launcher cannot do) and tools/slurm_*.sh
# Env: PORT (rendezvous port), GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS,
# GPUS (slurm), PYTHON (interpreter for the CUDA check and our route).
set -e
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$(dirname "$HERE")"
REPO="$(dirname "$TOOLS")"
source "$TOOLS/select_python.sh"  # exports PYTHON (see there)
PY="$PYTHON"

usage() {
  local dir
  case "$PKG" in mmseg) dir=mmsegmentation ;; mmdet) dir=mmdetection ;;
    *) dir='{mmsegmentation,mmdetection}' ;; esac
  case "$MODE" in
    dist_train) set -- "CONFIG PRETRAIN GPUS [train.py args...]" ;;
    slurm_train) set -- "PARTITION JOB CONFIG PRETRAIN [WORK_DIR] [args...]" ;;
    dist_test) set -- "CONFIG CHECKPOINT GPUS [test.py args...]" ;;
    slurm_test) set -- "PARTITION JOB CONFIG CHECKPOINT [args...]" ;;
    *) MODE='{dist_train,dist_test,slurm_train,slurm_test}'; set -- "..." ;;
  esac
  echo "usage: bash tools/benchmarks/$dir/$MODE.sh $1" >&2
  exit 2
}

PKG=${1:-}
MODE=${2:-}
case "$PKG" in mmseg|mmdet) ;; *) usage ;; esac
shift 2

# mmconmim importable for the configs' custom_imports without installing it
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# mmengine resolves the configs' mmseg::/mmdet:: bases through setuptools'
# pkg_resources, which warns that it is deprecated at every use (5-9 times a
# run, also under the pinned setuptools<81); hide exactly that message.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:pkg_resources is deprecated as an API:UserWarning"

LAUNCHER=${DOWNSTREAM_LAUNCHER:-auto}
if [ "$LAUNCHER" = auto ]; then
  if "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' \
      2>/dev/null; then
    LAUNCHER=mim
  else
    LAUNCHER=ours
  fi
fi
case "$LAUNCHER" in
  mim)
    if ! command -v mim >/dev/null 2>&1; then
      echo "error: openmim's 'mim' command is not on PATH; this route runs" \
        "$PKG's own train/test scripts through it. Install it with" \
        "'pip install -U openmim' (in the environment that has $PKG), or" \
        "set DOWNSTREAM_LAUNCHER=ours to use tools/dist_train.sh." >&2
      exit 1
    fi ;;
  ours) ;;
  *) echo "error: DOWNSTREAM_LAUNCHER must be auto, mim or ours," \
       "not '$LAUNCHER'" >&2; exit 2 ;;
esac

# The pretrained weights as --cfg-options, merged into the caller's own
# --cfg-options (a second --cfg-options flag would replace the first).
with_pretrain() {
  local pretrain=$1; shift
  local opts=(model.backbone.init_cfg.type=Pretrained
              "model.backbone.init_cfg.checkpoint=$pretrain"
              model.backbone.init_cfg.prefix=backbone.)
  ARGS=()
  local merged=0 arg
  for arg in "$@"; do
    ARGS+=("$arg")
    if [ "$arg" = --cfg-options ] && [ $merged = 0 ]; then
      ARGS+=("${opts[@]}"); merged=1
    fi
  done
  if [ $merged = 0 ]; then ARGS+=(--cfg-options "${opts[@]}"); fi
}

mim_launch() {  # GPUS -> mim's launcher arguments
  if [ "$1" = 0 ]; then
    echo "--launcher none -G 0"
  else
    echo "--launcher pytorch -G $1 ${PORT:+--port $PORT}"
  fi
}

need() {  # need N "$@": at least N positional arguments
  local n=$1; shift
  if [ $# -lt "$n" ]; then usage; fi
}

case "$MODE" in
  dist_train)
    need 3 "$@"
    CONFIG=$1; PRETRAIN=$2; GPUS=$3
    with_pretrain "$PRETRAIN" "${@:4}"
    if [ "$LAUNCHER" = mim ]; then
      set -x
      # shellcheck disable=SC2046
      exec mim train "$PKG" "$CONFIG" $(mim_launch "$GPUS") "${ARGS[@]}"
    fi
    exec bash "$TOOLS/dist_train.sh" "$CONFIG" "$GPUS" "${ARGS[@]}"
    ;;
  slurm_train)
    need 4 "$@"
    PARTITION=$1; JOB=$2; CONFIG=$3; PRETRAIN=$4
    WORK_DIR=${5:-"work_dirs/$(basename "${CONFIG%.*}")"}
    with_pretrain "$PRETRAIN" "${@:6}"
    if [ "$LAUNCHER" = mim ]; then
      set -x
      exec mim train "$PKG" "$CONFIG" --launcher slurm -G "${GPUS:-8}" \
        --gpus-per-node "${GPUS_PER_NODE:-8}" \
        --cpus-per-task "${CPUS_PER_TASK:-5}" --partition "$PARTITION" \
        --srun-args "--job-name=$JOB ${SRUN_ARGS:-}" \
        --work-dir "$WORK_DIR" "${ARGS[@]}"
    fi
    exec bash "$TOOLS/slurm_train.sh" "$PARTITION" "$JOB" "$CONFIG" \
      "$WORK_DIR" "${ARGS[@]}"
    ;;
  dist_test)
    need 3 "$@"
    CONFIG=$1; CHECKPOINT=$2; GPUS=$3
    if [ "$LAUNCHER" = mim ]; then
      set -x
      # shellcheck disable=SC2046
      exec mim test "$PKG" "$CONFIG" --checkpoint "$CHECKPOINT" \
        $(mim_launch "$GPUS") "${@:4}"
    fi
    for arg in "${@:4}"; do
      case "$arg" in --tta|--show|--show-dir|--show-dir=*)
        echo "error: $arg is an option of $PKG's tools/test.py, which runs" \
          "through mim; our tools/test.py (DOWNSTREAM_LAUNCHER=ours, the" \
          "default without CUDA) has no $arg. For one CPU process with" \
          "$PKG's script: DOWNSTREAM_LAUNCHER=mim and GPUS=0." >&2
        exit 2 ;;
      esac
    done
    exec bash "$TOOLS/dist_test.sh" "$@"
    ;;
  slurm_test)
    need 4 "$@"
    PARTITION=$1; JOB=$2; CONFIG=$3; CHECKPOINT=$4
    if [ "$LAUNCHER" = mim ]; then
      set -x
      exec mim test "$PKG" "$CONFIG" --checkpoint "$CHECKPOINT" \
        --launcher slurm -G "${GPUS:-8}" \
        --gpus-per-node "${GPUS_PER_NODE:-8}" \
        --cpus-per-task "${CPUS_PER_TASK:-5}" --partition "$PARTITION" \
        --srun-args "--job-name=$JOB ${SRUN_ARGS:-}" "${@:5}"
    fi
    exec bash "$TOOLS/slurm_test.sh" "$@"
    ;;
  *)
    usage
    ;;
esac
