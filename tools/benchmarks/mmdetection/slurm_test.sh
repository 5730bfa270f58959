#!/usr/bin/env bash
# mmdetection on Slurm (`mim test mmdet --launcher slurm`):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/benchmarks/mmdetection/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
exec bash "$(dirname "$0")/../downstream.sh" mmdet slurm_test "$@"
