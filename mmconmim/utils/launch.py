"""Helpers shared by tools/train.py and tools/test.py."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Make ``launcher='pytorch'`` work on machines without CUDA.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``
    unconditionally and its default DDP wrapper passes ``device_ids=[rank]``,
    which DDP rejects for CPU modules. Without CUDA we create the gloo
    process group ourselves (the Runner then skips ``init_dist``) and wrap the
    model with :class:`CPUDistributedDataParallel` (no ``device_ids``,
    SyncBatchNorm swapped for the gloo-capable ``DistBatchNorm``). Nothing
    changes when CUDA is available.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f"launcher='{launcher}' needs CUDA on this stack; use "
            "launcher='pytorch' (tools/dist_train.sh) for CPU training")
    backend = 'gloo'
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = backend
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend=backend,
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') not in (
            'MMDistributedDataParallel', 'mmconmim.CPUDistributedDataParallel'):
        raise RuntimeError(
            f"model_wrapper_cfg type {wrapper['type']!r} is not supported for "
            'CPU distributed training')
    wrapper['type'] = 'mmconmim.CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
