"""Test (evaluate) a checkpoint with mmengine's runner.

Arguments follow mmpretrain's tools/test.py. Self-supervised pre-training
configs have no test loop; use this with fine-tuning / linear-probe configs
(or mmseg/mmdet configs that import mmconmim).
"""
import argparse
import os
import os.path as osp

import mmengine
from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmconmim  # registration; main() applies the compat fixes
from mmconmim.utils.launch import setup_cpu_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation logs')
    parser.add_argument('--out', help='the file to dump the predictions to')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if cfg.get('test_cfg', None) is None:
        raise SystemExit(
            f'{args.config} has no test_cfg (self-supervised pre-training '
            'configs have no test loop); use a fine-tuning or downstream '
            'config')
    cfg.load_from = args.checkpoint
    cfg.launcher = args.launcher
    if args.amp:
        cfg.test_cfg.fp16 = True
    if args.no_pin_memory:
        cfg.test_dataloader['pin_memory'] = False
    setup_cpu_distributed(cfg, args.launcher)

    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must be a .pkl or .pickle file')
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    mmengine.dump(metrics, osp.join(runner.log_dir, 'test_metrics.json'))


if __name__ == '__main__':
    main()
