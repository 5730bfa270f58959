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
from helpers import REPO_ROOT, run_tool, write_images

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/conmim/*.py')))
EXPECTED = {  # arch: (width, depth, layer scale, lr)
    'vit-small': (384, 12, 0.1, 5e-4),
    'vit-base': (768, 12, 0.1, 5e-4),
    'vit-large': (1024, 24, 1e-5, 7.5e-4),
}


def test_the_paper_models_have_configs():
    names = [osp.basename(c) for c in CONFIGS]
    assert names == [
        'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k.py',
        'conmim_vit-large-p16_32xb64-amp-coslr-1600e_in1k.py',
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
