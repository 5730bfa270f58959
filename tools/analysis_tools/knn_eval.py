"""Weighted k-NN evaluation of a pre-trained checkpoint on a labelled image
collection (DINO's protocol, Caron et al. 2021: cosine similarity, k = 20,
votes exp(sim / 0.07); see mmconmim/evaluation/knn.py).

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT --data ROOT \
        [--source auto|teacher|student] [--pool avg|cls] [--k 20] \
        [--temperature 0.07] [--img-size N] [--save-features feats.pth] \
        [--out-json knn.json]

ROOT holds ``train/`` and ``val/``, each with one sub-folder of images per
class (``--train DIR --val DIR`` name them separately). CHECKPOINT is a
runner checkpoint (ConMIM: the teacher by default), an exported backbone
(evaluated and reported as the network its metadata records), or ``none``
for the randomly initialised architecture; the teacher/student rule is
mmconmim/apis/networks.py's (docs/apis.md). ``--save-features``
writes the features for ``tools/analysis_tools/linear_probe.py``.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction
from tqdm import tqdm

import mmconmim  # noqa: F401
from mmconmim.checkpoint import save_file, save_json
from mmconmim.evaluation.features import POOLS, SOURCES, extract_splits
from mmconmim.evaluation.knn import knn_classify
from mmconmim.evaluation.loading import load_model, quiet_logger


def add_data_args(parser):
    parser.add_argument('config', help='pre-training config')
    parser.add_argument(
        'checkpoint', help="checkpoint, or 'none' for random initialisation")
    parser.add_argument('--data', help='folder with train/ and val/ '
                        'sub-folders, each one sub-folder per class')
    parser.add_argument('--train', help='labelled reference folder')
    parser.add_argument('--val', help='labelled folder to classify')
    parser.add_argument('--source', choices=SOURCES, default='auto',
                        help='network to evaluate (auto: ConMIM\'s teacher, '
                        'an export\'s recorded network, else the backbone)')
    parser.add_argument('--pool', choices=POOLS, default='avg',
                        help='avg: mean of the patch tokens / GAP (default);'
                        ' cls: the CLS token')
    parser.add_argument('--img-size', type=int,
                        help='evaluation crop (default: the ViT img_size, '
                        'else 224)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random initialisation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)


def data_folders(args):
    if args.data:
        if args.train or args.val:
            raise SystemExit('give either --data or --train/--val')
        return osp.join(args.data, 'train'), osp.join(args.data, 'val')
    if not (args.train and args.val):
        raise SystemExit('give --data ROOT (with train/ and val/) or both '
                         '--train and --val')
    return args.train, args.val


def load_and_extract(args) -> dict:
    """Load the model and extract train/val features (tqdm progress)."""
    quiet_logger()
    train_dir, val_dir = data_folders(args)
    model, _, source, _ = load_model(args.config, args.checkpoint,
                                     args.source, args.cfg_options,
                                     args.seed)
    return extract_splits(
        model, train_dir, val_dir, source, args.pool, args.img_size,
        args.batch_size, args.num_workers,
        lambda name, total: tqdm(total=total, desc=f'{name} features',
                                 file=sys.stderr))


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_data_args(parser)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--save-features', help='write the features here')
    parser.add_argument('--out-json', help='write the metrics here')
    args = parser.parse_args()

    feats = load_and_extract(args)
    metrics = knn_classify(
        feats['train_feats'], feats['train_labels'], feats['val_feats'],
        feats['val_labels'], num_classes=feats['num_classes'], k=args.k,
        temperature=args.temperature)
    result = dict(
        checkpoint=args.checkpoint, source=feats['source'],
        pool=args.pool, k=args.k, temperature=args.temperature,
        img_size=feats['img_size'], num_train=len(feats['train_labels']),
        num_val=len(feats['val_labels']),
        num_classes=feats['num_classes'], **metrics)
    print(f"kNN ({result['source']}, {args.pool} features, k={args.k}, "
          f"T={args.temperature}, {result['num_train']} train / "
          f"{result['num_val']} val, {result['num_classes']} classes): "
          f"top1 {metrics['top1']:.2f}  top5 {metrics['top5']:.2f}")
    if args.save_features:
        save_file(feats, args.save_features)  # atomic, umask's mode
        print(f'wrote {args.save_features}')
    if args.out_json:
        save_json(result, args.out_json, indent=2)
        print(f'wrote {args.out_json}')


if __name__ == '__main__':
    main()
