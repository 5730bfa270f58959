#!/usr/bin/env bash
# mmsegmentation on Slurm (`mim train mmseg --launcher slurm`) with exported mmconmim weights:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/benchmarks/mmsegmentation/slurm_train.sh PARTITION JOB_NAME CONFIG PRETRAIN [WORK_DIR] [train.py args...]
exec bash "$(dirname "$0")/../downstream.sh" mmseg slurm_train "$@"
