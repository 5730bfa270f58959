"""The layer-averaged teacher target of issue 25's section 13
(benchmarks/conmim_layer_targets.py): K = 1 is ConMIM's own target, K > 1
is the mean of the final norm of the last K blocks' outputs (a naive loop
over the blocks), only the teacher's unmasked training call changes, and
importing the script patches nothing."""
import pytest
import torch

from benchmarks import conmim_layer_targets as layer_targets
from benchmarks.conmim_small_scale_report import setting_of
from mmconmim.models.selfsup.conmim import ConMIM
from tests.fixtures.conmim_driver import build_driver_model


@pytest.fixture(scope='module')
def model():
    model = build_driver_model(['--data', 'x', '--img-size', '32',
                                '--patch-size', '8', '--embed-dims', '64',
                                '--num-layers', '3', '--proj-hidden', '64',
                                '--proj-out', '32', '--weight-init',
                                'mmpretrain', '--layer-scale', '1.0'])
    # a teacher that differs from the student, with a non-trivial norm
    with torch.no_grad():
        for p in model.teacher_backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def naive_block_outputs(backbone, img):
    """Each block's output (before any final norm), by hand."""
    x, _ = backbone.patch_embed(img)
    x = torch.cat((backbone.cls_token.expand(x.shape[0], -1, -1), x), 1)
    rel = backbone.rel_pos_bias()
    outs = []
    for layer in backbone.layers:
        x = layer(x, rel_pos_bias=rel)
        outs.append(x)
    return outs


def test_averaged_tokens_against_a_naive_loop(model):
    backbone = model.teacher_backbone
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        blocks = naive_block_outputs(backbone, img)
        for k in (1, 2, 3):
            expected = sum(backbone.norm1(h) for h in blocks[-k:]) / k
            got = layer_targets.averaged_tokens(backbone, img, k)
            assert torch.allclose(got, expected, atol=1e-5)
        # K = 1 is the backbone's own output, bit for bit
        assert torch.equal(layer_targets.averaged_tokens(backbone, img, 1),
                           backbone(img, None)[-1])
        # the blocks differ: averaging them changes the target
        assert not torch.allclose(
            layer_targets.averaged_tokens(backbone, img, 3),
            backbone(img, None)[-1], atol=1e-3)
    assert not backbone.layers[0]._forward_hooks  # hooks removed
    with pytest.raises(SystemExit, match='1..3'):
        layer_targets.averaged_tokens(backbone, img, 4)


def test_install_changes_only_the_teachers_unmasked_target(model):
    plain = ConMIM.patch_embeddings
    img = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, :2] = True
    teacher = (model.teacher_backbone, model.teacher_projector)
    with torch.no_grad():
        before_t = model.patch_embeddings(*teacher, img, None)
        before_s = model.patch_embeddings(model.backbone, model.neck, img,
                                          mask)
        direct = model.teacher_backbone(img, None)[-1]
        try:
            layer_targets.install(1)
            assert torch.equal(model.patch_embeddings(*teacher, img, None),
                               before_t)
            layer_targets.install(2)  # wraps the K = 1 patch: still K = 2
            after_t = model.patch_embeddings(*teacher, img, None)
            tokens = layer_targets.averaged_tokens(model.teacher_backbone,
                                                   img, 2)
            B, L, C = tokens.shape
            expected = model.teacher_projector(
                (tokens.reshape(B * L, C), ))[0].view(B, L, -1)[:, 1:]
            assert torch.allclose(after_t, expected, atol=1e-6)
            assert not torch.allclose(after_t, before_t, atol=1e-3)
            assert torch.equal(model.patch_embeddings(
                model.backbone, model.neck, img, mask), before_s)
            assert torch.equal(model.teacher_backbone(img, None)[-1],
                               direct)  # the evaluations' call
        finally:
            ConMIM.patch_embeddings = plain


def test_importing_patches_nothing_and_the_table_names_k():
    assert ConMIM.patch_embeddings.__module__ == \
        'mmconmim.models.selfsup.conmim'
    assert 'target_layers=2' in setting_of(dict(target_layers=2))
    assert 'target_layers' not in setting_of(dict(target_layers=1))
    with pytest.raises(SystemExit, match='>= 1'):
        layer_targets.main(['--target-layers', '0'])
