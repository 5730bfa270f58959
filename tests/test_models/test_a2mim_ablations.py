"""A2MIM's ablation switches change what they claim (issue 27): zero fill
leaves the masked pixels at 0, the token replace mode substitutes the masked
features, the non-focal Fourier losses equal hand-computed values; and the
helpers ConMIMCNN shares (``expand_mask``, ``out_stride``) on hand-made
cases."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from mmconmim.models.losses import FocalFrequencyLoss, PlainFrequencyLoss
from mmconmim.models.selfsup.a2mim import expand_mask, zero_fill
from tests.fixtures.a2mim_tiny import (cell_mask, data_samples, tiny_a2mim,
                                       tiny_convnext, tiny_resnet, tiny_vit)


# ----------------------------------------------------------------- fill
def tiny_vit_a2mim(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='A2MIM', backbone=tiny_vit(0),
        neck=dict(type='SimMIMLinearDecoder', in_channels=64,
                  encoder_stride=8),
        head=dict(type='A2MIMHead',
                  loss=dict(type='MaskedPixelLoss', criterion='L1')),
        **kwargs))


def test_zero_fill_sets_exactly_the_masked_pixels_to_zero():
    img = torch.arange(1., 1. + 2 * 3 * 2 * 2).view(2, 3, 2, 2)
    pixel_mask = torch.tensor([[[1, 0], [0, 1]], [[0, 0], [1, 0]]])
    filled = zero_fill(img, pixel_mask)
    expected = img.clone()
    expected[0, :, 0, 0] = expected[0, :, 1, 1] = expected[1, :, 1, 0] = 0.
    assert torch.equal(filled, expected)


@pytest.mark.parametrize('fill', ['mean', 'zero'])
def test_a2mim_fill_switch_reaches_the_backbone(fill):
    """fill='zero': the backbone sees 0 at every masked pixel and the image
    elsewhere; fill='mean' (default) puts the image mean there instead."""
    model = tiny_vit_a2mim(fill=fill)
    assert model.fill == fill
    gen = torch.Generator().manual_seed(0)
    img = torch.randn(2, 3, 32, 32, generator=gen) + 2.  # mean far from 0
    cells = torch.tensor([[[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    seen = {}
    model.backbone.register_forward_pre_hook(
        lambda mod, args: seen.update(img=args[0]))
    model.loss(img, data_samples(cells))
    masked = cells.repeat_interleave(16, 1).repeat_interleave(16, 2).bool()
    masked = masked[:, None].expand_as(img)
    assert torch.equal(seen['img'][~masked], img[~masked])
    if fill == 'zero':
        assert torch.equal(seen['img'][masked],
                           torch.zeros_like(img[masked]))
    else:
        means = img.mean(dim=(2, 3), keepdim=True).expand_as(img)
        torch.testing.assert_close(seen['img'][masked], means[masked])
        assert (seen['img'][masked].abs() > 0.5).all()


def test_a2mim_rejects_an_unknown_fill():
    with pytest.raises(ValueError, match='fill'):
        tiny_vit_a2mim(fill='noise')


# ------------------------------------------------------------ token mode
@pytest.mark.parametrize('backbone_cfg', [
    tiny_resnet(2, gamma=None, mask_token_mode='replace'),
    tiny_convnext(1, gamma=None, mask_token_mode='replace'),
], ids=['resnet', 'convnext'])
def test_replace_mode_substitutes_the_masked_features(backbone_cfg):
    """At the injection stage the masked features equal the token whatever
    the input (two different images), the visible ones are untouched."""
    torch.manual_seed(0)
    backbone = MODELS.build(backbone_cfg).eval()
    assert backbone.mask_token_mode == 'replace'
    stage = (getattr(backbone, backbone.res_layers[2])
             if hasattr(backbone, 'res_layers') else backbone.stages[1])
    seen = []
    stage.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    mask = cell_mask(2, 64 // backbone.mask_stride, seed=1)
    with torch.no_grad():
        for seed in (0, 1):
            x = torch.randn(2, 3, 64, 64,
                            generator=torch.Generator().manual_seed(seed))
            backbone(x)
            backbone(x, mask)
    plain_a, replaced_a, plain_b, replaced_b = seen
    m = mask[:, None].bool().expand_as(plain_a)
    token = backbone.mask_token.expand_as(plain_a)
    assert torch.equal(replaced_a[m], token[m])
    assert torch.equal(replaced_b[m], token[m])
    assert torch.equal(replaced_a[~m], plain_a[~m])
    assert not torch.equal(plain_a[m], plain_b[m])  # the inputs differed


def test_replace_mode_on_the_vit_patch_tokens():
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_vit(1, mask_token_mode='replace')).eval()
    seen = []
    backbone.layers[0].register_forward_pre_hook(
        lambda mod, args: seen.append(args[0]))
    mask = cell_mask(2, 4, seed=1)
    with torch.no_grad():
        x = torch.randn(2, 3, 32, 32)
        backbone(x)
        backbone(x, mask)
    plain, replaced = seen
    m = mask.flatten(1).bool()
    assert torch.equal(replaced[:, 1:][m],
                       backbone.mask_token[0].expand(int(m.sum()), -1))
    assert torch.equal(replaced[:, 1:][~m], plain[:, 1:][~m])
    assert torch.equal(replaced[:, 0], plain[:, 0])  # CLS untouched


def test_add_mode_is_the_default_and_differs_from_replace():
    torch.manual_seed(0)
    add = MODELS.build(tiny_resnet(3, gamma=None)).eval()
    torch.manual_seed(0)
    replace = MODELS.build(
        tiny_resnet(3, gamma=None, mask_token_mode='replace')).eval()
    assert add.mask_token_mode == 'add'
    x, mask = torch.randn(1, 3, 64, 64), cell_mask(1, 4, seed=2)
    with torch.no_grad():
        assert not torch.allclose(add(x, mask)[-1], replace(x, mask)[-1])


def test_replace_mode_refuses_an_unused_gamma_and_unknown_modes():
    with pytest.raises(ValueError, match='mask_gamma_init=None'):
        MODELS.build(tiny_resnet(3, gamma=1e-6, mask_token_mode='replace'))
    with pytest.raises(ValueError, match='mask_token_mode'):
        MODELS.build(tiny_convnext(3, mask_token_mode='swap'))


# -------------------------------------------------------- Fourier losses
# One 2 x 2 image, one channel: the orthonormal 2-D DFT of [[a, b], [c, d]]
# is ([a+b+c+d, a-b+c-d], [a+b-c-d, a-b-c+d]) / 2 -- real.
PRED = torch.tensor([[[[1., 2.], [3., 4.]]]], dtype=torch.float64)
SPECTRUM = [5., -1., -2., 0.]  # DFT of PRED by the formula above
ALL_MASKED = torch.ones(1, 2, 2)


def test_focal_frequency_loss_alpha_zero_is_the_plain_spectrum_mse():
    target = torch.zeros_like(PRED)
    plain = sum(v * v for v in SPECTRUM) / 4  # = 7.5, every weight 1
    loss = FocalFrequencyLoss(alpha=0.)(PRED, target, ALL_MASKED)
    assert loss.item() == pytest.approx(plain, rel=1e-12)
    # alpha=1 (A2MIM): weights log(1 + |d|) / log(6).
    focal = sum(math.log1p(abs(v)) / math.log(6) * v * v
                for v in SPECTRUM) / 4
    loss = FocalFrequencyLoss()(PRED, target, ALL_MASKED)
    assert loss.item() == pytest.approx(focal, rel=1e-12)
    assert focal < plain - 0.1
    with pytest.raises(ValueError, match='alpha'):
        FocalFrequencyLoss(alpha=-1.)


def test_plain_frequency_loss_uses_per_sample_spectra():
    """The reference's fft_focal=False form: the criterion on |F(y_b) -
    F(x_b)| per sample. Two samples with opposite spectra: their batch mean
    is 0, so the batch-averaged (focal) loss is 0 while the per-sample one
    is not."""
    pred = torch.cat([PRED, -PRED])
    target = torch.zeros_like(pred)
    mask = torch.ones(2, 2, 2)
    moduli = [abs(v) for v in SPECTRUM] * 2
    l1 = PlainFrequencyLoss(criterion='L1')(pred, target, mask)
    assert l1.item() == pytest.approx(sum(moduli) / 8, rel=1e-12)  # = 2.0

    def focal(e, alpha=0.2):
        return e * (2. / (1. + math.exp(-alpha * e)) - 1.)

    loss = PlainFrequencyLoss(criterion='FocalL1', loss_weight=0.1)(
        pred, target, mask)
    expected = 0.1 * sum(focal(e) for e in moduli) / 8
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert FocalFrequencyLoss()(pred, target, mask).item() == 0.


def test_plain_frequency_loss_mixes_the_visible_pixels():
    """At visible pixels the FFT input is (sg(pred) + target) / 2 when
    w_u = 0: with target 0 the input there is pred / 2."""
    mask = torch.tensor([[[1., 0.], [1., 1.]]])  # b (top right) visible
    mixed = PRED.clone()
    mixed[0, 0, 0, 1] = 1.  # 2 / 2
    a, b, c, d = mixed.flatten().tolist()
    spectrum = [(a + b + c + d) / 2, (a - b + c - d) / 2,
                (a + b - c - d) / 2, (a - b - c + d) / 2]
    loss = PlainFrequencyLoss()(PRED, torch.zeros_like(PRED), mask)
    assert loss.item() == pytest.approx(
        sum(abs(v) for v in spectrum) / 4, rel=1e-12)


def test_plain_frequency_loss_in_the_head_and_its_gradient():
    model = tiny_a2mim(tiny_resnet(3), 64, 32, fourier_weight=None)
    model.head.fourier_loss = MODELS.build(
        dict(type='PlainFrequencyLoss', criterion='FocalL1',
             unmask_weight=1e-3, loss_weight=0.1))
    img = torch.randn(2, 3, 64, 64)
    losses = model.loss(img, data_samples(cell_mask(2, 2)))
    assert set(losses) == {'loss_spatial', 'loss_fourier'}
    losses['loss_fourier'].backward()
    assert model.backbone.mask_token.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='criterion'):
        PlainFrequencyLoss(criterion='L2')


# ------------------------------------------------- shared mask geometry
def test_expand_mask_repeats_each_cell_to_the_grids():
    mask = torch.tensor([[[1, 0], [0, 1]]])
    token, pixel = expand_mask(mask, (8, 8), mask_stride=2)
    assert torch.equal(token, torch.kron(mask, torch.ones(1, 2, 2,
                                                          dtype=mask.dtype)))
    assert torch.equal(pixel, torch.kron(mask, torch.ones(1, 4, 4,
                                                          dtype=mask.dtype)))
    with pytest.raises(ValueError, match='multiple of 3'):
        expand_mask(mask, (8, 8), mask_stride=3, owner='X')
    with pytest.raises(ValueError, match='square cells'):
        expand_mask(mask, (8, 6), mask_stride=2)


@pytest.mark.parametrize('cfg,stride', [
    (tiny_resnet(3), 32),                        # stem 4 x 1 x 2 x 2 x 2
    (tiny_resnet(1, out_indices=(1, )), 8),      # stem 4 x 1 x 2
    (tiny_resnet(0, deep_stem=True, out_indices=(2, )), 16),
    (tiny_convnext(3), 32),
    (dict(tiny_convnext(1), out_indices=(1, )), 8),
    (tiny_vit(0), 8),
])
def test_out_stride_is_the_stride_of_the_last_output(cfg, stride):
    torch.manual_seed(0)
    backbone = MODELS.build(cfg).eval()
    assert backbone.out_stride == stride
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 64, 64) if cfg['type'] !=
                       'A2MIMViT' else torch.randn(1, 3, 32, 32))[-1]
    size = 64 if cfg['type'] != 'A2MIMViT' else 32
    assert out.shape[-1] == size // stride
