"""A tiny ConMIM model and batches for CPU tests (32 px, 8 px patches)."""
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmconmim  # noqa: F401


def tiny_conmim_cfg(img_size=32, patch_size=8, embed_dims=64,
                    use_abs_pos_emb=True, norm='BN1d', momentum=0.004):
    return dict(
        type='ConMIM',
        backbone=dict(
            type='ConMIMViT',
            arch=dict(embed_dims=embed_dims, num_layers=2, num_heads=4,
                      feedforward_channels=embed_dims * 2),
            img_size=img_size, patch_size=patch_size,
            use_abs_pos_emb=use_abs_pos_emb, use_rel_pos_bias=False,
            use_shared_rel_pos_bias=True, layer_scale_init_value=0.1,
            final_norm=True, out_type='raw'),
        neck=dict(
            type='NonLinearNeck', in_channels=embed_dims, hid_channels=96,
            out_channels=32, num_layers=3, with_bias=False,
            with_last_bn=True, with_last_bn_affine=False,
            with_avg_pool=False, norm_cfg=dict(type=norm)),
        head=dict(type='MIMHead',
                  loss=dict(type='DenoisingContrastLoss', temperature=0.1)),
        momentum=momentum,
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[127.5] * 3,
            std=[64.] * 3, to_rgb=True))


def build_tiny_conmim(max_iters=100, **kwargs):
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    model = MODELS.build(tiny_conmim_cfg(**kwargs))
    model.init_weights()
    return model


def tiny_batch(batch_size=4, img_size=32, grid=4, seed=0, ratio=0.5):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randint(0, 256, (batch_size, 3, img_size, img_size),
                            generator=gen).float()
    teacher = (student * 0.8 + 20).clamp(0, 255)  # a photometric change
    samples = []
    for _ in range(batch_size):
        mask = torch.zeros(grid * grid, dtype=torch.bool)
        mask[torch.randperm(grid * grid, generator=gen)[:int(
            ratio * grid * grid)]] = True
        sample = DataSample()
        sample.set_mask(mask.view(grid, grid))
        samples.append(sample)
    return dict(inputs=[student, teacher], data_samples=samples)
