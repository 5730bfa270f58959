"""ConMIM views and masks: shared geometry, asymmetric photometrics, exact
mask counts, clear errors for bad geometry."""
import copy
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT
from mmconmim.datasets import BlockMaskGenerator, UnitMaskGenerator

DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')


def pipeline_without_loading(photometric=True):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(DEMO)
    steps = copy.deepcopy(cfg.train_pipeline[1:])  # images are given
    for step in steps:
        if step['type'] == 'MultiView' and not photometric:
            step['transforms'] = [[], []]
    return Compose(steps)


def coordinate_image(h=96, w=128):
    """B channel = x, G channel = 2 * y, R channel = 200 (uint8, BGR)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx, 2 * yy, np.full_like(xx, 200)],
                    axis=-1).astype(np.uint8)


def run(pipeline, img, seed):
    np.random.seed(seed)
    import random
    random.seed(seed)
    out = pipeline(dict(img=img.copy(), img_shape=img.shape[:2],
                        ori_shape=img.shape[:2]))
    student, teacher = (v.numpy().transpose(1, 2, 0) for v in out['inputs'])
    return student, teacher, out['data_samples'].mask


def test_views_share_crop_and_flip_exactly():
    pipeline = pipeline_without_loading(photometric=False)
    img = coordinate_image()
    flips = set()
    for seed in range(25):
        student, teacher, _ = run(pipeline, img, seed)
        assert student.shape == (64, 64, 3)
        np.testing.assert_array_equal(student, teacher)
        x = student[..., 0].astype(int)
        y = student[..., 1].astype(int)
        dx = np.diff(x, axis=1)
        # One flip decision per image: x runs one way in every row.
        assert (dx >= 0).all() or (dx <= 0).all()
        flips.add(bool((dx <= 0).all() and (dx < 0).any()))
        assert (np.diff(y, axis=0) >= 0).all()
        # A crop of the image, not a re-scan of all of it.
        assert 0 <= x.min() and x.max() <= 127 and y.max() <= 190
    assert flips == {True, False}


def test_only_the_teacher_view_gets_photometric_augmentation():
    """With the same seed, geometry is drawn first: the student view must be
    identical with and without the photometric ops, the teacher's not."""
    plain = pipeline_without_loading(photometric=False)
    strong = pipeline_without_loading(photometric=True)
    img = coordinate_image()
    teacher_changed = 0
    for seed in range(20):
        s_plain, t_plain, m_plain = run(plain, img, seed)
        s_strong, t_strong, _ = run(strong, img, seed)
        np.testing.assert_array_equal(s_plain, s_strong)
        teacher_changed += int(not np.array_equal(t_plain, t_strong))
    # ColorJitter alone fires with p=0.8.
    assert teacher_changed >= 10


def test_unit_mask_generator_random_mps32_counts():
    gen = UnitMaskGenerator(input_size=224, mask_patch_size=32,
                            model_patch_size=16, mask_ratio=0.75)
    np.random.seed(0)
    seen = np.zeros((14, 14))
    for _ in range(50):
        mask = gen(dict())['mask']
        assert mask.shape == (14, 14)
        assert mask.sum() == 148  # ceil(49 * 0.75) = 37 units x 4 patches
        units = mask.reshape(7, 2, 7, 2)
        # every 32-px unit is either fully masked or fully visible
        assert (units.min(axis=(1, 3)) == units.max(axis=(1, 3))).all()
        seen += mask
    assert (seen > 0).all()  # every position gets masked sometimes


@pytest.mark.parametrize('args,expected', [
    (dict(input_size=32, mask_patch_size=8, model_patch_size=4,
          mask_ratio=0.6), (8, 4 * 10)),  # ceil(16 * 0.6) = 10 units
    (dict(input_size=64, mask_patch_size=16, model_patch_size=8,
          mask_ratio=0.75), (8, 4 * 12)),
    (dict(input_size=48, mask_patch_size=16, model_patch_size=16,
          mask_ratio=0.5), (3, 5)),  # ceil(9 * 0.5) = 5
])
def test_unit_mask_generator_other_sizes(args, expected):
    grid, count = expected
    mask = UnitMaskGenerator(**args)(dict())['mask']
    assert mask.shape == (grid, grid)
    assert mask.sum() == count


@pytest.mark.parametrize('args,field', [
    (dict(input_size=225), 'input_size 225 is not divisible'),
    (dict(input_size=224, mask_patch_size=32, model_patch_size=12),
     'mask_patch_size 32 is not divisible by model_patch_size 12'),
    (dict(mask_ratio=0.), 'mask_ratio'),
    (dict(mask_ratio=1.), 'mask_ratio'),
    (dict(mask_ratio=1.5), 'mask_ratio'),
    (dict(input_size=0), 'input_size'),
])
def test_unit_mask_generator_rejects_bad_geometry(args, field):
    with pytest.raises(ValueError, match=field):
        UnitMaskGenerator(**args)


def test_block_mask_generator_exact_count():
    gen = BlockMaskGenerator(input_size=(14, 14), num_masking_patches=75,
                             min_num_patches=16)
    np.random.seed(0)
    for _ in range(20):
        mask = gen(dict())['mask']
        assert mask.shape == (14, 14) and mask.sum() == 75
    small = BlockMaskGenerator(input_size=4, num_masking_patches=6,
                               min_num_patches=2)
    for _ in range(20):
        assert small(dict())['mask'].sum() == 6


@pytest.mark.parametrize('args,field', [
    (dict(input_size=4, num_masking_patches=16), 'num_masking_patches'),
    (dict(input_size=4, num_masking_patches=6, min_num_patches=10),
     'min_num_patches'),
    (dict(input_size=2, num_masking_patches=3, min_num_patches=2),
     'no block'),
    (dict(input_size=14, num_masking_patches=75, min_aspect=0.),
     'min_aspect'),
])
def test_block_mask_generator_rejects_bad_geometry(args, field):
    with pytest.raises(ValueError, match=field):
        BlockMaskGenerator(**args)
