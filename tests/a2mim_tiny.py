"""Tiny A2MIM models, images and masks for CPU tests."""
import math

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmconmim  # noqa: F401

PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[64.] * 3,
    to_rgb=True)


def tiny_resnet(mask_layer=3, depth=18, width=8, gamma=1e-6, **kwargs):
    """Strides 4/4/8/16 at the stage inputs, 32 at the output."""
    return dict(type='A2MIMResNet', depth=depth, stem_channels=width,
                base_channels=width, mask_layer=mask_layer,
                mask_gamma_init=gamma, **kwargs)


def tiny_convnext(mask_layer=3, gamma=1e-6, **kwargs):
    """Strides 4/8/16/32 after the downsample layers."""
    return dict(type='A2MIMConvNeXt',
                arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]),
                out_indices=(3, ), gap_before_final_norm=False,
                mask_layer=mask_layer, mask_gamma_init=gamma, **kwargs)


def tiny_vit(mask_layer=0, img_size=32, patch_size=8, embed_dims=64,
             num_layers=2, **kwargs):
    return dict(type='A2MIMViT',
                arch=dict(embed_dims=embed_dims, num_layers=num_layers,
                          num_heads=4, feedforward_channels=embed_dims * 2),
                img_size=img_size, patch_size=patch_size,
                use_abs_pos_emb=True, use_rel_pos_bias=True,
                layer_scale_init_value=0.1, final_norm=True,
                out_type='featmap', out_indices=-1, mask_layer=mask_layer,
                **kwargs)


def tiny_a2mim(backbone, in_channels, encoder_stride, criterion='FocalL1',
               fourier_weight=0.5, unmask_weight=1e-3, seed=0):
    torch.manual_seed(seed)
    fourier = None if fourier_weight is None else dict(
        type='FocalFrequencyLoss', unmask_weight=unmask_weight,
        loss_weight=fourier_weight)
    model = MODELS.build(dict(
        type='A2MIM', backbone=backbone,
        neck=dict(type='SimMIMLinearDecoder', in_channels=in_channels,
                  encoder_stride=encoder_stride),
        head=dict(type='A2MIMHead',
                  loss=dict(type='MaskedPixelLoss', criterion=criterion),
                  fourier_loss=fourier),
        data_preprocessor=PREPROCESSOR))
    model.init_weights()
    return model


def smooth_images(batch, size, seed=0, dtype=torch.float32):
    """Normalised-looking images with structure at several scales."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, 3, 4, 4, generator=gen)
    img = torch.nn.functional.interpolate(
        coarse, size=(size, size), mode='bilinear', align_corners=False)
    return (img + 0.1 * torch.randn(img.shape, generator=gen)).to(dtype)


def cell_mask(batch, grid, ratio=0.6, seed=0):
    """(B, grid, grid) long masks with exactly ceil(grid^2 * ratio) ones."""
    gen = torch.Generator().manual_seed(seed)
    count = math.ceil(grid * grid * ratio)
    masks = torch.zeros(batch, grid * grid, dtype=torch.long)
    for b in range(batch):
        masks[b, torch.randperm(grid * grid, generator=gen)[:count]] = 1
    return masks.view(batch, grid, grid)


def data_samples(mask):
    samples = []
    for m in mask:
        sample = DataSample()
        sample.set_mask(m)
        samples.append(sample)
    return samples
