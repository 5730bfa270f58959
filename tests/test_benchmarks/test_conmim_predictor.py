"""The student predictor of issue 25's section 14
(benchmarks/conmim_predictor.py): the student's embedding is the
predictor applied to the projector's tokens (checked against a naive
forward), the teacher's embedding and models without a predictor are
unchanged, the predictor is trained (the optimizer holds it), it comes
from its own random stream, and importing the script patches nothing."""
import pytest
import torch

from benchmarks import conmim_predictor as predictor
from benchmarks.conmim_small_scale_report import setting_of
from mmconmim.models.selfsup.conmim import ConMIM
from tests.fixtures.conmim_driver import (TRIAL_ARGS,
                                          assert_trained_by_the_student_only,
                                          build_driver_model,
                                          embeddings_before_attach)

ARGS = TRIAL_ARGS


def build_model():
    return build_driver_model(ARGS)


def naive_student(model, img, mask):
    """backbone -> projector -> predictor on all tokens -> drop CLS."""
    tokens = model.backbone(img, mask)[-1]
    B, L, C = tokens.shape
    flat = tokens.reshape(B * L, C)
    out = model.neck((flat, ))[0]
    lin0, bn, _, lin1 = model.predictor
    hidden = lin0(out)
    mean = hidden.mean(0)
    var = hidden.var(0, unbiased=False)
    hidden = (hidden - mean) / torch.sqrt(var + bn.eps)
    hidden = hidden * bn.weight + bn.bias
    out = hidden.clamp(min=0) @ lin1.weight.t() + lin1.bias
    return out.view(B, L, -1)[:, 1:]


def test_predictor_has_its_own_random_stream():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    first = predictor.build_predictor(32, 16)
    assert torch.equal(torch.rand(4), expected)  # global stream untouched
    second = predictor.build_predictor(32, 16)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    assert first[0].weight.shape == (16, 32)
    assert first[3].weight.shape == (32, 16)


def test_student_goes_through_the_predictor_teacher_does_not():
    plain = ConMIM.patch_embeddings
    model = build_model().train()
    img = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, :2] = True
    teacher = (model.teacher_backbone, model.teacher_projector)
    try:
        predictor.install()
        s0, t0 = embeddings_before_attach(model, img, mask, plain)
        predictor.attach(model, 48)
        assert model.predictor[0].in_features == 32  # projector output
        assert model.predictor.training
        with torch.no_grad():
            s1 = model.patch_embeddings(model.backbone, model.neck, img,
                                        mask)
            assert torch.allclose(s1, naive_student(model, img, mask),
                                  atol=1e-5)
            assert s1.shape == s0.shape
            assert not torch.allclose(s1, s0, atol=1e-3)
            assert torch.equal(model.patch_embeddings(*teacher, img, None),
                               t0)
    finally:
        ConMIM.patch_embeddings = plain


def test_the_optimizer_trains_the_predictor():
    model = predictor.attach(build_model().train(), 48)
    assert_trained_by_the_student_only(model, 'predictor', ARGS)


def test_importing_patches_nothing_and_the_table_names_it():
    assert ConMIM.patch_embeddings.__module__ == \
        'mmconmim.models.selfsup.conmim'
    assert 'student predictor, hidden 512' in setting_of(
        dict(predictor_hidden=512))
    assert 'predictor' not in setting_of(dict())
    with pytest.raises(SystemExit, match='>= 1'):
        predictor.main(['--predictor-hidden', '0'])
