"""The frozen DALL-E tokenizer: decoder architecture, the converter's
restricted unpickler (stand-in ``dall_e`` pickles), strict loading, frozen
behaviour, and the analytic palette tokenizer."""
import builtins
import os.path as osp
import pickle
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from tests.fixtures.cim_tiny import (GRID, TINY_DECODER, TOK, palette_images,
                                     palette_tokenizer_cfg, preprocessed_batch,
                                     tiny_cim_cfg, tiny_dalle_tokenizer_cfg,
                                     write_official_pickles)
from tests.fixtures.helpers import run_tool
from mmconmim.models.tokenizers import (DALLEDecoder, logit_laplace_to_pixels,
                                        map_pixels, unmap_pixels)
from mmconmim.models.tokenizers.dalle_checkpoint import read_dalle_checkpoint


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    """Legacy-format pickles of whole stand-in dall_e modules."""
    return write_official_pickles(str(tmp_path_factory.mktemp('dalle')))


@pytest.fixture(scope='module')
def converted(official, tmp_path_factory):
    """The converter tool's outputs for both pickles."""
    folder = tmp_path_factory.mktemp('converted')
    paths = {}
    for kind in ('encoder', 'decoder'):
        paths[kind] = str(folder / f'{kind}.pth')
        proc = run_tool([
            'tools/model_converters/dalle_to_mmconmim.py', official[kind],
            paths[kind], '--kind', kind
        ])
        assert f'DALL-E {kind}' in proc.stdout
    return paths


def test_decoder_gather_equals_the_official_one_hot_path():
    torch.manual_seed(0)
    decoder = MODELS.build(TINY_DECODER)
    ids = torch.randint(0, 512, (2, 3, 5))
    one_hot = F.one_hot(ids, 512).permute(0, 3, 1, 2).float()
    expected = decoder(one_hot)
    assert expected.shape == (2, 6, 24, 40)  # 8x up, 2 x 3 channels
    torch.testing.assert_close(decoder.decode_ids(ids), expected)
    with pytest.raises(ValueError, match='float32'):
        decoder(one_hot.double())
    with pytest.raises(ValueError, match='channels'):
        decoder(one_hot[:, :100])


@pytest.mark.parametrize('field,value', [('n_hid', 32), ('vocab_size', 256),
                                         ('n_init', 4),
                                         ('n_blk_per_group', 0)])
def test_decoder_validates_like_the_official_attrs(field, value):
    with pytest.raises(ValueError, match=field):
        DALLEDecoder(**{field: value})


def test_pixel_maps():
    x = torch.linspace(0, 1, 11)
    torch.testing.assert_close(map_pixels(x), 0.8 * x + 0.1)
    torch.testing.assert_close(unmap_pixels(map_pixels(x)), x)
    assert unmap_pixels(torch.tensor([0., 1.])).tolist() == [0., 1.]
    # channels 0-2: sigmoid then unmap; channels 3-5 (log-scales) ignored
    stats = torch.randn(2, 6, 4, 4)
    img = logit_laplace_to_pixels(stats)
    torch.testing.assert_close(
        img, ((torch.sigmoid(stats[:, :3]) - 0.1) / 0.8).clamp(0, 1))
    assert img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize('legacy', [True, False], ids=['legacy', 'zip'])
def test_official_pickles_read_without_dall_e(tmp_path, legacy):
    files = write_official_pickles(str(tmp_path), legacy=legacy)
    assert 'dall_e' not in sys.modules
    for kind in ('encoder', 'decoder'):
        found, state = read_dalle_checkpoint(files[kind])
        reference = files[f'{kind}_state']
        assert found == kind
        assert sorted(state) == sorted(reference)
        assert all(torch.equal(state[k], reference[k]) for k in reference)
    assert 'dall_e' not in sys.modules  # nothing imported it


