"""Training throughput of a ConMIM config, measured honestly.

    python benchmarks/train_throughput.py \
        [--config configs/conmim/conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py]
        [--batch-size 8] [--iters 10] [--warmup 3] [--dtype fp32|bf16]
        [--threads 2] [--workers 2] [--official-src PATH/TO/TencentARC/ConMIM]
        [--peak-only] [--force-dtype]

Prints (never pass/fail):

* the CPU model and whether it runs bf16 natively (the same check
  ``MixedPrecisionOptimWrapper`` makes);
* the machine's matmul peak, measured here (fp32 and bf16 GEMMs): a small
  GEMM first, then one sized to take well under a second; a dtype that the
  small GEMM shows far below fp32 (bf16 on CPUs without ``avx512_bf16`` /
  ``amx_bf16``: ~0.3 vs ~126 GFLOP/s) is skipped, and so are its model
  steps, unless ``--force-dtype`` (it would take minutes per step);
* the **model step** without data loading (teacher forward, student forward
  and backward, optimizer step, EMA update) -- median time, images/s and
  peak RSS, each measured in a fresh child process so that peaks do not mix;
* with ``--official-src``, the official implementation's step with the same
  shapes and dtype (their model, their loss, optimizer and EMA code path),
  and the ratio ours/official; the official code is imported from the given
  checkout (it needs ``timm``), never from this repository;
* the **full training loop**: mmengine's runner with the config's data
  pipeline reading JPEG files, the data preprocessor, the optimizer wrapper
  and the EMA -- median step time, images/s, peak RSS;
* FLOPs per image, counted with ``torch.utils.flop_counter`` on one step,
  and the achieved FLOP/s as a fraction of the measured matmul peak.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common import (REPO_ROOT, add_timing_args,  # noqa: E402
                               benchmark_parser)

DEFAULT_CONFIG = osp.join(
    REPO_ROOT,
    'configs/conmim/conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py')


def parse_args(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    add_timing_args(parser, batch_size=8, iters=10, warmup=3,
                    iters_help='timed iterations (after warm-up)')
    parser.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32')
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--workers', type=int, default=2,
                        help='dataloader workers of the full loop')
    parser.add_argument('--official-src', default=None,
                        help='a checkout of TencentARC/ConMIM to compare with')
    parser.add_argument('--skip-loop', action='store_true',
                        help='only the model steps, no full training loop')
    parser.add_argument('--matmul-size', type=int, default=2048,
                        help='largest GEMM of the peak measurement (smaller '
                        'where one would take over --peak-budget seconds)')
    parser.add_argument('--peak-budget', type=float, default=0.5,
                        help='seconds one peak-measurement GEMM may take')
    parser.add_argument('--peak-only', action='store_true',
                        help='print the machine line and matmul peaks, stop')
    parser.add_argument('--force-dtype', action='store_true',
                        help='measure --dtype even where its small GEMM runs '
                        'far below fp32 (emulated bf16: minutes per step)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='alternate the ours/official model-step '
                        'measurements this many times (fresh processes) '
                        'and report the median; steadier ratios')
    parser.add_argument('--child', choices=['ours', 'official'],
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


# A dtype whose small GEMM runs under this fraction of fp32's is skipped.
FAR_BELOW_FP32 = 0.1
PROBE_SIZE = 256


def gemm_gflops(dtype: torch.dtype, size: int, repeats: int = 3) -> float:
    """Best GFLOP/s of a square GEMM in ``dtype`` on this machine."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / max(best, 1e-9) / 1e9


def measure_peaks(max_size: int, budget_s: float = 0.5, gemm=gemm_gflops,
                  probe_size: int = PROBE_SIZE) -> dict:
    """Matmul peak per dtype: ``{name: dict(gflops, size)}``, or
    ``dict(skipped=reason)`` for a dtype far below fp32.

    Each dtype runs a small GEMM first (256^3: 0.1 s even at 0.3 GFLOP/s);
    the measured GEMM is then sized so that one call takes about
    ``budget_s`` at the small GEMM's speed, capped at ``max_size``.
    """
    peaks = {}
    probes = {}
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        size = min(probe_size, max_size)
        probes[name] = gemm(dtype, size, repeats=2)
        if name != 'fp32' and \
                probes[name] < FAR_BELOW_FP32 * probes['fp32']:
            peaks[name] = dict(skipped=(
                f'a {size}^3 GEMM runs at {probes[name]:.1f} GFLOP/s vs '
                f"{probes['fp32']:.1f} in fp32, under "
                f'{FAR_BELOW_FP32:.0%} of fp32: no native {name} on this CPU'))
            continue
        budget_size = int((probes[name] * 1e9 * budget_s / 2)**(1 / 3))
        size = max(size, min(max_size, budget_size))
        peaks[name] = dict(gflops=max(gemm(dtype, size), probes[name]),
                           size=size)
    return peaks


