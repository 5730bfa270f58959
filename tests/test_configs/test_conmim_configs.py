"""Every ConMIM config builds; ViT-S/16 trains a step at 224 px; the demo
config runs through tools/train.py and the view visualiser."""
import copy
import glob
import os.path as osp
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT, run_tool, write_images

# the paper's recipes; the small-data configs (ours, issue 25) are tested
# in tests/test_models/test_conmim_small_data.py
CONFIGS = sorted(c for c in glob.glob(
    osp.join(REPO_ROOT, 'configs/conmim/*.py')) if 'smalldata' not in c)
EXPECTED = {  # arch: (width, depth, layer scale, lr)
    'vit-small': (384, 12, 0.1, 5e-4),
    'vit-base': (768, 12, 0.1, 5e-4),
    'vit-large': (1024, 24, 1e-5, 7.5e-4),
}


def test_the_paper_models_have_configs():
    names = [osp.basename(c) for c in CONFIGS]
    # every pre-training row of the paper's Tables 1-3 (S 300; B 300/800;
    # L 400/800/1600)
    assert names == [
        'conmim_vit-base-p16_32xb64-amp-coslr-300e_in1k.py',
        'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k.py',
        'conmim_vit-large-p16_32xb64-amp-coslr-1600e_in1k.py',
        'conmim_vit-large-p16_32xb64-amp-coslr-400e_in1k.py',
        'conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k.py',
        'conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py',
    ]


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_with_the_recipe(path, cpu_capability):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(path)
    arch = osp.basename(path).split('_')[1].rsplit('-p16', 1)[0]
    width, depth, layer_scale, lr = EXPECTED[arch]
    epochs = int(osp.basename(path).split('-')[-1].split('e_')[0])

    model = MODELS.build(cfg.model)
    assert model.backbone.embed_dims == width
    assert model.backbone.num_layers == depth
    assert model.backbone.pos_embed is None
    assert model.backbone.rel_pos_bias is not None  # shared table
    assert model.backbone.layers[0].gamma_1.flatten()[0].item() == \
        pytest.approx(layer_scale)
    assert model.neck.fc0.in_features == width
    assert model.neck.fc2.out_features == 256
    assert model.teacher.momentum == 0.004

    assert cfg.param_scheduler[0].end == (10 if arch == 'vit-large' else 5)
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.98)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[-1].end == epochs
    assert cfg.param_scheduler[-1].eta_min == 1e-5
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert cfg.train_dataloader.batch_size * 32 == 2048
    if arch == 'vit-large':
        assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    # The optimizer wrapper builds too: bf16 autocast on a CPU with native
    # bf16, fp32 on one without (the check is mocked: same on every CPU).
    for native, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        cpu_capability(native)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the fp32 fallback's warning
            wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        assert wrapper.cast_dtype == dtype


def test_vit_small_forward_backward_at_224(tmp_path):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/conmim/'
                 'conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py'))
    folder = write_images(str(tmp_path / 'imgs'), num=2, size=256)
    dataset_cfg = dict(type='CustomDataset', data_root=folder,
                       with_label=False, pipeline=cfg.train_pipeline)
    dataset = DATASETS.build(dataset_cfg)
    batch = default_collate([dataset[0], dataset[1]])
    assert batch['inputs'][0].shape == (2, 3, 224, 224)

    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(batch, True)
    assert data['data_samples'][0].mask.shape == (14, 14)
    assert int(data['data_samples'][0].mask.sum()) == 148
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.mask_token.grad.abs().sum() > 0
    assert model.neck.fc0.weight.grad.abs().sum() > 0


