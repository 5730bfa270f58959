"""CIM's RESPIX target switch (issue 27): ``target='residual'`` regresses
original minus corrupted input, ``'normalized'`` (default) the
sliding-window normalised original; both against hand-computed values, and
the residual reaches the loss through CIM.loss with the corrupted image the
enhancer saw."""
import pytest
import torch

import mmconmim  # noqa: F401
from mmconmim.models.losses import CIMResPixLoss, sliding_window_normalize
from tests.fixtures.cim_tiny import build_tiny_cim, preprocessed_batch

ORIGINAL = torch.tensor([[[[1., 2.], [3., 4.]]]])
CORRUPTED = torch.tensor([[[[0., 1.], [1., 1.]]]])


def test_residual_target_is_original_minus_corrupted():
    loss = CIMResPixLoss(target='residual')
    assert torch.equal(loss.target(ORIGINAL, CORRUPTED),
                       torch.tensor([[[[1., 1.], [2., 3.]]]]))
    # Predicting 0: mean of (1, 1, 4, 9) = 3.75; L1: mean of (1, 1, 2, 3).
    zero = torch.zeros_like(ORIGINAL)
    assert loss(zero, ORIGINAL, CORRUPTED).item() == pytest.approx(3.75)
    l1 = CIMResPixLoss(target='residual', loss_type='l1', loss_weight=2.)
    assert l1(zero, ORIGINAL, CORRUPTED).item() == pytest.approx(3.5)
    # A perfect residual prediction: prediction + input = original.
    perfect = ORIGINAL - CORRUPTED
    assert loss(perfect, ORIGINAL, CORRUPTED).item() == 0.


def test_the_default_target_ignores_the_corrupted_image():
    """'normalized' is the window-normalised original: 2x2 window over the
    whole 2x2 image at the top-left pixel (k=2: the window reaches 0 pixels
    before and 1 after), clipped windows elsewhere."""
    loss = CIMResPixLoss(window_size=2, eps=1e-6)
    target = loss.target(ORIGINAL, CORRUPTED)
    assert torch.equal(target, loss.target(ORIGINAL))
    assert torch.equal(target, sliding_window_normalize(ORIGINAL, 2, 1e-6))
    # top-left: window {1, 2, 3, 4}, mean 2.5, variance 1.25
    assert target[0, 0, 0, 0].item() == pytest.approx(
        (1 - 2.5) / (1.25 + 1e-6)**0.5, rel=1e-5)
    assert not torch.allclose(target,
                              CIMResPixLoss(target='residual').target(
                                  ORIGINAL, CORRUPTED))


def test_residual_target_needs_the_corrupted_image():
    loss = CIMResPixLoss(target='residual')
    with pytest.raises(ValueError, match='corrupted image'):
        loss(torch.zeros_like(ORIGINAL), ORIGINAL)
    with pytest.raises(ValueError, match='target'):
        CIMResPixLoss(target='pixels')


def test_cim_trains_the_residual_against_its_own_corrupted_input():
    torch.manual_seed(0)
    model = build_tiny_cim(objective='respix')
    model.head.loss_module = CIMResPixLoss(target='residual')
    inputs, samples = preprocessed_batch()
    mask = torch.stack([s.mask for s in samples]).bool()

    torch.manual_seed(3)
    corruption = model.corrupt(*inputs, mask)
    with torch.no_grad():
        pred = model.head(model.backbone(corruption.image))
    expected = ((pred - (inputs[0] - corruption.image))**2).mean()
    torch.manual_seed(3)
    losses = model(inputs, samples, mode='loss')
    torch.testing.assert_close(losses['loss_enh'], expected)  # lambda = 1
    # and it is not the normalised-target loss
    normalized = ((pred - sliding_window_normalize(inputs[0], 8))**2).mean()
    assert not torch.isclose(losses['loss_enh'], normalized, rtol=1e-3)
