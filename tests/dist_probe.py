"""Test-only hook (imported through custom_imports): records the sample
indices each rank trains on and dumps each rank's final state dict."""
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RankProbeHook(Hook):

    def __init__(self):
        self.seen = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        epoch = runner.epoch
        self.seen.setdefault(epoch, []).extend(
            int(s.sample_idx) for s in data_batch['data_samples'])

    def after_train(self, runner):
        rank = dist.get_rank() if dist.is_initialized() else 0
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        torch.save(dict(seen=self.seen, state_dict=model.state_dict()),
                   osp.join(runner.work_dir, f'probe_rank{rank}.pth'))
