"""The few compatibility fixes mmconmim needs for the installed upstream
versions (docs/compat.md lists each with its reason and when to delete it).

Nothing in site-packages is edited, and importing mmconmim applies none of
these (it only installs the checkpoint trust gate, :mod:`mmconmim.checkpoint`:
a security policy, not a version fix). :func:`apply_compat_fixes` -- called
by mmconmim's runner, tools and benchmarks, and public for users' scripts --
applies each version fix only if a probe shows that the installed upstream
code needs it (:data:`COMPAT_PATCHES`). :func:`applied_patches` lists what
was changed.

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
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch


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
_NEEDED: Optional[Dict[str, bool]] = None  # probe results, first call
_TARGETS: Dict[str, set] = {}  # patch name -> replaced module attributes


def apply_compat_fixes() -> List[dict]:
    """Apply the version fixes that the installed upstream packages need.

    ``import mmconmim`` does not call this (it only registers modules and
    installs the checkpoint gate). :class:`mmconmim.engine.MMConMIMRunner`
    (the runner of mmconmim's configs), mmconmim's tools and benchmarks call
    it; call it in your own scripts that use mmcv's hue jitter under numpy 2
    or resize BEiT relative position tables under SciPy >= 1.14 outside our
    runner. The probes run on the first call; every call points the modules
    loaded since (mmseg, mmdet...) at the fixes too.

    Returns:
        what was changed outside mmconmim (see :func:`applied_patches`).
    """
    global _NEEDED
    if _NEEDED is None:
        needed = {}
        for patch in COMPAT_PATCHES:
            UPSTREAM_ORIGINALS[patch.name] = patch.get_original()
            needed[patch.name] = patch.is_needed()
        _NEEDED = needed
    for patch in COMPAT_PATCHES:
        if _NEEDED[patch.name]:
            _TARGETS.setdefault(patch.name, set()).update(
                _replace_everywhere(patch.packages, patch.name,
                                    UPSTREAM_ORIGINALS[patch.name],
                                    patch.replacement))
    return applied_patches()


#: reporters of changes made outside mmconmim by its higher layers (the
#: checkpoint gate registers one when installed): each returns an item of
#: :func:`applied_patches` or None. Registered from above, so this module --
#: the bottom floor -- imports nothing of mmconmim.
OUTSIDE_CHANGE_REPORTERS: List[Callable[[], Optional[dict]]] = []


def report_outside_change(reporter: Callable[[], Optional[dict]]) -> None:
    """Add ``reporter`` (once) to what :func:`applied_patches` lists."""
    if reporter not in OUTSIDE_CHANGE_REPORTERS:
        OUTSIDE_CHANGE_REPORTERS.append(reporter)


def applied_patches() -> List[dict]:
    """What mmconmim changed outside itself: name, targets and reason of
    each item -- the checkpoint trust gate (``import mmconmim``) and the
    version fixes applied so far (:func:`apply_compat_fixes`)."""
    items = [item for item in (report() for report in
                               OUTSIDE_CHANGE_REPORTERS) if item]
    for patch in COMPAT_PATCHES:
        if _TARGETS.get(patch.name):
            items.append(dict(name=patch.name,
                              targets=sorted(_TARGETS[patch.name]),
                              reason=patch.reason))
    return items
