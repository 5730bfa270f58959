"""Tiny labelled folders and backbone exports for the fine-tune and dense
columns of the comparison (32-px images, 64-wide 2-layer ViTs)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

CLASSES = ('amber', 'blue', 'green', 'grey', 'purple', 'red')
COLOURS = ((230, 160, 30), (40, 60, 220), (40, 200, 60), (128, 128, 128),
           (150, 40, 170), (210, 40, 40))
IMG = 32
VIT_ARCH = dict(embed_dims=64, num_layers=2, num_heads=2,
                feedforward_channels=128)
# the model.backbone dicts of the pre-training configs
BEIT_CFG = dict(type='ConMIMViT', arch=VIT_ARCH, img_size=IMG, patch_size=8,
                layer_scale_init_value=0.1, use_abs_pos_emb=False,
                use_rel_pos_bias=False, use_shared_rel_pos_bias=True,
                final_norm=True, out_type='raw', out_indices=-1)
VIT_CFG = dict(type='VisionTransformer', arch=VIT_ARCH, img_size=IMG,
               patch_size=8, out_type='raw')
# the settings of a tiny comparison (what tools/compare_methods.py stores in
# settings.json), for building rows' configs without a training run
TINY_SETTINGS = dict(
    arch='vit-tiny', width=64, depth=2, heads=None, img_size=IMG,
    patch_size=8, iters=2, minutes=None, batch_size=4, lr='auto',
    lr_rule='sqrt', knn_k=3, knn_interval=2, checkpoint_interval=1,
    num_workers=0, pretrain_data=dict(path='/nonexistent/train'),
    eval_data=dict(path='/nonexistent/eval'))


def write_class_folders(root, per_split=(('train', 5), ('val', 3)), seed=0):
    """PNG crops (lossless, so any reader decodes the same pixels): a class
    colour with stripes and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:IMG, 0:IMG]
    for split, num in per_split:
        for name, colour in zip(CLASSES, COLOURS):
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(num):
                img = (np.array(colour) + 30 * np.sin(
                    (xx + rng.integers(0, 9) * yy) / 4.)[..., None] +
                       rng.normal(0, 12, (IMG, IMG, 3)))
                Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                    osp.join(folder, f'{i:03d}.png'))
    return root


def save_export(cfg, path, seed=0, prefix='backbone.'):
    """A randomly initialised backbone written as
    tools/model_converters/export_backbone.py writes an export (shared
    relative position table also copied into every layer)."""
    from mmconmim.registry import MODELS
    from mmconmim.checkpoint.layout import (PRETRAIN_ONLY_KEYS,
                                            expand_shared_rel_pos_bias)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmconmim'):
        network = MODELS.build(cfg)
    network.init_weights()
    weights = {'backbone.' + k: v for k, v in network.state_dict().items()
               if k.split('.')[-1] not in PRETRAIN_ONLY_KEYS}
    weights.update(expand_shared_rel_pos_bias(weights, 'backbone.'))
    weights = {prefix + k[len('backbone.'):]: v for k, v in weights.items()}
    torch.save(dict(state_dict=weights, meta=dict(source='student',
                                                  prefix=prefix)), path)
    return path


@pytest.fixture(scope='session')
def compare_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('compare_columns')
    return dict(
        root=root,
        eval_data=write_class_folders(str(root / 'crops')),
        beit=save_export(BEIT_CFG, str(root / 'beit.pth')),
        vit=save_export(VIT_CFG, str(root / 'vit.pth'), seed=1, prefix=''))


def load_weights(path):
    return torch.load(path, map_location='cpu',
                      weights_only=False)['state_dict']
