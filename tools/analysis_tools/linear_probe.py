"""Linear probe on frozen features: logistic regression on standardised
features of a labelled image collection (mmconmim/evaluation/linear_probe.py).

    # features saved by knn_eval.py --save-features
    python tools/analysis_tools/linear_probe.py --features feats.pth
    # or extract them here
    python tools/analysis_tools/linear_probe.py CONFIG CHECKPOINT --data ROOT \
        [--source auto|teacher|student] [--pool avg|cls] [--img-size N]

ROOT holds ``train/`` and ``val/``, each with one sub-folder of images per
class; CHECKPOINT may be ``none`` (random initialisation). For ImageNet-scale
linear probing use the fine-tuning configs in ``configs/conmim/benchmarks/``
(``*linear*``) instead.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction
from tqdm import tqdm

import mmconmim  # noqa: F401
from mmconmim.checkpoint import load_file, refusals_as_exit, save_json
from mmconmim.evaluation.features import POOLS, SOURCES, extract_splits
from mmconmim.evaluation.linear_probe import linear_probe
from mmconmim.evaluation.loading import load_model, quiet_logger

FEATURE_KEYS = ('train_feats', 'train_labels', 'val_feats', 'val_labels')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='pre-training config')
    parser.add_argument('checkpoint', nargs='?',
                        help="checkpoint, or 'none' (random initialisation)")
    parser.add_argument('--features', help='features file of knn_eval.py '
                        '--save-features (instead of CONFIG CHECKPOINT)')
    parser.add_argument('--data', help='folder with train/ and val/')
    parser.add_argument('--train', help='labelled training folder')
    parser.add_argument('--val', help='labelled validation folder')
    parser.add_argument('--source', choices=SOURCES, default='auto')
    parser.add_argument('--pool', choices=POOLS, default='avg')
    parser.add_argument('--img-size', type=int)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--weight-decay', type=float, default=1e-2,
                        help='L2 penalty on the classifier weights')
    parser.add_argument('--max-iter', type=int, default=200,
                        help='L-BFGS iterations')
    parser.add_argument('--out-json', help='write the metrics here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def load_features(args) -> dict:
    if args.features:
        if args.config or args.checkpoint:
            raise SystemExit('give either --features or CONFIG CHECKPOINT')
        with refusals_as_exit():
            feats = load_file(args.features, what='features file')
        if not isinstance(feats, dict):
            raise SystemExit(f'error: {args.features} is not a knn_eval.py '
                             f'features file (holds a '
                             f'{type(feats).__name__})')
        missing = [k for k in FEATURE_KEYS if k not in feats]
        if missing:
            raise SystemExit(f'{args.features} is not a knn_eval.py '
                             f'features file (missing {missing})')
        return feats
    if not (args.config and args.checkpoint):
        raise SystemExit('give CONFIG CHECKPOINT (with --data) or '
                         '--features FILE')
    if args.data:
        train, val = osp.join(args.data, 'train'), osp.join(args.data, 'val')
    elif args.train and args.val:
        train, val = args.train, args.val
    else:
        raise SystemExit('give --data ROOT (with train/ and val/) or both '
                         '--train and --val')
    quiet_logger()
    model, _, source, _ = load_model(args.config, args.checkpoint,
                                     args.source, args.cfg_options,
                                     args.seed)
    return extract_splits(
        model, train, val, source, args.pool, args.img_size,
        args.batch_size, args.num_workers,
        lambda name, total: tqdm(total=total, desc=f'{name} features',
                                 file=sys.stderr))


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    feats = load_features(args)
    metrics = linear_probe(
        feats['train_feats'], feats['train_labels'], feats['val_feats'],
        feats['val_labels'], num_classes=feats.get('num_classes'),
        weight_decay=args.weight_decay, max_iter=args.max_iter)
    print(f"linear probe ({feats.get('source', '?')}, "
          f"{feats.get('pool', '?')} features, "
          f"{len(feats['train_labels'])} train / {len(feats['val_labels'])} "
          f"val): top1 {metrics['top1']:.2f}  top5 {metrics['top5']:.2f}  "
          f"(train top1 {metrics['train_top1']:.2f})")
    if args.out_json:
        save_json(dict(source=feats.get('source'), **metrics),
                  args.out_json, indent=2)
        print(f'wrote {args.out_json}')


if __name__ == '__main__':
    main()
