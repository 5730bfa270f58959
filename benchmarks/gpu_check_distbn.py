"""Check 6 of ``benchmarks/gpu_check.py``: ``DistBatchNorm`` across
processes against ``torch.nn.SyncBatchNorm`` (CUDA only) and against one
``BatchNorm1d`` over the whole batch, in outputs and gradients.

Each of ``world`` processes normalises its 6 of the ``world * 6`` samples
(16 channels) and back-propagates its part of one upstream gradient; the
joined per-sample outputs and input gradients, and the per-rank parameter
gradients summed (as DDP sums them), must equal those of one BatchNorm that
sees the whole batch, to ``BN_TOLERANCE``.
"""
import os.path as osp
import shutil
import tempfile

import torch

BN_TOLERANCE = 1e-5
PER_RANK, CHANNELS = 6, 16


def distbn_plan(device):
    """``(world, backend)``: NCCL across the GPUs when there are >= 2, else
    2 processes on gloo (NCCL refuses two ranks on one GPU; gloo moves CUDA
    tensors)."""
    if device == 'cuda' and torch.cuda.device_count() >= 2:
        return torch.cuda.device_count(), 'nccl'
    return 2, 'gloo'


def distbn_setting(device) -> str:
    world, backend = distbn_plan(device)
    return (f'{world} processes, {backend}, {device} tensors, BatchNorm '
            f'over {CHANNELS} channels, {PER_RANK} samples per rank')


def bn_inputs(world, per_rank=PER_RANK, channels=CHANNELS):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(world * per_rank, channels, generator=gen) * 3 + 1
    weight = torch.rand(channels, generator=gen) + 0.5
    bias = torch.randn(channels, generator=gen)
    upstream = torch.randn(world * per_rank, channels, generator=gen)
    return x, weight, bias, upstream


def bn_step(norm, x, weight, bias, upstream):
    with torch.no_grad():
        norm.weight.copy_(weight)
        norm.bias.copy_(bias)
    x = x.clone().requires_grad_(True)
    out = norm(x)
    (out * upstream).sum().backward()
    return [t.detach().cpu() for t in (out, x.grad, norm.weight.grad,
                                       norm.bias.grad)]


def distbn_worker(rank, world, port, backend, device_kind, out_dir):
    import torch.distributed as dist
    from torch import nn

    from mmconmim.models.utils import DistBatchNorm
    dist.init_process_group(backend, init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world)
    device = (torch.device('cuda', rank % torch.cuda.device_count())
              if device_kind == 'cuda' else torch.device('cpu'))
    x, weight, bias, upstream = bn_inputs(world)
    chunk = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    local = [t[chunk].to(device) for t in (x, upstream)]
    results = dict(distbn=bn_step(DistBatchNorm(CHANNELS).to(device),
                                  local[0], weight.to(device),
                                  bias.to(device), local[1]))
    if device_kind == 'cuda':
        results['syncbn'] = bn_step(nn.SyncBatchNorm(CHANNELS).to(device),
                                    local[0], weight.to(device),
                                    bias.to(device), local[1])
    torch.save(results, osp.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def joined(ranks, kind):
    """Outputs and input grads are per-sample (concatenated); parameter
    grads are per-rank sums of the global gradient (DDP sums them)."""
    parts = [r[kind] for r in ranks]
    return [torch.cat([p[0] for p in parts]),
            torch.cat([p[1] for p in parts]),
            sum(p[2] for p in parts), sum(p[3] for p in parts)]


def max_diff(a, b):
    return max(float((s - t).abs().max()) for s, t in zip(a, b))


def compare_distbn(device, port) -> dict:
    """Spawn the workers of :func:`distbn_plan`, read the tensors they
    wrote and compare. Returns ``setting``, ``text`` (the maximum
    differences), ``ok`` and ``syncbn`` (whether SyncBatchNorm ran: CUDA
    only)."""
    from torch import nn
    world, backend = distbn_plan(device)
    out_dir = tempfile.mkdtemp(prefix='gpu_check_bn_')
    try:
        torch.multiprocessing.spawn(
            distbn_worker, args=(world, port, backend, device, out_dir),
            nprocs=world)
        ranks = [torch.load(osp.join(out_dir, f'rank{r}.pt'))
                 for r in range(world)]
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    x, weight, bias, upstream = bn_inputs(world)
    reference = bn_step(nn.BatchNorm1d(CHANNELS), x, weight, bias, upstream)
    distbn = joined(ranks, 'distbn')
    diffs = [f'DistBN vs one BatchNorm {max_diff(distbn, reference):.1e}']
    ok = max_diff(distbn, reference) <= BN_TOLERANCE
    syncbn = 'syncbn' in ranks[0]
    if syncbn:
        synced = joined(ranks, 'syncbn')
        ok = ok and max_diff(distbn, synced) <= BN_TOLERANCE
        diffs.insert(0, f'DistBN vs SyncBatchNorm '
                     f'{max_diff(distbn, synced):.1e}')
    return dict(setting=distbn_setting(device),
                text='max abs diff of outputs and gradients: '
                + ', '.join(diffs) + f' (bound {BN_TOLERANCE})',
                ok=ok, syncbn=syncbn)
