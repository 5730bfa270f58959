"""Every CIM config builds with the recipe and consistent geometry and runs a
step at full size; the ResNet-50 transfer configs take the enhancer; the demo
trains through tools/train.py; the corruption visualiser writes its PNG."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import mmconmim  # noqa: F401
from tests.fixtures.checkpoints import load_prefixed_state
from tests.fixtures.helpers import REPO_ROOT, run_tool, write_images

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/cim/*.py')))
RESNET_TRANSFER = {
    'mmseg': 'configs/cim/benchmarks/'
    'upernet_r50_cim-pre_4xb4-160k_ade20k-512x512.py',
    'mmdet': 'configs/cim/benchmarks/mask-rcnn_r50_cim-pre_fpn_1x_coco.py',
}
# Only one config builds the full DALL-E dVAE (~98M parameters); the others
# swap in a narrow dVAE with the same vocabulary and geometry.
FULL_TOKENIZER = 'cim-revdet_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'
NARROW_DVAE = dict(
    encoder=dict(n_hid=64, n_blk_per_group=1),
    decoder=dict(n_init=8, n_hid=64, n_blk_per_group=1))
# No weight files here: random dVAE weights for the step.
RANDOM_WEIGHTS = dict(
    encoder_checkpoint=None, decoder_checkpoint=None,
    allow_random_weights=True)


# The BEiT-style variants are built and checked without the full-size step
# (their step is the vanilla ViT-B's with another backbone class).
BUILD_ONLY = {
    'cim-respix_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    'cim-revdet_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
}


def test_the_cim_models_have_configs():
    assert [osp.basename(c) for c in CONFIGS] == [
        'cim-respix_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
        'cim-respix_resnet50_8xb256-amp-coslr-300e_in1k.py',
        'cim-respix_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
        'cim-revdet_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
        'cim-revdet_resnet50_8xb256-amp-coslr-300e_in1k.py',
        'cim-revdet_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    ]


def check_enhancer_architecture(backbone, enhancer):
    """'vit': the paper's vanilla ViT-B/16 (mmpretrain VisionTransformer:
    learned absolute position embedding, no relative position bias, no
    layer scale); 'beit': BEiT-style ViT-B/16 (shared relative position
    bias, no absolute position embedding, layer scale 0.1)."""
    assert (backbone.embed_dims, backbone.num_layers) == (768, 12)
    assert backbone.patch_resolution == (14, 14)
    attn = backbone.layers[0].attn
    if enhancer == 'vit':
        assert type(backbone).__name__ == 'VisionTransformer'
        assert backbone.pos_embed.shape == (1, 197, 768)
        assert not hasattr(backbone, 'rel_pos_bias')
        assert not hasattr(attn, 'relative_position_bias_table')
        assert not any('gamma' in name or '.ls' in name
                       for name, _ in backbone.named_parameters())
        drop_path = backbone.layers[-1].ffn.dropout_layer
    else:
        assert type(backbone).__name__ == 'BEiTViT'
        assert backbone.pos_embed is None
        assert backbone.rel_pos_bias is not None  # the shared table
        assert attn.relative_position_bias_table is None
        assert torch.all(backbone.layers[0].gamma_1 == 0.1)
        drop_path = backbone.layers[-1].drop_path
    assert drop_path.drop_prob == pytest.approx(0.1)


@pytest.mark.parametrize('enhancer', ['vit', 'beit'])
def test_the_vit_enhancer_is_a_named_choice(enhancer):
    """The model base files build the architecture their name claims."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(
        REPO_ROOT, f'configs/_base_/models/cim_{enhancer}-base-p16.py'))
    torch.manual_seed(0)
    check_enhancer_architecture(MODELS.build(cfg.model.backbone), enhancer)


