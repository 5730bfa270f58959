#!/usr/bin/env bash
# mmsegmentation (`mim train mmseg`) on exported mmconmim weights, as mmpretrain's
# tools/benchmarks/mmsegmentation/mim_dist_train*.sh:
#   bash tools/benchmarks/mmsegmentation/dist_train.sh CONFIG PRETRAIN GPUS [train.py args...]
# Routes (DOWNSTREAM_LAUNCHER=auto|mim|ours) are explained in ../downstream.sh.
exec bash "$(dirname "$0")/../downstream.sh" mmseg dist_train "$@"
