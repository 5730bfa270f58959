"""DDP wrapper for distributed training on CPU (gloo)."""
from mmengine.model import MMDistributedDataParallel

from mmconmim.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel']
from ..models.utils import convert_sync_batchnorm


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules.

    torch's DDP rejects ``device_ids`` for CPU modules, and SyncBatchNorm
    (which configs such as mmseg's heads ask for) is CUDA-only: this wrapper
    drops ``device_ids`` and swaps SyncBatchNorm for
    :class:`~mmconmim.models.utils.DistBatchNorm`, which all-reduces the
    batch statistics over gloo with the same result. tools/train.py selects
    it automatically when there is no GPU.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=convert_sync_batchnorm(module),
                         device_ids=None, **kwargs)
