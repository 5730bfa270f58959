"""RESPIX / REVDET losses and heads against independent computations."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from mmconmim.models.losses import (CIMResPixLoss, CIMRevDetLoss,
                                    replaced_token_labels,
                                    sliding_window_normalize)


def naive_sliding_window_normalize(x, k, eps):
    """Per pixel: mean/population variance over the k x k window reaching
    (k-1)//2 before and k//2 after the pixel, clipped to the image."""
    B, C, H, W = x.shape
    before, after = (k - 1) // 2, k // 2
    out = torch.empty_like(x, dtype=torch.float64)
    x = x.double()
    for i in range(H):
        for j in range(W):
            win = x[:, :, max(0, i - before):min(H, i + after + 1),
                    max(0, j - before):min(W, j + after + 1)]
            mean = win.mean(dim=(2, 3))
            var = ((win - mean[..., None, None])**2).mean(dim=(2, 3))
            out[:, :, i, j] = (x[:, :, i, j] - mean) / torch.sqrt(var + eps)
    return out


@pytest.mark.parametrize('k', [8, 9, 3, 16])
def test_sliding_window_normalisation_equals_a_naive_loop(k):
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(2, 3, 13, 11, generator=gen) * 2 + 1
    expected = naive_sliding_window_normalize(x, k, 1e-6)
    out = sliding_window_normalize(x, k, 1e-6)
    assert out.shape == x.shape
    torch.testing.assert_close(out.double(), expected, atol=2e-4, rtol=1e-4)


def test_sliding_window_normalisation_of_flat_and_affine_images():
    flat = torch.full((1, 3, 10, 10), 0.7)
    assert sliding_window_normalize(flat, 8).abs().max() < 1e-3
    # Invariant to a per-channel affine change (up to eps).
    x = torch.rand(1, 3, 12, 12)
    torch.testing.assert_close(
        sliding_window_normalize(3 * x + 2, 5, 1e-12),
        sliding_window_normalize(x, 5, 1e-12), atol=1e-3, rtol=1e-3)


def test_respix_loss_is_the_mean_error_to_the_normalised_original():
    gen = torch.Generator().manual_seed(0)
    img = torch.randn(2, 3, 16, 16, generator=gen)
    pred = torch.randn(2, 3, 16, 16, generator=gen)
    target = naive_sliding_window_normalize(img, 8, 1e-6).float()
    l2 = CIMResPixLoss(window_size=8)(pred, img)
    torch.testing.assert_close(l2, ((pred - target)**2).mean(), rtol=1e-4,
                               atol=1e-5)
    l1 = CIMResPixLoss(window_size=8, loss_type='l1', loss_weight=2.)(pred,
                                                                     img)
    torch.testing.assert_close(l1, 2 * (pred - target).abs().mean(),
                               rtol=1e-4, atol=1e-5)
    for kwargs, field in ((dict(window_size=1), 'window_size'),
                          (dict(loss_type='huber'), 'loss_type'),
                          (dict(eps=0.), 'eps')):
        with pytest.raises(ValueError, match=field):
            CIMResPixLoss(**kwargs)


def test_revdet_loss_and_labels():
    golden = torch.tensor([[[1, 2], [3, 4]]])
    corrupted = torch.tensor([[[1, 5], [3, 4]]])
    labels = replaced_token_labels(corrupted, golden)
    assert labels.tolist() == [[[0., 1.], [0., 0.]]]
    logits = torch.tensor([[[0.3, -1.2], [2.0, 0.]]])
    sig = [1 / (1 + math.exp(-v)) for v in (0.3, -1.2, 2.0, 0.)]
    expected = -(math.log(1 - sig[0]) + math.log(sig[1]) +
                 math.log(1 - sig[2]) + math.log(1 - sig[3])) / 4
    loss = CIMRevDetLoss()(logits, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match='shape'):
        CIMRevDetLoss()(logits, labels[:, :1])


def test_respix_head_unpatchifies_per_location():
    """Each output pixel block depends on its own feature location only
    (a per-patch linear layer followed by un-patchify)."""
    head = MODELS.build(dict(type='CIMResPixHead', in_channels=8, upscale=4))
    feats = torch.randn(1, 8, 3, 5)
    out = head((feats, ))
    assert out.shape == (1, 3, 12, 20)
    changed = feats.clone()
    changed[0, :, 1, 2] += 1.
    diff = (head((changed, )) - out).abs().sum(1)[0] > 0
    expected = torch.zeros(12, 20, dtype=torch.bool)
    expected[4:8, 8:12] = True
    assert torch.equal(diff, expected)
    with pytest.raises(ValueError, match='upscale'):
        head.loss((feats, ), torch.zeros(1, 3, 16, 16))


def test_revdet_head_reaches_the_token_grid():
    head = MODELS.build(
        dict(type='CIMRevDetHead', in_channels=8, upsample_factor=2))
    logits = head((torch.randn(2, 8, 7, 7), ))
    assert logits.shape == (2, 14, 14)
    with pytest.raises(ValueError, match='token grid'):
        head.loss((torch.randn(2, 8, 7, 7), ), torch.zeros(2, 7, 7))
    with pytest.raises(ValueError, match='featmap'):
        head((torch.randn(2, 50, 8), ))
