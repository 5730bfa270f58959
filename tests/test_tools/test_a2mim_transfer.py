"""A2MIM checkpoints transfer: exported ResNet-50 weights have torchvision's
layout and load, with no missing key, into mmpretrain's plain ResNet-50 and
into the backbones of our mmdet Mask R-CNN and mmseg UperNet configs; ViT-B
weights load into a 512-px BEiTViT as the ADE20K config builds it."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401  (registration + safe checkpoint loader)
from tests.fixtures.helpers import REPO_ROOT, run_tool

A2MIM_ONLY = {'mask_token', 'mask_gamma'}
BENCHMARKS = osp.join(REPO_ROOT, 'configs/a2mim/benchmarks')


def randomised_state(model, seed):
    """The model's state with every tensor (buffers too) redrawn, so that
    equality after loading proves that each key was loaded."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=gen)
        else:
            state[key] = torch.randint(1, 1000, value.shape, generator=gen)
    return state


@pytest.fixture(scope='module')
def resnet50_checkpoint(tmp_path_factory):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        REPO_ROOT, 'configs/a2mim/a2mim_resnet50_8xb256-coslr-300e_in1k.py'))
    state = randomised_state(MODELS.build(cfg.model), seed=1)
    path = str(tmp_path_factory.mktemp('a2mim_r50') / 'epoch_300.pth')
    # Shaped like a runner checkpoint (meta with numpy objects included).
    import numpy as np
    torch.save(dict(state_dict=state, meta=dict(epoch=300, seed=np.int64(0)),
                    message_hub=dict()), path)
    return path, state


def backbone_part(state):
    return {k[len('backbone.'):]: v for k, v in state.items()
            if k.startswith('backbone.')
            and k[len('backbone.'):] not in A2MIM_ONLY}


def assert_loaded(backbone, expected):
    loaded = backbone.state_dict()
    assert set(loaded) == set(expected), (
        f'missing: {sorted(set(loaded) - set(expected))[:5]}, '
        f'extra: {sorted(set(expected) - set(loaded))[:5]}')
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_exporter_writes_torchvision_resnet50_keys(resnet50_checkpoint,
                                                   tmp_path):
    import torchvision
    ckpt, state = resnet50_checkpoint
    out = str(tmp_path / 'r50_backbone.pth')
    run_tool(['tools/model_converters/export_backbone.py', ckpt, out,
              '--no-prefix'])
    exported = torch.load(out, weights_only=True)['state_dict']
    reference = torchvision.models.resnet50().state_dict()
    assert set(exported) == {k for k in reference if not k.startswith('fc.')}
    for key, value in exported.items():
        assert value.shape == reference[key].shape, key
        assert torch.equal(value, state['backbone.' + key])


def test_exporter_keeps_the_prefix_by_default(resnet50_checkpoint):
    from mmconmim.checkpoint.layout import extract_backbone
    _, state = resnet50_checkpoint
    exported, source, dropped = extract_backbone(state)
    assert source == 'student'  # A2MIM has no teacher
    assert sorted(dropped) == sorted(
        k for k in A2MIM_ONLY if 'backbone.' + k in state)
    assert set(exported) == {
        k for k in state
        if k.startswith('backbone.') and k.split('.', 1)[1] not in A2MIM_ONLY
    }
    with pytest.raises(KeyError, match='no backbone'):
        extract_backbone({'neck.decoder.0.weight': torch.zeros(1)})


def test_resnet50_loads_into_plain_mmpretrain_resnet50(resnet50_checkpoint):
    ckpt, state = resnet50_checkpoint
    backbone = MODELS.build(dict(
        type='ResNet', depth=50, init_cfg=dict(
            type='Pretrained', checkpoint=ckpt, prefix='backbone.')))
    backbone.init_weights()
    assert_loaded(backbone, backbone_part(state))


def bn_instead_of_syncbn(cfg):
    if isinstance(cfg, dict):
        return {k: ('BN' if k == 'type' and v == 'SyncBN' else
                    bn_instead_of_syncbn(v)) for k, v in cfg.items()}
    return cfg


@pytest.mark.parametrize('config,scope', [
    ('mask-rcnn_r50_fpn_a2mim-pre_8xb2-ms-2x_coco.py', 'mmdet'),
    ('upernet_r50_a2mim-pre_4xb4-160k_ade20k-512x512.py', 'mmseg'),
])
def test_resnet50_loads_into_the_transfer_configs(resnet50_checkpoint,
                                                  config, scope):
    ckpt, state = resnet50_checkpoint
    cfg = Config.fromfile(osp.join(BENCHMARKS, config))
    init_cfg = cfg.model.backbone.init_cfg
    assert (init_cfg.type, init_cfg.prefix) == ('Pretrained', 'backbone.')
    backbone_cfg = bn_instead_of_syncbn(cfg.model.backbone.to_dict())
    backbone_cfg['init_cfg']['checkpoint'] = ckpt
    if scope == 'mmdet':
        import mmdet.models  # noqa: F401
        from mmdet.registry import MODELS as SCOPE_MODELS
    else:
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS as SCOPE_MODELS
        assert cfg.model.pretrained is None
    init_default_scope(scope)
    backbone = SCOPE_MODELS.build(backbone_cfg)
    assert not getattr(backbone, 'deep_stem', False)
    backbone.init_weights()
    assert_loaded(backbone, backbone_part(state))


def test_vit_base_loads_into_the_ade20k_config_at_512(tmp_path):
    """The shipped ADE20K child config's backbone (mmpretrain BEiTViT at
    512 px, absolute position embedding on) takes a 224-px A2MIM ViT-B
    checkpoint: position embedding and relative position tables are resized
    (14x14 -> 32x32 tokens), every other tensor is copied unchanged."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        REPO_ROOT,
        'configs/a2mim/a2mim_vit-base-p16_8xb128-accu2-steplr-800e_in1k.py'))
    state = randomised_state(MODELS.build(cfg.model), seed=2)
    ckpt = str(tmp_path / 'vit.pth')
    torch.save(dict(state_dict=state), ckpt)

    seg_cfg = Config.fromfile(osp.join(
        BENCHMARKS, 'upernet_vit-base-p16_a2mim-pre_8xb2-160k_ade20k-512x512.py'))
    backbone_cfg = seg_cfg.model.backbone.to_dict()
    backbone_cfg['init_cfg']['checkpoint'] = ckpt
    import mmseg.models  # noqa: F401
    from mmseg.registry import MODELS as SEG_MODELS
    init_default_scope('mmseg')
    backbone = SEG_MODELS.build(backbone_cfg)
    backbone.init_weights()
    loaded = backbone.state_dict()
    expected = backbone_part(state)
    # The pre-training final norm is the only key segmentation does not use.
    assert set(expected) - set(loaded) == {'ln1.weight', 'ln1.bias'}
    resized = {'pos_embed'} | {k for k in expected
                               if k.endswith('relative_position_bias_table')}
    assert loaded['pos_embed'].shape == (1, 32 * 32 + 1, 768)
    assert loaded['layers.0.attn.relative_position_bias_table'].shape == (
        63 * 63 + 3, 12)
    for key, value in expected.items():
        if key in loaded and key not in resized and not key.endswith(
                'relative_position_index'):
            assert torch.equal(loaded[key], value), key
    # the cls-token rows of each table are carried over, not interpolated
    torch.testing.assert_close(
        loaded['layers.0.attn.relative_position_bias_table'][-3:],
        expected['layers.0.attn.relative_position_bias_table'][-3:])
