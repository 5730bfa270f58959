"""Reading DALL-E dVAE weights without the ``dall_e`` package.

The official ``encoder.pkl`` / ``decoder.pkl`` are whole pickled ``nn.Module``
objects of the ``dall_e`` package (legacy, non-zip torch format): unpickling
them normally imports ``dall_e`` (which needs ``attrs`` and ``requests``) and
can run arbitrary code. Here they are read with a **restricted unpickler**:
``find_class`` resolves only

* the five ``dall_e`` classes (``dall_e.encoder.{Encoder,EncoderBlock}``,
  ``dall_e.decoder.{Decoder,DecoderBlock}``, ``dall_e.utils.Conv2d``), mapped
  to empty local ``nn.Module`` stand-ins -- unpickling only restores their
  ``__dict__`` (parameters and sub-modules), no ``dall_e`` code runs;
* the ``torch.nn`` containers/layers those modules hold (Sequential, ReLU,
  MaxPool2d, Upsample, Identity) and the tensor/storage rebuild functions
  torch itself writes;

and refuses every other global (``UnpicklingError`` naming it). The stand-in
module's ``state_dict()`` then has exactly the official key names
(``blocks.<input|group_k.block_j.{id_path,res_path.conv_m}|output.conv>.{w,b}``),
which load strictly into mmpretrain's ``DALLEEncoder`` and our
:class:`~.dalle_decoder.DALLEDecoder`. Loading a state dict instead of the
pickled module also sidesteps the ``Upsample.recompute_scale_factor`` error of
the old pickles under torch >= 1.11 (openai/DALL-E#54).

Plain state dicts (``.pth`` with the official key names, optionally under
``'state_dict'``) are read with ``torch.load(weights_only=True)``. Both go
through the one gated reader (:func:`mmconmim.checkpoint.load_file`), so an
empty, text, HTML or Git LFS file gets ``NotACheckpointError`` and a pickle
naming other globals ``UnsafeCheckpointError`` (loaded only with
``MMCONMIM_TRUST_CHECKPOINTS=1``).
"""
import _compat_pickle
import builtins
import collections
import pickle
import types
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from mmconmim.utils.validation import check_choice

ENCODER, DECODER = 'encoder', 'decoder'


class _DallEStandIn(nn.Module):
    """Receives the pickled state of an official ``dall_e`` module."""

    def forward(self, *args, **kwargs):
        raise RuntimeError('a stand-in for a pickled dall_e module only '
                           'carries weights; build DALLEEncoder/DALLEDecoder')


class OfficialEncoder(_DallEStandIn):
    pass


class OfficialEncoderBlock(_DallEStandIn):
    pass


class OfficialDecoder(_DallEStandIn):
    pass


class OfficialDecoderBlock(_DallEStandIn):
    pass


class OfficialConv2d(_DallEStandIn):
    pass


