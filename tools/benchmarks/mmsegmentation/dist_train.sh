#!/usr/bin/env bash
# mmsegmentation with pre-trained mmconmim weights:
#   bash tools/benchmarks/mmsegmentation/dist_train.sh CONFIG PRETRAIN GPUS [train.py args...]
exec bash "$(dirname "$0")/../downstream.sh" dist_train "$@"
