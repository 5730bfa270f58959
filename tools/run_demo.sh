#!/usr/bin/env bash
# The main job: a short ConMIM pre-training of a tiny ViT on the bundled demo
# photographs (data/demo/images), on CPU, in a few minutes.
#   bash tools/run_demo.sh [WORK_DIR [train.py args...]]
# Writes WORK_DIR/iter_300.pth (student, teacher, optimizer, ...) and
# WORK_DIR/views.png (images, their two views and masks). Without WORK_DIR,
# the demo writes to work_dirs/conmim_demo, or, when that already holds an
# earlier run, to a new work_dirs/conmim_demo_<date>_<time> (the earlier run
# is kept). A WORK_DIR you name that holds an earlier run is refused by
# tools/train.py; add --resume or --overwrite
# (e.g. bash tools/run_demo.sh work_dirs/conmim_demo --overwrite).
#
#   bash tools/run_demo.sh transfer [tools/transfer_demo.py args...]
# continues from the newest demo checkpoint (running the demo above first
# when there is none): exports its teacher and fine-tunes it, and a random
# init of the same backbone, with UperNet (mmsegmentation) and Mask R-CNN
# (mmdetection) on mosaics of the demo photos; prints mIoU / box AP / mask AP
# and draws the predictions (work_dirs/conmim_demo_transfer/, see
# docs/transfer.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = transfer ]; then
  shift
  bash tools/bootstrap.sh
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
  if ! ls work_dirs/conmim_demo*/last_checkpoint >/dev/null 2>&1; then
    case " $* " in *" --checkpoint "*) ;; *)
      echo "no demo checkpoint yet: running the pre-training demo first"
      bash "${BASH_SOURCE[0]}" ;;
    esac
  fi
  exec .venv/bin/python tools/transfer_demo.py "$@"
fi
if [ $# -ge 1 ]; then
  WORK_DIR=$1
  shift
else
  WORK_DIR=work_dirs/conmim_demo
  if [ -e "$WORK_DIR/last_checkpoint" ]; then
    WORK_DIR="work_dirs/conmim_demo_$(date +%Y%m%d_%H%M%S)"
    echo "work_dirs/conmim_demo holds an earlier run (kept); this run writes to $WORK_DIR"
  fi
fi
bash tools/bootstrap.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
PY=.venv/bin/python
$PY tools/train.py configs/demo/conmim_demo.py --work-dir "$WORK_DIR" "$@"
$PY tools/visualization/vis_conmim_views.py configs/demo/conmim_demo.py \
    --out "$WORK_DIR/views.png"
echo "checkpoint: $WORK_DIR/$(cat "$WORK_DIR/last_checkpoint" | xargs basename)"
echo "views:      $WORK_DIR/views.png"
