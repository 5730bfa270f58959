"""One-command GPU readiness check: the CUDA paths the CPU suite cannot run.

    python benchmarks/gpu_check.py [--official-src PATH/TO/TencentARC/ConMIM]
                                   [--out work_dirs/gpu_check.md]
    python benchmarks/gpu_check.py --dry-run      # on CPU, tiny sizes (CI)

Each check is one row of a markdown table, printed and written to ``--out``
(the exit status is 1 if a check FAILED):

1. ``amp``: ConMIM, A2MIM and CIM (the demo configs; CIM with its tiny random
   dVAE), 20 steps in fp16 AMP (``MixedPrecisionOptimWrapper``, dynamic loss
   scaling) and in fp32 from the same seed on the same batches: all losses
   finite, the first step's fp16 loss within ``AMP_TOLERANCE`` (relative) of
   the fp32 loss, and the loss scaler's scale after the last step.
2. ``speed``: ConMIM ViT-B/16, batch 64, 224 px -- our model step against the
   official code's step (``--official-src``, the mechanism of
   ``train_throughput.py``), in fp16 AMP and in bf16: img/s and peak GPU
   memory, each in a fresh process.
3. ``memory``: ConMIM ViT-L/16 at batch 64 in fp16 with and without
   activation checkpointing (``with_cp``): peak memory, img/s, or OOM.
4. ``nccl``: ``tools/dist_train.sh configs/demo/conmim_demo.py 1`` for a few
   iterations on NCCL.
5. ``fsdp``: ``tools/dist_train.sh`` with the FlexibleRunner/FSDPStrategy
   ViT-L config (``configs/conmim/fsdp/``) for 3 iterations on the bundled
   images; its checkpoint must hold full (gathered) student and teacher
   weights.
6. ``distbn``: ``DistBN`` against ``torch.nn.SyncBatchNorm`` on CUDA across
   processes (NCCL on >= 2 GPUs, else 2 processes on one GPU over gloo):
   outputs and gradients equal to 1e-5, and both equal to one BatchNorm over
   the whole batch.
7. ``loop``: the full training loop (the config's data pipeline and workers,
   pinned memory) against the model step in img/s: does the data pipeline
   keep the GPU fed?

``--dry-run`` runs on CPU what can run there, at tiny sizes: 1 (fp16 autocast
with a CPU GradScaler, 2 steps), 2 (our step on the demo config, no
official comparison), 4 (one process on gloo), 5 (the FSDP config with a
tiny ViT, 2 processes on gloo), 6 (DistBN across 2 CPU processes against one
BatchNorm; SyncBatchNorm is CUDA-only) and 7 (demo config); it lists what it
skipped and why (3, the official step, NCCL, SyncBatchNorm).
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks import train_throughput as bench  # noqa: E402
from benchmarks.common import (REPO_ROOT, add_timing_args,  # noqa: E402
                               benchmark_parser)
from benchmarks.gpu_check_distbn import (compare_distbn,  # noqa: E402
                                         distbn_setting)
from mmconmim.compare.report import cpu_model  # noqa: E402

DEMO = {
    'ConMIM': 'configs/demo/conmim_demo.py',
    'A2MIM': 'configs/demo/a2mim_demo.py',
    'CIM': 'configs/demo/cim_demo.py',
}
VIT_B = 'configs/conmim/conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k.py'
VIT_L = 'configs/conmim/conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k.py'
FSDP = ('configs/conmim/fsdp/'
        'conmim_vit-large-p16_fsdp-32xb64-amp-coslr-800e_in1k.py')
# fp16 autocast changes the first loss by rounding only: 2% relative bound
AMP_TOLERANCE = 0.02
# the loop keeps the GPU fed when it reaches this fraction of the step's img/s
FED_RATIO = 0.9


def parse_args(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument('--dry-run', action='store_true',
                        help='CPU: run the CPU-possible checks, tiny sizes')
    parser.add_argument('--official-src', default=None,
                        help='a checkout of TencentARC/ConMIM (needs timm)')
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'work_dirs',
                                                  'gpu_check.md'))
    parser.add_argument('--steps', type=int, default=None,
                        help='AMP steps (default 20; dry run 2)')
    add_timing_args(parser, batch_size=64, iters=10, warmup=3)
    parser.add_argument('--only', nargs='+', default=None,
                        choices=['amp', 'speed', 'memory', 'nccl', 'fsdp',
                                 'distbn', 'loop'])
    parser.add_argument('--child', choices=['step', 'loop'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--child-args', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class Report:
    """Rows of the result table; a failing check becomes a FAIL row."""

    def __init__(self):
        self.rows, self.skipped = [], []

    def add(self, check, setting, result, status):
        self.rows.append((check, setting, result, status))
        print(f'[{status}] {check}: {setting}: {result}', flush=True)

    def skip(self, check, reason):
        self.skipped.append((check, reason))
        self.add(check, '-', reason, 'SKIPPED')

    def markdown(self, header):
        lines = [header, '', '| check | setting | result | status |',
                 '|---|---|---|---|']
        for row in self.rows:
            lines.append('| ' + ' | '.join(
                str(c).replace('|', '/').replace('\n', ' ') for c in row)
                + ' |')
        if self.skipped:
            lines += ['', 'Skipped: ' + '; '.join(
                f'{check} ({reason})' for check, reason in self.skipped)]
        return '\n'.join(lines) + '\n'

    @property
    def failed(self):
        return [row for row in self.rows if row[3] == 'FAIL']


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def tool_env(**extra):
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHON'] = sys.executable
    env.update(extra)
    return env


def machine_line(device) -> str:
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        gpu = (f'{torch.cuda.device_count()} x {props.name} '
               f'({props.total_memory / 2**30:.0f} GiB), CUDA '
               f'{torch.version.cuda}')
    else:
        gpu = 'no GPU (CPU dry run)'
    return (f'Machine: {gpu}; {os.cpu_count()} CPU cores '
            f'({cpu_model()}); torch '
            f'{torch.__version__}')


# --- 1. fp16 AMP vs fp32 ---------------------------------------------------

def config_batches(config, batch_size, num, device):
    """``num`` batches through the config's own pipeline from generated
    JPEGs (the same list is reused by both precisions)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import mmconmim  # noqa: F401
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    folder = bench.write_jpegs(tempfile.mkdtemp(prefix='gpu_check_'),
                               num=max(batch_size, 4), size=(160, 120))
    loader_cfg = dict(
        batch_size=batch_size, num_workers=0, persistent_workers=False,
        sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
        collate_fn=cfg.train_dataloader.get('collate_fn',
                                            dict(type='pseudo_collate')),
        dataset=dict(type='CustomDataset', data_root=folder, with_label=False,
                     pipeline=cfg.train_pipeline))
    torch.manual_seed(0)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == num:
            return cfg, batches


