"""The overrides of upstream code that stay, compared with upstream.

* ``ForeachCosineEMA`` (fused foreach update, momenta in [0, 1]) against
  mmengine's ``ExponentialMovingAverage`` and mmpretrain's ``CosineEMA``;
* the BEiT attention helpers behind ``FastBEiTAttention`` and the attention
  maps against mmpretrain's ``BEiTAttention``;
* the pixel normalisation helpers and ``preprocess_single_view`` against the
  data preprocessors' own ``forward``.
"""
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import ExponentialMovingAverage
from mmpretrain.models.utils import (CosineEMA, SelfSupDataPreprocessor,
                                     TwoNormDataPreprocessor)
from mmpretrain.models.utils.attention import BEiTAttention
from mmpretrain.models.backbones.beit import RelativePositionBias
from torch import nn

from mmconmim.evaluation.features import preprocess_single_view
from mmconmim.models import ForeachCosineEMA
from mmconmim.models.utils.fused_attention import beit_attention_logits
from mmconmim.models.utils.pixel_normalization import (denormalize_pixels,
                                                       normalize_pixels)


def ema_source():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))


def perturb(source):
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
        source[1].running_mean.add_(1.)
        source[1].num_batches_tracked.add_(1)


def run_side_by_side(ours, reference, source, steps=7):
    for _ in range(steps):
        perturb(source)
        ours.update_parameters(source)
        reference.update_parameters(source)
    ref = reference.state_dict()
    assert list(ours.state_dict()) == list(ref)
    for name, value in ours.state_dict().items():
        torch.testing.assert_close(value, ref[name], rtol=1e-5, atol=1e-6,
                                   msg=name)


@pytest.mark.parametrize('update_buffers', [False, True])
@pytest.mark.parametrize('interval', [1, 3])
def test_constant_momentum_ema_equals_mmengine_ema(update_buffers, interval):
    # end_momentum == momentum: the cosine schedule is constant.
    MessageHub.get_current_instance().update_info('max_iters', 10)
    source = ema_source()
    ours = ForeachCosineEMA(source, momentum=0.1, end_momentum=0.1,
                            interval=interval, update_buffers=update_buffers)
    reference = ExponentialMovingAverage(
        source, momentum=0.1, interval=interval,
        update_buffers=update_buffers)
    run_side_by_side(ours, reference, source)


@pytest.mark.parametrize('update_buffers', [False, True])
def test_cosine_ema_equals_mmpretrain_cosine_ema(update_buffers):
    MessageHub.get_current_instance().update_info('max_iters', 8)
    source = ema_source()
    ours = ForeachCosineEMA(source, momentum=0.3, end_momentum=0.02,
                            interval=2, update_buffers=update_buffers)
    reference = CosineEMA(source, momentum=0.3, end_momentum=0.02,
                          interval=2, update_buffers=update_buffers)
    run_side_by_side(ours, reference, source)


def test_avg_func_called_directly_is_the_upstream_lerp():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    source = ema_source()
    ours = ForeachCosineEMA(source, momentum=0.25, end_momentum=0.25)
    avg, src = torch.zeros(4), torch.ones(4)
    ours.avg_func(avg, src, torch.tensor(3))
    torch.testing.assert_close(avg, torch.full((4, ), 0.25))


def test_momentum_edges_copy_or_freeze():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    source = ema_source()
    copy = ForeachCosineEMA(source, momentum=1., end_momentum=1.)
    frozen = ForeachCosineEMA(source, momentum=0., end_momentum=0.)
    copy.update_parameters(source)
    frozen.update_parameters(source)  # step 0 copies
    first = {k: v.clone() for k, v in source.state_dict().items()}
    for _ in range(3):
        perturb(source)
        copy.update_parameters(source)
        frozen.update_parameters(source)
    for name, p in source.named_parameters():
        torch.testing.assert_close(copy.module.get_parameter(name), p)
        torch.testing.assert_close(frozen.module.get_parameter(name),
                                   first[name])


@pytest.mark.parametrize('per_layer_bias', [False, True])
@pytest.mark.parametrize('bias', ['qv_bias', False])
def test_beit_attention_helper_reproduces_mmpretrain_output(
        per_layer_bias, bias):
    torch.manual_seed(0)
    attn = BEiTAttention(embed_dims=32, num_heads=4, window_size=(3, 3),
                         use_rel_pos_bias=per_layer_bias, bias=bias)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    attn.eval()
    shared = RelativePositionBias(window_size=(3, 3), num_heads=4)
    with torch.no_grad():
        shared.relative_position_bias_table.normal_()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        expected = attn(x, rel_pos_bias=shared())
        logits, v = beit_attention_logits(attn, x, shared())
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(2, 10, 32)
        out = attn.proj(out)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def bgr_batch(seed=0, size=8):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (2, 3, size, size), generator=gen,
                         dtype=torch.uint8)


MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_pixel_helpers_match_the_preprocessor_forward():
    dp = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    bgr = bgr_batch()
    expected = dp(dict(inputs=bgr, data_samples=None))['inputs']
    rgb = bgr.flip(1).float()
    torch.testing.assert_close(normalize_pixels(dp, rgb), expected)
    torch.testing.assert_close(denormalize_pixels(dp, expected), rgb,
                               rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match='does not normalise'):
        normalize_pixels(SelfSupDataPreprocessor(), rgb)


class _WithPreprocessor(nn.Module):

    def __init__(self, dp):
        super().__init__()
        self.data_preprocessor = dp
        self.weight = nn.Parameter(torch.zeros(1))


@pytest.mark.parametrize('two_views', [False, True])
def test_single_view_preprocessing_is_the_first_view_of_forward(two_views):
    if two_views:
        dp = TwoNormDataPreprocessor(
            mean=MEAN, std=STD, second_mean=[-31.875] * 3,
            second_std=[318.75] * 3, to_rgb=True)
    else:
        dp = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    view_a, view_b = bgr_batch(0), bgr_batch(1)
    if two_views:
        expected = dp(dict(inputs=[view_a, view_b],
                           data_samples=None))['inputs'][0]
    else:
        expected = dp(dict(inputs=view_a, data_samples=None))['inputs']
    got = preprocess_single_view(_WithPreprocessor(dp),
                                 dict(inputs=list(view_a)))
    torch.testing.assert_close(got, expected)


def test_decode_ids_rejects_out_of_range_ids_on_cpu():
    from mmconmim.models.tokenizers.dalle_decoder import DALLEDecoder
    decoder = DALLEDecoder(n_init=8, n_hid=64, n_blk_per_group=1,
                           vocab_size=512)
    ids = torch.zeros(1, 2, 2, dtype=torch.long)
    assert decoder.decode_ids(ids).shape[-2:] == (16, 16)
    for bad in (-1, 512):
        ids[0, 1, 1] = bad
        with pytest.raises(ValueError, match=r'must lie in \[0, 512\)'):
            decoder.decode_ids(ids)
