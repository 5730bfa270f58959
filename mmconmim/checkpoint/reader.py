"""The one reader: every tool and API reads checkpoint files through
:func:`load_file`, so the gate, the "not a checkpoint" diagnosis and the
messages are the same everywhere."""
import os
import os.path as osp
import re
from typing import Dict, Tuple

import torch

from .gate import safe_torch_load
from .schemes import scheme_loader

_URL = re.compile(r'^[A-Za-z][\w+.-]*://')


def is_url(name) -> bool:
    """Whether ``name`` is a URL-like checkpoint name (``scheme://...``)."""
    return isinstance(name, str) and _URL.match(name) is not None


def load_file(filename, map_location='cpu', extra_globals=(),
              restricted_pickle=None, allow_urls: bool = True,
              what: str = 'checkpoint'):
    """Read a checkpoint (or any file written with ``torch.save``) safely.

    Args:
        filename: a local path, or a URL of any scheme mmengine knows
            (downloaded like mmengine does, then read through the gate).
        map_location: as for ``torch.load``.
        extra_globals: more allowed globals (local files only).
        restricted_pickle: a restricted unpickler module tried before a
            refusal (local files only; see :func:`~.gate.safe_torch_load`).
        allow_urls: ``False`` refuses URLs with a message saying so (tools
            that need a local file, e.g. to record its checksum).
        what: how messages name the file (``'checkpoint'``,
            ``'features file'``...).

    Raises:
        FileNotFoundError / IsADirectoryError: no such file.
        NotACheckpointError: the file is not a ``torch.save`` file.
        UnsafeCheckpointError: it pickles objects outside the allow-list.
        CheckpointDownloadError: a URL could not be downloaded.
    """
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if is_url(filename):
        if not allow_urls:
            raise FileNotFoundError(
                f'{filename}: URLs are not taken here; download the file '
                f'and give the local path of the {what}')
        if extra_globals or restricted_pickle is not None:
            raise ValueError(f'{filename}: this {what} can only be read '
                             'from a local file; download it first')
        return scheme_loader(filename)(filename, map_location=map_location)
    path = osp.expanduser(str(filename))
    if osp.isdir(path):
        raise IsADirectoryError(f'the {what} {filename!r} is a folder; give '
                                'the file inside it')
    if not osp.isfile(path):
        raise FileNotFoundError(f'the {what} {filename!r} does not exist')
    return safe_torch_load(path, map_location, extra_globals,
                           restricted_pickle=restricted_pickle)


def read_state_dict(filename, map_location='cpu',
                    allow_urls: bool = True) -> Tuple[Dict, Dict]:
    """(tensor state dict without a ``module.`` wrapper prefix, meta) of a
    runner checkpoint, an export or a bare state dict."""
    ckpt = load_file(filename, map_location, allow_urls=allow_urls)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{filename}: not a state dict checkpoint (holds a '
                         f'{type(ckpt).__name__})')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{filename}: no tensor state dict found')
    state = {(k[7:] if k.startswith('module.') else k): v
             for k, v in state.items()}
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    return state, meta


def read_meta(filename) -> dict:
    """The ``meta`` dict of a runner checkpoint or an export ({} if none)."""
    ckpt = load_file(filename)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return meta if isinstance(meta, dict) else {}
