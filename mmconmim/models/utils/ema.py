"""Momentum (EMA) teacher with a cosine momentum schedule, updated in one
fused pass.

Same maths and state as mmpretrain's :class:`CosineEMA` (mmengine convention:
``avg = (1 - m) * avg + m * src`` with ``m`` annealed by cosine from
``momentum`` to ``end_momentum`` over ``max_iters``); ConMIM's official
teacher momentum 0.996 -> 1 is ``momentum=0.004, end_momentum=0``. Two
differences, both for correctness and speed rather than behaviour:

* momenta are validated with errors that name the field, and the closed range
  [0, 1] is allowed (``momentum=1`` makes the teacher a copy of the student,
  ``0`` freezes it; mmengine's base class asserts ``0 < m < 1``);
* all parameters are updated with one ``torch._foreach_lerp_`` call instead
  of a Python loop over tensors (numerically the same update, written as a
  lerp).
"""
import math
from typing import Optional

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from torch import nn

from mmconmim.registry import MODELS


def check_momentum(value, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0. <= value <= 1.):
        raise ValueError(f'{name} must be a number in [0, 1], got {value!r}')
    return float(value)


@MODELS.register_module()
class ForeachCosineEMA(CosineEMA):
    """:class:`CosineEMA` with validated momenta and a foreach update.

    Args:
        model (nn.Module): The module to average (deep-copied).
        momentum (float): Start momentum (weight of the new parameters).
        end_momentum (float): End momentum. Defaults to 0.
        interval (int): Update every ``interval`` calls. Defaults to 1.
        device (torch.device, optional): Where the copy lives.
        update_buffers (bool): Average buffers too. Defaults to False, in
            which case buffers are copied from the source on every update.
    """

    def __init__(self,
                 model: nn.Module,
                 momentum: float = 0.004,
                 end_momentum: float = 0.,
                 interval: int = 1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = False) -> None:
        momentum = check_momentum(momentum, 'momentum')
        end_momentum = check_momentum(end_momentum, 'end_momentum')
        # The base class asserts 0 < momentum < 1; give it a valid value and
        # set the real one afterwards.
        super().__init__(model, momentum=0.5, end_momentum=end_momentum,
                         interval=interval, device=device,
                         update_buffers=update_buffers)
        self.momentum = momentum
        self._avg = list(self.avg_parameters.values())
        self._float_idx = [
            i for i, p in enumerate(self._avg) if p.dtype.is_floating_point
        ]

    def current_momentum(self, steps: int) -> float:
        """The momentum ``m`` used by the update at step ``steps``."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if max_iters is None:
            raise RuntimeError(
                'ForeachCosineEMA needs the total number of iterations: it '
                "reads 'max_iters' from the MessageHub (set by the runner's "
                "RuntimeInfoHook; outside a runner call "
                "MessageHub.get_current_instance().update_info('max_iters', "
                'N)).')
        cosine = (math.cos(math.pi * steps / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum -
                                     self.momentum) * cosine

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        src = (model.state_dict() if self.update_buffers else dict(
            model.named_parameters()))
        src = [src[k] for k in self.avg_parameters]
        steps = int(self.steps)
        if steps == 0:
            torch._foreach_copy_(self._avg, [s.detach() for s in src])
        elif steps % self.interval == 0:
            weight = self.current_momentum(steps)
            avg = [self._avg[i] for i in self._float_idx]
            new = [src[i].detach().to(avg[0].device) for i in self._float_idx]
            torch._foreach_lerp_(avg, new, weight)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.copy_(b_src)
        self.steps += 1
