from .ema import ForeachCosineEMA

__all__ = ['ForeachCosineEMA']
