"""The checkpoint trust gate and the few compatibility fixes mmconmim needs.

Nothing in site-packages is edited. ``import mmconmim`` calls
:func:`apply_compat_fixes`, which

1. registers the trust gate for every checkpoint scheme of mmengine's
   ``CheckpointLoader`` (always: it is a security policy, not a version
   fix), and
2. applies each version fix only if a probe shows that the installed
   upstream code needs it (:data:`COMPAT_PATCHES`).

:func:`applied_patches` lists what was changed; docs/compat.md explains each
item and when it can be deleted.

Checkpoint trust gate
    ``torch.load`` with ``weights_only=False`` runs any code a pickle asks for.
    mmengine 0.10.7 loads local files with ``torch.load(f)`` (under torch
    >= 2.6 that means ``weights_only=True``, which cannot read mmengine's own
    runner checkpoints: mmengine#1650, #1655) and every URL scheme --
    ``http(s)://``, ``torchvision://``/``modelzoo://``, ``open-mmlab://``/
    ``openmmlab://``, ``mmcls://`` -- with
    ``torch.hub.load_state_dict_from_url(weights_only=False)``, also for a
    file already in the torch hub cache; ``pavi://`` and ``s3://``/
    ``petrel://`` with a bare ``torch.load``. We register a loader for every
    one of these prefixes that fetches the file the same way (same URL
    tables, same hub cache, rank 0 downloads first) and then reads it with
    :func:`safe_torch_load`: ``weights_only=True`` plus an allow-list of
    exactly what mmengine's runner checkpoints pickle. A file that pickles
    anything else is refused with :class:`UnsafeCheckpointError`;
    ``MMCONMIM_TRUST_CHECKPOINTS=1`` loads it with full unpickling. A file
    that is not a checkpoint at all (empty, Git LFS pointer, HTML error page,
    text, truncated archive) raises :class:`NotACheckpointError` instead,
    which never suggests the trust variable.

Hue jitter under numpy 2 (mmcv 2.1.0 ``mmcv.image.photometric.adjust_hue``)
    mmcv shifts the hue channel by ``np.uint8(hue_factor * 255)``; numpy 2
    raises ``OverflowError`` for the negative factors that every hue jitter
    draws half of the time (numpy 1 wrapped them modulo 256). Probe: call
    mmcv's function with a negative factor; if it raises or differs from the
    modulo-256 shift, replace it (in the mmcv modules that expose it) by
    :func:`adjust_hue`.

Relative position table resizing under SciPy >= 1.14 (mmpretrain 1.2.0
``models.utils.embed.resize_relative_position_bias_table``)
    BEiT-style checkpoints loaded at another resolution have their relative
    position tables resized with ``scipy.interpolate.interp2d(kind='cubic')``,
    which SciPy 1.14 removed (``NotImplementedError``). Probe: call
    mmpretrain's function on a 3x3 table; if it raises, replace it (in every
    loaded mmpretrain module that imported it) by
    :func:`resize_relative_position_bias_table`, the same interpolating
    bicubic spline computed with ``RectBivariateSpline``.
"""
import io
import os
import os.path as osp
import pickle
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional
from urllib.parse import urlparse

import numpy as np
import torch

