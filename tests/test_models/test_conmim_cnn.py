"""ConMIM with CNN backbones (ConMIMCNN): the loss is ConMIM's intra-image
InfoNCE on the stride-32 grid of the last stage, computed independently here;
the teacher gets no gradient; a tiny run learns; a stride that does not match
the mask unit is refused; exported ResNet-50 weights load into our Mask R-CNN
and UperNet configs."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from tests.fixtures.a2mim_tiny import (data_samples, tiny_convnext,
                                       tiny_resnet, tiny_vit)
from tests.fixtures.helpers import REPO_ROOT, run_tool

TAU = 0.1
CNN_CONFIGS = osp.join(REPO_ROOT, 'configs/conmim/cnn')
BENCHMARKS = osp.join(REPO_ROOT, 'configs/a2mim/benchmarks')


def tiny_conmim_cnn(backbone, in_channels=64, mask_unit=32, seed=0,
                    max_iters=100):
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    torch.manual_seed(seed)
    return MODELS.build(dict(
        type='ConMIMCNN', backbone=backbone, mask_unit=mask_unit,
        neck=dict(type='NonLinearNeck', in_channels=in_channels,
                  hid_channels=96, out_channels=32, num_layers=3,
                  with_bias=False, with_last_bn=True,
                  with_last_bn_affine=False, with_avg_pool=False,
                  norm_cfg=dict(type='BN1d')),
        head=dict(type='MIMHead',
                  loss=dict(type='DenoisingContrastLoss', temperature=TAU))))


def structured_views(batch, height, width, seed=0):
    """Smooth images (a weak view) and a photometric change of them."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, 3, 6, 6, generator=gen)
    img = F.interpolate(coarse, size=(height, width), mode='bilinear',
                        align_corners=False)
    img = img + 0.1 * torch.randn(img.shape, generator=gen)
    return img, 0.8 * img + 0.1


def random_masks(batch, grid_h, grid_w, count, gen):
    masks = torch.zeros(batch, grid_h * grid_w, dtype=torch.bool)
    for b in range(batch):
        masks[b, torch.randperm(grid_h * grid_w, generator=gen)[:count]] = 1
    return masks.view(batch, grid_h, grid_w)


def reference_loss(model, student_view, teacher_view, mask):
    """Eq. 3 written out: mean-fill each masked 32-px unit by a loop, the
    mask token at the stride-16 stage by nearest upsampling, the last feature
    map read position by position, and the InfoNCE of every masked position
    against the teacher positions of its own image in float64."""
    B, _, H, W = student_view.shape
    filled = student_view.clone()
    for b in range(B):
        mean = student_view[b].mean(dim=(1, 2))
        for i, j in mask[b].nonzero().tolist():
            filled[b, :, i * 32:(i + 1) * 32, j * 32:(j + 1) * 32] = \
                mean[:, None, None]
    token_mask = F.interpolate(mask[:, None].float(), scale_factor=2,
                               mode='nearest')[:, 0]
    with torch.no_grad():
        s_map = model.backbone(filled, token_mask)[-1]
        t_map = model.teacher_backbone(teacher_view)[-1]
        C, h, w = s_map.shape[1:]
        s = model.neck([s_map.permute(0, 2, 3, 1).reshape(-1, C)])[0]
        t = model.teacher_projector(
            [t_map.permute(0, 2, 3, 1).reshape(-1, C)])[0]
    s = s.double().view(B, h, w, -1)
    t = t.double().view(B, h, w, -1)
    terms = []
    for b in range(B):
        for i, j in mask[b].nonzero().tolist():
            query = s[b, i, j] / s[b, i, j].norm()
            logits = {(k, l): float(query @ t[b, k, l] / t[b, k, l].norm())
                      / TAU for k in range(h) for l in range(w)}
            log_den = math.log(sum(math.exp(v) for v in logits.values()))
            terms.append(log_den - logits[(i, j)])
    return sum(terms) / len(terms)


def test_loss_is_the_infonce_of_eq3_on_the_stride32_grid():
    model = tiny_conmim_cnn(tiny_resnet())
    model.train()
    # 64 x 96 px: a 2 x 3 grid, so a transposed or column-major flattening
    # would pair the wrong positions.
    student_view, teacher_view = structured_views(4, 64, 96)
    mask = torch.tensor([[[1, 0, 1], [0, 1, 0]], [[0, 1, 1], [1, 0, 0]],
                         [[1, 1, 0], [0, 0, 1]], [[0, 0, 0], [1, 1, 1]]],
                        dtype=torch.bool)
    loss = model.loss([student_view, teacher_view],
                      data_samples(mask))['loss']
    assert model.teacher_updated  # the teacher is now a copy of the student
    expected = reference_loss(model, student_view, teacher_view, mask)
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # not a trivially symmetric case: chance level is log(6)
    assert abs(expected - math.log(6)) > 1e-3


