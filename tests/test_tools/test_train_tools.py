"""tools/train.py and tools/dist_train.sh on a tiny mmpretrain MAE config."""
import glob
import os.path as osp
import re

import pytest
import torch

from tests.fixtures.helpers import free_port, run_tool, write_images

MAE_CONFIG = '''
# A stock mmpretrain config, shrunk: 2-layer ViT on 32-px images.
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=4,
                  feedforward_channels=128),
        img_size=32, patch_size=8),
    neck=dict(num_patches=16, patch_size=8, embed_dim=64,
              decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4),
    head=dict(patch_size=8))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    # `pkg::` bases add _scope_ to collate_fn, which mmengine 0.10.7 then
    # passes to the function; redefine it.
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(
        _delete_=True, type='CustomDataset', data_root='{data_root}',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.)),
            dict(type='PackInputs'),
        ]))
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = []
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''


@pytest.fixture(scope='module')
def mae_config(tmp_path_factory):
    root = tmp_path_factory.mktemp('mae')
    data_root = write_images(str(root / 'images'), num=8, size=40)
    path = root / 'mae_tiny.py'
    path.write_text(MAE_CONFIG.format(data_root=data_root))
    return str(path)


@pytest.fixture(scope='module')
def trained_work_dir(mae_config, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('mae_work'))
    run_tool(['tools/train.py', mae_config, '--work-dir', work_dir])
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    return work_dir


def test_train_writes_a_runner_checkpoint(trained_work_dir):
    ckpt = torch.load(osp.join(trained_work_dir, 'iter_2.pth'),
                      map_location='cpu', weights_only=False)
    assert {'state_dict', 'optimizer', 'message_hub', 'meta'} <= set(ckpt)
    assert ckpt['meta']['iter'] == 2


def test_resume_continues_from_the_checkpoint(mae_config, trained_work_dir):
    # The runner checkpoint pickles HistoryBuffer and numpy objects: loading
    # it goes through mmconmim's safe loader (mmengine alone fails here on
    # torch >= 2.6).
    proc = run_tool([
        'tools/train.py', mae_config, '--work-dir', trained_work_dir,
        '--resume', '--cfg-options', 'train_cfg.max_iters=4'
    ])
    log = proc.stdout + proc.stderr
    assert re.search(r'resumed epoch: \d+, iter: 2', log), log[-3000:]
    ckpt = torch.load(osp.join(trained_work_dir, 'iter_4.pth'),
                      map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 4


def test_load_from_and_pretrained_init_use_runner_checkpoints(
        mae_config, trained_work_dir):
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules()
    path = osp.join(trained_work_dir, 'iter_2.pth')
    saved = torch.load(path, map_location='cpu',
                       weights_only=False)['state_dict']
    cfg = Config.fromfile(mae_config)

    # load_from: the runner loads the whole model with load_checkpoint.
    model = MODELS.build(cfg.model)
    load_checkpoint(model, path, map_location='cpu', strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)

    # init_cfg=Pretrained with a prefix: a fine-tuning ViT takes the
    # pre-trained backbone (MAEViT itself re-draws its cls token).
    backbone = MODELS.build(
        dict(type='VisionTransformer', arch=cfg.model.backbone.arch,
             img_size=32, patch_size=8, out_type='cls_token',
             init_cfg=dict(type='Pretrained', checkpoint=path,
                           prefix='backbone.')))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, saved['backbone.' + key],
                                   rtol=0, atol=0)


def test_dist_train_two_processes_on_gloo(mae_config, tmp_path):
    work_dir = str(tmp_path / 'dist')
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', mae_config, '2', '--work-dir',
         work_dir],
        env=dict(PORT=free_port()))
    log = proc.stdout + proc.stderr
    # mmengine reports the world size as 'GPU number' (here: CPU processes);
    # torchrun exits 0 only if both ranks do.
    assert re.search(r'Distributed training: True', log), log[-3000:]
    assert re.search(r'GPU number: 2', log), log[-3000:]
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert glob.glob(osp.join(work_dir, '*', '*.log'))

