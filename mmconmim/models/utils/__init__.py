from .dist_batchnorm import DistBatchNorm, convert_sync_batchnorm
from .ema import ForeachCosineEMA
from .fused_attention import FusedBEiTAttention, use_fused_attention

__all__ = [
    'DistBatchNorm', 'ForeachCosineEMA', 'FusedBEiTAttention',
    'convert_sync_batchnorm', 'use_fused_attention'
]
