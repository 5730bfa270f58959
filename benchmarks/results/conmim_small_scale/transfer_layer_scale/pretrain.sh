# pretrain a demo variant with kNN monitoring, export the teacher
# usage: pretrain.sh NAME [cfg-options...]
set -e
name=$1; shift
W=work_dirs/detexp/pt_$name
OMP_NUM_THREADS=${THREADS:-2} PYTHONPATH=$PWD .venv/bin/python tools/train.py configs/demo/conmim_demo_knn.py --work-dir $W --cfg-options "$@" > $W.log 2>&1
grep -o "knn/top1: [0-9.]*" $W.log | tr '\n' ' '; grep -o "loss: [0-9.]*" $W.log | tail -1
.venv/bin/python tools/model_converters/export_backbone.py $W/iter_300.pth work_dirs/detexp/pt_$name.pth --force > /dev/null