TRUST_ENV_VAR = 'MMCONMIM_TRUST_CHECKPOINTS'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles objects outside the allow-list."""


class NotACheckpointError(ValueError):
    """A file given as a checkpoint is not one (empty, truncated, a text or
    HTML page, a Git LFS pointer...)."""


# --------------------------------------------------------------------------
# Safe loading
# --------------------------------------------------------------------------
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


def _trusted() -> bool:
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
    found = found or re.findall(r'GLOBAL (\S+) was not an allowed global',
                                str(error))
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


def safe_torch_load(filename, map_location=None, extra_globals=(),
                    source: Optional[str] = None):
    """``torch.load`` with ``weights_only=True`` and the runner allow-list.

    Args:
        filename: a path or a binary file object.
        map_location: as for ``torch.load``.
        extra_globals: extends the allow-list for this call (e.g. the
            official ConMIM converter allows ``argparse.Namespace``).
        source: how to name the file in messages (e.g. the URL it came from);
            defaults to ``filename``.

    Raises:
        NotACheckpointError: the file is not a checkpoint at all (empty,
            truncated, text, HTML, Git LFS pointer).
        UnsafeCheckpointError: the file pickles other objects; the message
            lists them. Set ``MMCONMIM_TRUST_CHECKPOINTS=1`` to load it
            anyway.
    """
    name = source or str(getattr(filename, 'name', filename))

    def not_a_checkpoint(reason):
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
    if isinstance(filename, io.IOBase):
        filename.seek(0)
    if _trusted():
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


# --------------------------------------------------------------------------
# One loader per CheckpointLoader scheme, all ending in safe_torch_load
# --------------------------------------------------------------------------
def load_from_local(filename, map_location=None):
    """Gate for local paths (mmengine's ``''`` scheme)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def _hub_cache_file(url: str, model_dir: Optional[str]) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` caches ``url``."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'{url} does not end in a file name')
    return osp.join(model_dir, name)


def _download(url: str, model_dir: Optional[str], progress: bool) -> str:
    cached = _hub_cache_file(url, model_dir)
    if not osp.exists(cached):
        os.makedirs(osp.dirname(cached), exist_ok=True)
        sys.stdout.write(f'Downloading: "{url}" to {cached}\n')
        # writes a temporary file and renames it when complete
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return cached


def _load_cached(cached: str, url: str, map_location):
    source = (f'{url} (cached as {cached}; delete that file to download it '
              'again)')
    if zipfile.is_zipfile(cached):
        with zipfile.ZipFile(cached) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) == 1 and not members[0].filename.endswith(
                    'data.pkl'):
                # a pre-1.6 checkpoint zipped by hand, which torch.hub
                # unpacks: read the one member through the same gate
                with archive.open(members[0]) as member:
                    buffer = io.BytesIO(member.read())
                return safe_torch_load(buffer, map_location, source=source)
    return safe_torch_load(cached, map_location, source=source)


def load_from_http(filename, map_location=None, model_dir=None,
                   progress=os.isatty(0)):
    """Gate for ``http://``/``https://``: download into the torch hub cache
    like mmengine (rank 0 first), then read the file safely."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download(filename, model_dir, progress)
    return _load_cached(cached, filename, map_location)


def load_from_torchvision(filename, map_location=None):
    """Gate for ``torchvision://``/``modelzoo://`` (mmengine's URL table)."""
    from mmengine.runner.checkpoint import get_torchvision_models
    prefix = 'modelzoo://' if filename.startswith('modelzoo://') else \
        'torchvision://'
    model_name = filename[len(prefix):]
    return load_from_http(get_torchvision_models()[model_name],
                          map_location=map_location)


def load_from_openmmlab(filename, map_location=None):
    """Gate for ``open-mmlab://``/``openmmlab://`` (mmengine's URL table,
    deprecated names and local files under the mmengine home)."""
    from mmengine.runner import checkpoint as ckpt
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') else \
        'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated = ckpt.get_deprecated_model_names()
    model_name = deprecated.get(model_name, model_name)
    model_url = ckpt.get_external_models()[model_name]
    if model_url.startswith(('http://', 'https://')):
        return load_from_http(model_url, map_location=map_location)
    return load_from_local(
        osp.join(ckpt._get_mmengine_home(), model_url), map_location)


def load_from_mmcls(filename, map_location=None):
    """Gate for ``mmcls://``: the URL table, then the ``backbone.`` keys."""
    from mmengine.runner import checkpoint as ckpt
    checkpoint = load_from_http(ckpt.get_mmcls_models()[filename[8:]],
                                map_location=map_location)
    return ckpt._process_mmcls_checkpoint(checkpoint)


