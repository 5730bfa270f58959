"""The compatibility fixes of mmconmim/utils/compat.py."""
import pickle

import mmcv
import numpy as np
import pytest
import torch
from mmengine.runner import CheckpointLoader
from PIL import Image

import mmconmim  # noqa: F401
from mmconmim.checkpoint import (TRUST_ENV_VAR, UnsafeCheckpointError,
                                 safe_torch_load)
from mmconmim.utils.compat import (geometric_coords,
                                   resize_relative_position_bias_table)


@pytest.mark.parametrize('hue', [-0.5, -0.1, 0.1, 0.5])
@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_adjust_hue_works_under_numpy2_and_shifts_hue(hue, backend):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)  # BGR
    out = mmcv.adjust_hue(img, hue, backend=backend)
    assert out.shape == img.shape and out.dtype == np.uint8
    if backend == 'pillow':
        # independent expectation: Pillow's HSV with the hue channel shifted
        # by trunc(hue * 255) modulo 256
        hsv = np.asarray(Image.fromarray(img[..., ::-1]).convert('HSV'),
                         dtype=np.int64).copy()
        hsv[..., 0] = (hsv[..., 0] + int(hue * 255)) % 256
        expected = np.asarray(
            Image.fromarray(hsv.astype(np.uint8), 'HSV').convert('RGB'))
        np.testing.assert_array_equal(out, expected[..., ::-1])


def test_adjust_hue_inverse_shifts_cancel():
    img = np.random.default_rng(1).integers(0, 256, (16, 16, 3),
                                            dtype=np.uint8)
    there = mmcv.adjust_hue(img, 0.2, backend='cv2')
    back = mmcv.adjust_hue(there, -0.2, backend='cv2')
    # HSV round trips quantise a little; the shifts themselves cancel
    assert np.abs(back.astype(int) - img).mean() < 3


def test_rel_pos_table_resize_reproduces_a_linear_function():
    """Cubic splines reproduce linear functions exactly, so resizing the
    table of f(dx, dy) = 2 dx + 3 dy + 1 must give f on the new grid; the
    different coefficients catch a transposed grid."""
    src, dst = 27, 63
    c = geometric_coords(src, dst)
    yy, xx = np.meshgrid(c, c, indexing='ij')
    z = 2 * xx + 3 * yy + 1
    table = torch.tensor(np.stack([z.ravel(), -z.ravel()], -1),
                         dtype=torch.float32)
    out = resize_relative_position_bias_table(src, dst, table, 2)
    t = dst // 2
    ny, nx = np.meshgrid(np.arange(-t, t + 1.), np.arange(-t, t + 1.),
                         indexing='ij')
    expected = 2 * nx + 3 * ny + 1
    assert out.shape == (dst * dst, 2)
    np.testing.assert_allclose(out[:, 0].numpy().reshape(dst, dst), expected,
                               atol=1e-4)
    np.testing.assert_allclose(out[:, 1].numpy().reshape(dst, dst),
                               -expected, atol=1e-4)


def test_beit_vit_loads_a_table_trained_at_another_resolution():
    from mmpretrain.models import BEiTViT
    arch = dict(embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64)
    src = BEiTViT(arch=arch, img_size=32, patch_size=8,
                  use_rel_pos_bias=False, use_shared_rel_pos_bias=True)
    with torch.no_grad():
        src.rel_pos_bias.relative_position_bias_table.normal_()
    dst = BEiTViT(arch=arch, img_size=64, patch_size=8,
                  use_rel_pos_bias=True, use_shared_rel_pos_bias=False)
    dst.load_state_dict(src.state_dict(), strict=False)
    table = dst.layers[0].attn.relative_position_bias_table
    assert table.shape == ((2 * 8 - 1)**2 + 3, 2)
    # the 3 extra rows (cls<->token) are copied, not interpolated
    torch.testing.assert_close(
        table[-3:], src.rel_pos_bias.relative_position_bias_table[-3:])


class Payload:
    """Any class outside the allow-list."""

    def __init__(self):
        self.x = 1


