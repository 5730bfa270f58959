#!/usr/bin/env bash
# mmdetection with pre-trained mmconmim weights:
#   bash tools/benchmarks/mmdetection/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
exec bash "$(dirname "$0")/../downstream.sh" dist_test "$@"
