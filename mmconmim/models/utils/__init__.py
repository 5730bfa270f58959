from .dist_batchnorm import DistBatchNorm, convert_sync_batchnorm
from .ema import ForeachCosineEMA
from .fused_attention import (FastBEiTAttention, FusedBEiTAttention,
                              set_attention_impl, use_fused_attention)

__all__ = [
    'DistBatchNorm', 'FastBEiTAttention', 'ForeachCosineEMA',
    'FusedBEiTAttention', 'convert_sync_batchnorm', 'set_attention_impl',
    'use_fused_attention'
]