def test_demo_config_trains_and_saves_the_teacher(tmp_path):
    work_dir = str(tmp_path / 'demo')
    run_tool([
        'tools/train.py', 'configs/demo/conmim_demo.py', '--work-dir',
        work_dir, '--cfg-options', 'train_cfg.max_iters=3',
        'default_hooks.checkpoint.interval=3',
        'train_dataloader.num_workers=0', 'train_dataloader.batch_size=8'
    ])
    ckpt = torch.load(osp.join(work_dir, 'iter_3.pth'), map_location='cpu',
                      weights_only=False)
    state = ckpt['state_dict']
    teacher_keys = [k for k in state if k.startswith('teacher.module.')]
    student_keys = [k for k in state if k.startswith(('backbone.', 'neck.'))]
    assert len(teacher_keys) == len(student_keys) > 0
    assert int(state['teacher.steps']) == 3
    # The teacher has moved with the student but is not the student.
    assert not torch.equal(state['teacher.module.0.layers.0.attn.qkv.weight'],
                           state['backbone.layers.0.attn.qkv.weight'])


def test_views_visualisation_writes_a_png(tmp_path):
    import numpy as np
    from PIL import Image
    out = str(tmp_path / 'views.png')
    run_tool(['tools/visualization/vis_conmim_views.py',
              'configs/demo/conmim_demo.py', '--out', out,
              '--num-images', '2'])
    with Image.open(out) as img:
        assert img.size == (900, 600)  # 3 panels x 2 rows at 100 dpi
        assert len(np.unique(np.asarray(img.convert('L')))) > 50


FINETUNE_DIR = osp.join(REPO_ROOT, 'configs/conmim/benchmarks')
# config: (arch, img_size, epochs, warmup, lr, batch per GPU x accumulation,
#          layer decay, drop path)
FINETUNE = {
    'vit-small-p16_conmim-pre_8xb128-coslr-100e_in1k.py':
        ('deit-small', 224, 100, 20, 4e-3, 128, 1, 0.65, 0.1),
    'vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py':
        ('base', 224, 100, 20, 4e-3, 128, 1, 0.65, 0.1),
    'vit-large-p16_conmim-pre_8xb64-accu2-coslr-50e_in1k.py':
        ('large', 224, 50, 5, 1e-3, 64, 2, 0.75, 0.2),
    'vit-small-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py':
        ('deit-small', 384, 10, 1, 5e-5, 64, 1, 0.65, 0.1),
    'vit-base-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py':
        ('base', 384, 10, 1, 5e-5, 64, 1, 0.65, 0.1),
    'vit-large-p16_conmim-pre-ft224_8xb32-accu2-amp-coslr-5e_in1k-384px.py':
        ('large', 384, 5, 1, 5e-5, 32, 2, 0.75, 0.2),
}


# AMP variant -> its fp32 recipe (the official fine-tuning is DeepSpeed fp16)
AMP_FINETUNE = {
    'vit-small-p16_conmim-pre_8xb128-amp-coslr-100e_in1k.py':
        'vit-small-p16_conmim-pre_8xb128-coslr-100e_in1k.py',
    'vit-base-p16_conmim-pre_8xb128-amp-coslr-100e_in1k.py':
        'vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py',
    'vit-large-p16_conmim-pre_8xb64-accu2-amp-coslr-50e_in1k.py':
        'vit-large-p16_conmim-pre_8xb64-accu2-coslr-50e_in1k.py',
    'vit-small-p16_conmim-pre-ft224_8xb64-amp-coslr-10e_in1k-384px.py':
        'vit-small-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py',
    'vit-base-p16_conmim-pre-ft224_8xb64-amp-coslr-10e_in1k-384px.py':
        'vit-base-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py',
}
# the AMP configs carry their fp32 recipe
FINETUNE.update({amp: FINETUNE[fp32] for amp, fp32 in AMP_FINETUNE.items()})


