"""The checkpoint trust gate: ``torch.load`` that runs no code from a file.

``torch.load`` with ``weights_only=False`` runs any code a pickle asks for.
:func:`safe_torch_load` reads with ``weights_only=True`` plus an allow-list of
exactly what mmengine's runner checkpoints pickle (``HistoryBuffer`` and its
statistics methods, numpy arrays, dtypes and scalars). A file that pickles
anything else is refused with :class:`UnsafeCheckpointError` (naming the
objects); ``MMCONMIM_TRUST_CHECKPOINTS=1`` loads it with full unpickling. A
file that is not a checkpoint at all (empty, Git LFS pointer, HTML error page,
text, truncated archive, TorchScript archive) raises
:class:`NotACheckpointError` instead, which never suggests the trust
variable. A caller that knows a second, restricted format (the DALL-E
reader's stand-in classes) passes its restricted unpickler, which is tried
before the refusal.
"""
import io
import os
import pickle
import re
import warnings
import zipfile
from typing import List, Optional

import numpy as np
import torch

from .errors import NotACheckpointError, TRUST_ENV_VAR, UnsafeCheckpointError


def _numpy_globals() -> List:
    """numpy objects that appear when pickling arrays, dtypes and scalars."""
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *sorted(set(dtype_classes), key=lambda c: c.__name__)]


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; a general ``getattr`` would let a
    crafted file reach any attribute (``ndarray.tofile``...), so only that
    lookup is allowed.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not an '
        'mmengine HistoryBuffer statistics method')


def checkpoint_safe_globals() -> List:
    """Everything an mmengine runner checkpoint legitimately pickles."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
            *_numpy_globals()]


def trusted() -> bool:
    """Whether the user opted in to running code from files
    (``MMCONMIM_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV_VAR, '').lower() in ('1', 'true', 'yes')


def _read_head(f, size: int = 256) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, 'rb') as fh:
            return fh.read(size)
    pos = f.tell()
    head = f.read(size)
    f.seek(pos)
    return head


def _not_a_checkpoint_reason(f, name: str) -> Optional[str]:
    """Why ``f`` cannot be a torch checkpoint, or None if it may be one.

    torch checkpoints are zip archives holding ``.../data.pkl`` (torch >= 1.6)
    or pickles starting with the PROTO opcode (older ``torch.save``)."""
    head = _read_head(f)
    if not head:
        return 'the file is empty (0 bytes)'
    if str(name).endswith('.safetensors'):
        return None  # torch.load reads these itself
    text = head.lstrip().lower()
    if head.startswith(b'version https://git-lfs'):
        return ('it is a Git LFS pointer, not the file it stands for '
                '(run `git lfs pull` in its repository)')
    if text.startswith((b'<!doctype html', b'<html', b'<?xml', b'<head',
                        b'<body', b'<!--')):
        return 'it is an HTML/XML page (an error page saved as the file?)'
    if head.startswith(b'PK\x03\x04'):
        if not zipfile.is_zipfile(f):
            return 'it is a truncated zip archive (no central directory)'
        if isinstance(f, io.IOBase):
            f.seek(0)
        with zipfile.ZipFile(f) as archive:
            names = archive.namelist()
        if isinstance(f, io.IOBase):
            f.seek(0)
        if any(n.endswith('/constants.pkl') or '/code/' in n
               for n in names):
            # torch.load would hand it to torch.jit.load, which runs the
            # archive's TorchScript code
            return ('it is a TorchScript archive (torch.jit.save), which '
                    'holds code, not a state dict; if you trust it, load it '
                    'with torch.jit.load and save its state_dict() with '
                    'torch.save')
        if not any(n == 'data.pkl' or n.endswith('/data.pkl')
                   for n in names):
            return ('it is a zip archive without the data.pkl of a PyTorch '
                    f'checkpoint (holds {names[:3]})')
        return None
    if head[:1] == b'\x80':  # pickle PROTO opcode: legacy torch.save
        return None
    try:
        head.decode('utf-8')
        kind = 'a text file'
    except UnicodeDecodeError:
        kind = 'neither a PyTorch zip archive nor a pickle'
    return f'it is {kind} (starts with {head[:24]!r})'


def _unsafe_globals(f, error: Exception) -> str:
    """The disallowed globals a checkpoint names: listed from a zip
    checkpoint, else (legacy pickles) taken from the unpickler's error."""
    allowed = {
        g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
        for g in checkpoint_safe_globals()
    }
    found = []
    try:
        if isinstance(f, io.IOBase):
            f.seek(0)
        found = [g for g in
                 torch.serialization.get_unsafe_globals_in_checkpoint(f)
                 if g not in allowed]
    except Exception:  # legacy pickle: not listable
        pass
    finally:
        if isinstance(f, io.IOBase):
            f.seek(0)
    found = found or re.findall(
        r"GLOBAL (\S+) was not an allowed global|refusing to unpickle "
        r"global '(\S+)'", str(error))
    found = [g if isinstance(g, str) else ''.join(g) for g in found]
    return ', '.join(found) or 'not listable'


