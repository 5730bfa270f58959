"""The encoder-decoder student of issue 25's section 14
(benchmarks/conmim_decoder.py): the encoder on the visible patches only
matches a naive per-image forward (and the backbone itself when nothing is
masked), the decoder puts the encoded tokens back at their patches, only
the student's masked call changes, the optimizer trains the decoder, and
importing the script patches nothing."""
import pytest
import torch

from benchmarks import conmim_decoder as decoder
from benchmarks.conmim_small_scale_report import setting_of
from mmconmim.models.selfsup.conmim import ConMIM
from tests.fixtures.conmim_driver import (TRIAL_ARGS,
                                          assert_trained_by_the_student_only,
                                          build_driver_model,
                                          embeddings_before_attach)

ARGS = TRIAL_ARGS + ['--rel-pos-init-std', '0.5']


def build_model(*extra):
    return build_driver_model(ARGS + list(extra))


def masks():
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, :2] = True
    mask[1, :, 1:3] = True
    return mask


def naive_visible(backbone, img, mask):
    """One image at a time: CLS + its visible patches, the shared bias
    restricted to those tokens by plain indexing."""
    outs = []
    for b in range(img.shape[0]):
        x, _ = backbone.patch_embed(img[b:b + 1])
        x = torch.cat((backbone.cls_token, x), dim=1)
        if backbone.pos_embed is not None:
            x = x + backbone.pos_embed
        keep = [0] + [j + 1 for j in range(mask[b].numel())
                      if not mask[b].flatten()[j]]
        x = x[:, keep]
        bias = None
        if backbone.rel_pos_bias is not None:
            bias = backbone.rel_pos_bias()[:, keep][:, :, keep]
        for layer in backbone.layers:
            x = layer(x, rel_pos_bias=bias)
        outs.append(backbone.norm1(x))
    return torch.cat(outs)


@pytest.mark.parametrize('extra', [(), ('--abs-pos-emb', )])
def test_encoder_on_visible_patches_against_a_naive_loop(extra):
    backbone = build_model(*extra).backbone
    backbone.eval()  # ViT.train() returns None
    img = torch.randn(2, 3, 32, 32)
    mask = masks()
    with torch.no_grad():
        index = decoder.visible_index(mask)
        assert index.tolist() == [list(range(8, 16)),
                                  [0, 3, 4, 7, 8, 11, 12, 15]]
        got = decoder.encode_visible(backbone, img, index)
        assert got.shape == (2, 9, 64)
        assert torch.allclose(got, naive_visible(backbone, img, mask),
                              atol=1e-5)
        everything = torch.arange(16).expand(2, 16)
        assert torch.allclose(decoder.encode_visible(backbone, img,
                                                     everything),
                              backbone(img, None)[-1], atol=1e-5)
    uneven = mask.clone()
    uneven[0, 3, 3] = True
    with pytest.raises(ValueError, match='same number of visible'):
        decoder.visible_index(uneven)


def test_decoder_places_tokens_at_their_patches():
    backbone = build_model().backbone
    dec = decoder.build_decoder(backbone, 2).eval()
    assert len(dec.blocks) == 2 and dec.pos.shape == (1, 17, 64)
    z = torch.randn(2, 9, 64)
    index = decoder.visible_index(masks())
    with torch.no_grad():
        got = dec(z, index)
        embedded = dec.embed(z)
        for b in range(2):
            seq = dec.mask_token.expand(1, 17, 64).clone()
            seq[0, 0] = embedded[b, 0]
            for k, j in enumerate(index[b].tolist()):
                seq[0, j + 1] = embedded[b, k + 1]
            x = seq + dec.pos
            for block in dec.blocks:
                x = block(x)
            assert torch.allclose(got[b:b + 1], dec.out(dec.norm(x)),
                                  atol=1e-5)