def load_from_pavi(filename, map_location=None):
    """Gate for ``pavi://`` (needs the ``pavi`` package, as upstream)."""
    import tempfile
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[7:])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_torch_load(downloaded, map_location, source=filename)


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """Gate for ``s3://``/``petrel://`` (needs ``petrel_client``)."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(filename,
                                    backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location, source=filename)


#: every prefix mmengine 0.10.7 registers, with the gate that replaces it
GATED_SCHEMES: Dict[str, Callable] = {
    '': load_from_local,
    'http://': load_from_http,
    'https://': load_from_http,
    'modelzoo://': load_from_torchvision,
    'torchvision://': load_from_torchvision,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    'pavi://': load_from_pavi,
    r'(\S+\:)?s3://': load_from_ceph,
    r'(\S+\:)?petrel://': load_from_ceph,
}


def register_safe_checkpoint_loaders() -> None:
    from mmengine.runner import CheckpointLoader
    for prefix, loader in GATED_SCHEMES.items():
        CheckpointLoader.register_scheme(prefixes=prefix, loader=loader,
                                         force=True)


# --------------------------------------------------------------------------
# Version fixes
# --------------------------------------------------------------------------
def adjust_hue(img: np.ndarray, hue_factor: float,
               backend=None) -> np.ndarray:
    """numpy-2-safe ``mmcv.adjust_hue``: same arguments and results.

    The hue channel (0..255 for a full turn) is shifted by
    ``trunc(hue_factor * 255)`` modulo 256, as mmcv did under numpy 1.
    """
    import cv2
    from mmcv.image.io import imread_backend
    from PIL import Image
    backend = imread_backend if backend is None else backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'backend: {backend} is not supported.'
                         "Supported backends are 'cv2', 'pillow'")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        hsv = Image.fromarray(img[..., ::-1], mode='RGB').convert('HSV')
        h, s, v = hsv.split()
        h = Image.fromarray(np.asarray(h, dtype=np.uint8) + shift, 'L')
        rgb = Image.merge('HSV', (h, s, v)).convert('RGB')
        return np.array(rgb, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    hsv = cv2.merge([h.astype(np.uint8) + shift, s, v])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def geometric_coords(src_shape: int, dst_shape: int) -> np.ndarray:
    """BEiT's source coordinates: distances spaced by a geometric progression
    whose total reaches the new half-width, so the resized table keeps the
    near-distance values and stretches the far ones."""

    def geometric_progression(a, r, n):
        return a * (1.0 - r**n) / (1.0 - r)

    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if geometric_progression(1, q, src_shape // 2) > dst_shape // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1
    for i in range(src_shape // 2):
        dis.append(cur)
        cur += q**(i + 1)
    return np.array([-d for d in reversed(dis)] + [0] + dis)


def resize_relative_position_bias_table(src_shape, dst_shape, table,
                                        num_head):
    """SciPy-1.14-safe version of mmpretrain's function (same arguments and
    result): resize a (src_shape**2, num_head) table of relative-distance
    biases to (dst_shape**2, num_head) with a cubic interpolating spline over
    BEiT's geometric-progression distance coordinates."""
    from scipy.interpolate import RectBivariateSpline
    coords = geometric_coords(src_shape, dst_shape)
    t = dst_shape // 2.0
    new_coords = np.arange(-t, t + 0.1, 1.0)
    columns = []
    for head in range(num_head):
        z = table[:, head].view(src_shape, src_shape).float().numpy()
        # interp2d(x, y, z) with z[row=y, col=x] == spline over (y, x)
        spline = RectBivariateSpline(coords, coords, z, kx=3, ky=3, s=0)
        columns.append(
            torch.from_numpy(spline(new_coords, new_coords).astype(
                np.float32)).reshape(-1, 1))
    return torch.cat(columns, dim=-1).to(table.device)


def _hue_probe_image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (4, 4, 3),
                                             dtype=np.uint8)


