#!/usr/bin/env bash
# mmsegmentation (`mim test mmseg`, i.e. mmseg's tools/test.py with its --tta, --show-dir, ...):
#   bash tools/benchmarks/mmsegmentation/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Routes (DOWNSTREAM_LAUNCHER=auto|mim|ours) are explained in ../downstream.sh.
exec bash "$(dirname "$0")/../downstream.sh" mmseg dist_test "$@"
