#!/usr/bin/env bash
# mmdetection with pre-trained mmconmim weights:
#   bash tools/benchmarks/mmdetection/dist_train.sh CONFIG PRETRAIN GPUS [train.py args...]
exec bash "$(dirname "$0")/../downstream.sh" dist_train "$@"
