"""Helpers shared by tools/train.py and tools/test.py."""
import glob
import os
import os.path as osp
import sys

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


# File names mmengine's CheckpointHook writes (its default filename_tmpl and
# save_best names) plus the pointer it keeps to the newest one.
CHECKPOINT_PATTERNS = ('iter_*.pth', 'epoch_*.pth', 'best_*.pth')
LAST_CHECKPOINT_POINTER = 'last_checkpoint'


class WorkDirInUseError(RuntimeError):
    """A new run would take over the checkpoints of an earlier run."""


def find_earlier_run(work_dir: str):
    """The checkpoints an earlier run left in ``work_dir``.

    Returns:
        tuple: ``(last, checkpoints)``: the checkpoint ``last_checkpoint``
        points to (else the newest checkpoint file, else None) and the sorted
        checkpoint files (``iter_*.pth``, ``epoch_*.pth``, ``best_*.pth``).
        Log folders alone do not count: every run writes its own.
    """
    if not osp.isdir(work_dir):
        return None, []
    checkpoints = sorted({
        path for pattern in CHECKPOINT_PATTERNS
        for path in glob.glob(osp.join(work_dir, pattern))})
    last = None
    pointer = osp.join(work_dir, LAST_CHECKPOINT_POINTER)
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip() or None
    if last is None and checkpoints:
        last = max(checkpoints, key=osp.getmtime)
    return last, checkpoints


def check_work_dir_is_free(work_dir: str, resume: bool,
                           overwrite: bool) -> None:
    """Refuse to start a new run over an earlier run's checkpoints.

    mmengine happily starts a fresh run in a work dir that holds another
    run: ``last_checkpoint`` then moves to the new run and the earlier
    run's ``iter_N.pth`` are overwritten as the new run reaches N. Continuing
    that run (``resume``) is fine; starting a new one needs ``overwrite``,
    which prints a warning naming what will be replaced.

    Raises:
        WorkDirInUseError: ``work_dir`` holds checkpoints of an earlier run
            and neither ``resume`` nor ``overwrite`` is set.
    """
    last, checkpoints = find_earlier_run(work_dir)
    if resume or (last is None and not checkpoints):
        return
    count = len(checkpoints)
    found = (f"work dir '{work_dir}' holds an earlier run (last checkpoint: "
             f"{last}; {count} checkpoint file{'s' if count != 1 else ''})")
    if not overwrite:
        raise WorkDirInUseError(
            f'{found}. A new run there would move last_checkpoint and '
            'overwrite its checkpoints of the same names. Pass --resume to '
            'continue that run, --work-dir DIR to start the new run '
            'elsewhere, or --overwrite to start it here anyway.')
    if os.environ.get('RANK', '0') == '0':
        sys.stderr.write(
            f'WARNING: --overwrite: {found}. This new run moves '
            "last_checkpoint to itself and overwrites the earlier run's "
            'checkpoints of the same names (use --resume to continue it '
            'instead).\n')
