"""Compare self-supervised methods on your own images, in one command.

    python tools/compare_methods.py --pretrain-data DIR --eval-data ROOT \\
        [--methods conmim,conmim-abspos,a2mim,mae,simmim,mocov3] \\
        [--arch vit-tiny|vit-small|resnet18|resnet50] [--img-size 64] \\
        [--patch-size 8] [--iters N | --minutes M] [--seeds 1] \\
        [--batch-size 32] [--lr auto|X] [--finetune-iters 150] \\
        [--dense [--seg-data DIR]] [--work-dir work_dirs/compare]

Pre-trains every method with the same backbone size, data and budget
through the mmengine runner, each with its own recipe; scores each exported
backbone, the plain random ViT and each method's own random init by kNN
(patch mean and CLS), a linear probe, end-to-end fine-tuning and (with
--dense) dense transfer on ROOT; writes WORK_DIR/report.md, report.json,
report.png and every backbone. Interrupt and re-run the same command to
continue. Details: docs/compare_methods.md; the logic: mmconmim/compare/.
"""
import argparse
import sys

import mmconmim
from mmconmim.compare import (ARCHS, DEFAULT_DENSE_ITERS,
                              DEFAULT_FINETUNE_ITERS, DEFAULT_METHODS,
                              EVAL_LAYOUT, KNOWN_METHODS, LR_HELP,
                              CompareError, compare, parse_methods)


def _add_model_args(parser):
    parser.add_argument('--methods', default=','.join(DEFAULT_METHODS),
                        help='comma-separated (default: %(default)s)')
    parser.add_argument('--arch', default='vit-tiny', choices=list(ARCHS))
    parser.add_argument('--width', type=int, default=None,
                        help='ViT width instead of the arch\'s')
    parser.add_argument('--depth', type=int, default=None,
                        help='ViT depth instead of the arch\'s')
    parser.add_argument('--heads', type=int, default=None,
                        help='ViT heads (default: the arch\'s, or width/64 '
                        'with --width)')
    parser.add_argument('--img-size', type=int, default=64)
    parser.add_argument('--patch-size', type=int, default=8,
                        help='ViT patch size (must divide --img-size)')


def _add_budget_args(parser):
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument('--iters', type=int,
                        help='pre-training iterations per method')
    budget.add_argument('--minutes', type=float,
                        help='wall-clock minutes of training per method '
                        '(the iterations reached are reported)')
    parser.add_argument('--seeds', type=int, default=1,
                        help='seeds per row (the report gives mean +- std)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', default='auto', help=LR_HELP + ' (default: '
                        '%(default)s; rule in docs/compare_methods.md)')


def _add_eval_args(parser):
    parser.add_argument('--finetune-iters', type=int,
                        default=DEFAULT_FINETUNE_ITERS,
                        help='end-to-end fine-tuning iterations per row '
                        '(default: %(default)s; 0: no fine-tune column)')
    parser.add_argument('--dense', action='store_true',
                        help='add the dense-transfer columns (mmseg: '
                        'frozen linear head and fine-tuned head, mIoU)')
    parser.add_argument('--dense-iters', type=int, default=None,
                        help='training iterations of each dense head '
                        f'(default: {DEFAULT_DENSE_ITERS})')
    parser.add_argument('--seg-data', default=None,
                        help='your own mmseg dataset for --dense (img_dir/, '
                        'ann_dir/, meta.json); default: mosaics of the eval '
                        'crops')
    parser.add_argument('--knn-interval', type=int, default=None,
                        help='kNN during pre-training every N iterations, '
                        'for report.png (default: iters/5, or 200 with '
                        '--minutes; 0: only the final evaluation)')
    parser.add_argument('--knn-k', type=int, default=20,
                        help='kNN neighbours (every class needs at least '
                        'this many train images)')
    parser.add_argument('--checkpoint-interval', type=int, default=None,
                        help='checkpoint every N iterations (default: '
                        'iters/5, or 100 with --minutes)')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='dataloader workers for pre-training')


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
    parser.add_argument('--work-dir', default='work_dirs/compare')
    _add_model_args(parser)
    _add_budget_args(parser)
    _add_eval_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = vars(parse_args(argv))
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    try:
        methods = parse_methods(args.pop('methods'))
        report = compare(args.pop('pretrain_data'), args.pop('eval_data'),
                         methods, log=lambda msg: print(msg, flush=True),
                         **args)
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
