"""Dense mosaics: every pixel's label and value traced back to its crop, the
COCO annotations equal to the tiles, determinism, and bad sources refused."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmconmim.datasets.dense_mosaics import (IGNORE_INDEX,
                                             write_detection_mosaics,
                                             write_segmentation_mosaics)

CLASSES = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu', 'hen', 'ibis',
           'jay']  # 10: a 3x3 grid needs 9 classes


def make_src(root, classes=CLASSES, per_class=2, size=(20, 17)):
    """Random-noise crops (PNG and JPEG) in ``root/<split>/<class>/``; a
    non-square size so that the tile resize really changes each crop."""
    rng = np.random.default_rng(1)
    for split in ('train', 'val'):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size[1], size[0], 3),
                                      dtype=np.uint8)
                suffix = 'png' if i % 2 == 0 else 'jpg'
                Image.fromarray(pixels).save(folder / f'{i}.{suffix}')
    return str(root)


def read(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp('mosaics')
    src = make_src(root / 'src')
    out = str(root / 'out')
    meta = write_detection_mosaics(src, out, tile_size=8, seed=3)
    return src, out, meta


def test_every_pixel_comes_from_its_tile_and_is_labelled_with_its_class(
        built):
    src, out, meta = built
    assert meta['classes'] == CLASSES
    assert len(meta['palette']) == len(CLASSES)
    assert len({tuple(c) for c in meta['palette']}) == len(CLASSES)
    with open(osp.join(out, 'meta.json')) as f:
        assert json.load(f) == meta
    for split, entries in meta['splits'].items():
        # None: about as many tiles as crops (20 crops, 6.5 tiles a mosaic)
        assert len(entries) == 4
        for k, entry in enumerate(entries):
            img = read(osp.join(out, 'img_dir', split, entry['name'] + '.png'))
            label = read(
                osp.join(out, 'ann_dir', split, entry['name'] + '.png'))
            side = 16 if k % 2 == 0 else 24  # grids (2, 2) then (3, 3)
            assert img.shape == (side, side, 3) and label.shape == (side,
                                                                    side)
            assert label.dtype == np.uint8
            covered = np.zeros(label.shape, int)
            names = set()
            for tile in entry['tiles']:
                x0, y0, x1, y1 = tile['box']
                assert (x1 - x0, y1 - y0) == (8, 8)
                # the tile's class is the folder its crop came from, and
                # the crop is from the mosaic's own split
                class_name = osp.basename(osp.dirname(tile['source']))
                assert CLASSES[tile['class']] == class_name
                assert osp.basename(osp.dirname(osp.dirname(
                    tile['source']))) == split
                names.add(class_name)
                expected = Image.open(tile['source']).convert('RGB').resize(
                    (8, 8), Image.BICUBIC)
                np.testing.assert_array_equal(img[y0:y1, x0:x1],
                                              np.asarray(expected))
                assert (label[y0:y1, x0:x1] == tile['class']).all()
                covered[y0:y1, x0:x1] += 1
            assert len(names) == len(entry['tiles'])  # different classes
            assert (covered == 1).all()  # tiles partition the image
            assert (label != IGNORE_INDEX).all()


def test_coco_annotations_equal_the_tiles(built):
    _, out, meta = built
    for split, entries in meta['splits'].items():
        with open(osp.join(out, 'annotations',
                           f'instances_{split}.json')) as f:
            coco = json.load(f)
        assert coco['categories'] == [{'id': i + 1, 'name': n}
                                      for i, n in enumerate(CLASSES)]
        assert len(coco['images']) == len(entries)
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
        for image, entry in zip(coco['images'], entries):
            path = osp.join(out, image['file_name'])
            assert path == osp.join(out, 'img_dir', split,
                                    entry['name'] + '.png')
            h, w = read(path).shape[:2]
            assert (image['height'], image['width']) == (h, w)
            anns = [a for a in coco['annotations']
                    if a['image_id'] == image['id']]
            assert len(anns) == len(entry['tiles'])
            for ann, tile in zip(anns, entry['tiles']):
                x0, y0, x1, y1 = tile['box']
                assert ann['category_id'] == tile['class'] + 1
                assert ann['bbox'] == [x0, y0, 8, 8]
                assert ann['area'] == 64 and ann['iscrowd'] == 0
                # the polygon's corners are the box's corners
                poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
                assert {tuple(p) for p in poly} == {
                    (x0, y0), (x1, y0), (x1, y1), (x0, y1)}


def test_mmdet_reads_the_coco_json_as_the_tiles(built):
    """The annotations go through mmdet's own COCO reader unchanged."""
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    _, out, meta = built
    dataset = CocoDataset(
        data_root=out, ann_file='annotations/instances_val.json',
        data_prefix=dict(img=''), metainfo=dict(classes=tuple(CLASSES)),
        test_mode=True, pipeline=[], backend_args=None)
    assert len(dataset) == len(meta['splits']['val'])
    for i, entry in enumerate(meta['splits']['val']):
        info = dataset.get_data_info(i)
        assert info['img_path'] == osp.join(out, 'img_dir', 'val',
                                            entry['name'] + '.png')
        assert [inst['bbox'] for inst in info['instances']] == [
            t['box'] for t in entry['tiles']]
        assert [inst['bbox_label'] for inst in info['instances']] == [
            t['class'] for t in entry['tiles']]