def train_losses(cfg, batches, dtype_name, device):
    model, optim = bench.build_trainable(cfg, dtype_name, device, 10**4)
    torch.manual_seed(1)
    losses = [float(model.train_step(batch, optim)['loss'])
              for batch in batches]
    scale = (float(optim.loss_scaler.get_scale())
             if dtype_name == 'fp16' else None)
    return losses, scale


def check_amp(report, args, device):
    steps = args.steps or (2 if args.dry_run else 20)
    batch = 2 if args.dry_run else 16
    for name, config in DEMO.items():
        setting = (f'{name} demo model, batch {batch}, {steps} steps, '
                   f'fp16 AMP vs fp32 on {device}')
        try:
            cfg, batches = config_batches(config, batch, steps, device)
            fp32, _ = train_losses(cfg, batches, 'fp32', device)
            fp16, scale = train_losses(cfg, batches, 'fp16', device)
        except Exception as exc:  # noqa: BLE001  (reported as a FAIL row)
            report.add('amp', setting, error_text(exc), 'FAIL')
            continue
        finite = all(math.isfinite(v) for v in fp32 + fp16)
        rel = abs(fp16[0] - fp32[0]) / max(abs(fp32[0]), 1e-12)
        worst = max(abs(a - b) / max(abs(b), 1e-12)
                    for a, b in zip(fp16, fp32))
        ok = finite and rel <= AMP_TOLERANCE
        report.add(
            'amp', setting,
            f'step-1 loss fp32 {fp32[0]:.4f}, fp16 {fp16[0]:.4f} '
            f'(rel. diff {rel:.2e}, bound {AMP_TOLERANCE}); last loss fp32 '
            f'{fp32[-1]:.4f}, fp16 {fp16[-1]:.4f} (max rel. diff over the '
            f'run {worst:.2e}); all finite: {finite}; loss scale {scale:g}',
            'PASS' if ok else 'FAIL')


# --- 2./3. model steps in fresh processes ----------------------------------

