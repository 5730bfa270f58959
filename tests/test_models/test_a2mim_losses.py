"""A2MIM losses against independent expectations: the Fourier loss against a
float64 reference that builds the 2-D DFT as explicit matrix products (values
and gradients), focal-L1 against its formula and published values, and the
spatial loss against a hand-computed masked mean."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from mmconmim.models.losses import (FocalFrequencyLoss, MaskedPixelLoss,
                                    focal_l1)


def dft_matrices(n):
    """Real and imaginary parts of the orthonormal DFT matrix, float64:
    F[u, x] = exp(-2 pi i u x / n) / sqrt(n) = C - i S."""
    k = torch.arange(n, dtype=torch.float64)
    angle = 2 * math.pi * torch.outer(k, k) / n
    return torch.cos(angle) / math.sqrt(n), torch.sin(angle) / math.sqrt(n)


def naive_dft2(x):
    """F_H x F_W^T for every (b, c) slice, as real/imag matrix products."""
    ch, sh = dft_matrices(x.shape[-2])
    cw, sw = dft_matrices(x.shape[-1])
    real = ch @ x @ cw.T - sh @ x @ sw.T
    imag = -(sh @ x @ cw.T + ch @ x @ sw.T)
    return real, imag


def reference_fourier_loss(pred, target, mask, unmask_weight,
                           batch_average=True, detach_weight=True):
    """Spec section 5, written out step by step in float64."""
    m = mask[:, None].to(torch.float64)
    m_f = m + (1 - m) * unmask_weight
    mixed = pred * m_f + (0.5 * pred.detach() + 0.5 * target) * (1 - m_f)
    pred_re, pred_im = naive_dft2(mixed)
    target_re, target_im = naive_dft2(target)
    if batch_average:
        pred_re, pred_im = pred_re.mean(0), pred_im.mean(0)
        target_re, target_im = target_re.mean(0), target_im.mean(0)
    diff_re, diff_im = pred_re - target_re, pred_im - target_im
    distance = diff_re**2 + diff_im**2
    weight = torch.log(1 + torch.sqrt(distance))
    weight = weight / weight.max()
    if detach_weight:
        weight = weight.detach()
    return (weight * distance).mean()


def random_problem(seed=0, shape=(3, 3, 8, 6), dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(shape, generator=gen, dtype=torch.float64)
    pred = (target + 0.7 * torch.randn(shape, generator=gen,
                                       dtype=torch.float64))
    mask = (torch.rand(shape[0], *shape[2:], generator=gen) < 0.6).long()
    return pred.to(dtype), target.to(dtype), mask


@pytest.mark.parametrize('unmask_weight', [0., 1e-3, 0.3])
def test_fourier_loss_matches_naive_dft_values_and_gradients(unmask_weight):
    pred, target, mask = random_problem()  # non-square 8 x 6 on purpose
    pred_ref = pred.clone().requires_grad_()
    pred_mod = pred.clone().requires_grad_()

    expected = reference_fourier_loss(pred_ref, target, mask, unmask_weight)
    expected.backward()
    loss = FocalFrequencyLoss(unmask_weight=unmask_weight,
                              loss_weight=0.5)(pred_mod, target, mask)
    loss.backward()

    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, 0.5 * expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(pred_mod.grad, 0.5 * pred_ref.grad,
                               rtol=1e-9, atol=1e-14)


def test_fourier_loss_reference_is_discriminating():
    """The variants named in the spec's 'easy mistakes' give other values or
    gradients, so the comparison above would catch them."""
    pred, target, mask = random_problem(seed=1)
    module = FocalFrequencyLoss()(pred, target, mask)
    per_sample = reference_fourier_loss(pred, target, mask, 0.,
                                        batch_average=False)
    assert not torch.isclose(module, per_sample, rtol=1e-3)

    grads = []
    for detach in (True, False):
        p = pred.clone().requires_grad_()
        reference_fourier_loss(p, target, mask, 0.,
                               detach_weight=detach).backward()
        grads.append(p.grad)
    assert not torch.allclose(grads[0], grads[1], rtol=1e-3)


def test_fourier_loss_runs_in_fp32_under_autocast():
    """A 14 x 14 FFT (not a power of two) from bf16 tensors under autocast:
    computed in fp32, equal to the float64 reference of the same values."""
    pred, target, mask = random_problem(seed=2, shape=(2, 3, 14, 14),
                                        dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = FocalFrequencyLoss(unmask_weight=1e-3)(pred, target, mask)
    assert loss.dtype == torch.float32
    expected = reference_fourier_loss(pred.double(), target.double(), mask,
                                      1e-3)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)


def test_fourier_loss_of_a_perfect_prediction_is_zero():
    """The 0/0 of the weight normalisation becomes 0, not NaN."""
    _, target, mask = random_problem(seed=3)
    pred = target.clone().requires_grad_()
    loss = FocalFrequencyLoss()(pred, target, mask)
    loss.backward()
    assert loss.item() == 0.
    assert torch.isfinite(pred.grad).all()


def test_fourier_loss_rejects_bad_arguments():
    pred, target, mask = random_problem()
    with pytest.raises(ValueError, match='unmask_weight'):
        FocalFrequencyLoss(unmask_weight=1.5)
    with pytest.raises(ValueError, match='mask shape'):
        FocalFrequencyLoss()(pred, target, mask[:, :4])
    with pytest.raises(ValueError, match='same shape'):
        FocalFrequencyLoss()(pred, target[:, :2], mask)


def test_focal_l1_matches_its_formula():
    # Published values of |e| (2 sigmoid(0.2 |e|) - 1) (spec section 3).
    errors = torch.tensor([0.5, -1., 2., -3.])
    torch.testing.assert_close(
        focal_l1(errors), torch.tensor([0.025, 0.100, 0.395, 0.874]),
        atol=5e-4, rtol=0)
    # The formula with math.exp, gamma 2 and another alpha.
    gen = torch.Generator().manual_seed(0)
    values = (3 * torch.randn(20, generator=gen, dtype=torch.float64))
    expected = torch.tensor([
        abs(e) * (2 / (1 + math.exp(-0.5 * abs(e))) - 1)**2
        for e in values.tolist()
    ], dtype=torch.float64)
    torch.testing.assert_close(focal_l1(values, alpha=0.5, gamma=2.),
                               expected)


@pytest.mark.parametrize('criterion', ['L1', 'FocalL1'])
def test_spatial_loss_is_the_mean_over_masked_elements(criterion):
    pred, target, mask = random_problem(seed=4)
    penalty = (lambda e: abs(e)) if criterion == 'L1' else \
        (lambda e: abs(e) * (2 / (1 + math.exp(-0.2 * abs(e))) - 1))
    B, C, H, W = pred.shape
    total, count = 0., 0
    for b in range(B):
        for y in range(H):
            for x in range(W):
                if mask[b, y, x]:
                    count += 1
                    for c in range(C):
                        error = pred[b, c, y, x] - target[b, c, y, x]
                        total += penalty(error.item())
    expected = total / (count + 1e-5) / C
    loss = MaskedPixelLoss(criterion)(pred, target, mask)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_losses_ignore_unmasked_pixels():
    pred, target, mask = random_problem(seed=5)
    spatial = MaskedPixelLoss('FocalL1')
    visible = (1 - mask)[:, None].bool().expand_as(pred)

    changed = pred.clone()
    changed[visible] += 10.
    assert spatial(changed, target, mask).item() == pytest.approx(
        spatial(pred, target, mask).item(), rel=1e-12)

    for unmask_weight in (0., 1e-3):
        p = pred.clone().requires_grad_()
        total = spatial(p, target, mask) + FocalFrequencyLoss(
            unmask_weight=unmask_weight, loss_weight=0.5)(p, target, mask)
        total.backward()
        assert p.grad[~visible].abs().sum() > 0
        if unmask_weight == 0:
            assert torch.all(p.grad[visible] == 0)
        else:  # w_u lets a little gradient through the visible pixels
            assert p.grad[visible].abs().max() > 0
            assert p.grad[visible].abs().max() < \
                0.01 * p.grad[~visible].abs().max()


def test_head_returns_spatial_and_weighted_fourier_terms():
    pred, target, mask = random_problem(seed=6)
    head = MODELS.build(dict(
        type='A2MIMHead', loss=dict(type='MaskedPixelLoss', criterion='L1'),
        fourier_loss=dict(type='FocalFrequencyLoss', loss_weight=0.1)))
    losses = head.loss(pred, target, mask)
    assert set(losses) == {'loss_spatial', 'loss_fourier'}
    torch.testing.assert_close(
        losses['loss_fourier'],
        0.1 * reference_fourier_loss(pred, target, mask, 0.))
    torch.testing.assert_close(losses['loss_spatial'],
                               MaskedPixelLoss('L1')(pred, target, mask))
    no_fourier = MODELS.build(dict(
        type='A2MIMHead', loss=dict(type='MaskedPixelLoss', criterion='L1')))
    assert set(no_fourier.loss(pred, target, mask)) == {'loss_spatial'}