_DAMAGE_MESSAGES = ('unexpected EOF', 'PytorchStreamReader', 'corrupt',
                    'zip archive', 'invalid load key')


def _is_damage(exc: Exception) -> bool:
    """torch.load failed because the bytes are damaged (not, e.g., because
    of a device in map_location)."""
    return not isinstance(exc, RuntimeError) or any(
        m in str(exc) for m in _DAMAGE_MESSAGES)


def _unpickler_detail(exc: Exception) -> str:
    """The unpickler's own complaint, without torch's generic advice."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(exc))
    found = re.search(r'WeightsUnpickler error: (.+)', text)
    line = found.group(1) if found else text.strip().splitlines()[0]
    return line.strip()


def _trust_or_refuse(filename, map_location, name: str,
                     unsafe: Exception):
    """A file that pickles objects outside the allow-list: load it fully
    with the opt-in, else refuse naming the objects."""
    if isinstance(filename, io.IOBase):
        filename.seek(0)
    if trusted():
        warnings.warn(
            f'{name} contains pickled objects outside the allow-list; '
            f'loading it fully because {TRUST_ENV_VAR} is set.')
        return torch.load(filename, map_location=map_location,
                          weights_only=False)
    raise UnsafeCheckpointError(
        f'Refusing to load checkpoint {name}: it contains pickled objects '
        f'outside the allow-list ({_unsafe_globals(filename, unsafe)}). '
        'Unpickling them could run arbitrary code. If you trust this file, '
        f'set {TRUST_ENV_VAR}=1; better, re-export it as a plain state dict '
        f'(tools/model_converters/). Unpickler: {_unpickler_detail(unsafe)}'
    ) from unsafe


def _restricted_load(filename, map_location, restricted_pickle):
    """``torch.load`` through a restricted unpickler (no code runs: it
    resolves only the globals it lists)."""
    if isinstance(filename, io.IOBase):
        filename.seek(0)
    # torch warns that stand-in classes' source differs from the pickled
    # classes' source; that is the point of stand-ins
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return torch.load(filename, map_location=map_location,
                          pickle_module=restricted_pickle, weights_only=False)


def safe_torch_load(filename, map_location=None, extra_globals=(),
                    source: Optional[str] = None, restricted_pickle=None):
    """``torch.load`` with ``weights_only=True`` and the runner allow-list.

    Args:
        filename: a path or a binary file object.
        map_location: as for ``torch.load``.
        extra_globals: extends the allow-list for this call (e.g. the
            official ConMIM converter allows ``argparse.Namespace``).
        source: how to name the file in messages (e.g. the URL it came from);
            defaults to ``filename``.
        restricted_pickle: a module with a restricted ``Unpickler`` (one
            that resolves only the globals of a known format, e.g. the
            DALL-E reader's stand-ins), tried when the file pickles objects
            outside the allow-list; its refusal counts as outside it.

    Raises:
        NotACheckpointError: the file is not a checkpoint at all (empty,
            truncated, text, HTML, Git LFS pointer).
        UnsafeCheckpointError: the file pickles other objects; the message
            lists them. Set ``MMCONMIM_TRUST_CHECKPOINTS=1`` to load it
            anyway.
    """
    name = source or str(getattr(filename, 'name', filename))

    def not_a_checkpoint(reason):
        if 'TorchScript' in reason:  # a whole file of another kind
            return NotACheckpointError(f'{name} is not a checkpoint: '
                                       f'{reason}.')
        return NotACheckpointError(
            f'{name} is not a checkpoint (truncated or failed download?): '
            f'{reason}. Download or copy the file again.')

    reason = _not_a_checkpoint_reason(filename, name)
    if reason is not None:
        raise not_a_checkpoint(reason)
    with torch.serialization.safe_globals(
            [*checkpoint_safe_globals(), *extra_globals]):
        try:
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
        except pickle.UnpicklingError as exc:
            unsafe = exc
        except (EOFError, RuntimeError, zipfile.BadZipFile) as exc:
            if not _is_damage(exc):
                raise  # e.g. a CUDA map_location on a CPU machine
            detail = str(exc).strip().splitlines()[0].rstrip('.') \
                if str(exc).strip() else 'the file ends early'
            raise not_a_checkpoint(
                f'torch.load failed with {type(exc).__name__}: {detail}'
            ) from exc
    if restricted_pickle is not None:
        try:
            return _restricted_load(filename, map_location, restricted_pickle)
        except pickle.UnpicklingError as exc:
            unsafe = exc
    return _trust_or_refuse(filename, map_location, name, unsafe)