def child_step(spec) -> dict:
    """Time one model step (ours or official) on ``spec['device']``."""
    device = spec['device']
    sync = torch.cuda.synchronize if device == 'cuda' else None
    try:
        if spec['impl'] == 'ours':
            step, _ = bench.build_our_step(
                osp.join(REPO_ROOT, spec['config']), spec['batch_size'],
                spec['dtype'], device, spec.get('cfg_options'))
        else:
            step = bench.build_official_step(
                spec['official_src'], osp.join(REPO_ROOT, spec['config']),
                spec['batch_size'], spec['dtype'], device)
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        times = bench.time_steps(step, spec['warmup'], spec['iters'], sync)
    except torch.cuda.OutOfMemoryError as exc:
        return dict(oom=True, error=str(exc).split('\n')[0])
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda'
            else bench.peak_rss_mb())
    return dict(times=times, peak_mb=peak)


def run_child(kind, spec) -> dict:
    proc = subprocess.run(
        [sys.executable, osp.abspath(__file__), '--child', kind,
         '--child-args', json.dumps(spec)],
        capture_output=True, text=True, env=tool_env(), cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def step_figures(result, batch_size):
    if result.get('oom'):
        return 'out of memory', None
    median = statistics.median(result['times'])
    img_s = batch_size / median
    return (f"{img_s:.1f} img/s ({median * 1e3:.0f} ms/step), peak "
            f"{result['peak_mb']:.0f} MB"), img_s


def check_speed(report, args, device):
    if args.dry_run:
        config, batch, dtypes = DEMO['ConMIM'], 2, ['fp32']
        iters, warmup = 1, 1
    else:
        config, batch, dtypes = VIT_B, args.batch_size, ['fp16', 'bf16']
        iters, warmup = args.iters, args.warmup
    ours_img_s = {}
    for dtype in dtypes:
        spec = dict(impl='ours', config=config, batch_size=batch,
                    dtype=dtype, device=device, iters=iters, warmup=warmup)
        setting = (f'ConMIM {osp.basename(config)}, batch {batch}, {dtype}, '
                   f'model step, {device}')
        try:
            text, img_s = step_figures(run_child('step', spec), batch)
        except Exception as exc:  # noqa: BLE001
            report.add('speed', 'ours: ' + setting, error_text(exc), 'FAIL')
            continue
        ours_img_s[dtype] = img_s
        report.add('speed', 'ours: ' + setting, text,
                   'MEASURED' if img_s else 'FAIL')
        if args.dry_run:
            continue
        if not args.official_src:
            report.skip('speed', f'official {dtype} step: no --official-src')
            continue
        spec.update(impl='official', official_src=args.official_src)
        try:
            text, off_img_s = step_figures(run_child('step', spec), batch)
        except Exception as exc:  # noqa: BLE001
            report.add('speed', 'official: ' + setting, error_text(exc),
                       'FAIL')
            continue
        ratio = (f'; ours/official speed {img_s / off_img_s:.2f}x'
                 if img_s and off_img_s else '')
        report.add('speed', 'official: ' + setting, text + ratio,
                   'MEASURED')
    if args.dry_run:
        report.skip('speed', 'official step and fp16/bf16 CUDA timings: '
                    'dry run (CPU)')
    return ours_img_s


def check_memory(report, args, device):
    if device != 'cuda':
        report.skip('memory', 'ViT-L with/without with_cp: needs CUDA')
        return
    for with_cp in (False, True):
        spec = dict(impl='ours', config=VIT_L, batch_size=args.batch_size,
                    dtype='fp16', device=device, iters=args.iters,
                    warmup=args.warmup,
                    cfg_options={'model.backbone.with_cp': with_cp})
        setting = (f'ConMIM ViT-L/16, batch {args.batch_size}, fp16, '
                   f'with_cp={with_cp}')
        try:
            text, img_s = step_figures(run_child('step', spec),
                                       args.batch_size)
        except Exception as exc:  # noqa: BLE001
            report.add('memory', setting, error_text(exc), 'FAIL')
            continue
        report.add('memory', setting, text,
                   'MEASURED' if img_s or not with_cp else 'FAIL')


# --- 4./5. launchers --------------------------------------------------------

def train_log(cmd, work_dir, timeout=900):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT,
                          env=tool_env(PORT=free_port()), timeout=timeout)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f'exit {proc.returncode}: {log[-3000:]}')
    return log


