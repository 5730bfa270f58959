"""Mixed-precision optimizer wrapper that runs on CPU as well as on GPU.

mmengine's ``AmpOptimWrapper`` asserts that a GPU/NPU/MLU is present and
autocasts on the default device, so every ``*-amp-*`` config fails on a CPU
machine. :class:`MixedPrecisionOptimWrapper` subclasses it and changes only
that: the accelerator assert, the device of the autocast context and of the
loss scaler. Backward, step, loss scaling and the state dict are upstream's.

* CUDA: fp16 with dynamic loss scaling by default (``AmpOptimWrapper``'s
  behaviour), or bf16 (no scaling);
* CPU: bf16 autocast by default, **if the CPU runs bf16 natively**
  (x86: ``avx512_bf16`` or ``amx_bf16``; Arm: the ``bf16`` extension). On a
  CPU without it, bf16 matrix multiplies are emulated and run up to ~100x
  slower than fp32 (0.3 vs 126 GFLOP/s measured on an AVX2 CPU), so the
  wrapper trains in fp32 instead and warns once; ``cpu_bf16='force'`` keeps
  bf16 anyway. fp16 on CPU is allowed with a CPU ``GradScaler``.

Under FSDP (``use_fsdp=True``) each rank holds a shard of every gradient, so
gradient clipping by norm uses the norm over all ranks' shards
(:func:`sharded_clip_grad_norm_`, the rule of ``FSDP.clip_grad_norm_``);
``torch.nn.utils.clip_grad_norm_``, which ``OptimWrapper`` calls, would clip
each shard by its own local norm.

Losses that must stay in fp32 (e.g. :class:`DenoisingContrastLoss`) disable
autocast themselves.
"""
import contextlib
import functools
import math
import os
import platform
import time
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.distributed as dist
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from mmconmim.registry import OPTIM_WRAPPERS
from mmconmim.utils.validation import check_choice

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}
CPU_BF16_MODES = ('auto', 'force', 'off')
# CPU features under which oneDNN runs bf16 GEMMs in hardware.
X86_BF16_FEATURES = ('avx512_bf16', 'amx_bf16')
ARM_BF16_FEATURES = ('bf16', )
# A timed probe (used only where the CPU flags cannot be read) calls bf16
# native when its GEMM reaches this fraction of the fp32 GEMM's speed.
PROBE_NATIVE_RATIO = 0.8


class CpuBf16FallbackWarning(UserWarning):
    """bf16 autocast was requested on a CPU that emulates bf16."""


@dataclass(frozen=True)
class CpuBf16Support:
    """Whether this CPU runs bf16 natively, and the evidence.

    Attributes:
        native: bf16 GEMMs run in hardware.
        cpu: the CPU model name.
        required: the CPU feature(s) bf16 needs on this architecture.
        evidence: how the decision was made (flags found, probe speeds).
    """
    native: bool
    cpu: str
    required: str
    evidence: str