@pytest.fixture(scope='module')
def image_batch_folder(tmp_path_factory):
    return write_images(
        str(tmp_path_factory.mktemp('cim_imgs')), num=2, size=256)


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_and_steps_at_full_size(path, image_batch_folder):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    objective = name.split('_')[0].split('-')[1]
    enhancer = name.split('_')[1].split('-')[0]  # vit | beit | resnet50
    is_vit = enhancer in ('vit', 'beit')
    model_cfg = cfg.model

    # Recipe and knobs.
    assert model_cfg.objective == objective
    assert model_cfg.enhancer_loss_weight is None  # 1 / 50 by objective
    assert model_cfg.generator.temperature == 1.0
    assert model_cfg.generator.backbone.arch.num_layers == 4
    assert model_cfg.tokenizer.encoder_checkpoint == 'data/dalle/encoder.pth'
    assert model_cfg.tokenizer.decoder_checkpoint == 'data/dalle/decoder.pth'
    assert cfg.optim_wrapper.optimizer.lr == 1.5e-3
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 3.0
    assert cfg.optim_wrapper.constructor == \
        'TrainableParamsOptimWrapperConstructor'
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.param_scheduler[0].end == 10
    assert cfg.param_scheduler[-1].eta_min == 1e-5
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == 2048

    # Geometry: crop sizes, tokenizer grid, mask grid and generator grid.
    crop = next(t for t in cfg.train_pipeline
                if t.type == 'RandomResizedCropAndInterpolationWithTwoPic')
    masking = next(t for t in cfg.train_pipeline
                   if t.type == 'BlockMaskGenerator')
    assert (crop.size, crop.second_size) == (224, 112)
    assert model_cfg.tokenizer.image_size == crop.second_size
    assert masking.input_size == crop.second_size // 8 == 14
    assert (masking.num_masking_patches, masking.min_num_patches) == (75, 16)
    assert model_cfg.generator.backbone.img_size == crop.size

    model_cfg.tokenizer.update(RANDOM_WEIGHTS)
    if name != FULL_TOKENIZER:
        for key, value in NARROW_DVAE.items():
            model_cfg.tokenizer[key].update(value)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    tokenizer = model.tokenizer
    assert tokenizer.vocab_size == model.generator.vocab_size == 8192
    if name == FULL_TOKENIZER:
        # The official dVAE sizes.
        for module, tensors, params in ((tokenizer.encoder, 74, 53.79),
                                        (tokenizer.decoder, 76, 43.83)):
            assert len(module.state_dict()) == tensors
            assert sum(p.numel() for p in module.parameters()) / 1e6 == \
                pytest.approx(params, abs=0.01)
    assert type(model.head).__name__ == {
        'respix': 'CIMResPixHead',
        'revdet': 'CIMRevDetHead'
    }[objective]
    assert model.enhancer_loss_weight == dict(respix=1., revdet=50.)[objective]
    if is_vit:
        check_enhancer_architecture(model.backbone, enhancer)
        assert model.generator.backbone.embed_dims == 768
    else:
        assert type(model.backbone).__name__ == 'ResNet'
        assert model.backbone.depth == 50
        assert model.generator.backbone.embed_dims == 384

    # The optimizer holds exactly the trainable parameters.
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    in_optimizer = sum(
        p.numel() for g in wrapper.optimizer.param_groups
        for p in g['params'])
    assert in_optimizer == sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    assert in_optimizer == sum(
        p.numel() for m in (model.backbone, model.head, model.generator)
        for p in m.parameters())
    if name in BUILD_ONLY:
        return

    # One step at full geometry through the config's pipeline.
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=image_batch_folder,
             with_label=False, pipeline=cfg.train_pipeline))
    batch = default_collate([dataset[0]])
    data = model.data_preprocessor(batch, True)
    view_a, view_b = data['inputs']
    assert view_a.shape == (1, 3, 224, 224) and view_b.shape == (1, 3, 112,
                                                                 112)
    assert 0.1 - 1e-4 <= view_b.min() and view_b.max() <= 0.9 + 1e-4
    assert int(data['data_samples'][0].mask.sum()) == 75
    losses = model(**data, mode='loss')
    (losses['loss_gen'] + losses['loss_enh']).backward()
    assert torch.isfinite(losses['loss_gen']) and torch.isfinite(
        losses['loss_enh'])
    assert model.head.conv.weight.grad.any()

    if not is_vit and objective == 'revdet':
        check_resnet_transfer(model, str(image_batch_folder))


