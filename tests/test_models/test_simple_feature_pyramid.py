"""ViTDet's simple feature pyramid: output strides for 16- and 8-px patches,
and the warning when the patch is not 16."""
import warnings

import pytest
import torch

from mmconmim.models.necks import SimpleFeaturePyramid


@pytest.mark.parametrize('patch, factors, strides', [
    (16, (4.0, 2.0, 1.0, 0.5), (4, 8, 16, 32, 64)),
    (8, (2.0, 1.0, 0.5, 0.25), (4, 8, 16, 32, 64)),
    (8, (4.0, 2.0, 1.0, 0.5), (2, 4, 8, 16, 32)),
])
def test_output_maps_have_the_reported_strides(patch, factors, strides):
    image = 128
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        neck = SimpleFeaturePyramid(in_channels=16, out_channels=8,
                                    scale_factors=factors, num_outs=5,
                                    patch_size=patch)
    assert neck.out_strides == strides
    featmap = torch.randn(1, 16, image // patch, image // patch)
    outs = neck((featmap, ))
    # the stride of a map is the image side over the map side
    assert tuple(image // o.shape[-1] for o in outs) == strides
    assert all(o.shape[1] == 8 for o in outs)


def test_quarter_scale_is_a_4x4_max_pool():
    neck = SimpleFeaturePyramid(in_channels=4, out_channels=4,
                                scale_factors=(1.0, 0.25), num_outs=2)
    pool = neck.stages[1][0]
    x = torch.arange(64.).reshape(1, 1, 8, 8).repeat(1, 4, 1, 1)
    expected = torch.tensor([[27., 31.], [59., 63.]])  # max of each 4x4
    assert torch.equal(pool(x)[0, 0], expected)


def test_warns_when_the_patch_is_not_16():
    with pytest.warns(UserWarning) as record:
        SimpleFeaturePyramid(in_channels=16, scale_factors=(4.0, 2.0, 1.0,
                                                            0.5),
                             patch_size=8)
    message = str(record[0].message)
    assert 'patch_size=8' in message and '(2, 4, 8, 16, 32)' in message
    assert '(2, 1, 0.5, 0.25)' in message  # the fix for 8-px patches
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        SimpleFeaturePyramid(in_channels=16)  # 16-px patches: silent


def test_unsupported_scale_is_refused():
    with pytest.raises(ValueError, match='unsupported scale factor 3'):
        SimpleFeaturePyramid(in_channels=16, scale_factors=(3.0, ))
