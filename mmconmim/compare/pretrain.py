"""One pre-training of a comparison, run in its own process
(:data:`PRETRAIN_ENTRY`), and the export of a model's backbone.

The export is the one of ``tools/model_converters/export_backbone.py``:
:func:`mmconmim.checkpoint.layout.extract_backbone` (ConMIM: the momentum
teacher, the others: their backbone / MoCo v3's base encoder; mask tokens
dropped) and :func:`~mmconmim.checkpoint.layout.expand_shared_rel_pos_bias`
(per-layer copies of a shared relative position table), written as
``{'state_dict': {'backbone.*': tensor}, 'meta': {...}}`` by the one writer
(:func:`mmconmim.checkpoint.save_file`).
"""
import json
import os
import os.path as osp
import resource
import sys
import time

import torch
from torch import nn

from mmconmim.engine.hooks.compare_budget_hook import CompareBudgetHook
from mmconmim.checkpoint import save_file
from mmconmim.checkpoint.layout import (expand_shared_rel_pos_bias,
                                        extract_backbone)

# the child process of one pre-training
PRETRAIN_ENTRY = ('import sys; from mmconmim.compare.pretrain import '
                  'pretrain; pretrain(sys.argv[1], sys.argv[2])')


def export_model_backbone(model: nn.Module, out: str, meta: dict) -> str:
    """Write the backbone of a pre-training model to ``out`` as
    ``export_backbone.py`` does; returns the network exported
    (``'teacher'``/``'student'``)."""
    from mmconmim.apis.networks import unwrap
    model = unwrap(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if hasattr(model, 'teacher_updated') and not model.teacher_updated:
        # a never-updated EMA teacher is not the student's copy yet
        state = {k: v for k, v in state.items()
                 if not k.startswith('teacher')}
    weights, source, dropped = extract_backbone(state, 'auto')
    weights.update(expand_shared_rel_pos_bias(weights, 'backbone.'))
    meta = dict(meta, source=source, prefix='backbone.',
                dropped_keys=list(dropped))
    save_file(dict(state_dict=weights, meta=meta), out)
    return source


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of
    /proc/self/status (Linux), which starts afresh at ``exec``; getrusage's
    ``ru_maxrss`` is the fallback (on Linux it keeps the peak of the process
    that forked this one, so it would report the parent's memory)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2.**20 if sys.platform == 'darwin' else peak / 1024.  # B/kB


def pretrain(config: str, result: str) -> dict:
    """Run one generated config through the runner (resuming from the work
    dir's last checkpoint), export the backbone, write ``result`` (JSON)."""
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import mmconmim  # noqa: F401
    cfg = Config.fromfile(config)
    run_dir = cfg.work_dir
    resumed_from = None
    if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        with open(osp.join(run_dir, 'last_checkpoint')) as f:
            resumed_from = f.read().strip()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg
              else Runner.from_cfg(cfg))
    t0 = time.time()
    runner.train()
    wall = time.time() - t0
    budget = next(h for h in runner.hooks
                  if isinstance(h, CompareBudgetHook))
    iters = runner.iter
    loss = runner.message_hub.get_scalar('train/loss').current() \
        if 'train/loss' in runner.message_hub.log_scalars else float('nan')
    out = dict(
        iterations=iters,
        resumed_from=resumed_from,
        start_iter=budget.start_iter,
        train_seconds=round(budget.elapsed, 2),
        wall_seconds_this_run=round(wall, 2),
        images_per_second=round(
            (iters - budget.start_iter) * cfg.train_dataloader.batch_size
            / max(budget.elapsed - budget.record.get(budget.start_iter, 0.),
                  1e-9), 2),
        peak_rss_mb=round(peak_rss_mb(), 1),
        peak_cuda_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if cuda else None,
        final_loss=float(loss),
        stopped_by='minutes' if budget.limit is not None
        and budget.elapsed >= budget.limit else 'iterations')
    meta = dict(iteration=iters, config=config)
    out['network'] = export_model_backbone(
        runner.model, osp.join(run_dir, 'backbone.pth'), meta)
    with open(result + '.tmp', 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(result + '.tmp', result)
    return out