def format_peaks(peaks: dict) -> str:
    parts = []
    for name, peak in peaks.items():
        if 'skipped' in peak:
            parts.append(f"{name} skipped ({peak['skipped']})")
        else:
            parts.append(f"{name} {peak['gflops']:.1f} GFLOP/s "
                         f"({peak['size']}^3)")
    return 'matmul peak: ' + ', '.join(parts)


AUTOCAST_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(dtype_name: str, device: str = 'cpu'):
    dtype = AUTOCAST_DTYPES.get(dtype_name)
    return torch.autocast(device, dtype=dtype or torch.bfloat16,
                          enabled=dtype is not None)


def random_batch(batch_size, img_size, patch_size, mask_unit=32, ratio=0.75):
    from mmpretrain.structures import DataSample

    from mmconmim.datasets import UnitMaskGenerator
    gen = UnitMaskGenerator(img_size, mask_unit, patch_size, ratio)
    views = [torch.randint(0, 256, (batch_size, 3, img_size, img_size),
                           dtype=torch.uint8) for _ in range(2)]
    samples = []
    for _ in range(batch_size):
        sample = DataSample()
        sample.set_mask(torch.from_numpy(gen(dict())['mask']))
        samples.append(sample)
    return dict(inputs=views, data_samples=samples)


def time_steps(step, warmup, iters, sync=None):
    """Wall time of each of ``iters`` calls after ``warmup``; ``sync``
    (e.g. ``torch.cuda.synchronize``) runs before each clock read."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def optim_wrapper_cfg(cfg, dtype_name, device='cpu'):
    wrapper = dict(cfg.optim_wrapper)
    wrapper.pop('loss_scale', None)
    if dtype_name in AUTOCAST_DTYPES:
        # the peak measurement already decided whether bf16 is worth timing
        wrapper.update(type='MixedPrecisionOptimWrapper', device=device,
                       dtype={'bf16': 'bfloat16',
                              'fp16': 'float16'}[dtype_name],
                       cpu_bf16='force')
    else:
        wrapper.update(type='OptimWrapper')
        for key in ('dtype', 'device', 'cpu_bf16', 'use_fsdp'):
            wrapper.pop(key, None)
    return wrapper


def build_our_step(config, batch_size, dtype_name, device='cpu',
                   cfg_options=None):
    """Our ConMIM model step (``train_step`` on a ready batch) and its
    model; ``cfg_options`` are merged into the config first."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmconmim  # noqa: F401
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model, optim = build_trainable(cfg, dtype_name, device, 10**6)
    img_size = model.backbone.patch_embed.init_input_size[0]
    patch = model.backbone.patch_embed.projection.kernel_size[0]
    data = random_batch(batch_size, img_size, patch)

    def step():
        model.train_step(data, optim)

    return step, dict(img_size=img_size, patch=patch, batch_size=batch_size)


def build_trainable(cfg, dtype_name, device, max_iters):
    """(model, optimizer wrapper) of ``cfg`` as the benchmarks train it:
    weights drawn with seed 0, on ``device``, the schedule's length
    (``max_iters``, which the EMA teacher's momentum reads) announced."""
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    optim = build_optim_wrapper(model,
                                optim_wrapper_cfg(cfg, dtype_name, device))
    return model, optim


def child_ours(args) -> dict:
    """Our model step: ConMIM.train_step on a ready batch."""
    step, info = build_our_step(args.config, args.batch_size, args.dtype)
    times = time_steps(step, args.warmup, args.iters)
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return dict(times=times, peak_rss_mb=peak_rss_mb(),
                flops_per_image=counter.get_total_flops() / args.batch_size,
                img_size=info['img_size'], patch=info['patch'])


def child_official(args) -> dict:
    """The official step on CPU (see :func:`build_official_step`)."""
    step = build_official_step(args.official_src, args.config,
                               args.batch_size, args.dtype)
    times = time_steps(step, args.warmup, args.iters)
    return dict(times=times, peak_rss_mb=peak_rss_mb())


