"""A2MIM model behaviour on tiny CPU models: hand-computed mean fill, the
mask token added exactly once at the configured stage (forward hooks), clear
errors for bad configs, weights that load into the plain backbones, and one
batch overfitted by a tiny ResNet and a tiny ViT."""
import numpy as np
import pytest
import torch
from mmpretrain.models.backbones import BEiTViT, ConvNeXt, ResNet
from mmpretrain.registry import MODELS, TRANSFORMS

import mmconmim  # noqa: F401
from tests.fixtures.a2mim_tiny import (cell_mask, data_samples, smooth_images,
                                       tiny_a2mim, tiny_convnext, tiny_resnet,
                                       tiny_vit)
from mmconmim.models.selfsup import mean_fill


def test_mean_fill_matches_hand_computation():
    gen = torch.Generator().manual_seed(0)
    img = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) * 3 + 1
    pixel_mask = (torch.rand(2, 4, 5, generator=gen) < 0.5).long()
    expected = img.clone()
    for b in range(2):
        for c in range(3):
            values = [img[b, c, y, x].item() for y in range(4)
                      for x in range(5)]
            mean = sum(values) / len(values)  # whole crop, before filling
            for y in range(4):
                for x in range(5):
                    if pixel_mask[b, y, x]:
                        expected[b, c, y, x] = mean
    torch.testing.assert_close(mean_fill(img, pixel_mask), expected,
                               rtol=1e-12, atol=1e-12)


def capture_inputs(modules):
    """Forward pre-hooks recording the first input of each module."""
    captured = {}
    handles = [
        module.register_forward_pre_hook(
            lambda mod, args, i=i: captured.__setitem__(i, args[0].clone()))
        for i, module in enumerate(modules)
    ]
    return captured, handles


def run_plain_and_masked(backbone, modules, x, mask):
    captured, handles = capture_inputs(modules)
    with torch.no_grad():
        backbone(x)
        plain = dict(captured)
        out = backbone(x, mask)
        masked = dict(captured)
    for handle in handles:
        handle.remove()
    return plain, masked, out


def check_cnn_injection(backbone, stage_inputs_plain, stage_inputs_masked,
                        mask, mask_layer):
    for i in range(mask_layer):  # untouched before the injection stage
        assert torch.equal(stage_inputs_plain[i], stage_inputs_masked[i])
    before = stage_inputs_plain[mask_layer]
    after = stage_inputs_masked[mask_layer]
    m = mask[:, None].float()
    gamma, token = backbone.mask_gamma, backbone.mask_token
    torch.testing.assert_close(
        after, before * (1 - m) + gamma * before * m + m * token)
    visible = (m == 0).expand_as(before)
    assert torch.equal(after[visible], before[visible])
    assert ((after - before)[~visible] != 0).all()