def check_resnet_transfer(model, folder):
    """The enhancer of a CIM ResNet-50 checkpoint loads into the mmseg and
    mmdet backbones of the transfer configs with no missing key."""
    import mmdet.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    path = osp.join(folder, 'cim_r50.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    enhancer = load_prefixed_state('backbone.', path)
    for scope, registry in (('mmseg', SEG_MODELS), ('mmdet', DET_MODELS)):
        cfg = Config.fromfile(osp.join(REPO_ROOT, RESNET_TRANSFER[scope]))
        assert cfg.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint='data/cim/cim_resnet50_enhancer.pth',
            prefix='backbone.')
        assert cfg.model.get('pretrained') is None
        backbone_cfg = dict(cfg.model.backbone, init_cfg=None)
        if scope == 'mmseg':
            assert backbone_cfg['norm_cfg']['type'] == 'SyncBN'  # as mmseg's
        init_default_scope(scope)
        backbone = registry.build(backbone_cfg)
        result = backbone.load_state_dict(enhancer, strict=False)
        assert result.missing_keys == [] and result.unexpected_keys == []
        assert torch.equal(backbone.layer4[2].conv3.weight,
                           enhancer['layer4.2.conv3.weight'])
    init_default_scope('mmpretrain')


def test_demo_config_trains_and_exports_the_enhancer(tmp_path):
    work_dir = str(tmp_path / 'demo')
    run_tool([
        'tools/train.py', 'configs/demo/cim_demo.py', '--work-dir', work_dir,
        '--cfg-options', 'model.objective=revdet', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'train_dataloader.num_workers=0', 'train_dataloader.batch_size=4'
    ])
    ckpt = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu',
                      weights_only=False)
    state = ckpt['state_dict']
    prefixes = {k.split('.')[0] for k in state}
    assert prefixes == {'backbone', 'head', 'generator', 'tokenizer'}
    assert 'head.conv.weight' in state and state['head.conv.weight'].shape \
        == (1, 128, 1, 1)  # the REVDET head
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert 'loss_gen' in log and 'loss_enh' in log

    # The enhancer alone loads into the plain backbone class of the config
    # (the demo inherits the vanilla ViT enhancer: VisionTransformer).
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/demo/cim_demo.py'))
    backbone = MODELS.build(cfg.model.backbone)
    result = backbone.load_state_dict(
        load_prefixed_state('backbone.', osp.join(work_dir, 'iter_2.pth')),
        strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


@pytest.mark.parametrize('objective', ['respix', 'revdet'])
def test_corruption_visualisation_writes_a_png(tmp_path, objective):
    import numpy as np
    from PIL import Image
    out = str(tmp_path / 'cim.png')
    run_tool([
        'tools/visualization/vis_cim_corruption.py',
        'configs/demo/cim_demo.py', '--out', out, '--num-images', '2',
        '--cfg-options', f'model.objective={objective}'
    ])
    with Image.open(out) as img:
        assert img.size == (1200, 400)  # 6 panels x 2 rows at 100 dpi
        pixels = np.asarray(img.convert('RGB'))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
    # The REVDET label panel marks replaced tokens in red.
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 150)).sum() > 100


FINETUNE = {
    # config: (enhancer, backbone type, optimizer, lr, total batch, epochs)
    'vit-base-p16_cim-pre_8xb128-coslr-100e_in1k.py':
        ('cim-revdet_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
         'VisionTransformer', 'AdamW', 4e-3, 1024, 100),
    'beit-base-p16_cim-pre_8xb128-coslr-100e_in1k.py':
        ('cim-revdet_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
         'BEiTViT', 'AdamW', 4e-3, 1024, 100),
    'resnet50_cim-pre_8xb256-rsb-a2-300e_in1k.py':
        ('cim-revdet_resnet50_8xb256-amp-coslr-300e_in1k.py', 'ResNet',
         'Lamb', 5e-3, 2048, 300),
}


