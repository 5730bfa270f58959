#!/usr/bin/env bash
# mmsegmentation on Slurm (`mim test mmseg --launcher slurm`):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/benchmarks/mmsegmentation/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
exec bash "$(dirname "$0")/../downstream.sh" mmseg slurm_test "$@"
