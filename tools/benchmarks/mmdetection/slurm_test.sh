#!/usr/bin/env bash
# mmdetection with pre-trained mmconmim weights:
#   bash tools/benchmarks/mmdetection/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]  (env: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS)
exec bash "$(dirname "$0")/../downstream.sh" slurm_test "$@"
