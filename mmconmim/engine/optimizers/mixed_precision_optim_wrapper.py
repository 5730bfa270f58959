"""Mixed-precision optimizer wrapper that runs on CPU as well as on GPU.

mmengine's ``AmpOptimWrapper`` asserts that a GPU/NPU/MLU is present, so every
``*-amp-*`` config fails on a CPU machine. This wrapper autocasts on whatever
device training runs on:

* CUDA: fp16 with dynamic loss scaling by default (the same behaviour as
  ``AmpOptimWrapper``), or bf16 (no scaling);
* CPU: bf16 autocast by default (no loss scaling needed); fp16 is allowed
  with a CPU ``GradScaler``.

Losses that must stay in fp32 (e.g. :class:`DenoisingContrastLoss`) disable
autocast themselves.
"""
from contextlib import contextmanager
from typing import Union

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmconmim.registry import OPTIM_WRAPPERS

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(OptimWrapper):
    """Autocast training on CUDA or CPU.

    Args:
        dtype (str): ``'auto'`` (fp16 on CUDA, bf16 on CPU), ``'float16'`` or
            ``'bfloat16'``. Defaults to ``'auto'``.
        loss_scale (str | float | dict): GradScaler setting used with fp16:
            ``'dynamic'``, an initial scale, or GradScaler kwargs. Ignored for
            bf16. Defaults to ``'dynamic'``.
        device (str, optional): ``'cuda'`` or ``'cpu'``; by default CUDA when
            available.
        **kwargs: Passed to :class:`OptimWrapper` (optimizer, clip_grad,
            accumulative_counts).
    """

    def __init__(self,
                 dtype: str = 'auto',
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 device: str = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = device or ('cuda'
                                      if torch.cuda.is_available() else 'cpu')
        if self.device_type not in ('cuda', 'cpu'):
            raise ValueError('MixedPrecisionOptimWrapper: device must be '
                             f"'cuda' or 'cpu', got {device!r}")
        if dtype == 'auto':
            dtype = 'float16' if self.device_type == 'cuda' else 'bfloat16'
        if dtype not in _DTYPES:
            raise ValueError(
                "MixedPrecisionOptimWrapper: dtype must be 'auto', "
                f"'float16' or 'bfloat16', got {dtype!r}")
        self.cast_dtype = _DTYPES[dtype]

        use_scaler = self.cast_dtype == torch.float16
        if isinstance(loss_scale, dict):
            scaler_kwargs = dict(loss_scale)
        elif loss_scale == 'dynamic':
            scaler_kwargs = {}
        elif isinstance(loss_scale, (int, float)):
            scaler_kwargs = dict(init_scale=float(loss_scale))
        else:
            raise TypeError('MixedPrecisionOptimWrapper: loss_scale must be '
                            f"'dynamic', a number or a dict, got {loss_scale!r}")
        self.loss_scaler = torch.amp.GradScaler(
            self.device_type, enabled=use_scaler, **scaler_kwargs)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    def state_dict(self) -> dict:
        state_dict = super().state_dict()
        if self.loss_scaler.is_enabled():
            state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None and self.loss_scaler.is_enabled():
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield
