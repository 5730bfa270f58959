"""A ViT whose patch size, absolute position embedding or input size does
not fit its checkpoint, neck or pipelines fails before training, with both
values and the fix in the message (not a shape error inside attention)."""
import pytest
import torch
from mmengine.registry import init_default_scope

import mmconmim  # noqa: F401
from mmconmim.engine.hooks.vit_geometry_check_hook import (
    ViTGeometryError, check_checkpoint_geometry, check_input_size,
    vit_geometry)


def beit(patch=8, img=32, abs_pos=True):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(dict(
        type='BEiTViT',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=img, patch_size=patch, use_abs_pos_emb=abs_pos,
        use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
        out_type='featmap'))


def test_geometry_of_a_beit_vit():
    geometry = vit_geometry(beit(patch=8, img=32, abs_pos=True))
    assert geometry == dict(patch=(8, 8), grid=(4, 4), img_size=(32, 32),
                            fixed_grid=True, abs_pos_emb=True)
    assert not vit_geometry(beit(abs_pos=False))['abs_pos_emb']
    assert vit_geometry(torch.nn.Linear(2, 2)) is None  # not a ViT


def test_checkpoint_of_the_same_geometry_passes():
    model = beit()
    check_checkpoint_geometry(model.state_dict(), vit_geometry(model), 'x')


def test_checkpoint_with_another_patch_size_is_refused():
    state = beit(patch=16, img=32).state_dict()
    with pytest.raises(ViTGeometryError) as info:
        check_checkpoint_geometry(state, vit_geometry(beit(patch=8)),
                                  "checkpoint 'b.pth'")
    message = str(info.value)
    assert "checkpoint 'b.pth'" in message
    assert '16-px patches' in message and 'patch_size is 8' in message
    assert 'Set model.backbone.patch_size=16' in message


def test_position_embedding_mismatch_is_refused_both_ways():
    with_pos = beit(abs_pos=True).state_dict()
    without_pos = beit(abs_pos=False).state_dict()
    with pytest.raises(ViTGeometryError,
                       match=r'has an absolute position embedding \(pos_embed'
                       r' \(1, 17, 32\)\).*use_abs_pos_emb=False.*Set '
                       r'model.backbone.use_abs_pos_emb=True'):
        check_checkpoint_geometry(with_pos, vit_geometry(beit(abs_pos=False)),
                                  'x')
    with pytest.raises(ViTGeometryError,
                       match=r'no absolute position embedding.*'
                       r'use_abs_pos_emb=True.*Set model.backbone.'
                       r'use_abs_pos_emb=False'):
        check_checkpoint_geometry(without_pos,
                                  vit_geometry(beit(abs_pos=True)), 'x')


def test_input_size_must_be_the_token_grid_of_a_fixed_grid_vit():
    model = beit(patch=8, img=64)
    geometry = vit_geometry(model)
    check_input_size((64, 64), geometry, 'the val pipeline')
    with pytest.raises(ViTGeometryError) as info:
        check_input_size((1024, 1024), geometry, 'the val pipeline')
    message = str(info.value)
    assert 'the val pipeline gives the backbone 1024x1024 inputs' in message
    assert 'built for 64x64' in message and '8x8 token grid' in message
    assert 'model.backbone.img_size=(1024, 1024)' in message
    # and that is indeed what the attention cannot take
    with pytest.raises(RuntimeError, match='must match'):
        model(torch.zeros(1, 3, 128, 128))