def build_official_step(official_src, config, batch_size, dtype_name,
                        device='cpu'):
    """The official step (engine_for_pretraining.train_one_epoch) with the
    official model code, on the same shapes and dtype as ours: teacher
    forward without grad and without mask, student forward with mask, the
    official loss, backward (through a GradScaler in fp16, as their
    NativeScaler), gradient norm, AdamW step, EMA loop."""
    sys.path.insert(0, osp.abspath(official_src))
    try:
        import modeling_pretrain  # noqa: F401  (the official file)
    except ImportError as exc:
        raise SystemExit(
            f'cannot import the official model from {official_src}: '
            f'{exc}. It needs timm (pip install timm).')
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    arch = cfg.model.backbone.arch
    builders = {'deit-small': 'conmim_small_patch16_224',
                'base': 'conmim_base_patch16_224',
                'large': 'conmim_large_patch16_224'}
    if arch not in builders:
        raise SystemExit(f'no official model for arch {arch!r}')

    def build():
        return getattr(modeling_pretrain, builders[arch])(
            drop_path_rate=0., use_shared_rel_pos_bias=True,
            use_abs_pos_emb=False,
            init_values=cfg.model.backbone.layer_scale_init_value,
            use_mlp_projectors=True)

    torch.manual_seed(0)
    student, teacher = build().to(device), build().to(device)
    teacher.load_state_dict(student.state_dict())
    teacher.requires_grad_(False)
    decay, no_decay = [], []
    for name, param in student.named_parameters():
        if param.ndim == 1 or name.endswith('.bias') or name in (
                'pos_embed', 'cls_token'):
            no_decay.append(param)
        else:
            decay.append(param)
    optimizer = torch.optim.AdamW(
        [dict(params=decay, weight_decay=0.05),
         dict(params=no_decay, weight_decay=0.)],
        lr=5e-4, betas=(0.9, 0.98), eps=1e-8)
    scaler = torch.amp.GradScaler(device, enabled=dtype_name == 'fp16')
    img_size = 224
    batch = random_batch(batch_size, img_size, 16)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    samples, samples_aug = ((v.float() - mean).div(std).to(device)
                            for v in batch['inputs'])
    mask = torch.stack([s.mask for s in batch['data_samples']]).flatten(
        1).bool().to(device)
    zero_mask = torch.zeros_like(mask)
    length = mask.shape[1]
    labels = torch.arange(length, device=device).unsqueeze(0).expand(
        batch_size, -1)[mask]
    kw = dict(return_all_tokens=True, only_return_before_head=True,
              use_mlp_projectors=True)

    def step():
        with autocast(dtype_name, device):
            with torch.no_grad():
                feat_full = teacher(samples_aug, bool_masked_pos=zero_mask,
                                    **kw)
            feat = student(samples, bool_masked_pos=mask, **kw)
            feat_full = torch.nn.functional.normalize(feat_full, p=2, dim=-1)
            feat = torch.nn.functional.normalize(feat, p=2, dim=-1)
            logits = torch.matmul(feat, feat_full.permute(0, 2, 1)) / 0.1
            loss = torch.nn.CrossEntropyLoss()(logits[mask], labels)
        loss.item()
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        params = [p for p in student.parameters() if p.grad is not None]
        torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.)
                                for p in params]), 2.)
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            m = 0.996
            names_q = dict(student.named_parameters())
            for name, param_k in teacher.named_parameters():
                if name in names_q:
                    param_k.data.mul_(m).add_((1 - m) *
                                              names_q[name].detach().data)

    return step


