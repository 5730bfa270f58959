"""Small, documented fixes for running mmengine 0.10.7 on torch >= 2.6.

Everything here is applied once, on ``import mmconmim``. Nothing in
site-packages is edited; each fix says which upstream bug it covers and when it
can be deleted.

Safe checkpoint loading (mmengine#1650, #1655; fixed upstream by #1670, which
is not in any release as of mmengine 0.10.7)
    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``. mmengine's
    local checkpoint loader calls ``torch.load`` without the argument, so the
    runner's own checkpoints (they pickle ``HistoryBuffer`` objects and numpy
    arrays in ``message_hub``/``meta``) fail to load: ``--resume``,
    ``load_from`` and ``init_cfg=dict(type='Pretrained')`` all break.
    Instead of switching the safety off (what #1670 does) we re-register the
    local-file scheme of ``CheckpointLoader`` with a loader that keeps
    ``weights_only=True`` and allow-lists exactly the classes mmengine writes.
    A checkpoint that pickles anything else is refused with
    :class:`UnsafeCheckpointError`, naming the offending globals. Setting
    ``MMCONMIM_TRUST_CHECKPOINTS=1`` loads such a file with full unpickling
    (arbitrary code execution: only for files you trust).
    Delete once mmengine ships a release whose loader accepts runner
    checkpoints under ``weights_only=True`` or allow-lists them itself.

Hue jitter under numpy 2 (mmcv 2.1.0 ``mmcv.image.photometric.adjust_hue``)
    mmcv shifts the hue channel with ``np.uint8(hue_factor * 255)``; numpy 2
    raises ``OverflowError`` for the negative factors that every hue jitter
    draws half of the time (numpy 1 wrapped them modulo 256). mmpretrain's
    ``ColorJitter`` -- the strong view of ConMIM, BYOL, MoCo... -- calls
    ``mmcv.adjust_hue``, so we replace that function (in ``mmcv``,
    ``mmcv.image`` and ``mmcv.image.photometric``) by one that computes the
    same modulo-256 shift explicitly. Delete once mmcv ships a release whose
    ``adjust_hue`` works under numpy 2.

Relative position table resizing under SciPy >= 1.14 (mmpretrain 1.2.0
``models.utils.embed.resize_relative_position_bias_table``)
    BEiT-style checkpoints loaded at another resolution (224-px pre-training
    into 512-px ADE20K or 1024-px COCO) have their relative position tables
    resized with ``scipy.interpolate.interp2d(kind='cubic')``, which SciPy
    1.14 removed: the load fails with ``NotImplementedError``. We replace the
    function (in ``mmpretrain.models.utils`` and the backbone modules that
    imported it) by one that computes the same interpolating bicubic spline
    with ``RectBivariateSpline`` (the replacement SciPy documents for gridded
    ``interp2d``), on the same geometric-progression source coordinates.
    Delete once mmpretrain stops using ``interp2d``.

Not shimmed, on purpose (handled by the install path, see tools/bootstrap.sh):
    * setuptools >= 82 removed ``pkg_resources``, which mmengine 0.10.7 uses for
      ``pkg::`` base configs: we pin ``setuptools<81`` (81 warns on every
      import of it).
    * numpy 2 removed aliases used by code paths we do not touch (mmpretrain
      retrieval metrics, mmdet VIS/GLIP); nothing on our paths needs a shim.
"""
import os
import os.path as osp
import pickle
import warnings
from typing import List

import numpy as np
import torch

TRUST_ENV_VAR = 'MMCONMIM_TRUST_CHECKPOINTS'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles objects outside the allow-list."""


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


def safe_torch_load(filename, map_location=None, extra_globals=()):
    """``torch.load`` with ``weights_only=True`` and the runner allow-list.

    ``extra_globals`` extends the allow-list for one call (e.g. the official
    ConMIM converter allows ``argparse.Namespace``).

    Raises:
        UnsafeCheckpointError: the file pickles other objects; the message
            lists them. Set ``MMCONMIM_TRUST_CHECKPOINTS=1`` to load it anyway.
    """
    with torch.serialization.safe_globals(
            [*checkpoint_safe_globals(), *extra_globals]):
        try:
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
        except pickle.UnpicklingError as exc:
            if _trusted():
                warnings.warn(
                    f'{filename} contains pickled objects outside the '
                    f'allow-list; loading it fully because {TRUST_ENV_VAR} '
                    'is set.')
                return torch.load(filename, map_location=map_location,
                                  weights_only=False)
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {filename!r}: it contains '
                f'pickled objects outside the allow-list '
                f'({_unsafe_globals(filename)}). Unpickling them could run '
                'arbitrary code. If you trust this file, set '
                f'{TRUST_ENV_VAR}=1; better, re-export it as a plain state '
                'dict (tools/model_converters/). Original error: '
                f'{str(exc).splitlines()[0]}') from exc


def _unsafe_globals(filename) -> str:
    try:
        allowed = {
            g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
            for g in checkpoint_safe_globals()
        }
        found = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        return ', '.join(g for g in found if g not in allowed) or 'unknown'
    except Exception:  # not a zip checkpoint: report what we can
        return 'could not be listed'


def load_from_local(filename, map_location):
    """Replacement for mmengine's local-file checkpoint loader."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def register_safe_checkpoint_loader() -> None:
    from mmengine.runner import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)


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


def patch_mmpretrain_rel_pos_resize() -> None:
    import mmpretrain.models.backbones.beit as beit
    import mmpretrain.models.backbones.swin_transformer as swin
    import mmpretrain.models.utils as utils
    import mmpretrain.models.utils.embed as embed
    for module in (beit, swin, utils, embed):
        module.resize_relative_position_bias_table = \
            resize_relative_position_bias_table


def patch_mmcv_adjust_hue() -> None:
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    for module in (mmcv, mmcv.image, mmcv.image.photometric):
        module.adjust_hue = adjust_hue


_APPLIED = False


def apply_compat_fixes() -> None:
    """Apply every fix above, once."""
    global _APPLIED
    if _APPLIED:
        return
    register_safe_checkpoint_loader()
    patch_mmcv_adjust_hue()
    patch_mmpretrain_rel_pos_resize()
    _APPLIED = True
