"""Cross-rank batch normalisation that works on every backend.

``torch.nn.SyncBatchNorm`` (and mmcv's SyncBN) only run on CUDA, so
distributed CPU training (gloo) -- and any test of distributed equivalence on
a CPU machine -- cannot use them. :class:`DistBatchNorm` computes the batch
mean and variance over the samples of *all* ranks with two autograd-aware
all-reductions (sum and count, then the centred sum of squares, i.e. the
same two-pass computation as single-process BN), so N processes with batch b
normalise exactly like one process with batch N*b, in the forward and the
backward pass. Outside training or without an initialised process group of
more than one rank it is plain ``BatchNorm``.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn.functional import all_reduce

from mmconmim.registry import MODELS


def _cross_rank() -> bool:
    return dist.is_available() and dist.is_initialized() and \
        dist.get_world_size() > 1


@MODELS.register_module('DistBN')
class DistBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch (all ranks), for (N, C, ...) inputs.

    Same arguments and state dict as ``nn.BatchNorm1d/2d``; registered as
    ``'DistBN'`` for ``norm_cfg=dict(type='DistBN')``.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(
                f'DistBatchNorm expects (N, C, ...) input, got {input.dim()}D')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _cross_rank()):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, channels] + [1] * (x.dim() - 2)
        count = x.new_full((1, ), x.numel() // channels)
        sums = all_reduce(torch.cat([x.sum(dims), count]))
        total = sums[-1]
        mean = sums[:-1] / total
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / total
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1. / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        return out


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.SyncBatchNorm`` (GPU-only) by a
    :class:`DistBatchNorm` with the same parameters and statistics."""
    converted = module
    if isinstance(module, nn.SyncBatchNorm):
        converted = DistBatchNorm(module.num_features, module.eps,
                                  module.momentum, module.affine,
                                  module.track_running_stats)
        converted.load_state_dict(module.state_dict())
        converted.train(module.training)
        if module.affine:
            converted.weight.requires_grad_(module.weight.requires_grad)
            converted.bias.requires_grad_(module.bias.requires_grad)
    for name, child in module.named_children():
        converted.add_module(name, convert_sync_batchnorm(child))
    return converted
