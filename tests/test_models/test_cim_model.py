"""The CIM algorithm: exact corruption semantics with the analytic palette
tokenizer, sampling, gradient isolation, loss weighting, configuration
errors, single-batch overfitting and enhancer export."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from tests.fixtures.checkpoints import load_prefixed_state
from tests.fixtures.cim_tiny import (GRID, IMG, build_tiny_cim, palette_images,
                                     palette_tokenizer_cfg, preprocessed_batch,
                                     random_mask, samples_with, tiny_cim_cfg,
                                     tiny_resnet_enhancer, tiny_vit_enhancer)

ENHANCERS = ['vit', 'resnet']
OBJECTIVES = ['respix', 'revdet']


def palette_cim(objective='revdet', **kwargs):
    # Nearest resizing keeps the 32 -> 64 px rendering exact.
    return build_tiny_cim(
        tokenizer=palette_tokenizer_cfg(), objective=objective,
        resize_mode='nearest', **kwargs)


def palette_batch(model, batch_size=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 8, (batch_size, GRID, GRID, 3), generator=gen)
    view_a, view_b, ids, _ = palette_images(model.tokenizer, levels)
    mask = random_mask(batch_size, num_masked=6, seed=seed)
    return [view_a, view_b], samples_with(mask), ids, mask


def test_golden_decode_reproduces_the_input():
    model = palette_cim()
    inputs, _, ids, _ = palette_batch(model)
    golden = model.tokenizer.encode(inputs[1])
    assert torch.equal(golden, ids)
    rendered = model.render(golden, (IMG, IMG))  # enhancer space
    torch.testing.assert_close(rendered, inputs[0], atol=1e-4, rtol=0)


def test_replaced_blocks_change_exactly_where_revdet_labels_are_one(
        monkeypatch):
    model = palette_cim()
    inputs, samples, ids, mask = palette_batch(model)
    golden_masked = ids[mask]
    # Every other masked token gets another colour; the rest are forced
    # collisions (a sample equal to the golden id).
    forced = golden_masked.clone()
    forced[::2] = (forced[::2] + 37) % model.tokenizer.vocab_size
    monkeypatch.setattr(model.generator, 'sample', lambda logits: forced)

    out = model.visualize(inputs, samples)
    expected = torch.zeros(mask.shape)
    expected[mask] = (forced != golden_masked).float()
    assert expected.sum() == (mask.sum() + 1) // 2
    assert torch.equal(out['replaced'], expected)
    assert torch.equal(out['corrupted_ids'][~mask], ids[~mask])
    assert torch.equal(out['corrupted_ids'][mask], forced)

    # The corrupted image (re-rendered from the whole grid) differs from
    # the original exactly in the replaced token blocks.
    diff = (out['corrupted'] - out['original']).abs().amax(1)
    side = IMG // GRID
    changed = diff.view(-1, GRID, side, GRID, side).amax((2, 4)) > 1e-3
    assert torch.equal(changed, expected.bool())
    # ... and each replaced block shows the sampled palette colour.
    colours = model.tokenizer.palette[out['corrupted_ids']]  # (B, h, w, 3)
    block = out['corrupted'].view(-1, 3, GRID, side, GRID, side).mean((3, 5))
    torch.testing.assert_close(block.permute(0, 2, 3, 1), colours, atol=1e-4,
                               rtol=0)


def test_forced_collisions_label_zero(monkeypatch):
    model = palette_cim()
    inputs, samples, ids, mask = palette_batch(model)
    monkeypatch.setattr(model.generator, 'sample',
                        lambda logits: ids[mask].clone())
    out = model.visualize(inputs, samples)
    assert mask.sum() == 3 * 6
    assert out['replaced'].sum() == 0
    torch.testing.assert_close(out['corrupted'], out['original'], atol=1e-4,
                               rtol=0)
    losses = model(inputs, samples, mode='loss')
    assert losses['replaced_ratio'] == 0


def test_sampling_follows_softmax_over_temperature_in_fp32(monkeypatch):
    model = build_tiny_cim(temperature=2.0)
    gen = model.generator
    logits = torch.tensor([[0., 1., 2.]]).repeat(20000, 1)
    torch.manual_seed(0)
    counts = torch.bincount(gen.sample(logits), minlength=3).float()
    expected = torch.softmax(logits[0] / 2.0, 0)
    torch.testing.assert_close(counts / counts.sum(), expected, atol=0.015,
                               rtol=0)

    peaked = torch.randn(50, 512)
    cold = MODELS.build(dict(tiny_cim_cfg()['generator'], temperature=1e-4))
    assert torch.equal(cold.sample(peaked), peaked.argmax(-1))

    seen = []
    real = torch.multinomial

    def spy(probs, num_samples):
        seen.append(probs.dtype)
        return real(probs, num_samples)

    monkeypatch.setattr(torch, 'multinomial', spy)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        gen.sample(torch.randn(4, 512).bfloat16())
    assert seen == [torch.float32]


def test_corruption_keeps_golden_ids_outside_the_mask_and_redraws_inside():
    model = build_tiny_cim()
    inputs, samples = preprocessed_batch(num_masked=6)
    mask = torch.stack([s.mask for s in samples])
    torch.manual_seed(0)
    out = model.visualize(inputs, samples)
    assert int(mask.sum()) == 4 * 6
    assert torch.equal(out['corrupted_ids'][~mask], out['golden'][~mask])
    assert torch.equal(out['replaced'].bool() & ~mask,
                       torch.zeros_like(mask))
    # The enhancer sees the dVAE's rendering everywhere, never pasted input
    # pixels: unmasked regions are re-rendered too.
    pixel_mask = mask.repeat_interleave(IMG // GRID, 1).repeat_interleave(
        IMG // GRID, 2)
    kept = ~pixel_mask[:, None].expand_as(out['original'])
    # (pasting would make these equal; the random dVAE renders ~flat grey)
    assert (out['corrupted'][kept] - out['original'][kept]).abs().mean() > 0.05
    rendered = F.interpolate(
        model.tokenizer.decode(out['corrupted_ids']), size=(IMG, IMG),
        mode='bilinear', align_corners=False).clamp(0, 1)
    torch.testing.assert_close(out['corrupted'], rendered, atol=1e-5, rtol=0)


@pytest.mark.parametrize('enhancer', ENHANCERS)
@pytest.mark.parametrize('objective', OBJECTIVES)
def test_enhancer_loss_never_reaches_the_generator(enhancer, objective):
    torch.manual_seed(0)
    model = build_tiny_cim(enhancer=enhancer, objective=objective)
    inputs, samples = preprocessed_batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_gen', 'loss_enh', 'gen_acc',
                           'replaced_ratio'}
    losses['loss_enh'].backward(retain_graph=True)
    for name, param in model.generator.named_parameters():
        assert param.grad is None or not param.grad.any(), name
    assert any(p.grad is not None and p.grad.any()
               for p in model.backbone.parameters())
    assert model.head.conv.weight.grad.any()

    model.zero_grad(set_to_none=True)
    losses['loss_gen'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.head.parameters())
    assert model.generator.head.weight.grad.any()
    assert model.generator.backbone.mask_token.grad.any()
    assert all(p.grad is None for p in model.tokenizer.parameters())


@pytest.mark.parametrize('objective', OBJECTIVES)
def test_total_loss_is_generator_plus_lambda_enhancer(objective):
    inputs, samples = preprocessed_batch()
    results = {}
    for weight in (None, 1.0, 7.0):
        torch.manual_seed(0)
        model = build_tiny_cim(objective=objective,
                               enhancer_loss_weight=weight)
        torch.manual_seed(1)
        results[weight] = model(inputs, samples, mode='loss')
        total, log_vars = model.parse_losses(results[weight])
        torch.testing.assert_close(
            total, results[weight]['loss_gen'] + results[weight]['loss_enh'])
        assert {'loss_gen', 'loss_enh'} <= set(log_vars)
    torch.testing.assert_close(results[7.0]['loss_gen'],
                               results[1.0]['loss_gen'])
    torch.testing.assert_close(results[7.0]['loss_enh'],
                               7 * results[1.0]['loss_enh'])
    default = dict(respix=1.0, revdet=50.0)[objective]
    torch.testing.assert_close(results[None]['loss_enh'],
                               default * results[1.0]['loss_enh'])


@pytest.mark.parametrize('change,field', [
    (dict(objective='mae'), 'objective'),
    (dict(enhancer_loss_weight=-1.), 'enhancer_loss_weight'),
    (dict(generator_input='view_c'), 'generator_input'),
    (dict(resize_mode='lanczos'), 'resize_mode'),
    (dict(objective='revdet', revdet_head=None), 'revdet_head'),
    (dict(temperature=0.), 'temperature'),
    (dict(tokenizer=dict(palette_tokenizer_cfg(), image_size=48)),
     'tokenizer grid'),
    (dict(tokenizer=dict(palette_tokenizer_cfg(), levels=4)), 'vocab_size'),
    (dict(data_preprocessor=dict(
        type='TwoNormDataPreprocessor', mean=[0.] * 3, std=[255.] * 3,
        second_mean=[0.] * 3, second_std=[255.] * 3)), 'second_mean'),
    (dict(data_preprocessor=dict(type='SelfSupDataPreprocessor')),
     'TwoNormDataPreprocessor'),
])
def test_bad_config_values_raise_naming_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        MODELS.build(tiny_cim_cfg(**change))


def test_batch_geometry_errors_name_their_source():
    model = build_tiny_cim()
    inputs, samples = preprocessed_batch()
    bad = samples_with(torch.zeros(4, 5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match='mask generator'):
        model(inputs, bad, mode='loss')
    small = [F.interpolate(inputs[0], size=48), inputs[1]]
    with pytest.raises(ValueError, match='generator'):
        model(small, samples, mode='loss')


@pytest.mark.parametrize('enhancer', ENHANCERS)
@pytest.mark.parametrize('objective', OBJECTIVES)
def test_both_objectives_overfit_one_batch(enhancer, objective):
    # Palette tokenizer: its renderings carry the image (a tiny random dVAE
    # renders nearly flat grey); a high temperature keeps replacements
    # (and thus REVDET labels) present while the generator fits the batch,
    # and a fixed seed per step keeps them stable.
    torch.manual_seed(0)
    model = build_tiny_cim(
        enhancer=enhancer, objective=objective, temperature=100.,
        tokenizer=palette_tokenizer_cfg())
    inputs, samples = preprocessed_batch(batch_size=4)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    history = []
    for _ in range(80):
        torch.manual_seed(1)
        losses = model(inputs, samples, mode='loss')
        optimizer.zero_grad()
        (losses['loss_gen'] + losses['loss_enh']).backward()
        optimizer.step()
        history.append((losses['loss_gen'].item(),
                        losses['loss_enh'].item(),
                        losses['replaced_ratio'].item()))
    (gen0, enh0, _), (gen1, enh1, replaced) = history[0], history[-1]
    assert gen1 < 0.1 * gen0
    assert enh1 < 0.6 * enh0
    assert replaced > 0.3  # REVDET still has positives to detect


@pytest.mark.parametrize('enhancer', ENHANCERS)
def test_checkpoint_backbone_keys_load_into_a_plain_backbone(
        enhancer, tmp_path):
    torch.manual_seed(0)
    model = build_tiny_cim(enhancer=enhancer)
    path = str(tmp_path / 'cim.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    state = load_prefixed_state('backbone.', path)
    assert len(state) == len(model.backbone.state_dict())

    cfg = tiny_vit_enhancer() if enhancer == 'vit' else \
        tiny_resnet_enhancer()
    plain = MODELS.build(cfg)
    result = plain.load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in plain.state_dict().items():
        assert torch.equal(value, state[key]), key

    if enhancer == 'vit':
        # Fine-tuning layout (the ADE20K/COCO configs): per-layer relative
        # position bias; BEiTViT's load hook copies the shared table into
        # every layer. Only the per-layer index buffers (a function of the
        # window size, never learned) are not in the checkpoint.
        tuned = MODELS.build(
            dict(cfg, use_rel_pos_bias=True, use_shared_rel_pos_bias=False))
        result = tuned.load_state_dict(
            load_prefixed_state('backbone.', path), strict=False)
        assert result.missing_keys == [
            f'layers.{i}.attn.relative_position_index' for i in range(2)
        ]
        assert result.unexpected_keys == []
        for layer in tuned.layers:
            assert torch.equal(
                layer.attn.relative_position_bias_table,
                state['rel_pos_bias.relative_position_bias_table'])

    # The path transfer configs take: init_cfg Pretrained with a prefix.
    from_init = MODELS.build(
        dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=path,
                                prefix='backbone.')))
    from_init.init_weights()
    for key, value in plain.state_dict().items():
        assert torch.equal(from_init.state_dict()[key], value), key


def test_generator_can_read_the_tokenizer_view():
    generator = tiny_cim_cfg()['generator']
    generator['backbone'].update(img_size=32, patch_size=8)  # 4x4 grid
    model = MODELS.build(
        tiny_cim_cfg(generator=generator, generator_input='tokenizer_view'))
    model.init_weights()
    inputs, samples = preprocessed_batch()
    # View B ([0.1, 0.9]) comes back in the enhancer normalisation: it is
    # the 2x area-downsampled view A (both views are linear in the pixels).
    torch.testing.assert_close(
        model.generator_view(*inputs),
        F.avg_pool2d(inputs[0], 2), atol=1e-4, rtol=0)
    losses = model(inputs, samples, mode='loss')
    assert torch.isfinite(losses['loss_gen'] + losses['loss_enh'])
    with pytest.raises(ValueError, match='generator.backbone.img_size'):
        MODELS.build(tiny_cim_cfg(generator_input='tokenizer_view'))


def test_a_second_init_weights_keeps_trained_weights():
    model = build_tiny_cim()  # init_weights called once
    with torch.no_grad():
        for module in (model.generator, model.backbone, model.head):
            for param in module.parameters():
                param.fill_(0.5)
    model.init_weights()
    model.generator.init_weights()
    for module in (model.generator, model.backbone, model.head):
        assert all((p == 0.5).all() for p in module.parameters())