@pytest.mark.parametrize('name', sorted(FINETUNE))
def test_finetune_configs_carry_their_recipe(name):
    (arch, img_size, epochs, warmup, lr, batch, accumulate, layer_decay,
     drop_path) = FINETUNE[name]
    cfg = Config.fromfile(osp.join(FINETUNE_DIR, name))
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.img_size) == (arch, img_size)
    assert backbone.drop_path_rate == drop_path
    # the paper's architecture: relative position bias only
    assert not backbone.use_abs_pos_emb and backbone.use_rel_pos_bias
    assert backbone.out_type == 'avg_featmap'
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[0].end == warmup
    assert cfg.param_scheduler[-1].end == epochs
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == layer_decay
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.optim_wrapper.get('accumulative_counts', 1) == accumulate
    assert cfg.auto_scale_lr.base_batch_size == 8 * batch
    crops = [t for t in cfg.train_dataloader.dataset.pipeline
             if t['type'] == 'RandomResizedCrop']
    assert crops[0]['scale'] == img_size
    test_ops = {t['type']: t for t in cfg.val_dataloader.dataset.pipeline}
    assert test_ops['CenterCrop']['crop_size'] == img_size
    if img_size == 384:  # crop ratio 1.0 at >= 384 px, as the official
        assert test_ops['ResizeEdge']['scale'] == 384
        assert cfg.model.head.init_cfg.type == 'Pretrained'
    if '-amp-' in name:  # the official fine-tuning runs in fp16
        assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    if arch == 'large':
        assert cfg.model.head.in_channels == 1024
        assert backbone.layer_scale_init_value == 1e-5



def test_every_imagenet_finetune_has_an_amp_config():
    names = {osp.basename(p) for p in glob.glob(
        osp.join(FINETUNE_DIR, '*_in1k*.py')) if 'linear' not in p}
    fp32 = {n for n in names if '-amp-' not in n}
    assert fp32 == set(AMP_FINETUNE.values())
    amp_only = 'vit-large-p16_conmim-pre-ft224_8xb32-accu2-amp-coslr-5e_' \
        'in1k-384px.py'
    assert {n for n in names if '-amp-' in n} == set(AMP_FINETUNE) | {
        amp_only}


@pytest.mark.parametrize('name', sorted(AMP_FINETUNE))
def test_amp_finetune_is_its_fp32_recipe_in_mixed_precision(
        name, cpu_capability):
    """Everything but the optimizer wrapper's type and loss scale equals the
    fp32 config; the wrapper builds (bf16 autocast on a CPU with native
    bf16) and its
    loss scale is the reference's (DeepSpeed: 2^7, window 128)."""
    amp = Config.fromfile(osp.join(FINETUNE_DIR, name))
    fp32 = Config.fromfile(osp.join(FINETUNE_DIR, AMP_FINETUNE[name]))
    amp_dict, fp32_dict = amp.to_dict(), fp32.to_dict()
    amp_wrapper = amp_dict.pop('optim_wrapper')
    fp32_wrapper = fp32_dict.pop('optim_wrapper')
    assert amp_dict == fp32_dict
    assert amp_wrapper.pop('type') == 'MixedPrecisionOptimWrapper'
    assert amp_wrapper.pop('loss_scale') == dict(init_scale=128.,
                                                 growth_interval=128)
    assert fp32_wrapper.pop('type', 'OptimWrapper') == 'OptimWrapper'
    assert amp_wrapper == fp32_wrapper

    init_default_scope('mmpretrain')
    tiny = copy.deepcopy(amp.optim_wrapper)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='BEiTViT', arch=dict(
            embed_dims=64, num_layers=2, num_heads=2,
            feedforward_channels=128), img_size=32, patch_size=16,
            use_abs_pos_emb=False, use_rel_pos_bias=True,
            out_type='avg_featmap'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    cpu_capability(True)  # a CPU with native bf16: bf16 autocast
    wrapper = build_optim_wrapper(model, tiny)
    assert type(wrapper).__name__ == 'MixedPrecisionOptimWrapper'
    assert wrapper.cast_dtype == torch.bfloat16