@pytest.mark.parametrize('mask_layer', [0, 1, 2, 3])
def test_resnet_token_is_added_once_at_the_configured_stage(mask_layer):
    torch.manual_seed(0)
    # gamma 0.5 instead of 1e-6 so that its term is visible in the check.
    backbone = MODELS.build(tiny_resnet(mask_layer, gamma=0.5)).eval()
    # stem stride 4, stage strides 1/2/2/2: the input of stage k.
    assert backbone.mask_stride == [4, 4, 8, 16][mask_layer]
    x = torch.randn(2, 3, 64, 64)
    mask = cell_mask(2, 64 // backbone.mask_stride, seed=1)
    stages = [getattr(backbone, name) for name in backbone.res_layers]
    plain, masked, out = run_plain_and_masked(backbone, stages, x, mask)

    check_cnn_injection(backbone, plain, masked, mask, mask_layer)
    # Exactly once: each later stage input is the previous stage applied to
    # the previous captured input, and so is the output.
    with torch.no_grad():
        for i in range(mask_layer, len(stages) - 1):
            torch.testing.assert_close(masked[i + 1], stages[i](masked[i]))
        torch.testing.assert_close(out[-1], stages[-1](masked[3]))


@pytest.mark.parametrize('mask_layer', [0, 3])
def test_convnext_token_is_added_once_after_the_downsample(mask_layer):
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_convnext(mask_layer, gamma=0.5)).eval()
    assert backbone.mask_stride == [4, 8, 16, 32][mask_layer]
    assert backbone.mask_token.shape == (1, [8, 16, 32, 64][mask_layer], 1,
                                         1)
    x = torch.randn(2, 3, 64, 64)
    mask = cell_mask(2, 64 // backbone.mask_stride, seed=1)
    plain, masked, out = run_plain_and_masked(backbone, backbone.stages, x,
                                              mask)
    check_cnn_injection(backbone, plain, masked, mask, mask_layer)
    with torch.no_grad():
        for i in range(mask_layer, 3):
            torch.testing.assert_close(
                masked[i + 1],
                backbone.downsample_layers[i + 1](backbone.stages[i](
                    masked[i])))


@pytest.mark.parametrize('mask_layer', [0, 1, 2])
def test_vit_token_is_added_once_at_the_configured_layer(mask_layer):
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_vit(mask_layer))
    backbone.init_weights()
    backbone.eval()
    assert backbone.mask_stride == 8 and backbone.mask_gamma is None
    x = torch.randn(2, 3, 32, 32)
    mask = cell_mask(2, 4, seed=1)
    plain, masked, out = run_plain_and_masked(backbone, backbone.layers, x,
                                              mask)
    # mask_layer 0: on the patch embedding, before CLS and position
    # embedding (which then add the same to both runs); k >= 1: on the input
    # of layers[k - 1].
    first = max(mask_layer - 1, 0)
    for i in range(first):
        assert torch.equal(plain[i], masked[i])
    shift = masked[first] - plain[first]
    assert torch.equal(shift[:, 0], torch.zeros_like(shift[:, 0]))  # CLS
    m = mask.flatten(1)[..., None].float()
    torch.testing.assert_close(shift[:, 1:], m * backbone.mask_token)
    visible = (m == 0).expand_as(shift[:, 1:])
    assert torch.equal(masked[first][:, 1:][visible],
                       plain[first][:, 1:][visible])
    with torch.no_grad():
        layers = backbone.layers
        for i in range(first, len(layers) - 1):
            torch.testing.assert_close(masked[i + 1],
                                       layers[i](masked[i], None))
        last = backbone.ln1(layers[-1](masked[len(layers) - 1], None))
        torch.testing.assert_close(
            out[-1], last[:, 1:].transpose(1, 2).reshape(2, 64, 4, 4))