def _mmcv_adjust_hue_is_broken() -> bool:
    """mmcv's own function fails or differs from the modulo-256 shift for a
    negative factor (numpy 2 raises OverflowError in ``np.uint8(-25.5)``)."""
    from mmcv.image import photometric
    img = _hue_probe_image()
    try:
        with warnings.catch_warnings(), np.errstate(all='ignore'):
            warnings.simplefilter('ignore')
            got = photometric.adjust_hue(img, -0.1, backend='cv2')
    except Exception:
        return True
    return not np.array_equal(got, adjust_hue(img, -0.1, backend='cv2'))


def _mmpretrain_resize_is_broken() -> bool:
    """mmpretrain's function fails (SciPy >= 1.14 has no ``interp2d``)."""
    from mmpretrain.models.utils import embed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            embed.resize_relative_position_bias_table(
                3, 5, torch.arange(9.).view(9, 1), 1)
    except Exception:
        return True
    return False


def _replace_everywhere(packages, name: str, original, replacement) -> List:
    """Point every loaded module of ``packages`` that holds ``original``
    under ``name`` at ``replacement``; return the module names."""
    replaced = []
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.split('.')[0] not in packages:
            continue
        if getattr(module, name, None) is original:
            setattr(module, name, replacement)
            replaced.append(f'{mod_name}.{name}')
    return sorted(replaced)


@dataclass
class CompatPatch:
    """A version fix: applied only when ``is_needed()`` is true."""
    name: str
    reason: str
    is_needed: Callable[[], bool]
    get_original: Callable[[], Callable]
    replacement: Callable
    packages: tuple


def _mmcv_adjust_hue():
    from mmcv.image import photometric
    return photometric.adjust_hue


def _mmpretrain_resize():
    from mmpretrain.models.utils import embed
    return embed.resize_relative_position_bias_table


COMPAT_PATCHES = [
    CompatPatch(
        name='adjust_hue',
        reason='mmcv.adjust_hue raises OverflowError for negative hue '
        'factors under numpy >= 2 (np.uint8 of a negative float)',
        is_needed=_mmcv_adjust_hue_is_broken,
        get_original=_mmcv_adjust_hue,
        replacement=adjust_hue,
        packages=('mmcv', 'mmpretrain', 'mmseg', 'mmdet')),
    CompatPatch(
        name='resize_relative_position_bias_table',
        reason="mmpretrain's relative position table resize uses "
        'scipy.interpolate.interp2d, removed in SciPy 1.14',
        is_needed=_mmpretrain_resize_is_broken,
        get_original=_mmpretrain_resize,
        replacement=resize_relative_position_bias_table,
        packages=('mmpretrain', )),
]

#: patch name -> upstream function as it was before mmconmim (for tests)
UPSTREAM_ORIGINALS: Dict[str, Callable] = {}
_APPLIED: Optional[List[dict]] = None


def apply_compat_fixes() -> List[dict]:
    """Register the checkpoint gate and apply the needed version fixes, once.

    Returns what was changed (see :func:`applied_patches`)."""
    global _APPLIED
    if _APPLIED is not None:
        return _APPLIED
    register_safe_checkpoint_loaders()
    applied = [dict(
        name='checkpoint_trust_gate',
        targets=[f'mmengine CheckpointLoader scheme {p!r}'
                 for p in GATED_SCHEMES],
        reason='every checkpoint scheme goes through weights_only loading '
        f'with an allow-list; {TRUST_ENV_VAR}=1 opts in to full '
        'unpickling')]
    for patch in COMPAT_PATCHES:
        original = patch.get_original()
        UPSTREAM_ORIGINALS[patch.name] = original
        if patch.is_needed():
            targets = _replace_everywhere(patch.packages, patch.name,
                                          original, patch.replacement)
            applied.append(dict(name=patch.name, targets=targets,
                                reason=patch.reason))
    _APPLIED = applied
    return applied


def applied_patches() -> List[dict]:
    """What ``import mmconmim`` changed outside mmconmim: name, targets and
    reason of each item (empty before :func:`apply_compat_fixes`)."""
    return list(_APPLIED or [])