def test_same_seed_same_mosaics_other_seed_others(tmp_path):
    src = make_src(tmp_path / 'src')
    a = write_segmentation_mosaics(src, str(tmp_path / 'a'), seed=0,
                                   num_per_split=4, grids=((2, 2), ),
                                   tile_size=4)
    b = write_segmentation_mosaics(src, str(tmp_path / 'b'), seed=0,
                                   num_per_split=4, grids=((2, 2), ),
                                   tile_size=4)
    c = write_segmentation_mosaics(src, str(tmp_path / 'c'), seed=1,
                                   num_per_split=4, grids=((2, 2), ),
                                   tile_size=4)
    assert a == b and a != c
    for name in ('0000', '0003'):
        for sub in ('img_dir', 'ann_dir'):
            np.testing.assert_array_equal(
                read(tmp_path / 'a' / sub / 'train' / f'{name}.png'),
                read(tmp_path / 'b' / sub / 'train' / f'{name}.png'))
    # a rebuild into the same folder leaves no stale mosaic behind
    write_segmentation_mosaics(src, str(tmp_path / 'a'), num_per_split=2,
                               grids=((2, 2), ), tile_size=4)
    assert not (tmp_path / 'a' / 'img_dir' / 'train' / '0003.png').exists()


def test_num_per_split_per_split(tmp_path):
    src = make_src(tmp_path / 'src')
    meta = write_segmentation_mosaics(
        src, str(tmp_path / 'out'), num_per_split=dict(train=5, val=2),
        grids=((1, 2), ), tile_size=4)
    assert [len(meta['splits'][s]) for s in ('train', 'val')] == [5, 2]
    assert meta['splits']['train'][0]['tiles'][1]['box'] == [4, 0, 8, 4]


@pytest.mark.parametrize('setup, kwargs, error, words', [
    ('missing', {}, FileNotFoundError, 'no split folder'),
    ('no_val', {}, FileNotFoundError, "val'"),
    ('empty_class', {}, FileNotFoundError, 'holds no'),
    ('files_only', {}, FileNotFoundError, 'no class sub-folder'),
    ('ok', dict(grids=((4, 3), )), ValueError, '12 different classes'),
    ('ok', dict(grids=((1, 1), )), ValueError, 'grids'),
    ('ok', dict(tile_size=1), ValueError, 'tile_size'),
    ('ok', dict(num_per_split=0), ValueError, 'num_per_split'),
    ('ok', dict(num_per_split=dict(train=1)), ValueError, "['train', 'val']"),
    ('ok', dict(splits='train'), ValueError, 'splits'),
])
def test_bad_sources_and_arguments_are_refused(tmp_path, setup, kwargs,
                                               error, words):
    src = tmp_path / 'src'
    if setup != 'missing':
        make_src(src)
    if setup == 'no_val':
        for path in sorted((src / 'val').rglob('*'), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (src / 'val').rmdir()
    elif setup == 'empty_class':
        (src / 'train' / 'kiwi').mkdir()
    elif setup == 'files_only':
        for path in sorted((src / 'val').rglob('*'), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        Image.new('RGB', (4, 4)).save(src / 'val' / 'stray.png')
    with pytest.raises(error, match=None) as info:
        write_segmentation_mosaics(str(src), str(tmp_path / 'out'), **kwargs)
    assert words in str(info.value)
