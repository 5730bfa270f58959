"""Run N ConMIM training steps on one fixed global batch, split across the
ranks of the current process group (or not split, in a single process), and
save the resulting student and teacher weights.

    python tests/dist_equivalence.py OUT NORM          # 1 process, batch 2b
    torchrun --nproc_per_node 2 tests/dist_equivalence.py OUT NORM  # 2 x b
"""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conmim_tiny import build_tiny_conmim, tiny_batch  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmconmim.engine import CPUDistributedDataParallel  # noqa: E402

GLOBAL_BATCH, STEPS = 8, 3


def main(out, norm):
    init_default_scope('mmpretrain')
    world = int(os.environ.get('WORLD_SIZE', 1))
    rank = int(os.environ.get('RANK', 0))
    if world > 1:
        dist.init_process_group('gloo')
    torch.manual_seed(0)
    model = build_tiny_conmim(max_iters=10, norm=norm,
                              use_abs_pos_emb=False)
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        constructor='TrainableParamsOptimWrapperConstructor',
        # SGD: updates proportional to gradients. Adam would turn float noise
        # in analytically-zero gradients (e.g. the final LayerNorm bias,
        # which the projector's first BN cancels) into +-lr steps.
        optimizer=dict(type='SGD', lr=0.05, momentum=0.9,
                       weight_decay=0.05)))
    wrapped = CPUDistributedDataParallel(model) if world > 1 else model
    share = GLOBAL_BATCH // world
    for step in range(STEPS):
        batch = tiny_batch(batch_size=GLOBAL_BATCH, seed=step, ratio=0.5)
        local = dict(
            inputs=[v[rank * share:(rank + 1) * share]
                    for v in batch['inputs']],
            data_samples=batch['data_samples'][rank * share:(rank + 1) *
                                               share])
        wrapped.train_step(local, optim)
    if rank == 0:
        torch.save(model.state_dict(), out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
