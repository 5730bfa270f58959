#!/usr/bin/env bash
# mmsegmentation with pre-trained mmconmim weights:
#   bash tools/benchmarks/mmsegmentation/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
exec bash "$(dirname "$0")/../downstream.sh" dist_test "$@"
