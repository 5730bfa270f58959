"""The symmetric loss of issue 25's section 21
(benchmarks/conmim_symmetric.py): with the two views equal it is the
paper's loss; swapping the views gives the same loss; it equals the mean of
the two directions computed by hand with one teacher update; models without
the flag keep the paper's loss; importing the script patches nothing."""
import torch
from mmengine.logging import MessageHub

from benchmarks import conmim_symmetric as symmetric
from benchmarks.conmim_small_scale_report import setting_of
from mmconmim.models.selfsup.conmim import ConMIM
from tests.fixtures.conmim_driver import TRIAL_ARGS, build_driver_model
from tests.fixtures.conmim_tiny import tiny_batch


def model_and_batch():
    """A driver model whose teacher is already an EMA of a student that
    moved (so teacher != student), and a batch of two different views.
    Each call builds the same model (the module cannot be deep-copied after
    a masked forward)."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = build_driver_model(TRIAL_ARGS).train()
    batch = tiny_batch(batch_size=4, img_size=32, grid=4)
    model.loss(**batch)  # first update: the teacher copies the student
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    return model, batch


def twin():
    return model_and_batch()[0]


def test_equal_views_give_the_papers_loss():
    model, batch = model_and_batch()
    weak = batch['inputs'][0]
    other = twin()
    got = symmetric.symmetric_loss(model, [weak, weak.clone()],
                                   batch['data_samples'])['loss']
    expected = ConMIM.loss(other, [weak, weak.clone()],
                           batch['data_samples'])['loss']
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_swapping_the_views_gives_the_same_loss():
    model, batch = model_and_batch()
    weak, strong = batch['inputs']
    other = twin()
    forward = symmetric.symmetric_loss(model, [weak, strong],
                                       batch['data_samples'])['loss']
    swapped = symmetric.symmetric_loss(other, [strong, weak],
                                       batch['data_samples'])['loss']
    assert torch.allclose(forward, swapped, rtol=1e-5, atol=1e-6)
    plain = ConMIM.loss(twin(), [weak, strong],
                        batch['data_samples'])['loss']
    assert not torch.allclose(forward, plain, atol=1e-4)  # not the paper's


def test_it_is_the_mean_of_both_directions_with_one_teacher_update():
    model, batch = model_and_batch()
    weak, strong = batch['inputs']
    samples = batch['data_samples']
    other = twin()
    steps = int(model.teacher.steps)
    got = symmetric.symmetric_loss(model, [weak, strong], samples)['loss']
    assert int(model.teacher.steps) == steps + 1  # one EMA update

    # by hand: update the teacher once, then both directions
    mask = torch.stack([s.mask for s in samples]).bool()
    other.update_teacher()
    for a, b in zip(model.teacher.parameters(), other.teacher.parameters()):
        assert torch.equal(a, b)
    losses = []
    for student_view, teacher_view in ((weak, strong), (strong, weak)):
        s = other.patch_embeddings(other.backbone, other.neck,
                                   student_view, mask)
        with torch.no_grad():
            t = other.patch_embeddings(other.teacher_backbone,
                                       other.teacher_projector,
                                       teacher_view, None)
        losses.append(other.head.loss(s, t, mask.flatten(1)))
    assert torch.allclose(got, (losses[0] + losses[1]) / 2, rtol=1e-5,
                          atol=1e-6)


def test_install_routes_only_flagged_models_and_import_patches_nothing():
    plain = ConMIM.loss
    assert plain.__module__ == 'mmconmim.models.selfsup.conmim'
    model, batch = model_and_batch()
    weak, strong = batch['inputs']
    other, flagged = twin(), twin()
    expected_plain = plain(other, [weak, strong],
                           batch['data_samples'])['loss']
    expected_symmetric = symmetric.symmetric_loss(
        twin(), [weak, strong], batch['data_samples'])['loss']
    try:
        symmetric.install()
        got = model.loss([weak, strong], batch['data_samples'])['loss']
        assert torch.allclose(got, expected_plain, rtol=1e-5, atol=1e-6)
        symmetric.attach(flagged)
        got = flagged.loss([weak, strong], batch['data_samples'])['loss']
        assert torch.allclose(got, expected_symmetric, rtol=1e-5, atol=1e-6)
    finally:
        ConMIM.loss = plain
    assert 'symmetric views' in setting_of(dict(symmetric_views=True))
    assert 'symmetric' not in setting_of(dict())
