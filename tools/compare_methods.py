"""Compare self-supervised methods on your own images, in one command.

    python tools/compare_methods.py --pretrain-data DIR --eval-data ROOT \\
        [--methods conmim,conmim-abspos,a2mim,mae,simmim,mocov3] \\
        [--arch vit-tiny|vit-small|resnet18|resnet50] [--img-size 64] \\
        [--patch-size 8] [--iters N | --minutes M] [--seeds 1] \\
        [--batch-size 32] [--work-dir work_dirs/compare] [--knn-interval N]

Pre-trains every method with the same backbone, data and budget through the
mmengine runner, evaluates the random initialisation and each exported
backbone by weighted kNN and a linear probe on ROOT, and writes
WORK_DIR/report.md, report.json, report.png and WORK_DIR/<method>/
backbone.pth. Interrupt and re-run the same command to continue: finished
methods are skipped, an unfinished one resumes from its last checkpoint.
Details: docs/compare_methods.md. The logic lives in
mmconmim/evaluation/compare.py.
"""
import argparse
import sys

from mmconmim.evaluation.compare import (ARCHS, DEFAULT_METHODS, EVAL_LAYOUT,
                                         KNOWN_METHODS, CompareError, compare,
                                         parse_methods)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Known methods: ' + ', '.join(KNOWN_METHODS) + ' ("conmim" '
        'is the paper setting, "conmim-abspos" adds an absolute position '
        'embedding; "cim" needs tokenizer weights and is listed as not run).')
    parser.add_argument('--pretrain-data', required=True,
                        help='folder of unlabelled images (searched '
                        'recursively; class folders are allowed and ignored)')
    parser.add_argument('--eval-data', required=True,
                        help='labelled folder: ' + EVAL_LAYOUT)
    parser.add_argument('--methods', default=','.join(DEFAULT_METHODS),
                        help='comma-separated (default: %(default)s)')
    parser.add_argument('--arch', default='vit-tiny', choices=list(ARCHS))
    parser.add_argument('--width', type=int, default=None,
                        help='ViT width instead of the arch\'s (smaller '
                        'models for quick looks)')
    parser.add_argument('--depth', type=int, default=None,
                        help='ViT depth instead of the arch\'s')
    parser.add_argument('--heads', type=int, default=None,
                        help='ViT heads (default: the arch\'s, or width/64 '
                        'with --width)')
    parser.add_argument('--img-size', type=int, default=64)
    parser.add_argument('--patch-size', type=int, default=8,
                        help='ViT patch size (must divide --img-size)')
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument('--iters', type=int,
                        help='pre-training iterations per method')
    budget.add_argument('--minutes', type=float,
                        help='wall-clock minutes of training per method '
                        '(the iterations reached are reported)')
    parser.add_argument('--seeds', type=int, default=1,
                        help='pre-training / initialisation seeds per method '
                        '(the report gives the mean)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=2e-3,
                        help='peak learning rate, the same for all methods '
                        '(linear warmup, then cosine over --iters; constant '
                        'after warmup with --minutes)')
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument('--knn-interval', type=int, default=None,
                        help='KNNEvalHook interval in iterations for the '
                        'curve in report.png (default: iters/5, or 200 with '
                        '--minutes; 0: only the final evaluation)')
    parser.add_argument('--knn-k', type=int, default=20,
                        help='kNN neighbours (every class needs at least '
                        'this many train images)')
    parser.add_argument('--checkpoint-interval', type=int, default=None,
                        help='checkpoint every N iterations (default: '
                        'iters/5, or 100 with --minutes)')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='dataloader workers for pre-training')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        methods = parse_methods(args.methods)
        report = compare(
            args.pretrain_data, args.eval_data, methods, arch=args.arch,
            img_size=args.img_size, patch_size=args.patch_size,
            iters=args.iters, minutes=args.minutes, seeds=args.seeds,
            batch_size=args.batch_size, lr=args.lr,
            work_dir=args.work_dir, knn_interval=args.knn_interval,
            knn_k=args.knn_k,
            checkpoint_interval=args.checkpoint_interval,
            width=args.width, depth=args.depth, heads=args.heads,
            num_workers=args.num_workers,
            log=lambda msg: print(msg, flush=True))
    except CompareError as exc:
        print(f'compare_methods: error: {exc}', file=sys.stderr)
        return 2
    if report['failed']:
        print('compare_methods: some methods failed: '
              + ', '.join(report['failed']) + ' (see report.md and their '
              'pretrain.log); re-run the same command after fixing the '
              'cause to continue', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