def test_384px_config_continues_from_the_224px_classifier(tmp_path):
    """The 384-px config loads a 224-px fine-tuned classifier: backbone and
    head weights, relative position tables resized from 27^2 to 47^2 (+3)."""
    init_default_scope('mmpretrain')
    small = 'vit-small-p16_conmim-pre_8xb128-coslr-100e_in1k.py'
    cfg224 = Config.fromfile(osp.join(FINETUNE_DIR, small))
    cfg224.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model224 = MODELS.build(cfg224.model)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in model224.state_dict().items()}
    ckpt = str(tmp_path / 'ft224.pth')
    torch.save({'state_dict': state}, ckpt)

    cfg = Config.fromfile(osp.join(
        FINETUNE_DIR,
        'vit-small-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py'))
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    cfg.model.head.init_cfg.checkpoint = ckpt
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert torch.equal(model.head.fc.weight, state['head.fc.weight'])
    assert torch.equal(model.backbone.ln2.weight, state['backbone.ln2.weight'])
    key = 'layers.3.attn.qkv.weight'
    assert torch.equal(model.backbone.state_dict()[key],
                       state['backbone.' + key])
    table = model.backbone.layers[0].attn.relative_position_bias_table
    assert table.shape == (47**2 + 3, 6)
    src = state['backbone.layers.0.attn.relative_position_bias_table']
    assert src.shape == (27**2 + 3, 6)
    # the 3 CLS entries are carried over, the grid is interpolated
    assert torch.equal(table[-3:], src[-3:])
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 384, 384), mode='tensor')
    assert out.shape == (1, 1000)


# ---------------------------------------------------------------- COCO
DET_DIR = FINETUNE_DIR
DET = {  # config: (arch, global blocks, drop path, layer decay, batch, accu)
    'mask-rcnn_vit-base-p16_conmim-pre_vitdet-simplefpn_8xb8-100e_coco-1024.py':
        ('base', (2, 5, 8, 11), 0.1, 0.7, 8, 1),
    'mask-rcnn_vit-large-p16_conmim-pre_vitdet-simplefpn_8xb4-accu2-100e_'
    'coco-1024.py': ('large', (5, 11, 17, 23), 0.4, 0.8, 4, 2),
}


