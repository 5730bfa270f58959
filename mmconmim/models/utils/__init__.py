from .dist_batchnorm import DistBatchNorm, convert_sync_batchnorm
from .ema import ForeachCosineEMA

__all__ = ['DistBatchNorm', 'ForeachCosineEMA', 'convert_sync_batchnorm']