@pytest.mark.parametrize('name', sorted(FINETUNE))
def test_finetune_configs_take_the_enhancer(name, tmp_path):
    """ImageNet fine-tuning for the paper's two numbers (and the BEiT-style
    variant): the recipe, mixed precision, and the pre-trained enhancer
    loads into the classifier's backbone with every weight it has (only the
    pre-training final norm is replaced by the pooled-feature norm)."""
    pretrain, backbone_type, optimizer, lr, batch, epochs = FINETUNE[name]
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/cim/benchmarks', name))
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.type == backbone_type
    assert backbone_cfg.init_cfg == dict(type='Pretrained', checkpoint='',
                                         prefix='backbone.')
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr) == (optimizer, lr)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    assert 8 * cfg.train_dataloader.batch_size * cfg.optim_wrapper.get(
        'accumulative_counts', 1) == batch
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]

    init_default_scope('mmpretrain')
    pre_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/cim', pretrain))
    torch.manual_seed(0)
    enhancer = MODELS.build(pre_cfg.model.backbone)
    state = {f'backbone.{k}': torch.randn_like(v) if v.is_floating_point()
             else v for k, v in enhancer.state_dict().items()}
    ckpt = str(tmp_path / 'enhancer.pth')
    torch.save({'state_dict': state}, ckpt)
    backbone_cfg.init_cfg.checkpoint = ckpt
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    loaded = backbone.state_dict()
    source = {k[len('backbone.'):]: v for k, v in state.items()}
    dropped = set(source) - set(loaded)
    if backbone_type == 'ResNet':
        assert dropped == set()
    else:
        assert dropped <= {'ln1.weight', 'ln1.bias', 'rel_pos_bias.'
                           'relative_position_bias_table',
                           'rel_pos_bias.relative_position_index'}
    for key in set(source) & set(loaded):
        if 'relative_position' not in key:
            assert torch.equal(loaded[key], source[key]), key


@pytest.mark.parametrize('enhancer,scope,config', [
    ('vit', 'mmseg', 'upernet_vit-base-p16_cim-pre_8xb2-160k_ade20k-512x512'),
    ('beit', 'mmseg',
     'upernet_beit-base-p16_cim-pre_8xb2-160k_ade20k-512x512'),
    ('vit', 'mmdet', 'mask-rcnn_vit-base-p16_cim-pre_fpn_8xb2-1x_coco'),
])
def test_vit_transfer_configs_take_their_enhancer(enhancer, scope, config,
                                                  tmp_path):
    """Each ViT transfer config's backbone is the enhancer's class and loads
    every enhancer weight (the position embedding / relative position
    tables resized by the backbone's load hook; the pre-training final norm
    is not used by the dense heads)."""
    import mmdet.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    init_default_scope('mmpretrain')
    pre_cfg = Config.fromfile(osp.join(
        REPO_ROOT,
        f'configs/cim/cim-revdet_{enhancer}-base-p16_8xb256-amp-coslr-300e_'
        'in1k.py'))
    torch.manual_seed(0)
    source = MODELS.build(pre_cfg.model.backbone).state_dict()
    ckpt = str(tmp_path / 'enhancer.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in source.items()}}, ckpt)
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/cim/benchmarks', config + '.py'))
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.type == {'vit': 'mmpretrain.VisionTransformer',
                                 'beit': 'mmpretrain.BEiTViT'}[enhancer]
    assert backbone_cfg.init_cfg.checkpoint == \
        f'data/cim/cim_{enhancer}-base-p16_enhancer.pth'
    backbone_cfg.init_cfg.checkpoint = ckpt
    registry = dict(mmseg=SEG_MODELS, mmdet=DET_MODELS)[scope]
    init_default_scope(scope)
    try:
        backbone = registry.build(backbone_cfg)
        backbone.init_weights()
    finally:
        init_default_scope('mmpretrain')
    loaded = backbone.state_dict()
    for key in ('patch_embed.projection.weight', 'layers.11.ffn.layers.1.'
                'weight', 'layers.0.attn.qkv.weight'):
        assert torch.equal(loaded[key], source[key]), key
    assert not (set(source) - set(loaded)) - {
        'ln1.weight', 'ln1.bias', 'rel_pos_bias.relative_position_bias_table',
        'rel_pos_bias.relative_position_index'}
