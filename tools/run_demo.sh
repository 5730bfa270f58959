#!/usr/bin/env bash
# The main job: a short ConMIM pre-training of a tiny ViT on the bundled demo
# photographs (data/demo/images), on CPU, in a few minutes.
#   bash tools/run_demo.sh [WORK_DIR [train.py args...]]
# Writes WORK_DIR/iter_300.pth (student, teacher, optimizer, ...) and
# WORK_DIR/views.png (images, their two views and masks). A WORK_DIR holding
# an earlier run is refused by tools/train.py; add --resume or --overwrite
# (e.g. bash tools/run_demo.sh work_dirs/conmim_demo --overwrite).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK_DIR=${1:-work_dirs/conmim_demo}
shift || true
bash tools/bootstrap.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
PY=.venv/bin/python
$PY tools/train.py configs/demo/conmim_demo.py --work-dir "$WORK_DIR" "$@"
$PY tools/visualization/vis_conmim_views.py configs/demo/conmim_demo.py \
    --out "$WORK_DIR/views.png"
echo "checkpoint: $WORK_DIR/$(cat "$WORK_DIR/last_checkpoint" | xargs basename)"
echo "views:      $WORK_DIR/views.png"
