#!/usr/bin/env bash
# mmdetection (`mim test mmdet`, i.e. mmdet's tools/test.py with its --tta, --show-dir, ...):
#   bash tools/benchmarks/mmdetection/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Routes (DOWNSTREAM_LAUNCHER=auto|mim|ours) are explained in ../downstream.sh.
exec bash "$(dirname "$0")/../downstream.sh" mmdet dist_test "$@"