def read_cpuinfo(path: str = '/proc/cpuinfo') -> Optional[dict]:
    """``{'model': str, 'flags': frozenset}`` from a Linux cpuinfo file, or
    None where there is none (macOS, Windows)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key = key.strip().lower()
        if model is None and key in ('model name', 'cpu model', 'hardware'):
            model = value.strip()
        # x86 lists 'flags', Arm lists 'features'; the first CPU is enough.
        if flags is None and key in ('flags', 'features'):
            flags = frozenset(value.split())
    if flags is None:
        return None
    return dict(model=model or platform.processor() or platform.machine(),
                flags=flags)


def _gemm_gflops(dtype: torch.dtype, size: int, repeats: int = 3) -> float:
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / max(best, 1e-9) / 1e9


def probe_bf16(size: int = 256) -> tuple:
    """(bf16 GFLOP/s, fp32 GFLOP/s) of a small GEMM: under 1 s even where
    bf16 is emulated at 0.3 GFLOP/s."""
    return _gemm_gflops(torch.bfloat16, size), _gemm_gflops(
        torch.float32, size)


@functools.lru_cache(maxsize=None)
def detect_cpu_bf16(cpuinfo_path: str = '/proc/cpuinfo') -> CpuBf16Support:
    """Decide once per process whether bf16 runs natively on this CPU.

    Linux: the CPU flags (x86 ``avx512_bf16``/``amx_bf16``, Arm ``bf16``);
    other x86 systems: torch's cpuinfo-based feature query; otherwise a
    timed 256^3 GEMM in bf16 against fp32.
    """
    arch = platform.machine().lower()
    capability = torch.backends.cpu.get_cpu_capability()
    info = read_cpuinfo(cpuinfo_path)
    cpu = info['model'] if info else (platform.processor() or arch)
    is_x86 = arch in ('x86_64', 'amd64', 'i386', 'i686', 'x86')
    is_arm = arch in ('aarch64', 'arm64')
    required = (' or '.join(X86_BF16_FEATURES) if is_x86 else
                'the Arm bf16 extension (FEAT_BF16)' if is_arm else
                'native bf16 GEMM support')
    features = X86_BF16_FEATURES if is_x86 else ARM_BF16_FEATURES
    if info is not None and (is_x86 or is_arm):
        found = [f for f in features if f in info['flags']]
        evidence = (f"CPU flags {', '.join(found)}" if found else
                    f'no {" / ".join(features)} in the CPU flags')
        return CpuBf16Support(bool(found), cpu, required,
                              f'{evidence}; ATen CPU capability {capability}')
    query = getattr(torch.cpu, '_is_avx512_bf16_supported', None)
    if is_x86 and query is not None:
        amx = getattr(torch.cpu, '_is_amx_tile_supported', lambda: False)()
        native = bool(query() or amx)
        return CpuBf16Support(
            native, cpu, required,
            f'torch cpuinfo query: avx512_bf16 {bool(query())}, amx '
            f'{bool(amx)}; ATen CPU capability {capability}')
    bf16, fp32 = probe_bf16()
    return CpuBf16Support(
        bf16 >= PROBE_NATIVE_RATIO * fp32, cpu, required,
        f'timed 256^3 GEMM: bf16 {bf16:.1f} GFLOP/s vs fp32 {fp32:.1f} '
        f'GFLOP/s; ATen CPU capability {capability}')


def cpu_bf16_fallback_message(support: CpuBf16Support) -> str:
    return (
        f'MixedPrecisionOptimWrapper: this CPU ({support.cpu}) has no native '
        f'bf16 support -- it lacks the CPU feature {support.required} '
        f'({support.evidence}) -- so bf16 matrix multiplies would be '
        'emulated, up to ~100x slower than fp32. Training in fp32 instead '
        '(autocast off). To use bf16 autocast anyway, set '
        "optim_wrapper.cpu_bf16='force' (e.g. --cfg-options "
        "optim_wrapper.cpu_bf16=force); cpu_bf16='off' keeps fp32 on CPU "
        'without this warning.')


def sharded_clip_grad_norm_(parameters, max_norm: float,
                            norm_type: float = 2.0,
                            error_if_nonfinite: bool = False,
                            foreach: Optional[bool] = None,
                            process_group=None) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` for gradients sharded across the
    ranks of ``process_group`` (FSDP ``FULL_SHARD``/``SHARD_GRAD_OP``: each
    element lives on exactly one rank). The total norm combines the local
    norms over all ranks (sum of p-th powers; max for inf), every rank scales
    its shard by the same factor, and the total norm is returned."""
    parameters = ([parameters] if isinstance(parameters, torch.Tensor) else
                  list(parameters))
    # a rank's shard of a parameter may be empty (no identity for inf-norm)
    grads = [p.grad for p in parameters
             if p.grad is not None and p.grad.numel() > 0]
    norm_type = float(norm_type)
    if grads:
        local = torch.nn.utils.get_total_norm(grads, norm_type,
                                              foreach=foreach).float()
    else:  # a rank may hold no element of the trainable parameters
        local = torch.zeros(
            (), device=parameters[0].device if parameters else 'cpu')
    if dist.is_available() and dist.is_initialized():
        if math.isinf(norm_type):
            dist.all_reduce(local, op=dist.ReduceOp.MAX, group=process_group)
            total = local
        else:
            local = local**norm_type
            dist.all_reduce(local, group=process_group)
            total = local**(1. / norm_type)
    else:
        total = local
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(
            f'The total norm of order {norm_type} for gradients from '
            '`parameters` is non-finite, so it cannot be clipped.')
    if grads:
        torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, total,
                                             foreach=foreach)
    return total


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` on CUDA or CPU.

    Args:
        dtype (str): ``'auto'`` (fp16 on CUDA; bf16 on CPU where native, see
            ``cpu_bf16``), ``'float16'`` or ``'bfloat16'``. An explicit
            ``'bfloat16'`` is honoured on any CPU (with a warning where it is
            emulated). Defaults to ``'auto'``.
        loss_scale (str | float | dict): GradScaler setting used with fp16,
            as in ``AmpOptimWrapper``: ``'dynamic'``, a static scale, or
            GradScaler kwargs. Ignored for bf16/fp32. Defaults to
            ``'dynamic'``.
        device (str, optional): ``'cuda'`` or ``'cpu'``; by default CUDA when
            available.
        cpu_bf16 (str): on CPU, whether ``dtype='auto'`` uses bf16:
            ``'auto'`` (only where the CPU runs bf16 natively; otherwise fp32
            with one warning), ``'force'`` (always bf16) or ``'off'`` (fp32).
            Ignored on CUDA. Defaults to ``'auto'``.
        use_fsdp (bool): use ``ShardedGradScaler`` (needed for fp16 under
            FSDP), as in ``AmpOptimWrapper``, and clip gradients by their norm
            over all ranks' shards. Defaults to False.
        **kwargs: Passed to :class:`OptimWrapper` (optimizer, clip_grad,
            accumulative_counts).
    """

    def __init__(self,
                 dtype: str = 'auto',
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 device: Optional[str] = None,
                 cpu_bf16: str = 'auto',
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        # AmpOptimWrapper.__init__ asserts an accelerator and builds a CUDA
        # GradScaler; everything else it sets up is repeated here.
        OptimWrapper.__init__(self, **kwargs)
        self.device_type = device or ('cuda'
                                      if torch.cuda.is_available() else 'cpu')
        owner = 'MixedPrecisionOptimWrapper'
        check_choice(owner, 'device', self.device_type, ('cuda', 'cpu'))
        check_choice(owner, 'cpu_bf16', cpu_bf16, CPU_BF16_MODES)
        if dtype != 'auto' and dtype not in _DTYPES:
            raise ValueError(
                "MixedPrecisionOptimWrapper: dtype must be 'auto', "
                f"'float16' or 'bfloat16', got {dtype!r}")
        self.cpu_bf16 = cpu_bf16
        self.cpu_bf16_support: Optional[CpuBf16Support] = None
        self.cast_dtype = self._resolve_dtype(dtype, cpu_bf16)
        self.autocast_enabled = self.cast_dtype != torch.float32

        if isinstance(loss_scale, int) and not isinstance(loss_scale, bool):
            loss_scale = float(loss_scale)
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            scaler_kwargs = {}
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale  # static, as upstream
            scaler_kwargs = dict(init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            scaler_kwargs = dict(loss_scale)
        else:
            raise TypeError('MixedPrecisionOptimWrapper: loss_scale must be '
                            f"'dynamic', a number or a dict, got {loss_scale!r}")
        if use_fsdp:
            from torch.distributed.fsdp.sharded_grad_scaler import \
                ShardedGradScaler
            scaler_type = ShardedGradScaler
        else:
            scaler_type = torch.amp.GradScaler
        self.loss_scaler = scaler_type(
            self.device_type, enabled=self.cast_dtype == torch.float16,
            **scaler_kwargs)
        self.use_fsdp = use_fsdp
        if use_fsdp and getattr(self, 'clip_func',
                                None) is torch.nn.utils.clip_grad_norm_:
            self.clip_func = sharded_clip_grad_norm_

    def _resolve_dtype(self, dtype: str, cpu_bf16: str) -> torch.dtype:
        """The autocast dtype; ``torch.float32`` means autocast off."""
        if self.device_type == 'cuda':
            return _DTYPES['float16' if dtype == 'auto' else dtype]
        if dtype == 'float16':
            return torch.float16
        if cpu_bf16 == 'off':
            return torch.float32
        if cpu_bf16 == 'force':
            return torch.bfloat16
        support = detect_cpu_bf16()
        self.cpu_bf16_support = support
        if support.native:
            return torch.bfloat16
        if dtype == 'bfloat16':  # asked for by name: honour it, say the cost
            warnings.warn(
                f"MixedPrecisionOptimWrapper: dtype='bfloat16' is used as "
                f'configured, but this CPU ({support.cpu}) lacks '
                f'{support.required} ({support.evidence}): bf16 is emulated '
                "and may run ~100x slower than fp32; dtype='auto' would "
                'train in fp32 here.', CpuBf16FallbackWarning, stacklevel=3)
            return torch.bfloat16
        warnings.warn(cpu_bf16_fallback_message(support),
                      CpuBf16FallbackWarning, stacklevel=3)
        return torch.float32

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        # upstream autocasts on mmengine's default device; ours on the
        # wrapper's device, and not at all after an fp32 fallback.
        autocast = (torch.autocast(device_type=self.device_type,
                                   dtype=self.cast_dtype)
                    if self.autocast_enabled else contextlib.nullcontext())
        with OptimWrapper.optim_context(self, model), autocast:
            yield


def describe_cpu_bf16() -> str:
    """One line: the CPU and the wrapper's bf16 decision (for logs)."""
    support = detect_cpu_bf16()
    return (f'CPU {support.cpu} ({os.cpu_count()} cores): bf16 autocast '
            f"{'native' if support.native else 'NOT native'} "
            f'[{support.evidence}]')