@pytest.mark.parametrize('name', sorted(DET))
def test_vitdet_configs_build_and_carry_the_recipe(name):
    """ViTDet recipe: windowed blocks, LSJ at 1024 px, 64 images per step,
    layer decay, AMP; the model builds (at 256 px, to keep the test fast:
    the 64x64-token tables only change the global blocks' table size) and
    returns Mask R-CNN losses on a 2-image batch."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmdet.testing import demo_mm_inputs
    arch, global_ids, drop_path, layer_decay, batch, accu = DET[name]
    cfg = Config.fromfile(osp.join(DET_DIR, name))
    backbone = cfg.model.backbone
    assert backbone.type == 'mmconmim.WindowedBEiTViT'
    assert (backbone.arch, backbone.img_size) == (arch, (1024, 1024))
    assert backbone.window_size == 14
    assert tuple(backbone.global_attn_indexes) == global_ids
    assert backbone.drop_path_rate == drop_path
    assert not backbone.use_abs_pos_emb and backbone.use_rel_pos_bias
    assert cfg.model.neck.type == 'mmconmim.SimpleFeaturePyramid'
    ops = {t['type']: t for t in cfg.train_dataloader.dataset.dataset.pipeline}
    assert ops['RandomResize']['ratio_range'] == (0.1, 2.0)  # LSJ
    assert ops['RandomCrop']['crop_size'] == (1024, 1024)
    assert ops['Pad']['size'] == (1024, 1024)
    assert cfg.train_dataloader.dataset.times * cfg.train_cfg.max_epochs == 100
    assert cfg.param_scheduler[1].milestones == [22, 24]  # epochs 88, 96
    assert cfg.train_dataloader.batch_size * 8 * accu == 64
    assert cfg.optim_wrapper.get('accumulative_counts', 1) == accu
    assert cfg.optim_wrapper.type == 'mmconmim.MixedPrecisionOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.1
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == layer_decay

    init_default_scope('mmdet')
    small = (128, 128)
    backbone.update(img_size=small, init_cfg=None)
    cfg.model.data_preprocessor.batch_augments[0]['size'] = small
    model = DET_MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'WindowedBEiTViT'
    assert model.backbone.global_attn_indexes == global_ids
    norm = model.roi_head.bbox_head.shared_convs[0].norm
    assert type(norm).__name__ == 'LayerNorm2d'
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'MixedPrecisionOptimWrapper'
    if arch == 'large':
        return  # the ViT-B forward below covers the shared pieces
    torch.manual_seed(0)
    packed = demo_mm_inputs(2, (3, 128, 128), num_items=[2, 2],
                            with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    assert torch.isfinite(total) and 'loss_mask' in losses


# ----------------------------------------------------------- ablations
ABLATION_DIR = osp.join(REPO_ROOT, 'configs/conmim/ablations')
BASE_300E = osp.join(REPO_ROOT, 'configs/conmim/'
                     'conmim_vit-base-p16_32xb64-amp-coslr-300e_in1k.py')


def ablation(name):
    return osp.join(ABLATION_DIR,
                    f'conmim_vit-base-p16_{name}_32xb64-amp-coslr-300e_in1k.py')


def two_views(config, image, seed):
    """(student view, teacher view, mask) of one image through a config's
    pipeline, every random source seeded."""
    import random

    import numpy as np
    from mmcv.transforms import Compose
    init_default_scope('mmpretrain')
    pipeline = Compose(Config.fromfile(config).train_pipeline)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    out = pipeline(dict(img_path=image))
    return out['inputs'][0], out['inputs'][1], out['data_samples'].mask


def test_view_ablations_change_the_views(tmp_path):
    """The pipelines draw the same crop for a seed and only differ in the
    photometric ops, so the views can be compared across configs: weak
    views equal the recipe's student view, strong ones its teacher view."""
    folder = write_images(str(tmp_path / 'imgs'), num=1, size=256)
    image = glob.glob(osp.join(folder, '*'))[0]
    changed = 0
    for seed in range(6):
        weak, strong, _ = two_views(BASE_300E, image, seed)
        changed += not torch.equal(weak, strong)
        a, b, _ = two_views(ablation('sym-weak-views'), image, seed)
        assert torch.equal(a, weak) and torch.equal(b, weak)
        a, b, _ = two_views(ablation('switched-views'), image, seed)
        assert torch.equal(a, strong) and torch.equal(b, weak)
        a, _, _ = two_views(ablation('sym-strong-views'), image, seed)
        assert torch.equal(a, strong)  # the second view is another draw
    assert changed >= 3  # the recipe's photometric ops do act


def test_no_momentum_ablation_makes_the_teacher_the_student():
    from torch import nn
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(ablation('no-momentum'))
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    assert model.teacher.momentum == model.teacher.end_momentum == 1.0
    online = nn.Sequential(model.backbone, model.neck)
    model.teacher.update_parameters(online)  # first update: a copy
    with torch.no_grad():
        for param in online.parameters():
            param.add_(1.0)
    model.teacher.update_parameters(online)
    teacher = dict(model.teacher.module.named_parameters())
    for key, param in online.named_parameters():
        assert torch.equal(teacher[key], param), key


