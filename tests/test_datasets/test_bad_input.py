"""Bad input files: every decodable kind becomes 3-channel uint8 BGR with the
right values; undecodable files raise naming the file, or are skipped,
logged and counted in skip mode; empty folders give a clear error."""
import logging
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from PIL import Image

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT
from mmconmim.datasets.transforms import (RobustLoadImageFromFile,
                                          UnreadableImageError)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def load(path, **kwargs):
    return RobustLoadImageFromFile(**kwargs)(dict(img_path=str(path)))['img']


def test_rgb_png_is_loaded_as_bgr(tmp_path):
    Image.fromarray(RGB).save(tmp_path / 'a.png')
    img = load(tmp_path / 'a.png')
    assert img.shape == (20, 30, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, RGB[..., ::-1])


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = RGB[..., 0]
    Image.fromarray(gray).save(tmp_path / 'g.png')
    img = load(tmp_path / 'g.png')
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], gray)


def test_16bit_images_are_scaled_to_8bit(tmp_path):
    gray16 = RNG.integers(0, 65536, (20, 30)).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / 'g16.png')
    img = load(tmp_path / 'g16.png')
    np.testing.assert_allclose(img[..., 1], gray16 / 257., atol=0.5 + 1e-6)
    rgb16 = RNG.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'c16.png'), rgb16[..., ::-1])  # BGR on disk
    img = load(tmp_path / 'c16.png')
    # within one 8-bit step of value / 257 (Pillow keeps the high byte)
    np.testing.assert_allclose(img, rgb16[..., ::-1] / 257., atol=1.0)


def test_rgba_is_composited_over_the_background(tmp_path):
    alpha = np.zeros((20, 30, 1), np.uint8)
    alpha[:, :10] = 255  # opaque left third, transparent rest
    alpha[:, 10:20] = 128
    Image.fromarray(np.concatenate([RGB, alpha], -1)).save(tmp_path / 'a.png')
    img = load(tmp_path / 'a.png', background=(0, 255, 0))
    np.testing.assert_array_equal(img[:, :10], RGB[:, :10, ::-1])
    np.testing.assert_array_equal(img[:, 20:], np.broadcast_to(
        np.array([0, 255, 0], np.uint8), (20, 10, 3)))  # BGR green
    half = RGB[:, 10:20].astype(float) * 128 / 255 + np.array(
        [0, 255, 0]) * 127 / 255
    np.testing.assert_allclose(img[:, 10:20], half[..., ::-1], atol=0.51)


def test_palette_png_uses_its_palette(tmp_path):
    palette_img = Image.fromarray(RGB).convert('P')
    palette_img.save(tmp_path / 'p.png')
    expected = np.asarray(palette_img.convert('RGB'))
    np.testing.assert_array_equal(load(tmp_path / 'p.png'),
                                  expected[..., ::-1])


def make_bad_files(folder):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(RGB).save(osp.join(folder, 'good.jpg'), quality=95)
    data = open(osp.join(folder, 'good.jpg'), 'rb').read()
    bad = {
        'empty.jpg': b'',
        'truncated.jpg': data[:len(data) // 2],
        'text.png': b'this is not an image',
    }
    for name, payload in bad.items():
        with open(osp.join(folder, name), 'wb') as f:
            f.write(payload)
    return sorted(bad)


@pytest.mark.parametrize('name', ['empty.jpg', 'truncated.jpg', 'text.png'])
def test_undecodable_files_raise_an_error_naming_the_file(tmp_path, name):
    make_bad_files(tmp_path)
    with pytest.raises(UnreadableImageError, match=name):
        load(tmp_path / name)


def test_skip_mode_skips_logs_and_counts(tmp_path, monkeypatch):
    from mmconmim.datasets.transforms import loading
    logged = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, logger=None, level=None:
                        logged.append((level, msg)))
    bad = make_bad_files(tmp_path)
    transform = RobustLoadImageFromFile(on_error='skip')
    for name in bad:
        assert transform(dict(img_path=str(tmp_path / name))) is None
    assert transform(dict(img_path=str(tmp_path / 'good.jpg'))) is not None
    assert transform.num_skipped == 3
    assert len(logged) == 3
    for (level, msg), name in zip(logged, bad):
        assert level == logging.WARNING and name in msg


def test_skip_mode_counts_across_dataloader_workers(tmp_path):
    """Skips in worker processes reach the main process's count; the
    dataset refetches another sample, so batches stay full."""
    init_default_scope('mmpretrain')
    folder = str(tmp_path / 'imgs')
    bad = make_bad_files(folder)
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=folder, with_label=False,
        pipeline=[dict(type='RobustLoadImageFromFile', on_error='skip'),
                  dict(type='Resize', scale=(16, 16)),
                  dict(type='PackInputs')]))
    loader_transform = dataset.pipeline.transforms[0]
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2, collate_fn=default_collate)
    batches = list(loader)
    assert sum(len(b['inputs']) for b in batches) == len(dataset) == 4
    assert loader_transform.num_skipped >= len(bad)


