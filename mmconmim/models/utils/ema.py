"""Momentum (EMA) teacher with a cosine momentum schedule, updated in one
fused pass.

Same maths and state as mmpretrain's :class:`CosineEMA` (mmengine convention:
``avg = (1 - m) * avg + m * src`` with ``m`` annealed by cosine from
``momentum`` to ``end_momentum`` over ``max_iters``); ConMIM's official
teacher momentum 0.996 -> 1 is ``momentum=0.004, end_momentum=0``.

It subclasses mmengine's :class:`BaseAveragedModel` and keeps its
``update_parameters`` (first-step copy, ``interval``, buffer sync, step
count); only two things differ from ``CosineEMA``:

* momenta are validated with errors that name the field, and the closed range
  [0, 1] is allowed (``momentum=1`` makes the teacher a copy of the student,
  ``0`` freezes it; ``ExponentialMovingAverage`` asserts ``0 < m < 1``);
* :meth:`avg_func` is called by the base class once per tensor; inside
  :meth:`update_parameters` it only collects the pairs, and all of them are
  then updated with one ``torch._foreach_lerp_`` call instead of one kernel
  per tensor (the same lerp, per element).
"""
import math
from typing import List, Optional, Tuple

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseAveragedModel
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_number


@MODELS.register_module()
class ForeachCosineEMA(BaseAveragedModel):
    """Cosine-momentum EMA with validated momenta and a foreach update.

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
        momentum = float(check_number('ForeachCosineEMA', 'momentum',
                                      momentum, low=0, high=1,
                                      noun='a number', bool_ok=True))
        end_momentum = float(check_number('ForeachCosineEMA', 'end_momentum',
                                          end_momentum, low=0, high=1,
                                          noun='a number', bool_ok=True))
        super().__init__(model, interval=interval, device=device,
                         update_buffers=update_buffers)
        self.momentum = momentum
        self.end_momentum = end_momentum
        # (averaged, source) pairs collected during update_parameters
        self._pending: Optional[List[Tuple[torch.Tensor,
                                           torch.Tensor]]] = None

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

    def avg_func(self, averaged_param: torch.Tensor,
                 source_param: torch.Tensor, steps: torch.Tensor) -> None:
        """``averaged = lerp(averaged, source, m(steps))``, in place; within
        :meth:`update_parameters` deferred to one fused call."""
        if self._pending is not None:
            self._pending.append((averaged_param, source_param))
        else:
            averaged_param.lerp_(source_param,
                                 self.current_momentum(int(steps)))

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        steps = int(self.steps)  # the base class increments it
        self._pending = []
        try:
            super().update_parameters(model)
            if self._pending:
                averaged, source = (list(t) for t in zip(*self._pending))
                torch._foreach_lerp_(averaged, source,
                                     self.current_momentum(steps))
        finally:
            self._pending = None