def test_runner_checkpoint_loader_refuses_unexpected_pickled_objects(
        tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'extra': Payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert 'test_compat.Payload' in str(err.value)
    assert TRUST_ENV_VAR in str(err.value)
    # trusting the file explicitly loads it
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    with pytest.warns(UserWarning, match='outside the allow-list'):
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert isinstance(ckpt['extra'], Payload)


def test_history_buffer_getattr_is_the_only_getattr_allowed(tmp_path,
                                                            monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)

    class Sneaky:
        def __reduce__(self):
            return (getattr, (np.ndarray, 'tofile'))

    path = str(tmp_path / 'getattr.pth')
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(path)


def test_runner_checkpoint_with_history_buffers_loads_safely(tmp_path):
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub('compat_test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(0.5))
    path = str(tmp_path / 'runner.pth')
    torch.save({'message_hub': hub.state_dict(),
                'meta': {'seed': np.int64(3), 'iter': 4},
                'state_dict': {'w': torch.zeros(1)}}, path)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(1.0)
    assert ckpt['meta']['seed'] == 3


# --------------------------------------------------------------------------
# Each version fix is applied exactly when upstream needs it, and is needed
# on the pinned stack (these fail if the fix is removed)
# --------------------------------------------------------------------------
def _reference_hue_shift_cv2(img, hue):
    """Independent expectation: OpenCV's full-range HSV with the hue channel
    shifted by trunc(hue * 255) modulo 256."""
    import cv2
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).astype(np.int64)
    hsv[..., 0] = (hsv[..., 0] + int(hue * 255)) % 256
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR_FULL)


def test_adjust_hue_fix_is_applied_exactly_when_upstream_is_broken():
    import mmcv.image.photometric as photometric
    from mmconmim.utils import compat
    upstream = compat.UPSTREAM_ORIGINALS['adjust_hue']
    assert upstream.__module__ == 'mmcv.image.photometric'
    img = np.random.default_rng(3).integers(0, 256, (8, 8, 3),
                                            dtype=np.uint8)
    expected = _reference_hue_shift_cv2(img, -0.1)
    try:
        broken = not np.array_equal(upstream(img, -0.1, backend='cv2'),
                                    expected)
    except OverflowError:
        broken = True
    patched = mmcv.adjust_hue is compat.adjust_hue
    assert patched == broken
    assert (photometric.adjust_hue is compat.adjust_hue) == broken
    np.testing.assert_array_equal(mmcv.adjust_hue(img, -0.1, backend='cv2'),
                                  expected)
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0' and \
            mmcv.__version__ == '2.1.0':
        assert broken  # the pinned stack needs the fix


def test_rel_pos_resize_fix_is_applied_exactly_when_upstream_is_broken():
    import scipy
    from mmpretrain.models.backbones import beit
    from mmpretrain.models.utils import embed

    from mmconmim.utils import compat
    upstream = compat.UPSTREAM_ORIGINALS['resize_relative_position_bias_table']
    assert upstream.__module__ == 'mmpretrain.models.utils.embed'
    table = torch.arange(9.).view(9, 1)
    try:
        upstream(3, 5, table, 1)
        broken = False
    except NotImplementedError:  # interp2d is gone
        broken = True
    ours = compat.resize_relative_position_bias_table
    assert (embed.resize_relative_position_bias_table is ours) == broken
    assert (beit.resize_relative_position_bias_table is ours) == broken
    if tuple(int(v) for v in scipy.__version__.split('.')[:2]) >= (1, 14):
        assert broken  # the pinned stack needs the fix


def test_upstream_local_loader_cannot_read_runner_checkpoints(tmp_path):
    """Why the local scheme is replaced on torch >= 2.6: mmengine's loader
    calls torch.load without weights_only, which now means True and rejects
    the HistoryBuffer of every runner checkpoint; ours reads it."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import load_from_local as upstream
    from mmengine.utils import digit_version
    hub = MessageHub('compat_upstream')
    hub.update_scalar('train/loss', 1.0)
    path = str(tmp_path / 'runner.pth')
    torch.save({'message_hub': hub.state_dict(),
                'state_dict': {'w': torch.zeros(1)}}, path)
    if digit_version(torch.__version__) >= digit_version('2.6.0'):
        with pytest.raises(pickle.UnpicklingError):
            upstream(path, map_location='cpu')
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() == 1.0