def test_only_the_students_masked_call_changes_and_it_is_trained():
    plain = ConMIM.patch_embeddings
    model = build_model().train()
    img = torch.randn(2, 3, 32, 32)
    mask = masks()
    teacher = (model.teacher_backbone, model.teacher_projector)
    torch.manual_seed(5)
    expected_draw = torch.rand(3)
    torch.manual_seed(5)
    try:
        decoder.install()
        s0, t0 = embeddings_before_attach(model, img, mask, plain)
        decoder.attach(model, 1)
        assert torch.equal(torch.rand(3), expected_draw)  # own stream
        with torch.no_grad():
            s1 = model.patch_embeddings(model.backbone, model.neck, img,
                                        mask)
            index = decoder.visible_index(mask)
            tokens = model.decoder(decoder.encode_visible(
                model.backbone, img, index), index)
            expected = model.neck((tokens.reshape(34, 64), ))[0]
            assert torch.allclose(s1, expected.view(2, 17, -1)[:, 1:],
                                  atol=1e-5)
            assert not torch.allclose(s1, s0, atol=1e-3)
            assert torch.equal(model.patch_embeddings(*teacher, img, None),
                               t0)
            # an unmasked student call (none in training) stays plain
            assert torch.equal(
                model.patch_embeddings(model.backbone, model.neck, img,
                                       None),
                plain(model, model.backbone, model.neck, img, None))
    finally:
        ConMIM.patch_embeddings = plain
    assert_trained_by_the_student_only(model, 'decoder', ARGS)


def test_importing_patches_nothing_and_the_table_names_it():
    assert ConMIM.patch_embeddings.__module__ == \
        'mmconmim.models.selfsup.conmim'
    assert 'encoder on visible patches + decoder, depth 1' in setting_of(
        dict(decoder_depth=1))
    assert 'decoder' not in setting_of(dict())
    control = setting_of(dict(decoder_depth=1, pixel_weight=1.,
                              contrast_weight=0.))
    assert 'pixel_weight=1.0, contrast_weight=0.0' in control
    with pytest.raises(SystemExit, match='>= 1'):
        decoder.main(['--decoder-depth', '0'])


def test_pixel_target_and_loss_against_hand_computation():
    torch.manual_seed(0)
    img = torch.randn(2, 3, 8, 8)
    got = decoder.patch_pixels(img, 4)
    assert got.shape == (2, 4, 48)
    # patch (row 1, col 0) of image 1, channels last, then normalised
    raw = img[1, :, 4:8, 0:4].permute(1, 2, 0).reshape(-1)
    expected = (raw - raw.mean()) / (raw.var() + 1e-6).sqrt()
    assert torch.allclose(got[1, 2], expected, atol=1e-5)
    mask = torch.tensor([[[True, False], [False, False]],
                         [[False, True], [True, False]]])
    predicted = torch.randn(2, 4, 48)
    errors = [((predicted[b, j] - got[b, j])**2).mean()
              for b, j in ((0, 0), (1, 1), (1, 2))]
    assert torch.allclose(decoder.pixel_loss(predicted, img, mask, 4),
                          sum(errors) / 3, atol=1e-6)


def test_pixel_term_joins_the_loss_with_its_weights():
    import copy

    from mmpretrain.structures import DataSample
    plain_emb, plain_loss = ConMIM.patch_embeddings, ConMIM.loss
    model = build_model().train()
    decoder.attach(model, 1, pixel_head=True)
    assert model.decoder.pixel_head.out_features == 8 * 8 * 3
    torch.manual_seed(1)
    views = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    samples = []
    for m in masks():
        sample = DataSample()
        sample.set_field(m, 'mask')
        samples.append(sample)
    try:
        decoder.install()
        reference = copy.deepcopy(model)
        with torch.no_grad():
            contrast = plain_loss(reference, views, samples)['loss']
            index = decoder.visible_index(masks())
            reference.decoder(decoder.encode_visible(
                reference.backbone, views[0], index), index)
            pixels = decoder.pixel_loss(reference.decoder.last_pixels,
                                        views[0], masks(), 8)
        decoder.install_pixel_term(0.5, 2.0)
        with torch.no_grad():
            total = model.loss(views, samples)['loss']
        assert torch.allclose(total, 0.5 * contrast + 2.0 * pixels,
                              atol=1e-5)
    finally:
        ConMIM.patch_embeddings, ConMIM.loss = plain_emb, plain_loss
    with pytest.raises(SystemExit, match='not both 0'):
        decoder.main(['--decoder-depth', '1', '--contrast-weight', '0'])
    with pytest.raises(SystemExit, match='needs --pixel-weight'):
        decoder.main(['--decoder-depth', '1', '--contrast-weight', '0.5'])
