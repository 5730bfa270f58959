"""DenoisingContrastLoss against a naive float64 loop (Eq. 3 of ConMIM)."""
import math

import pytest
import torch

from mmconmim.models import DenoisingContrastLoss


def naive_loss(student, teacher, mask, tau):
    """Per image, per masked token: -log softmax over the image's tokens."""
    terms = []
    B, N, _ = student.shape
    for b in range(B):
        for j in range(N):
            if not mask[b, j]:
                continue
            s = student[b, j] / student[b, j].norm()
            logits = torch.stack([
                (s * teacher[b, i] / teacher[b, i].norm()).sum() / tau
                for i in range(N)
            ])
            terms.append(torch.logsumexp(logits, 0) - logits[j])
    return torch.stack(terms).mean()


def make_inputs(B=3, N=9, C=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(B, N, C, generator=gen, dtype=torch.float64)
    teacher = torch.randn(B, N, C, generator=gen, dtype=torch.float64)
    mask = torch.rand(B, N, generator=gen) < 0.6
    mask[0, 0] = True  # at least one masked token
    mask[1] = False  # an image without masked tokens contributes nothing
    return student, teacher, mask


@pytest.mark.parametrize('tau', [0.1, 0.5])
def test_loss_value_and_gradient_match_naive_loop(tau):
    student, teacher, mask = make_inputs()
    student_ref = student.clone().requires_grad_(True)
    expected = naive_loss(student_ref, teacher, mask, tau)
    expected.backward()

    loss_fn = DenoisingContrastLoss(temperature=tau)
    student_ours = student.float().clone().requires_grad_(True)
    loss = loss_fn(student_ours, teacher.float(), mask)
    loss.backward()

    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(student_ours.grad.double(), student_ref.grad,
                               rtol=1e-4, atol=1e-6)


def test_teacher_receives_no_gradient():
    student, teacher, mask = make_inputs()
    student = student.float().requires_grad_(True)
    teacher = teacher.float().requires_grad_(True)
    DenoisingContrastLoss()(student, teacher, mask).backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


def test_perfect_match_gives_the_minimum_and_shuffled_keys_cost_more():
    # Orthogonal one-hot tokens: the teacher token at j equals the student
    # token at j and is orthogonal to all others, so each row's loss is
    # -log(e^{1/tau} / (e^{1/tau} + (N-1))).
    N, tau = 4, 0.5
    tokens = torch.eye(N).unsqueeze(0)
    mask = torch.ones(1, N, dtype=torch.bool)
    loss = DenoisingContrastLoss(temperature=tau)(tokens, tokens, mask)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + N - 1))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    shuffled = DenoisingContrastLoss(temperature=tau)(
        tokens, tokens[:, [1, 2, 3, 0]], mask)
    # every row now picks an orthogonal key: -log(1 / (e^{1/tau} + N - 1))
    assert shuffled.item() == pytest.approx(
        math.log(math.exp(1 / tau) + N - 1), rel=1e-5)


def test_other_images_are_not_negatives():
    # Changing image 1 must not change the loss of a batch whose masked
    # tokens are all in image 0.
    student, teacher, mask = make_inputs()
    mask[1:] = False
    loss_fn = DenoisingContrastLoss()
    base = loss_fn(student.float(), teacher.float(), mask)
    teacher[1:] = torch.randn_like(teacher[1:])
    student[1:] = torch.randn_like(student[1:])
    assert loss_fn(student.float(), teacher.float(), mask) == base


def test_empty_mask_gives_zero_and_a_graph():
    student, teacher, mask = make_inputs()
    student = student.float().requires_grad_(True)
    loss = DenoisingContrastLoss()(student, teacher.float(),
                                   torch.zeros_like(mask))
    assert loss.item() == 0.
    loss.backward()
    assert torch.all(student.grad == 0)


def test_logits_stay_fp32_under_bf16_autocast():
    student, teacher, mask = make_inputs(B=2, N=16, C=8)
    ref = DenoisingContrastLoss()(student.float(), teacher.float(), mask)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = DenoisingContrastLoss()(student.bfloat16(), teacher.bfloat16(),
                                      mask)
    assert out.dtype == torch.float32
    # Only the bf16 rounding of the inputs remains (~3 significant digits).
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize('tau', [0, -0.1])
def test_rejects_non_positive_temperature(tau):
    with pytest.raises(ValueError, match='temperature'):
        DenoisingContrastLoss(temperature=tau)


def test_rejects_mismatched_shapes():
    student, teacher, mask = make_inputs()
    with pytest.raises(ValueError, match='same shape'):
        DenoisingContrastLoss()(student, teacher[:, :-1], mask)
    with pytest.raises(ValueError, match='mask shape'):
        DenoisingContrastLoss()(student, teacher, mask[:, :-1])
