#!/usr/bin/env bash
# Train or test a downstream config (mmseg/mmdet/mmpretrain fine-tuning) on
# exported mmconmim backbone weights. Called by the wrappers in
# mmsegmentation/ and mmdetection/:
#   downstream.sh dist_train  CONFIG PRETRAIN GPUS [train.py args...]
#   downstream.sh slurm_train PARTITION JOB CONFIG PRETRAIN [WORK_DIR] [args...]
#   downstream.sh dist_test   CONFIG CHECKPOINT GPUS [test.py args...]
#   downstream.sh slurm_test  PARTITION JOB CONFIG CHECKPOINT [args...]
# PRETRAIN is the output of tools/model_converters/export_backbone.py; it is
# passed as model.backbone.init_cfg.checkpoint (prefix 'backbone.').
set -e
TOOLS="$(cd "$(dirname "$0")/.." && pwd)"
source "$TOOLS/select_python.sh"  # exports PYTHON (see there)
MODE=$1
shift
case "$MODE" in
  dist_train)
    CONFIG=$1; PRETRAIN=$2; GPUS=$3
    exec bash "$TOOLS/dist_train.sh" "$CONFIG" "$GPUS" \
      --cfg-options model.backbone.init_cfg.checkpoint="$PRETRAIN" "${@:4}"
    ;;
  slurm_train)
    PARTITION=$1; JOB=$2; CONFIG=$3; PRETRAIN=$4
    WORK_DIR=${5:-"work_dirs/$(basename "${CONFIG%.*}")"}
    exec bash "$TOOLS/slurm_train.sh" "$PARTITION" "$JOB" "$CONFIG" \
      "$WORK_DIR" \
      --cfg-options model.backbone.init_cfg.checkpoint="$PRETRAIN" "${@:6}"
    ;;
  dist_test)
    exec bash "$TOOLS/dist_test.sh" "$@"
    ;;
  slurm_test)
    exec bash "$TOOLS/slurm_test.sh" "$@"
    ;;
  *)
    echo "usage: $0 {dist_train|slurm_train|dist_test|slurm_test} ..." >&2
    exit 2
    ;;
esac