def test_no_gradient_reaches_the_teacher():
    model = tiny_conmim_cnn(tiny_convnext())
    student_view, teacher_view = structured_views(4, 64, 64)
    mask = random_masks(4, 2, 2, 3, torch.Generator().manual_seed(0))
    loss = model.loss([student_view, teacher_view],
                      data_samples(mask))['loss']
    loss.backward()
    teacher_params = list(model.teacher.parameters())
    assert teacher_params
    assert all(p.grad is None for p in teacher_params)
    assert model.backbone.mask_token.grad.abs().sum() > 0
    assert model.backbone.downsample_layers[0][0].weight.grad.abs().sum() > 0
    assert model.neck.fc0.weight.grad.abs().sum() > 0


def test_a_tiny_resnet_run_lowers_the_loss():
    model = tiny_conmim_cnn(tiny_resnet(), max_iters=40)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3,
                                  weight_decay=0.)
    gen = torch.Generator().manual_seed(1)
    student_view, teacher_view = structured_views(8, 64, 64, seed=1)
    losses = []
    for _ in range(40):
        mask = random_masks(8, 2, 2, 3, gen)  # ceil(4 * 0.75) units
        loss = model.loss([student_view, teacher_view],
                          data_samples(mask))['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.7 * first, (first, last)


def test_an_output_stride_other_than_the_mask_unit_is_refused():
    # strides (1, 2, 2, 1) with a dilated last stage: output stride 16
    backbone = tiny_resnet(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2))
    with pytest.raises(ValueError) as err:
        tiny_conmim_cnn(backbone, mask_unit=32)
    message = str(err.value)
    assert 'output stride is 16 px' in message
    assert 'mask unit is 32 px' in message
    assert 'mask_unit=16' in message
    # with the matching unit it builds and runs on the stride-16 grid
    model = tiny_conmim_cnn(backbone, mask_unit=16)
    student_view, teacher_view = structured_views(2, 64, 64)
    mask = random_masks(2, 4, 4, 12, torch.Generator().manual_seed(0))
    loss = model.loss([student_view, teacher_view], data_samples(mask))
    assert torch.isfinite(loss['loss'])


def test_a_mask_at_the_wrong_unit_is_refused():
    model = tiny_conmim_cnn(tiny_resnet())
    student_view, teacher_view = structured_views(2, 64, 64)
    patch_mask = random_masks(2, 4, 4, 12, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match='mask_patch_size=model_patch_size'
                       '=32'):
        model.loss([student_view, teacher_view], data_samples(patch_mask))
    with pytest.raises(ValueError, match='not a multiple of the 32-px'):
        model.loss([student_view[..., :48], teacher_view[..., :48]],
                   data_samples(patch_mask))


@pytest.mark.parametrize('vit', [
    dict(type='ConMIMViT', arch=dict(embed_dims=64, num_layers=1,
                                     num_heads=4, feedforward_channels=64),
         img_size=32, patch_size=8, out_type='raw'),
    tiny_vit(),  # has A2MIM's mask token, but is not a CNN
])
def test_a_vit_backbone_is_refused(vit):
    with pytest.raises(TypeError, match='ViTs use ConMIM'):
        tiny_conmim_cnn(vit)


# ------------------------------------------------------------- configs
@pytest.mark.parametrize('name,channels', [
    ('conmim_resnet50_8xb256-coslr-300e_in1k.py', 2048),
    ('conmim_convnext-tiny_8xb256-amp-coslr-300e_in1k.py', 768),
])
def test_cnn_configs_build_with_the_right_projector(name, channels):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(CNN_CONFIGS, name))
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'ConMIMCNN'
    assert model.neck.fc0.in_features == channels
    assert model.neck.fc2.out_features == 256
    assert model.mask_unit == 32
    mask_step = [t for t in cfg.train_pipeline
                 if t['type'] == 'UnitMaskGenerator'][0]
    assert mask_step['mask_patch_size'] == mask_step['model_patch_size'] \
        == 32
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.auto_scale_lr.base_batch_size == \
        cfg.train_dataloader.batch_size * 8 == 2048


