#!/usr/bin/env bash
# mmdetection (`mim train mmdet`) on exported mmconmim weights, as mmpretrain's
# tools/benchmarks/mmdetection/mim_dist_train*.sh:
#   bash tools/benchmarks/mmdetection/dist_train.sh CONFIG PRETRAIN GPUS [train.py args...]
# Routes (DOWNSTREAM_LAUNCHER=auto|mim|ours) are explained in ../downstream.sh.
exec bash "$(dirname "$0")/../downstream.sh" mmdet dist_train "$@"
