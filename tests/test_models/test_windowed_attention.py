"""WindowedBEiTViT (ViTDet windowed attention on mmpretrain's BEiTViT):
equal to global attention when one window covers the grid, local otherwise,
and the same state-dict keys as BEiTViT so pre-trained weights load."""
import pytest
import torch
from mmpretrain.models import BEiTViT

from mmconmim.models.backbones import WindowedBEiTViT
from mmconmim.models.backbones.windowed_beit_vit import (window_merge,
                                                         window_partition)

TINY = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)


def build(cls, img_size=32, **kwargs):
    cfg = dict(arch=TINY, img_size=img_size, patch_size=4, out_type='featmap',
               out_indices=(3, ), use_abs_pos_emb=False,
               use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
               layer_scale_init_value=0.1)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = cls(**cfg)
    model.init_weights()
    model.eval()
    return model


def randomise(model):
    """Non-zero relative position tables, so that they matter."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'relative_position_bias_table' in name:
                param.normal_(std=0.5)


def test_partition_and_merge_are_inverse_with_padding():
    x = torch.randn(2, 6, 5, 3)
    windows, padded = window_partition(x, 4)
    assert padded == (8, 8) and windows.shape == (2 * 4, 16, 3)
    # window (0, 1) of image 1 holds rows 0-3, cols 4-7 (cols 5-7 padding)
    assert torch.equal(windows[4 + 1, :4 * 4].view(4, 4, 3)[:, :1], x[1, :4,
                                                                      4:5])
    assert windows[4 + 1].view(4, 4, 3)[:, 1:].abs().sum() == 0
    assert torch.equal(window_merge(windows, 4, padded, (6, 5)), x)


def test_one_window_over_the_grid_is_global_attention():
    reference = build(BEiTViT)
    randomise(reference)
    windowed = build(WindowedBEiTViT, window_size=8, global_attn_indexes=())
    # same keys and shapes: the weights load strictly
    windowed.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected, got = reference(x)[0], windowed(x)[0]
    assert got.shape == (2, 64, 8, 8)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_smaller_windows_differ_and_are_local():
    reference = build(BEiTViT)
    randomise(reference)
    windowed = build(WindowedBEiTViT, window_size=4, global_attn_indexes=(),
                     out_indices=(0, 3))
    state = reference.state_dict()
    # window blocks own 7x7+3 tables; loading the 15x15+3 ones resizes them
    # (BEiTViT's pre-hook) and drops the index buffers, which are rebuilt
    missing, unexpected = windowed.load_state_dict(state, strict=False)
    assert not unexpected
    assert missing and all(k.endswith('relative_position_index')
                           for k in missing)
    assert windowed.layers[0].attn.relative_position_bias_table.shape == (
        7**2 + 3, 4)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        first, last = windowed(x)
        assert not torch.allclose(last, reference(x)[0], atol=1e-3)
        # After one windowed block, the top-left 4x4 tokens (16x16 px) do
        # not see the pixels of other windows.
        y = x.clone()
        y[..., 16:, 16:] += 5.
        first_y = windowed(y)[0]
    assert torch.equal(first_y[..., :4, :4], first[..., :4, :4])
    assert not torch.allclose(first_y[..., 4:, 4:], first[..., 4:, 4:])


def test_global_blocks_see_everything_and_keep_the_grid_table():
    windowed = build(WindowedBEiTViT, window_size=4, global_attn_indexes=(-1,),
                     out_indices=(3, ))
    assert windowed.global_attn_indexes == (3, )
    assert windowed.layers[3].attn.relative_position_bias_table.shape == (
        15**2 + 3, 4)
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., 16:, 16:] += 5.
    with torch.no_grad():
        out, out_y = windowed(x)[0], windowed(y)[0]
    assert not torch.allclose(out_y[..., :4, :4], out[..., :4, :4])


def test_padding_is_masked_out():
    """A 6x6 grid with 4x4 windows is padded to 8x8 and the padded keys are
    masked: the bottom-right window (2x2 real tokens) gives what plain
    attention over those 4 tokens gives."""
    windowed = build(WindowedBEiTViT, img_size=24, window_size=4,
                     global_attn_indexes=(), with_cls_token=True)
    randomise(windowed)
    x = torch.randn(1, 3, 24, 24)
    with torch.no_grad():
        out = windowed(x)[0]
    assert out.shape == (1, 64, 6, 6) and torch.isfinite(out).all()

    # Without class token and relative tables, the weights of a model with
    # 2x2 windows are the same; on the 2x2-token crop it runs plain
    # attention over the 4 real tokens, no padding at all.
    no_cls = build(WindowedBEiTViT, img_size=24, window_size=4,
                   global_attn_indexes=(), with_cls_token=False,
                   use_rel_pos_bias=False)
    exact = build(WindowedBEiTViT, img_size=8, window_size=2,
                  global_attn_indexes=(), with_cls_token=False,
                  use_rel_pos_bias=False)
    exact.load_state_dict(no_cls.state_dict(), strict=True)
    with torch.no_grad():
        padded = no_cls(x)[0]
        # bottom-right window: 2x2 real tokens + 12 padded ones
        crop = exact(x[..., 16:, 16:])[0]
    assert crop.shape == (1, 64, 2, 2)
    torch.testing.assert_close(padded[..., 4:, 4:], crop, rtol=1e-5,
                               atol=1e-5)


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ValueError, match='use_shared_rel_pos_bias=False'):
        build(WindowedBEiTViT, use_rel_pos_bias=False,
              use_shared_rel_pos_bias=True)
    with pytest.raises(ValueError, match='out of range for 4 blocks'):
        build(WindowedBEiTViT, window_size=4, global_attn_indexes=(4, ))
    with pytest.raises(ValueError, match='positive int'):
        build(WindowedBEiTViT, window_size=0)


def test_a_pretraining_state_dict_loads_into_every_block():
    """ConMIM pre-training keeps one shared relative position table; on
    load, BEiTViT's hook copies it into every block: unchanged into the
    window blocks (window = pre-training grid, as ViTDet's 14 at 224 px),
    interpolated into the global block (16x16 tokens here), the 3 class-
    token rows carried over."""
    pretrain = build(BEiTViT, img_size=32, use_rel_pos_bias=False,
                     use_shared_rel_pos_bias=True)
    with torch.no_grad():
        pretrain.rel_pos_bias.relative_position_bias_table.normal_()
    state = pretrain.state_dict()
    windowed = build(WindowedBEiTViT, img_size=64, window_size=8,
                     global_attn_indexes=(3, ))
    missing, unexpected = windowed.load_state_dict(state, strict=False)
    assert not unexpected
    # per-block index buffers are rebuilt, not loaded
    assert all(k.endswith('relative_position_index') for k in missing)
    shared = state['rel_pos_bias.relative_position_bias_table']
    for i in range(3):
        table = windowed.layers[i].attn.relative_position_bias_table
        assert torch.equal(table, shared), i
    table = windowed.layers[3].attn.relative_position_bias_table
    assert table.shape == (31**2 + 3, 4)
    assert torch.equal(table[-3:], shared[-3:])
    for key in ('patch_embed.projection.weight', 'layers.2.attn.qkv.weight',
                'layers.3.gamma_2', 'cls_token'):
        assert torch.equal(windowed.state_dict()[key], state[key]), key