def test_a2mim_feeds_the_mean_filled_image_and_targets_the_unmasked_one():
    # ViT with 8-px patches, mask cells of 16 px: the 2x2 cell mask becomes
    # a 4x4 token mask and a 32x32 pixel mask.
    model = tiny_a2mim(tiny_vit(0), 64, 8, criterion='L1',
                       fourier_weight=0.1, unmask_weight=0.)
    raw = torch.randint(0, 256, (2, 3, 32, 32)).float()
    cells = torch.tensor([[[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    data = model.data_preprocessor(
        dict(inputs=raw, data_samples=data_samples(cells)), True)
    img = data['inputs']

    seen = {}
    model.backbone.register_forward_pre_hook(
        lambda mod, args: seen.update(backbone_args=args))
    head_loss = model.head.loss
    model.head.loss = lambda pred, target, mask: seen.update(
        head_args=(pred, target, mask)) or head_loss(pred, target, mask)
    losses = model(**data, mode='loss')

    pixel_mask = np.kron(cells.numpy(), np.ones((16, 16)))
    expected = img.numpy().copy()
    for b in range(2):
        for c in range(3):
            expected[b, c][pixel_mask[b] == 1] = img[b, c].numpy().mean()
    backbone_img, token_mask = seen['backbone_args']
    np.testing.assert_allclose(backbone_img.numpy(), expected, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(token_mask.numpy(),
                                  np.kron(cells.numpy(), np.ones((2, 2))))
    pred, target, mask = seen['head_args']
    assert torch.equal(target, img)  # the unmasked image
    np.testing.assert_array_equal(mask.numpy(), pixel_mask)
    assert pred.shape == img.shape
    assert set(losses) == {'loss_spatial', 'loss_fourier'}


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match='mask_layer=4 is out of range'):
        MODELS.build(tiny_resnet(4))
    with pytest.raises(TypeError, match='mask_layer must be an int'):
        MODELS.build(tiny_resnet(True))
    with pytest.raises(ValueError, match='never be used'):
        MODELS.build(tiny_resnet(3, out_indices=(1, )))
    with pytest.raises(ValueError, match='mask_layer=3 is out of range'):
        MODELS.build(tiny_vit(3))  # 2 layers: 0, 1 or 2
    with pytest.raises(ValueError, match='mask_layer=-1 is out of range'):
        MODELS.build(tiny_convnext(-1))
    with pytest.raises(ValueError, match='mask_gamma_init'):
        MODELS.build(tiny_convnext(3, gamma=-1.))
    with pytest.raises(ValueError, match='mask_ratio'):
        TRANSFORMS.build(dict(type='UnitMaskGenerator', input_size=64,
                              mask_patch_size=16, model_patch_size=16,
                              mask_ratio=1.0))
    with pytest.raises(ValueError, match='criterion'):
        MODELS.build(dict(type='MaskedPixelLoss', criterion='L3'))
    with pytest.raises(TypeError, match='injects the mask token'):
        tiny_a2mim(dict(type='ResNet', depth=18), 512, 32)


def test_stride_mismatches_raise_clear_errors():
    img = torch.randn(2, 3, 64, 64)
    # ConvNeXt injects at stride 32; 16-px mask cells cannot be expressed.
    convnext = tiny_a2mim(tiny_convnext(3), 64, 32)
    with pytest.raises(ValueError, match='stride 32'):
        convnext.reconstruct(img, cell_mask(2, 4))
    # A mask handed to the backbone at the wrong grid.
    with pytest.raises(ValueError, match='mask_layer=3'):
        convnext.backbone(img, cell_mask(2, 4))
    # A decoder whose stride is not the backbone's output stride.
    resnet = tiny_a2mim(tiny_resnet(3), 64, 16)
    with pytest.raises(ValueError, match='encoder_stride'):
        resnet.reconstruct(img, cell_mask(2, 2))
    # The mask does not tile the image.
    with pytest.raises(ValueError, match='square cells'):
        resnet.reconstruct(img, cell_mask(2, 3))


@pytest.mark.parametrize('a2mim_cfg,plain,extra', [
    (tiny_resnet(3), lambda: ResNet(18, stem_channels=8, base_channels=8),
     {'mask_token', 'mask_gamma'}),
    (tiny_convnext(3), lambda: ConvNeXt(
        arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]),
        out_indices=(3, ), gap_before_final_norm=False),
     {'mask_token', 'mask_gamma'}),
    (tiny_vit(0), lambda: BEiTViT(
        arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                  feedforward_channels=128),
        img_size=32, patch_size=8, use_abs_pos_emb=True,
        use_rel_pos_bias=True, final_norm=True, out_type='featmap'),
     {'mask_token'}),
], ids=['resnet', 'convnext', 'vit'])
def test_weights_load_into_the_plain_backbones(a2mim_cfg, plain, extra):
    torch.manual_seed(0)
    a2mim_backbone = MODELS.build(a2mim_cfg).eval()
    plain_backbone = plain()
    plain_backbone.eval()  # mmpretrain's ResNet.train() returns None
    missing, unexpected = plain_backbone.load_state_dict(
        a2mim_backbone.state_dict(), strict=False)
    assert missing == []
    assert set(unexpected) == extra
    x = torch.randn(2, 3, 64, 64) if a2mim_cfg['type'] != 'A2MIMViT' \
        else torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain_backbone(x)[-1],
                                   a2mim_backbone(x)[-1])


def overfit(model, img, mask, steps, lr):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr,
                                  weight_decay=0.)
    samples = data_samples(mask)
    history = []
    for _ in range(steps):
        losses = model.loss(img, samples)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def test_tiny_resnet_overfits_one_batch():
    torch.manual_seed(0)
    model = tiny_a2mim(tiny_resnet(3, width=16), 128, 32)
    history = overfit(model, smooth_images(4, 64), cell_mask(4, 4), 60, 2e-3)
    assert history[-1] < 0.2 * history[0], history


def test_tiny_vit_overfits_one_batch():
    torch.manual_seed(0)
    model = tiny_a2mim(tiny_vit(0), 64, 8, criterion='L1',
                       fourier_weight=0.1, unmask_weight=0.)
    history = overfit(model, smooth_images(4, 32), cell_mask(4, 2), 150, 5e-3)
    assert history[-1] < 0.2 * history[0], history
