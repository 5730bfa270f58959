"""Every ConMIM config builds; ViT-S/16 trains a step at 224 px; the demo
config runs through tools/train.py and the view visualiser."""
import glob
import os.path as osp

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
def test_config_builds_with_the_recipe(path):
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
    # The optimizer wrapper (bf16 autocast on this CPU) builds too.
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert wrapper.cast_dtype == torch.bfloat16


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
}


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