def run_child(kind, args) -> dict:
    argv = [sys.executable, osp.abspath(__file__), '--child', kind,
            '--config', args.config, '--batch-size', str(args.batch_size),
            '--iters', str(args.iters), '--warmup', str(args.warmup),
            '--dtype', args.dtype, '--threads', str(args.threads)]
    if args.official_src:
        argv += ['--official-src', args.official_src]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'{kind} step failed:\n{proc.stderr[-4000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_jpegs(folder, num=64, size=(500, 375)):
    """Photo-sized JPEGs (ImageNet's typical 500x375) for the loop."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    for i in range(num):
        img = (rng.integers(0, 256, 3) + 60 * np.sin(
            (xx * (i % 7 + 1) + yy) / 23.)[..., None] +
               rng.normal(0, 12, (size[1], size[0], 3)))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
            osp.join(folder, f'{i:04d}.jpg'), quality=90)
    return folder


def full_loop(args) -> dict:
    """mmengine's runner: data pipeline from files -> preprocessor -> model
    -> optimizer wrapper -> EMA, timed per iteration by a hook."""
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import mmconmim  # noqa: F401
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md

    class StepTimer(Hook):
        priority = 'VERY_HIGH'

        def __init__(self):
            self.times, self.last = [], None

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now = time.perf_counter()
            if self.last is not None:
                self.times.append(now - self.last)
            self.last = now

    tmp = tempfile.mkdtemp(prefix='mmconmim_bench_')
    cfg = Config.fromfile(args.config)
    cfg.work_dir = osp.join(tmp, 'work')
    cfg.train_dataloader.update(
        batch_size=args.batch_size, num_workers=args.workers,
        persistent_workers=args.workers > 0,
        pin_memory=getattr(args, 'pin_memory', False),
        sampler=dict(type='InfiniteSampler', shuffle=True))
    cfg.train_dataloader.dataset = dict(
        type='CustomDataset', data_root=write_jpegs(osp.join(tmp, 'jpg')),
        with_label=False, pipeline=cfg.train_pipeline)
    total = args.warmup + args.iters + 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total)
    cfg.param_scheduler = []
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg.optim_wrapper = optim_wrapper_cfg(cfg, args.dtype, device)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**6)
    cfg.env_cfg.dist_cfg = dict(
        backend='nccl' if device == 'cuda' else 'gloo')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    timer = StepTimer()
    runner.register_hook(timer)
    runner.train()
    return dict(times=timer.times[args.warmup:], peak_rss_mb=peak_rss_mb())


def merge_runs(runs):
    """Median step time of each run, then the median over runs."""
    return dict(times=[statistics.median(r['times']) for r in runs],
                peak_rss_mb=max(r['peak_rss_mb'] for r in runs))


def summarize(name, result, batch_size):
    median = statistics.median(result['times'])
    return dict(name=name, median_s=median, img_s=batch_size / median,
                peak_rss_mb=result['peak_rss_mb'])


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        result = (child_ours if args.child == 'ours' else
                  child_official)(args)
        print(json.dumps(result))
        return

    from mmconmim.engine.optimizers.mixed_precision_optim_wrapper import \
        describe_cpu_bf16
    print(f'machine: {describe_cpu_bf16()}; {args.threads} threads; torch '
          f'{torch.__version__}; config {osp.relpath(args.config, REPO_ROOT)}'
          f'; batch {args.batch_size}, dtype {args.dtype}, {args.warmup} '
          f'warm-up + {args.iters} timed iterations', flush=True)
    peaks = measure_peaks(args.matmul_size, args.peak_budget)
    print(format_peaks(peaks), flush=True)
    if args.peak_only:
        return peaks
    if 'skipped' in peaks[args.dtype]:
        if not args.force_dtype:
            print(f'model steps in {args.dtype} skipped: its GEMMs run far '
                  'below fp32 on this CPU (minutes per step); run with '
                  '--dtype fp32, or --force-dtype to time it anyway')
            return []
        print(f'--force-dtype: timing {args.dtype} anyway')

    ours_runs, official_runs = [], []
    for _ in range(args.repeat):
        ours_runs.append(run_child('ours', args))
        if args.official_src:
            official_runs.append(run_child('official', args))
    ours = ours_runs[0]
    rows = [summarize('model step (ours)', merge_runs(ours_runs),
                      args.batch_size)]
    if args.official_src:
        rows.append(summarize('model step (official)',
                              merge_runs(official_runs), args.batch_size))
    if not args.skip_loop:
        rows.append(summarize('full train loop (ours, data from JPEG)',
                              full_loop(args), args.batch_size))

    flops = ours['flops_per_image']
    peak = peaks[args.dtype].get('gflops', float('nan'))
    print(f'FLOPs per image (counted, teacher fwd + student fwd/bwd): '
          f'{flops / 1e9:.1f} GFLOP')
    header = (f"{'':42s} {'step (s)':>9s} {'img/s':>7s} {'GFLOP/s':>8s} "
              f"{'of peak':>8s} {'peak RSS':>9s}")
    print(header)
    for row in rows:
        achieved = flops * row['img_s'] / 1e9
        print(f"{row['name']:42s} {row['median_s']:9.3f} "
              f"{row['img_s']:7.2f} {achieved:8.1f} "
              f"{achieved / peak:8.1%} {row['peak_rss_mb']:7.0f}MB")
    if args.official_src:
        ratio = rows[1]['median_s'] / rows[0]['median_s']
        print(f'speed ours/official (model step, {args.dtype}): '
              f'{ratio:.2f}x')
    return rows


if __name__ == '__main__':
    main()
