"""N ConMIM training steps on one fixed global batch: under the FSDP setup of
the ViT-L FSDP config (its model wrapper, its name-based weight decay, the
sharded gradient clipping) split over the ranks of the current process
group, or in one plain process with the DDP recipe's rules (ndim-based
weight decay, torch's clipping). Saves the student and teacher weights.

    python tests/fsdp_equivalence.py OUT                       # plain, 2b
    torchrun --nproc_per_node 2 tests/fsdp_equivalence.py OUT  # FSDP, 2 x b
"""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conmim_tiny import build_tiny_conmim, tiny_batch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import MODEL_WRAPPERS, init_default_scope  # noqa: E402

import mmconmim  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FSDP_CONFIG = os.path.join(
    REPO, 'configs/conmim/'
    'fsdp/conmim_vit-large-p16_fsdp-32xb64-amp-coslr-800e_in1k.py')
BASE_CONFIG = FSDP_CONFIG.replace('fsdp/conmim_vit-large-p16_fsdp-',
                                  'conmim_vit-large-p16_')
GLOBAL_BATCH, STEPS = 8, 3


def main(out):
    init_default_scope('mmpretrain')
    world = int(os.environ.get('WORLD_SIZE', 1))
    rank = int(os.environ.get('RANK', 0))
    fsdp_cfg = Config.fromfile(FSDP_CONFIG)
    base_cfg = Config.fromfile(BASE_CONFIG)
    cfg = fsdp_cfg if world > 1 else base_cfg
    if world > 1:
        dist.init_process_group('gloo')
    torch.manual_seed(0)
    # cross-rank BN, so that 2 x b equals one process with 2b
    model = build_tiny_conmim(max_iters=10, norm='DistBN')
    wrapped = model
    if world > 1:
        wrapper_cfg = dict(cfg.strategy.model_wrapper)
        wrapped = MODEL_WRAPPERS.build(dict(wrapper_cfg, module=model))
    optim = build_optim_wrapper(wrapped, dict(
        type='MixedPrecisionOptimWrapper', cpu_bf16='off', device='cpu',
        use_fsdp=cfg.optim_wrapper.get('use_fsdp', False),
        constructor='TrainableParamsOptimWrapperConstructor',
        paramwise_cfg=cfg.optim_wrapper.paramwise_cfg,
        clip_grad=dict(max_norm=0.5),  # active: gradient norms are ~1-5
        # SGD keeps updates proportional to gradients (see
        # dist_equivalence.py); weight decay is what the rules decide
        optimizer=dict(type='SGD', lr=0.05, momentum=0.9,
                       weight_decay=0.05)))
    share = GLOBAL_BATCH // world
    for step in range(STEPS):
        batch = tiny_batch(batch_size=GLOBAL_BATCH, seed=step, ratio=0.5)
        local = dict(
            inputs=[v[rank * share:(rank + 1) * share]
                    for v in batch['inputs']],
            data_samples=batch['data_samples'][rank * share:(rank + 1) *
                                               share])
        wrapped.train_step(local, optim)
    if world > 1:
        from torch.distributed.fsdp import FullStateDictConfig
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp import StateDictType
        with FSDP.state_dict_type(
                wrapped, StateDictType.FULL_STATE_DICT,
                FullStateDictConfig(offload_to_cpu=False, rank0_only=True)):
            state = wrapped.state_dict()
    else:
        state = model.state_dict()
    if rank == 0:
        torch.save(state, out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
