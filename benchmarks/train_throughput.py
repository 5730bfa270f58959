"""Training throughput of a ConMIM config, measured honestly.

    python benchmarks/train_throughput.py \
        [--config configs/conmim/conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py]
        [--batch-size 8] [--iters 10] [--warmup 3] [--dtype fp32|bf16]
        [--threads 2] [--workers 2] [--official-src PATH/TO/TencentARC/ConMIM]

Prints (never pass/fail):

* the machine's matmul peak, measured here (fp32 and bf16 GEMMs);
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
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(
    REPO_ROOT,
    'configs/conmim/conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations (after warm-up)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32')
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--workers', type=int, default=2,
                        help='dataloader workers of the full loop')
    parser.add_argument('--official-src', default=None,
                        help='a checkout of TencentARC/ConMIM to compare with')
    parser.add_argument('--skip-loop', action='store_true',
                        help='only the model steps, no full training loop')
    parser.add_argument('--matmul-size', type=int, default=2048)
    parser.add_argument('--repeat', type=int, default=1,
                        help='alternate the ours/official model-step '
                        'measurements this many times (fresh processes) '
                        'and report the median; steadier ratios')
    parser.add_argument('--child', choices=['ours', 'official'],
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def matmul_peak(dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """Best GFLOP/s of a square GEMM in ``dtype`` on this machine."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def autocast(dtype_name: str):
    return torch.autocast('cpu', dtype=torch.bfloat16,
                          enabled=dtype_name == 'bf16')


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


def time_steps(step, warmup, iters):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def optim_wrapper_cfg(cfg, dtype_name):
    wrapper = dict(cfg.optim_wrapper)
    wrapper.pop('loss_scale', None)
    if dtype_name == 'bf16':
        wrapper.update(type='MixedPrecisionOptimWrapper', dtype='bfloat16')
    else:
        wrapper.update(type='OptimWrapper')
        wrapper.pop('dtype', None)
    return wrapper


def child_ours(args) -> dict:
    """Our model step: ConMIM.train_step on a ready batch."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmconmim  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(args.config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    MessageHub.get_current_instance().update_info('max_iters', 10**6)
    optim = build_optim_wrapper(model, optim_wrapper_cfg(cfg, args.dtype))
    img_size = model.backbone.patch_embed.init_input_size[0]
    patch = model.backbone.patch_embed.projection.kernel_size[0]
    data = random_batch(args.batch_size, img_size, patch)

    def step():
        model.train_step(data, optim)

    times = time_steps(step, args.warmup, args.iters)
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return dict(times=times, peak_rss_mb=peak_rss_mb(),
                flops_per_image=counter.get_total_flops() / args.batch_size,
                img_size=img_size, patch=patch)


def child_official(args) -> dict:
    """The official step (engine_for_pretraining.train_one_epoch) with the
    official model code, on the same shapes and dtype as ours: teacher
    forward without grad and without mask, student forward with mask, the
    official loss, backward, gradient norm, AdamW step, EMA loop."""
    sys.path.insert(0, osp.abspath(args.official_src))
    try:
        import modeling_pretrain  # noqa: F401  (the official file)
    except ImportError as exc:
        raise SystemExit(
            f'cannot import the official model from {args.official_src}: '
            f'{exc}. It needs timm (pip install timm).')
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
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
    student, teacher = build(), build()
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
    img_size = 224
    batch = random_batch(args.batch_size, img_size, 16)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    samples, samples_aug = ((v.float() - mean) / std
                            for v in batch['inputs'])
    mask = torch.stack([s.mask for s in batch['data_samples']]).flatten(
        1).bool()
    zero_mask = torch.zeros_like(mask)
    length = mask.shape[1]
    labels = torch.arange(length).unsqueeze(0).expand(
        args.batch_size, -1)[mask]
    kw = dict(return_all_tokens=True, only_return_before_head=True,
              use_mlp_projectors=True)

    def step():
        with autocast(args.dtype):
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
        loss.backward()
        params = [p for p in student.parameters() if p.grad is not None]
        torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.)
                                for p in params]), 2.)
        optimizer.step()
        with torch.no_grad():
            m = 0.996
            names_q = dict(student.named_parameters())
            for name, param_k in teacher.named_parameters():
                if name in names_q:
                    param_k.data.mul_(m).add_((1 - m) *
                                              names_q[name].detach().data)

    times = time_steps(step, args.warmup, args.iters)
    return dict(times=times, peak_rss_mb=peak_rss_mb())


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

    class StepTimer(Hook):
        priority = 'VERY_HIGH'

        def __init__(self):
            self.times, self.last = [], None

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            now = time.perf_counter()
            if self.last is not None:
                self.times.append(now - self.last)
            self.last = now

    tmp = tempfile.mkdtemp(prefix='mmconmim_bench_')
    cfg = Config.fromfile(args.config)
    cfg.work_dir = osp.join(tmp, 'work')
    cfg.train_dataloader.update(
        batch_size=args.batch_size, num_workers=args.workers,
        persistent_workers=args.workers > 0, pin_memory=False,
        sampler=dict(type='InfiniteSampler', shuffle=True))
    cfg.train_dataloader.dataset = dict(
        type='CustomDataset', data_root=write_jpegs(osp.join(tmp, 'jpg')),
        with_label=False, pipeline=cfg.train_pipeline)
    total = args.warmup + args.iters + 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total)
    cfg.param_scheduler = []
    cfg.optim_wrapper = optim_wrapper_cfg(cfg, args.dtype)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**6)
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
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

    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, {args.threads} threads; torch '
          f'{torch.__version__}; config {osp.relpath(args.config, REPO_ROOT)}'
          f'; batch {args.batch_size}, dtype {args.dtype}, {args.warmup} '
          f'warm-up + {args.iters} timed iterations')
    peaks = {name: matmul_peak(dt, args.matmul_size)
             for name, dt in (('fp32', torch.float32),
                              ('bf16', torch.bfloat16))}
    print(f"matmul peak ({args.matmul_size}^3 GEMM): fp32 "
          f"{peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s")

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
    peak = peaks[args.dtype]
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
