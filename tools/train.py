"""Train (or pre-train) a model from a config with mmengine's runner.

Arguments follow mmpretrain's tools/train.py, so configs from this repository
and from mmpretrain work alike. ``import mmconmim`` registers our modules;
``main`` applies the compatibility fixes (mmconmim/utils/compat.py).

One difference: a work dir that already holds checkpoints of an earlier run
is not taken over silently. Without ``--resume`` (continue that run) or
``--overwrite`` (start a new run there anyway) the script stops before
building anything and names the earlier run's last checkpoint; mmengine alone
would move ``last_checkpoint`` to the new run and overwrite the earlier run's
same-numbered checkpoints.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmconmim  # registration; main() applies the compat fixes
from mmconmim.utils.launch import (WorkDirInUseError, check_work_dir_is_free,
                                   setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train a model',
        epilog='A work dir that holds checkpoints of an earlier run '
        '(last_checkpoint, iter_*.pth, epoch_*.pth, best_*.pth) is not '
        'reused silently: pass --resume to continue that run, --overwrite '
        'to start a new run there (its checkpoints may be overwritten), or '
        'another --work-dir.')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and models (default: '
        './work_dirs/CONFIG_NAME)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='start a new run even if the work dir holds checkpoints of an '
        'earlier run: last_checkpoint then points to the new run and the '
        "earlier run's checkpoints with the same names are overwritten. "
        'Without it (and without --resume) such a work dir is refused.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable mixed precision training (fp16 on CUDA, bf16 on CPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in '
        'dataloaders.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config) -> None:
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind in ('MixedPrecisionOptimWrapper',
                'mmconmim.MixedPrecisionOptimWrapper'):
        return
    if kind == 'AmpOptimWrapper' and torch.cuda.is_available():
        return
    if kind not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(f'--amp is not supported with optim_wrapper type '
                         f'{kind!r}')
    # AmpOptimWrapper asserts a GPU; ours autocasts on CUDA and on CPU.
    wrapper.pop('loss_scale', None)
    wrapper.pop('dtype', None)
    wrapper['type'] = 'MixedPrecisionOptimWrapper'


def merge_args(cfg: Config, args) -> Config:
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        enable_amp(cfg)

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        if loader is None:
            continue
        loader.setdefault('pin_memory', not args.no_pin_memory)
        if args.no_pin_memory:
            loader['pin_memory'] = False
        if args.no_persistent_workers or loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False

    cfg.launcher = args.launcher
    return cfg


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        check_work_dir_is_free(
            cfg.work_dir, resume=bool(cfg.get('resume', False)),
            overwrite=args.overwrite)
    except WorkDirInUseError as exc:
        sys.exit(f'tools/train.py: error: {exc}')
    setup_cpu_distributed(cfg, args.launcher)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
