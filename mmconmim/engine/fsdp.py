"""FSDP for models with an in-forward EMA teacher (ConMIM).

ConMIM updates its momentum teacher *inside* the forward pass, in place, from
the student's parameters (``ConMIM.loss``). Under FSDP the student's
parameters are gathered for the forward -- so reading them there is correct
-- but parameters FSDP manages are re-sharded from their local shards after
the pass: an in-place update of a gathered *teacher* parameter would be
discarded, and the teacher would silently never move. The teacher therefore
stays outside FSDP, replicated on every rank. Every rank applies the same
update from the same gathered student, so the replicas stay identical (the
first update copies the student, so they also start identical).

:class:`ReplicatedModulesFSDP` is mmengine's ``MMFullyShardedDataParallel``
with named submodules (default ``teacher``) passed to FSDP as
``ignored_modules`` and moved to the training device first (FSDP does not
move ignored modules). On machines without CUDA it runs FSDP on CPU with
gloo (``device_id`` set to the CPU), which the tests use.
"""
from typing import Sequence

import torch
import torch.distributed as dist
from mmengine.model import MMFullyShardedDataParallel

from mmconmim.checkpoint.networks import TEACHER_ATTRIBUTE
from mmconmim.registry import MODEL_WRAPPERS

__all__ = ['ReplicatedModulesFSDP']


@MODEL_WRAPPERS.register_module()
class ReplicatedModulesFSDP(MMFullyShardedDataParallel):
    """``MMFullyShardedDataParallel`` keeping ``replicated`` submodules out
    of the sharding, on every rank's device.

    Args:
        module (nn.Module): The model.
        replicated (Sequence[str]): Names of submodules to keep replicated
            (default: ConMIM's teacher, named by the teacher/student rule,
            :mod:`mmconmim.checkpoint.networks`). A model without one of them is an
            error naming it.
        device_id (int | torch.device, optional): As for FSDP; without CUDA
            the CPU is used.
        **kwargs: Arguments of ``MMFullyShardedDataParallel``.
    """

    def __init__(self, module,
                 replicated: Sequence[str] = (TEACHER_ATTRIBUTE, ),
                 device_id=None, **kwargs):
        if isinstance(replicated, str):
            replicated = [replicated]
        if not torch.cuda.is_available():
            device_id = torch.device('cpu')
        device = (device_id if isinstance(device_id, torch.device) else
                  torch.device('cuda', device_id) if device_id is not None
                  else None)
        names = dict(module.named_modules())
        kept = []
        for name in replicated:
            if name not in names:
                raise ValueError(
                    f'ReplicatedModulesFSDP: the model has no submodule '
                    f'{name!r} to keep replicated; set model_wrapper.'
                    f'replicated to names among its children '
                    f'{[n for n, _ in module.named_children()]}')
            if device is not None:
                names[name].to(device)
            kept.append(names[name])
        if kwargs.get('sync_module_states') and device is not None and \
                device.type == 'cpu':
            # FSDP's own sync requires GPU tensors; on CPU (gloo) broadcast
            # rank 0's parameters and buffers here, which is the same
            kwargs['sync_module_states'] = False
            with torch.no_grad():
                for tensor in list(module.parameters()) + list(
                        module.buffers()):
                    dist.broadcast(tensor.data, src=0)
        ignored = list(kwargs.pop('ignored_modules', None) or [])
        ignored = [names[m] if isinstance(m, str) else m for m in ignored]
        super().__init__(module=module, device_id=device_id,
                         ignored_modules=ignored + kept, **kwargs)
