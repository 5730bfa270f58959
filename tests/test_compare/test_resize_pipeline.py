"""The comparison's pipeline at small sizes keeps a recipe's blur the same
relative to the image: hand-computed sigmas for the published recipes, the
image-space reason (blurring at 224 px then shrinking ~ shrinking then
blurring with the scaled sigma), and clear errors where no crop size says
how to scale."""
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image, ImageFilter

from mmconmim.compare import configs
from mmconmim.compare.catalogue import CompareError


def _blurs(pipeline):
    return [s for s in configs._steps(pipeline) if s['type'] == 'GaussianBlur']


@pytest.mark.parametrize('method,kind,img,expected', [
    # MoCo v3 (BYOL's views): view 1 always blurs, view 2 with p = 0.1;
    # 0.1-2.0 px at 224 px
    ('mocov3', 'vit', 64, [(0.1 * 64 / 224, 2.0 * 64 / 224)] * 2),
    ('mocov3', 'cnn', 32, [(0.1 / 7, 2.0 / 7)] * 2),
    # ConMIM's teacher view (BYOL view 2)
    ('conmim', 'vit', 64, [(0.1 * 64 / 224, 2.0 * 64 / 224)]),
    ('conmim', 'vit', 224, [(0.1, 2.0)]),          # the recipe's own size
    ('mae', 'vit', 64, []),                        # no blur to scale
])
def test_blur_sigma_scales_with_the_crop(method, kind, img, expected):
    recipe = Config.fromfile(configs.recipe_file(method, kind))
    pipeline = recipe.train_dataloader.dataset.pipeline
    out = configs.resize_pipeline(pipeline, img, 16, 8)
    got = [b['magnitude_range'] for b in _blurs(out)]
    assert got == [pytest.approx(e) for e in expected]
    # the recipe itself is left as published
    assert [tuple(b['magnitude_range']) for b in _blurs(pipeline)] == \
        [(0.1, 2.0)] * len(expected)
    assert [b['prob'] for b in _blurs(out)] == \
        [b['prob'] for b in _blurs(pipeline)]


def test_fixed_radius_scales_too():
    pipeline = [dict(type='RandomResizedCrop', scale=(128, 128)),
                dict(type='GaussianBlur', radius=3.0, prob=1.0)]
    out = configs.resize_pipeline(pipeline, 32, 16, 8)
    assert out[1]['radius'] == pytest.approx(0.75)
    assert out[0]['scale'] == 32


def test_scaled_blur_matches_the_recipes_blur_at_the_recipes_size():
    """Why the sigma scales: a 224-px crop blurred with the recipe's
    largest sigma (2 px) and shrunk to 64 px looks like the 64-px crop
    blurred with the sigma resize_pipeline gives, and nothing like it
    blurred with 2 px."""
    recipe_cfg = Config.fromfile(configs.recipe_file('mocov3', 'vit'))
    resized = configs.resize_pipeline(
        recipe_cfg.train_dataloader.dataset.pipeline, 64, 16, 8)
    sigma_64 = _blurs(resized)[0]['magnitude_range'][1]
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    big = Image.fromarray(coarse).resize((224, 224), Image.BICUBIC)

    def small(im):
        return np.asarray(im.resize((64, 64), Image.BOX), dtype=float)

    recipe = small(big.filter(ImageFilter.GaussianBlur(2.0)))
    shrunk = big.resize((64, 64), Image.BOX)
    scaled = np.asarray(shrunk.filter(ImageFilter.GaussianBlur(sigma_64)),
                        dtype=float)
    unscaled = np.asarray(shrunk.filter(ImageFilter.GaussianBlur(2.0)),
                          dtype=float)
    err_scaled = np.abs(scaled - recipe).mean()
    err_unscaled = np.abs(unscaled - recipe).mean()
    assert err_scaled < err_unscaled / 3, (err_scaled, err_unscaled)


def test_blur_without_one_crop_size_is_refused():
    blur = dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), prob=1.0)
    with pytest.raises(CompareError, match='no.*RandomResizedCrop'):
        configs.resize_pipeline([blur], 64, 16, 8)
    two_sizes = [[dict(type='RandomResizedCrop', scale=224), blur],
                 [dict(type='RandomResizedCrop', scale=96), blur]]
    with pytest.raises(CompareError, match=r'\[96, 224\]'):
        configs.resize_pipeline(two_sizes, 64, 16, 8)
    with pytest.raises(CompareError, match='square crop'):
        configs.resize_pipeline(
            [dict(type='RandomResizedCrop', scale=(224, 192)), blur], 64,
            16, 8)
    # without a blur nothing needs the crop size
    plain = [dict(type='RandomFlip', prob=0.5)]
    assert configs.resize_pipeline(plain, 64, 16, 8) == plain
