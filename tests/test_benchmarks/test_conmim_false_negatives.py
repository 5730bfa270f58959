"""The false-negative diagnosis of issue 25
(benchmarks/conmim_false_negatives.py): the batch-dictionary loss with some
images' keys removed and with soft targets, against float64 loops written
from the definitions;
which images each rule removes; and that importing the script patches
nothing (only running it does)."""
import math

import pytest
import torch

from benchmarks import conmim_false_negatives as fn
from benchmarks.conmim_small_scale_report import setting_of
from mmconmim.models.losses import DenoisingContrastLoss
from mmconmim.models.selfsup.conmim import ConMIM


def naive_loss(student, teacher, mask, drop, tau):
    """Mean over masked (b, j) of -log softmax over the keys (b', j') of
    the batch that are not in an image dropped for b; positive (b, j)."""
    s = torch.nn.functional.normalize(student.double(), dim=-1)
    t = torch.nn.functional.normalize(teacher.double(), dim=-1)
    B, N, _ = s.shape
    total, count = 0., 0
    for b in range(B):
        for j in range(N):
            if not mask[b, j]:
                continue
            keys = [(c, k) for c in range(B) if not drop[b][c]
                    for k in range(N)]
            logits = [float(s[b, j] @ t[c, k]) / tau for c, k in keys]
            top = max(logits)
            log_z = top + math.log(sum(math.exp(x - top) for x in logits))
            total += log_z - float(s[b, j] @ t[b, j]) / tau
            count += 1
    return total / count


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(4, 5, 8, generator=g)
    teacher = torch.randn(4, 5, 8, generator=g)
    mask = torch.rand(4, 5, generator=g) < 0.6
    mask[:, 0] = True
    return student, teacher, mask


def test_same_class_rule_removes_the_other_images_of_the_class(batch):
    student, teacher, mask = batch
    loss_module = DenoisingContrastLoss(negatives='batch', temperature=0.2)
    groups = torch.tensor([0, 1, 0, 0])
    drop = fn.excluded_images(groups, teacher, 'same-class')
    assert drop.tolist() == [[False, False, True, True],
                             [False, False, False, False],
                             [True, False, False, True],
                             [True, False, True, False]]
    fn._IN_FLIGHT['groups'] = groups
    try:
        ours = fn.batch_loss_without(loss_module, student, teacher, mask,
                                     'same-class')
        # all classes distinct: nothing removed, the library's batch loss
        fn._IN_FLIGHT['groups'] = torch.arange(4)
        plain = fn.batch_loss_without(loss_module, student, teacher, mask,
                                      'same-class')
    finally:
        fn._IN_FLIGHT.clear()
    assert float(ours) == pytest.approx(
        naive_loss(student, teacher, mask, drop.tolist(), 0.2), rel=1e-5)
    assert float(plain) == pytest.approx(
        float(loss_module(student, teacher, mask)), rel=1e-6)
    assert float(ours) < float(plain)  # fewer negatives, smaller loss


def test_nearest_and_group_rules():
    # mean tokens along three directions: images 0 and 1 nearly parallel,
    # 2 and 3 nearly parallel, the pairs orthogonal
    directions = torch.tensor([[1., 0.], [1., .1], [0., 1.], [.1, 1.]])
    teacher = directions[:, None, :].repeat(1, 3, 1)
    drop = fn.excluded_images(None, teacher, 'nearest:1')
    assert drop.tolist() == [[False, True, False, False],
                             [True, False, False, False],
                             [False, False, False, True],
                             [False, False, True, False]]
    assert fn.excluded_images(None, teacher, 'nearest:3').sum(1).tolist() \
        == [3, 3, 3, 3]
    assert not fn.excluded_images(None, teacher, 'nearest:3').diagonal().any()
    # groups of 2 consecutive images: each sees only its own group
    assert fn.excluded_images(None, teacher, 'groups:2').tolist() == [
        [False, False, True, True], [False, False, True, True],
        [True, True, False, False], [True, True, False, False]]


def test_soft_targets_are_the_teachers_similarity_distribution(batch):
    """Row (b, j): -sum_k p_k log q_k over the B * N keys, p = softmax of
    the teacher's cosines t_bj . t_k / tau_t, q = softmax of s_bj . t_k /
    tau (float64 loop); a tiny tau_t gives the one-hot batch loss."""
    student, teacher, mask = batch
    loss_module = DenoisingContrastLoss(negatives='batch', temperature=0.2)
    s = torch.nn.functional.normalize(student.double(), dim=-1)
    t = torch.nn.functional.normalize(teacher.double(), dim=-1)
    B, N, _ = s.shape
    keys = [t[c, k] for c in range(B) for k in range(N)]
    rows = []
    for b in range(B):
        for j in range(N):
            if mask[b, j]:
                p = torch.softmax(torch.stack(
                    [t[b, j] @ key for key in keys]) / 0.5, 0)
                log_q = torch.log_softmax(torch.stack(
                    [s[b, j] @ key for key in keys]) / 0.2, 0)
                rows.append(-(p * log_q).sum())
    ours = fn.soft_target_loss(loss_module, student, teacher, mask, 0.5)
    assert float(ours) == pytest.approx(float(torch.stack(rows).mean()),
                                        rel=1e-5)
    assert float(fn.soft_target_loss(loss_module, student, teacher, mask,
                                     1e-4)) == pytest.approx(
        float(loss_module(student, teacher, mask)), rel=1e-5)


def test_importing_patches_nothing_and_the_rule_is_named_in_the_table():
    assert ConMIM.loss.__module__ == 'mmconmim.models.selfsup.conmim'
    assert DenoisingContrastLoss.forward.__module__ == \
        'mmconmim.models.losses.denoising_contrast_loss'
    assert 'dictionary without same-class' in setting_of(
        dict(negatives='batch', exclude='same-class'))
    assert 'teacher-similarity targets, tau_t 0.02' in setting_of(
        dict(negatives='batch', soft_targets=0.02))
    for bad in ('nearest', 'groups:0', 'nearest:x'):
        with pytest.raises(SystemExit, match='nearest:K'):
            fn.main(['--exclude', bad])
    with pytest.raises(SystemExit, match='> 0'):
        fn.main(['--soft-targets', '0'])