def test_convnext_tiny_config_steps_at_224_through_its_pipeline(tmp_path):
    """The shipped pipeline gives 7 x 7 masks with 37 units masked, and the
    ConvNeXt-T model takes a step on them (its backbone has no SyncBN)."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    from tests.fixtures.helpers import write_images
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        CNN_CONFIGS, 'conmim_convnext-tiny_8xb256-amp-coslr-300e_in1k.py'))
    folder = write_images(str(tmp_path / 'imgs'), num=2, size=256)
    dataset = DATASETS.build(dict(type='CustomDataset', data_root=folder,
                                  with_label=False,
                                  pipeline=cfg.train_pipeline))
    batch = default_collate([dataset[0], dataset[1]])
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, True)
    assert [v.shape for v in data['inputs']] == [(2, 3, 224, 224)] * 2
    mask = data['data_samples'][0].mask
    assert mask.shape == (7, 7) and int(mask.sum()) == 37
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.mask_token.grad.abs().sum() > 0


# ------------------------------------------------------------- transfer
def randomised_state(model, seed):
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=gen)
        else:
            state[key] = torch.randint(1, 1000, value.shape, generator=gen)
    return state


def bn_instead_of_syncbn(cfg):
    if isinstance(cfg, dict):
        return {k: ('BN' if k == 'type' and v == 'SyncBN' else
                    bn_instead_of_syncbn(v)) for k, v in cfg.items()}
    return cfg


@pytest.fixture(scope='module')
def exported_resnet50(tmp_path_factory):
    """A ConMIMCNN ResNet-50 checkpoint (every tensor random) and its
    default export (the teacher)."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        CNN_CONFIGS, 'conmim_resnet50_8xb256-coslr-300e_in1k.py'))
    state = randomised_state(MODELS.build(cfg.model), seed=3)
    folder = tmp_path_factory.mktemp('conmim_r50')
    ckpt, out = str(folder / 'epoch_300.pth'), str(folder / 'r50.pth')
    torch.save(dict(state_dict=state, meta=dict(epoch=300)), ckpt)
    run_tool(['tools/model_converters/export_backbone.py', ckpt, out])
    teacher = {k[len('teacher.module.0.'):]: v for k, v in state.items()
               if k.startswith('teacher.module.0.')
               and k.rsplit('.', 1)[-1] not in ('mask_token', 'mask_gamma')}
    return out, teacher, state


def test_the_export_holds_the_teacher_resnet50(exported_resnet50):
    out, teacher, state = exported_resnet50
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['source'] == 'teacher'
    weights = saved['state_dict']
    assert set(weights) == {'backbone.' + k for k in teacher}
    assert not torch.equal(weights['backbone.conv1.weight'],
                           state['backbone.conv1.weight'])


@pytest.mark.parametrize('config,scope', [
    ('mask-rcnn_r50_fpn_a2mim-pre_8xb2-ms-2x_coco.py', 'mmdet'),
    ('upernet_r50_a2mim-pre_4xb4-160k_ade20k-512x512.py', 'mmseg'),
])
def test_the_resnet50_export_loads_into_the_transfer_configs(
        exported_resnet50, config, scope):
    out, teacher, _ = exported_resnet50
    cfg = Config.fromfile(osp.join(BENCHMARKS, config))
    init_cfg = cfg.model.backbone.init_cfg
    assert (init_cfg.type, init_cfg.prefix) == ('Pretrained', 'backbone.')
    backbone_cfg = bn_instead_of_syncbn(cfg.model.backbone.to_dict())
    backbone_cfg['init_cfg']['checkpoint'] = out
    if scope == 'mmdet':
        import mmdet.models  # noqa: F401
        from mmdet.registry import MODELS as SCOPE_MODELS
    else:
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS as SCOPE_MODELS
    init_default_scope(scope)
    backbone = SCOPE_MODELS.build(backbone_cfg)
    backbone.init_weights()
    loaded = backbone.state_dict()
    # the documented key check: every key of the downstream backbone comes
    # from the file and nothing of the file is left over
    assert set(loaded) == set(teacher), (
        sorted(set(loaded) ^ set(teacher))[:5])
    for key, value in teacher.items():
        assert torch.equal(loaded[key], value), key


def test_the_cnn_demo_trains_and_its_teacher_loads(tmp_path):
    """configs/demo/conmim_cnn_demo.py through tools/train.py (2 iterations,
    real pipeline: 96-px views, 3 x 3 masks), then the teacher back through
    mmconmim.apis.load_backbone, equal to the checkpoint's teacher."""
    from mmconmim.apis import load_backbone
    work_dir = str(tmp_path / 'demo')
    run_tool([
        'tools/train.py', 'configs/demo/conmim_cnn_demo.py', '--work-dir',
        work_dir, '--cfg-options', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.batch_size=4'
    ])
    ckpt = osp.join(work_dir, 'iter_2.pth')
    state = torch.load(ckpt, map_location='cpu',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 2
    teacher_keys = [k for k in state if k.startswith('teacher.module.')]
    student_keys = [k for k in state if k.startswith(('backbone.', 'neck.'))]
    assert len(teacher_keys) == len(student_keys) > 0
    backbone = load_backbone(
        ckpt, osp.join(REPO_ROOT, 'configs/demo/conmim_cnn_demo.py'))
    assert backbone.network == 'teacher'
    loaded = backbone.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, state['teacher.module.0.' + key]), key
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert backbone(x)[-1].shape == (2, 128, 3, 3)