def test_restricted_unpickler_refuses_other_globals(tmp_path):

    class Payload:

        def __reduce__(self):
            return (builtins.exec, ('import sys; sys.cim_pwned = True', ))

    path = str(tmp_path / 'evil.pkl')
    torch.save({'blocks.input.w': Payload()}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(pickle.UnpicklingError, match='builtins.exec'):
        read_dalle_checkpoint(path)
    assert not hasattr(sys, 'cim_pwned')


def test_converted_weights_load_strictly_and_match_the_official_modules(
        official, converted):
    files = official
    for kind in ('encoder', 'decoder'):
        ckpt = torch.load(converted[kind], weights_only=True)
        assert ckpt['meta']['dalle_kind'] == kind
        assert len(ckpt['state_dict']) == len(files[f'{kind}_state'])

    tokenizer = MODELS.build(
        tiny_dalle_tokenizer_cfg(
            encoder_checkpoint=converted['encoder'],
            decoder_checkpoint=converted['decoder'],
            allow_random_weights=False))
    with pytest.raises(RuntimeError, match='init_weights'):
        tokenizer.encode(files['ref_input'])
    tokenizer.init_weights()
    # Same outputs as the stand-ins of the official classes.
    torch.testing.assert_close(
        tokenizer.encoder(files['ref_input']), files['ref_logits'])
    torch.testing.assert_close(
        tokenizer.decoder.decode_ids(files['ref_ids']),
        files['ref_decoded'])
    assert torch.equal(
        tokenizer.encode(files['ref_input']),
        files['ref_logits'].argmax(1))
    torch.testing.assert_close(
        tokenizer.decode(files['ref_ids']),
        logit_laplace_to_pixels(files['ref_decoded']))

    # The official pickles load directly too (same restricted path).
    direct = MODELS.build(
        tiny_dalle_tokenizer_cfg(
            encoder_checkpoint=files['encoder'],
            decoder_checkpoint=files['decoder'],
            allow_random_weights=False))
    direct.init_weights()
    for key, value in tokenizer.state_dict().items():
        assert torch.equal(direct.state_dict()[key], value)


def test_mismatched_or_missing_weights_fail_clearly(official, converted):
    wrong_vocab = tiny_dalle_tokenizer_cfg(
        encoder=dict(type='DALL-E', n_hid=64, n_blk_per_group=1,
                     vocab_size=1024),
        decoder=dict(TINY_DECODER, vocab_size=1024),
        encoder_checkpoint=converted['encoder'],
        decoder_checkpoint=converted['decoder'])
    tokenizer = MODELS.build(wrong_vocab)
    with pytest.raises(ValueError, match='does not match'):
        tokenizer.init_weights()
    swapped = MODELS.build(
        tiny_dalle_tokenizer_cfg(
            encoder_checkpoint=converted['decoder'],
            decoder_checkpoint=converted['encoder']))
    with pytest.raises(ValueError, match='holds a DALL-E decoder'):
        swapped.init_weights()
    with pytest.raises(ValueError, match='encoder_checkpoint'):
        MODELS.build(tiny_dalle_tokenizer_cfg(allow_random_weights=False))
    with pytest.raises(ValueError, match='encoder.init_cfg'):
        MODELS.build(
            tiny_dalle_tokenizer_cfg(
                encoder=dict(type='DALL-E', init_cfg=dict(
                    type='Pretrained', checkpoint='https://x/y.pth'))))
    with pytest.raises(ValueError, match='image_size'):
        MODELS.build(tiny_dalle_tokenizer_cfg()).encode(
            torch.rand(1, 3, 48, 48))


def test_loaded_weights_survive_init_weights_and_training(
        converted, tmp_path):
    model = MODELS.build(
        tiny_cim_cfg(
            tokenizer=tiny_dalle_tokenizer_cfg(
                encoder_checkpoint=converted['encoder'],
                decoder_checkpoint=converted['decoder'],
                allow_random_weights=False),
            # A parent init_cfg that targets layers named Conv2d (the DALL-E
            # convolutions are called Conv2d too) and runs over the whole
            # model, tokenizer included.
            init_cfg=dict(type='Normal', layer=['Conv2d', 'Linear'],
                          std=5.)))
    reference = {
        f'{kind}.{k}': v
        for kind in ('encoder', 'decoder') for k, v in torch.load(
            converted[kind], weights_only=True)['state_dict'].items()
    }

    def assert_unchanged():
        state = model.tokenizer.state_dict()
        assert sorted(state) == sorted(reference)
        assert all(torch.equal(state[k], reference[k]) for k in reference)

    # Loaded first (as a whole-model init would do it), then the parent's
    # init_weights and init_cfg, then again.
    model.tokenizer.init_weights()
    assert_unchanged()
    model.init_weights()
    assert_unchanged()
    assert model.backbone.patch_embed.projection.weight.std() > 1.  # std 5
    model.init_weights()
    model.tokenizer.init_weights()
    assert_unchanged()

    # Frozen: no grad, eval mode under model.train(), not in the optimizer.
    model.train()
    assert not model.tokenizer.training
    assert not any(m.training for m in model.tokenizer.modules())
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    init_default_scope('mmpretrain')
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            constructor='TrainableParamsOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.5)))
    in_optimizer = {
        id(p)
        for group in wrapper.optimizer.param_groups for p in group['params']
    }
    assert not in_optimizer & {id(p) for p in model.tokenizer.parameters()}
    assert {id(p) for p in model.generator.parameters()} <= in_optimizer
    assert {id(p) for p in model.backbone.parameters()} <= in_optimizer

    inputs, samples = preprocessed_batch()
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    for _ in range(2):
        losses = model(inputs, samples, mode='loss')
        wrapper.update_params(losses['loss_gen'] + losses['loss_enh'])
    assert_unchanged()
    assert any(not torch.equal(before[k], v)
               for k, v in model.generator.state_dict().items())


def test_palette_tokenizer_is_exactly_invertible_on_block_images():
    tokenizer = MODELS.build(palette_tokenizer_cfg())
    assert tokenizer.vocab_size == 512 and tokenizer.downsample == 8
    gen = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 8, (3, GRID, GRID, 3), generator=gen)
    _, view_b, ids, tok01 = palette_images(tokenizer, levels)
    assert view_b.shape == (3, 3, TOK, TOK)
    golden = tokenizer.encode(view_b)
    assert torch.equal(golden, ids)
    torch.testing.assert_close(
        tokenizer.decode(golden), tok01, atol=1e-6, rtol=0)


def test_converter_tool_refuses_the_wrong_half(official, tmp_path):
    with pytest.raises(AssertionError, match='not a decoder'):
        run_tool([
            'tools/model_converters/dalle_to_mmconmim.py',
            official['encoder'],
            str(tmp_path / 'x.pth'), '--kind', 'decoder'
        ])
    assert not osp.exists(str(tmp_path / 'x.pth'))