def _allowed_globals() -> Dict[str, object]:
    allowed = {
        'dall_e.encoder.Encoder': OfficialEncoder,
        'dall_e.encoder.EncoderBlock': OfficialEncoderBlock,
        'dall_e.decoder.Decoder': OfficialDecoder,
        'dall_e.decoder.DecoderBlock': OfficialDecoderBlock,
        'dall_e.utils.Conv2d': OfficialConv2d,
        'collections.OrderedDict': collections.OrderedDict,
        # protocol-2 pickles write sets (nn.Module's
        # _non_persistent_buffers_set) as builtins.set([...])
        'builtins.set': builtins.set,
        'torch.device': torch.device,
        'torch.Size': torch.Size,
        'torch._utils._rebuild_tensor_v2': torch._utils._rebuild_tensor_v2,
        'torch._utils._rebuild_parameter': torch._utils._rebuild_parameter,
    }
    for cls in (nn.Sequential, nn.ReLU, nn.MaxPool2d, nn.Upsample,
                nn.Identity):
        allowed[f'{cls.__module__}.{cls.__qualname__}'] = cls
    for name in ('FloatStorage', 'HalfStorage', 'DoubleStorage',
                 'BFloat16Storage', 'LongStorage', 'IntStorage'):
        allowed[f'torch.{name}'] = getattr(torch, name)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals of a DALL-E checkpoint."""

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles use Python 2 module names (__builtin__.set);
        # pickle's own find_class maps them the same way.
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module),
                             name))
        key = f'{module}.{name}'
        allowed = _allowed_globals()
        if key in allowed:
            return allowed[key]
        raise pickle.UnpicklingError(
            f'refusing to unpickle global {key!r}: not part of an official '
            'DALL-E dVAE checkpoint (only dall_e.{encoder,decoder,utils} '
            'modules, torch.nn layers and tensors are allowed)')


def _restricted_load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


# Passed to torch.load(pickle_module=...): torch builds its own unpickler
# classes on top of ``Unpickler`` (legacy and zip formats alike) and reads the
# legacy header with ``load``.
restricted_pickle = types.ModuleType('mmconmim_restricted_pickle')
restricted_pickle.Unpickler = RestrictedUnpickler
restricted_pickle.load = _restricted_load


def _unwrap(obj) -> Tuple[Optional[str], Dict[str, torch.Tensor]]:
    if isinstance(obj, nn.Module):
        if isinstance(obj, OfficialEncoder):
            kind = ENCODER
        elif isinstance(obj, OfficialDecoder):
            kind = DECODER
        else:
            raise ValueError(
                f'expected a pickled dall_e Encoder or Decoder, got '
                f'{type(obj).__name__}')
        return kind, obj.state_dict()
    if isinstance(obj, dict):
        kind = None
        meta = obj.get('meta')
        if isinstance(meta, dict) and meta.get('dalle_kind') in (ENCODER,
                                                                  DECODER):
            kind = meta['dalle_kind']
        state = obj.get('state_dict', obj)
        if isinstance(state, dict) and state and all(
                isinstance(v, torch.Tensor) for v in state.values()):
            keys = list(state)
            if all(k.startswith('module.') for k in keys):
                state = {k[len('module.'):]: v for k, v in state.items()}
            return kind, dict(state)
    raise ValueError('not a DALL-E checkpoint: expected a pickled dall_e '
                     'module or a dict of tensors (optionally under '
                     "'state_dict')")


def read_dalle_checkpoint(
        path: str) -> Tuple[str, Dict[str, torch.Tensor]]:
    """Read an official pickle or a plain state dict of a DALL-E dVAE half.

    Returns:
        (``'encoder'`` or ``'decoder'``, state dict with the official keys)
    """
    # the one gated reader: weights_only first, then the restricted
    # unpickler for the official pickled modules; "not a checkpoint" files,
    # TorchScript archives and other pickled globals are refused there
    # (the last honour MMCONMIM_TRUST_CHECKPOINTS)
    from mmconmim.checkpoint import load_file
    obj = load_file(path, restricted_pickle=restricted_pickle,
                    allow_urls=False, what='DALL-E checkpoint')
    kind, state = _unwrap(obj)
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    inferred = infer_kind(state)
    if kind is not None and kind != inferred:
        raise ValueError(f'{path}: labelled as a DALL-E {kind} but its keys '
                         f'are those of a {inferred}')
    return inferred, state


def infer_kind(state: Dict[str, torch.Tensor]) -> str:
    """Encoder (7x7 input conv) or decoder (1x1 input conv)."""
    weight = state.get('blocks.input.w')
    if weight is None or weight.dim() != 4:
        raise ValueError('not a DALL-E state dict: no blocks.input.w '
                         f'(keys start with {sorted(state)[:3]})')
    return ENCODER if weight.shape[-1] == 7 else DECODER


def infer_dalle_args(state: Dict[str, torch.Tensor], kind: str) -> dict:
    """Constructor arguments of ``DALLEEncoder`` / ``DALLEDecoder`` that
    match the shapes of ``state`` (``group_count`` is always 4)."""
    check_choice(None, 'kind', kind, (ENCODER, DECODER))
    blocks = {k.split('.')[2] for k in state if k.startswith('blocks.group_1.')}
    n_blk = len(blocks)
    first = state['blocks.input.w']
    last = state['blocks.output.conv.w']
    if kind == ENCODER:
        return dict(
            n_hid=first.shape[0],
            n_blk_per_group=n_blk,
            input_channels=first.shape[1],
            vocab_size=last.shape[0])
    return dict(
        n_init=first.shape[0],
        n_hid=last.shape[1],
        n_blk_per_group=n_blk,
        output_channels=last.shape[0] // 2,
        vocab_size=first.shape[1])


def build_dalle_module(kind: str, **kwargs) -> nn.Module:
    from mmpretrain.models.selfsup.cae import DALLEEncoder

    from .dalle_decoder import DALLEDecoder
    check_choice(None, 'kind', kind, (ENCODER, DECODER))
    if kind == ENCODER:
        return DALLEEncoder(**kwargs)
    return DALLEDecoder(**kwargs)


def load_dalle_weights(module: nn.Module, path: str, kind: str) -> None:
    """Load ``path`` into ``module`` strictly, with a readable error."""
    found, state = read_dalle_checkpoint(path)
    if found != kind:
        raise ValueError(f'{path} holds a DALL-E {found}, but it was given '
                         f'as the {kind} checkpoint')
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f'{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
        for k in own if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f'{path} does not match the configured {type(module).__name__} '
            f'(checkpoint architecture: {infer_dalle_args(state, found)}): '
            f'missing keys {missing[:5]}, unexpected keys {unexpected[:5]}, '
            f'shape mismatches {wrong[:5]}')
    module.load_state_dict(state, strict=True)


def convert_dalle_checkpoint(path: str):
    """Read ``path``, check it loads strictly into our module and return
    ``(kind, constructor args, state dict)``."""
    kind, state = read_dalle_checkpoint(path)
    args = infer_dalle_args(state, kind)
    module = build_dalle_module(kind, **args)
    module.load_state_dict(state, strict=True)
    return kind, args, module.state_dict()