def check_nccl(report, args, device):
    iters = 2 if args.dry_run else 5
    work = tempfile.mkdtemp(prefix='gpu_check_nccl_')
    backend = 'nccl' if device == 'cuda' else 'gloo'
    setting = (f'tools/dist_train.sh configs/demo/conmim_demo.py 1, '
               f'{backend}, {iters} iterations')
    cmd = ['bash', 'tools/dist_train.sh', DEMO['ConMIM'], '1', '--work-dir',
           work, '--cfg-options', f'train_cfg.max_iters={iters}',
           'default_hooks.logger.interval=1',
           f'env_cfg.dist_cfg.backend={backend}']
    if args.dry_run:
        cmd += ['train_dataloader.num_workers=0',
                'train_dataloader.batch_size=2',
                'train_dataloader.persistent_workers=False']
    try:
        log = train_log(cmd, work)
    except Exception as exc:  # noqa: BLE001
        report.add('nccl', setting, error_text(exc), 'FAIL')
        return
    last = re.findall(rf'Iter\(train\) \[{iters}/{iters}\].*?loss: '
                      r'([\d.]+|nan|inf)', log)
    distributed = 'Distributed training: True' in log
    ok = bool(last) and math.isfinite(float(last[-1])) and distributed
    report.add('nccl', setting,
               f'distributed: {distributed}; loss at iteration {iters}: '
               f"{last[-1] if last else 'not logged'}",
               'PASS' if ok else 'FAIL')
    if args.dry_run:
        report.skip('nccl', 'NCCL itself: dry run uses gloo (CPU)')


FSDP_RUN_CFG = '''
_base_ = '{base}'
train_dataloader = dict(
    batch_size={batch}, num_workers={workers}, persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset',
                 data_root='{data}', with_label=False,
                 pipeline={{{{_base_.train_pipeline}}}}))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval={iters}))
log_processor = dict(by_epoch=False)
{extra}
'''
# dry run: a tiny ViT in fp32 (FSDP itself runs on CPU over gloo)
FSDP_TINY = '''
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=64, num_layers=2,
                            num_heads=4, feedforward_channels=128)),
    neck=dict(in_channels=64, hid_channels=96, out_channels=32))
optim_wrapper = dict(cpu_bf16='off')
'''


def check_fsdp(report, args, device):
    if args.dry_run:
        batch, iters, procs, workers, dims = 2, 2, 2, 0, 64
        data = bench.write_jpegs(tempfile.mkdtemp(prefix='gpu_check_'),
                                 num=4, size=(256, 240))
        extra, what = FSDP_TINY, 'tiny ViT (64 wide, 2 layers), fp32, gloo'
    else:
        batch, iters, procs, workers, dims = 16, 3, 1, 2, 1024
        data = osp.join(REPO_ROOT, 'data/demo/images')
        extra, what = '', 'ConMIM ViT-L/16 with_cp, fp16, NCCL'
    work = tempfile.mkdtemp(prefix='gpu_check_fsdp_')
    cfg_path = osp.join(work, 'fsdp_run.py')
    with open(cfg_path, 'w') as f:
        f.write(FSDP_RUN_CFG.format(
            base=osp.join(REPO_ROOT, FSDP), batch=batch, data=data,
            workers=workers, iters=iters, extra=extra))
    setting = (f'FlexibleRunner + FSDPStrategy ({osp.basename(FSDP)}): '
               f'{what}, batch {batch}, {procs} process(es), {iters} '
               'iterations')
    try:
        log = train_log(['bash', 'tools/dist_train.sh', cfg_path,
                         str(procs), '--work-dir', work], work)
        ckpt = torch.load(osp.join(work, f'iter_{iters}.pth'),
                          map_location='cpu', weights_only=False)
    except Exception as exc:  # noqa: BLE001
        report.add('fsdp', setting, error_text(exc), 'FAIL')
        return
    last = re.findall(rf'Iter\(train\) \[{iters}/{iters}\].*?loss: '
                      r'([\d.]+|nan|inf)', log)
    from mmconmim.checkpoint.networks import backbone_prefix
    state = ckpt['state_dict']
    full = all(
        tuple(state.get(key + 'layers.0.attn.qkv.weight',
                        torch.empty(0)).shape) == (3 * dims, dims)
        for key in (backbone_prefix('student'), backbone_prefix('teacher')))
    ok = bool(last) and math.isfinite(float(last[-1])) and full
    report.add('fsdp', setting,
               f"loss at iteration {iters}: {last[-1] if last else 'none'}; "
               f'checkpoint holds full student and teacher weights: {full}',
               'PASS' if ok else 'FAIL')