def test_no_mask_ablation_trains_every_patch(tmp_path):
    """Mask ratio 0: no patch is masked, the recipe's loss would be 0 by
    construction; the ablation's loss is Eq. 3 over all patches."""
    import torch.nn.functional as F
    folder = write_images(str(tmp_path / 'imgs'), num=1, size=256)
    image = glob.glob(osp.join(folder, '*'))[0]
    _, _, mask = two_views(ablation('no-mask'), image, 0)
    assert mask.shape == (14, 14) and not mask.any()

    init_default_scope('mmpretrain')
    loss_cfg = Config.fromfile(ablation('no-mask')).model.head.loss
    recipe_cfg = Config.fromfile(BASE_300E).model.head.loss
    loss, recipe = MODELS.build(loss_cfg), MODELS.build(recipe_cfg)
    torch.manual_seed(0)
    s, t = torch.randn(2, 196, 16), torch.randn(2, 196, 16)
    empty = torch.zeros(2, 196, dtype=torch.bool)
    assert recipe(s, t, empty).item() == 0.
    # naive reference: per image, per patch j, CE of row j with label j
    expected = torch.stack([
        F.cross_entropy(
            F.normalize(s[b], dim=-1) @ F.normalize(t[b], dim=-1).T / 0.1,
            torch.arange(196)) for b in range(2)
    ]).mean()
    torch.testing.assert_close(loss(s, t, empty), expected)

    # through the model (tiny ViT): the ablation gets gradients, the recipe
    # none, from the same unmasked batch
    from mmpretrain.structures import DataSample
    MessageHub.get_current_instance().update_info('max_iters', 10)
    grads = {}
    for name, path in (('ablation', ablation('no-mask')), ('recipe',
                                                           BASE_300E)):
        model_cfg = Config.fromfile(path).model
        model_cfg.backbone.update(
            arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                      feedforward_channels=128), img_size=32, patch_size=4)
        model_cfg.neck.update(in_channels=64, hid_channels=128,
                              out_channels=32)
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        views = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
        samples = [DataSample() for _ in range(2)]
        for sample in samples:
            sample.set_mask(torch.zeros(8, 8, dtype=torch.bool))
        model.loss(views, samples)['loss'].backward()
        grads[name] = model.neck.fc0.weight.grad.abs().sum().item()
    assert grads['ablation'] > 0 and grads['recipe'] == 0


# ------------------------------------------------------------- budgets
BUDGETS = {  # config: (GPUs, images per GPU, accumulated steps)
    'conmim_vit-base-p16_8xb64-accu4-amp-coslr-800e_in1k.py': (8, 64, 4),
    'conmim_vit-base-p16_1xb64-accu32-amp-coslr-800e_in1k.py': (1, 64, 32),
}


@pytest.mark.parametrize('name', sorted(BUDGETS))
def test_budget_variants_keep_the_papers_step(name):
    """2048 images per optimiser step, the recipe's lr, 64 images per
    forward (the projector BN's batch), and k teacher updates per step
    (one per forward) that together equal the recipe's one update."""
    from torch import nn

    from mmconmim.models.utils.ema import ForeachCosineEMA
    gpus, batch, accumulate = BUDGETS[name]
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/conmim/budgets', name))
    recipe = Config.fromfile(osp.join(
        REPO_ROOT, 'configs/conmim/'
        'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k.py'))
    assert cfg.train_dataloader.batch_size == batch == \
        recipe.train_dataloader.batch_size
    assert cfg.optim_wrapper.accumulative_counts == accumulate
    assert gpus * batch * accumulate == 2048
    assert cfg.optim_wrapper.optimizer.lr == recipe.optim_wrapper.optimizer.lr
    assert cfg.auto_scale_lr.base_batch_size == gpus * batch
    assert cfg.train_cfg.max_epochs == recipe.train_cfg.max_epochs

    MessageHub.get_current_instance().update_info('max_iters', 10**9)
    torch.manual_seed(0)
    student, start = nn.Linear(4, 4), nn.Linear(4, 4)
    ours = ForeachCosineEMA(start, momentum=cfg.model.momentum)
    paper = ForeachCosineEMA(start, momentum=recipe.model.momentum)
    for ema in (ours, paper):
        ema.steps.fill_(1)  # past the first update, which copies
    for _ in range(accumulate):
        ours.update_parameters(student)
    paper.update_parameters(student)
    torch.testing.assert_close(ours.module.weight, paper.module.weight,
                               rtol=0, atol=1e-6)
    # and the momentum does matter: one update alone falls short
    assert not torch.allclose(start.weight, paper.module.weight, atol=1e-4)
