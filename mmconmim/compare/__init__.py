"""The method comparison (tools/compare_methods.py): fine-tune and dense
columns (:mod:`.finetune`, :mod:`.dense`)."""
from .dense import dense_transfer, prepare_seg_data
from .finetune import FAMILIES, finetune_backbone

__all__ = ['FAMILIES', 'dense_transfer', 'finetune_backbone',
           'prepare_seg_data']