# --- 6. DistBN vs SyncBatchNorm ---------------------------------------------

def check_distbn(report, args, device):
    """Runs :func:`benchmarks.gpu_check_distbn.compare_distbn` and adds its
    row (the workers and the comparison live there)."""
    try:
        result = compare_distbn(device, int(free_port()))
    except Exception as exc:  # noqa: BLE001
        report.add('distbn', distbn_setting(device), error_text(exc), 'FAIL')
        return
    if not result['syncbn']:
        report.skip('distbn', 'torch.nn.SyncBatchNorm: CUDA-only')
    report.add('distbn', result['setting'], result['text'],
               'PASS' if result['ok'] else 'FAIL')


# --- 7. full loop vs model step ---------------------------------------------

def child_loop(spec) -> dict:
    args = SimpleNamespace(**spec)
    args.config = osp.join(REPO_ROOT, spec['config'])
    return bench.full_loop(args)


def check_loop(report, args, device, step_img_s):
    from mmengine.config import Config
    if args.dry_run:
        config, batch, workers, dtype = DEMO['ConMIM'], 2, 0, 'fp32'
        iters, warmup = 1, 1
    else:
        config, batch, dtype = VIT_B, args.batch_size, 'fp16'
        workers = Config.fromfile(
            osp.join(REPO_ROOT, config)).train_dataloader.num_workers
        iters, warmup = args.iters, args.warmup
    spec = dict(config=config, batch_size=batch, workers=workers,
                dtype=dtype, iters=iters, warmup=warmup,
                pin_memory=device == 'cuda')
    setting = (f'ConMIM {osp.basename(config)}, batch {batch}, {dtype}, '
               f'{workers} workers, pin_memory={device == "cuda"}, JPEGs '
               '500x375')
    try:
        result = run_child('loop', spec)
    except Exception as exc:  # noqa: BLE001
        report.add('loop', setting, error_text(exc), 'FAIL')
        return
    loop_img_s = batch / statistics.median(result['times'])
    step = step_img_s.get(dtype)
    if step:
        ratio = loop_img_s / step
        text = (f'full loop {loop_img_s:.1f} img/s vs model step '
                f'{step:.1f} img/s: {ratio:.0%} (fed if >= {FED_RATIO:.0%})')
        status = ('PASS' if ratio >= FED_RATIO else 'FAIL') \
            if not args.dry_run else 'MEASURED'
    else:
        text, status = f'full loop {loop_img_s:.1f} img/s', 'MEASURED'
    report.add('loop', setting, text, status)


def error_text(exc) -> str:
    text = ''.join(traceback.format_exception_only(type(exc), exc)).strip()
    return 'error: ' + text[-600:]


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.child_args)
        result = child_step(spec) if args.child == 'step' else \
            child_loop(spec)
        print(json.dumps(result))
        return None
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cpu' and not args.dry_run:
        raise SystemExit('gpu_check: no CUDA device. Run it on a GPU machine, '
                         'or with --dry-run for the CPU-possible parts.')
    if device == 'cuda' and args.dry_run:
        device = 'cpu'  # a dry run is the CPU variant even on a GPU machine
    header = ('# GPU check' + (' (DRY RUN on CPU, tiny sizes)'
                               if args.dry_run else '') + '\n\n' +
              machine_line('cuda' if not args.dry_run else 'cpu') +
              f'\n\nCommand: python benchmarks/gpu_check.py '
              f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    print(header, flush=True)
    report = Report()
    wanted = set(args.only or ['amp', 'speed', 'memory', 'nccl', 'fsdp',
                               'distbn', 'loop'])
    start = time.time()
    step_img_s = {}
    if 'amp' in wanted:
        check_amp(report, args, device)
    if 'speed' in wanted or 'loop' in wanted:
        step_img_s = check_speed(report, args, device)
    if 'memory' in wanted:
        check_memory(report, args, device)
    if 'nccl' in wanted:
        check_nccl(report, args, device)
    if 'fsdp' in wanted:
        check_fsdp(report, args, device)
    if 'distbn' in wanted:
        check_distbn(report, args, device)
    if 'loop' in wanted:
        check_loop(report, args, device, step_img_s)
    text = report.markdown(header) + (
        f'\nTotal time {time.time() - start:.0f} s.\n')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    print('\n' + text)
    print(f'written to {args.out}')
    if report.failed:
        sys.exit(1)
    return report


if __name__ == '__main__':
    main()