def test_default_mode_stops_the_pipeline_naming_the_file(tmp_path):
    init_default_scope('mmpretrain')
    folder = str(tmp_path / 'imgs')
    make_bad_files(folder)
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py'))
    cfg.train_dataloader.dataset.data_root = folder
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    names = [osp.basename(dataset.get_data_info(i)['img_path'])
             for i in range(len(dataset))]
    with pytest.raises(UnreadableImageError, match='empty.jpg'):
        dataset[names.index('empty.jpg')]


@pytest.mark.parametrize('size', [(10, 12), (3000, 4000)])
def test_tiny_and_huge_images_go_through_the_conmim_pipeline(tmp_path, size):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py'))
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(
        np.uint8)
    path = str(tmp_path / 'x.png')
    Image.fromarray(img).save(path)
    out = Compose(cfg.train_pipeline)(dict(img_path=path))
    student, teacher = out['inputs']
    assert student.shape == teacher.shape == (3, 64, 64)
    assert out['data_samples'].mask.shape == (8, 8)


def test_empty_or_missing_dataset_folders_give_clear_errors(tmp_path):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no images here')
    cfg = dict(type='CustomDataset', with_label=False, pipeline=[])
    with pytest.raises(RuntimeError, match='Found 0 files'):
        DATASETS.build(dict(cfg, data_root=str(empty)))
    with pytest.raises((FileNotFoundError, RuntimeError),
                       match='missing'):
        DATASETS.build(dict(cfg, data_root=str(tmp_path / 'missing')))


def write_blank_png(path, width, height):
    """A valid 8-bit grayscale PNG of zeros, written row by row (a few
    hundred kB on disk whatever the size; nothing is held in memory)."""
    import struct
    import zlib

    def chunk(kind, payload):
        return (struct.pack('>I', len(payload)) + kind + payload +
                struct.pack('>I', zlib.crc32(kind + payload) & 0xffffffff))

    compressor = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte 0 + zero pixels
    idat = b''.join(compressor.compress(row) for _ in range(height))
    idat += compressor.flush()
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0,
                                           0, 0, 0)))
        f.write(chunk(b'IDAT', idat))
        f.write(chunk(b'IEND', b''))


def test_decompression_bomb_png_is_named_or_skipped(tmp_path, monkeypatch):
    """A 20000x10000 PNG (2e8 pixels) is over twice Pillow's default
    MAX_IMAGE_PIXELS: Pillow raises DecompressionBombError (not an OSError)
    at open, before decoding anything."""
    from mmconmim.datasets.transforms import loading
    assert Image.MAX_IMAGE_PIXELS is not None
    assert 20000 * 10000 > 2 * Image.MAX_IMAGE_PIXELS
    path = tmp_path / 'bomb_20000x10000.png'
    write_blank_png(path, 20000, 10000)
    # Pillow alone: an error that does not say which file
    with pytest.raises(Image.DecompressionBombError) as plain:
        Image.open(path)
    assert '20000x10000' not in str(plain.value)
    # the error names the file, the reason and the fix
    with pytest.raises(UnreadableImageError,
                       match=r'bomb_20000x10000\.png.*decompression bomb.*'
                       r'PIL\.Image\.MAX_IMAGE_PIXELS'):
        load(path)

    logged = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, logger=None, level=None:
                        logged.append((level, msg)))
    transform = RobustLoadImageFromFile(on_error='skip')
    assert transform(dict(img_path=str(path))) is None
    assert transform.num_skipped == 1
    assert logged[0][0] == logging.WARNING
    assert 'bomb_20000x10000.png' in logged[0][1]


@pytest.mark.parametrize('value', [float('inf'), float('nan'), -0.1])
def test_non_finite_or_negative_temperatures_are_rejected(value):
    from mmconmim.evaluation.knn import knn_class_scores
    from mmconmim.models.heads.cim_generator import CIMGenerator
    from mmconmim.models.losses import DenoisingContrastLoss
    with pytest.raises(ValueError, match=r'DenoisingContrastLoss: '
                       r'temperature must be > 0 and finite .*'
                       r'model\.head\.loss\.temperature'):
        DenoisingContrastLoss(temperature=value)
    with pytest.raises(ValueError, match=r'CIMGenerator: temperature must '
                       r'be > 0 and finite .*model\.generator\.temperature'):
        CIMGenerator(backbone=dict(), temperature=value)
    feats = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    with pytest.raises(ValueError, match='temperature must be > 0 and '
                       'finite'):
        knn_class_scores(feats, torch.tensor([0, 1, 0, 1]), feats,
                         temperature=value)
