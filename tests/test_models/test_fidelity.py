"""Numeric fidelity to the official code beyond the losses: initialisation
of the ConMIM projector, the A2MIM decoder and the A2MIM ViT's relative
position tables, and A2MIM's per-parameter weight decay / lr multipliers.

The decay table is built from our configs through mmengine's optimizer
wrapper constructor on the full-size models, and compared with a table
computed here from the reference configs' rules (openmixup
``paramwise_options``: regexes ``re.search``-ed in the parameter name, every
match applied in order, later ones overriding), copied from
openmixup/configs/selfsup/a2mim/imagenet/*.py.
"""
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT

# Std of a normal(0, s) truncated at +-s, divided by s:
# sqrt(1 - 2 phi(1) / (2 Phi(1) - 1)).
_PHI1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
_MASS1 = math.erf(1 / math.sqrt(2))
TRUNC_1SIGMA_STD = math.sqrt(1 - 2 * _PHI1 / _MASS1)
# torch's public batch-norm classes (norm_cfg BN1d/BN/SyncBN build these)
BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d,
               torch.nn.SyncBatchNorm)


# --------------------------------------------------------------------------
# ConMIM projector: trunc-normal(0.02) truncated at +-0.02, zero bias.

def build(cfg):
    init_default_scope('mmpretrain')
    return MODELS.build(cfg)


@pytest.mark.parametrize('with_bias', [False, True])
def test_conmim_projector_init_matches_the_official(with_bias):
    torch.manual_seed(0)
    neck = build(dict(
        type='ConMIMProjector', in_channels=96, hid_channels=1024,
        out_channels=64, num_layers=3, with_bias=with_bias,
        with_last_bn=True, with_last_bn_affine=False, with_avg_pool=False,
        norm_cfg=dict(type='BN1d')))
    neck.init_weights()
    linears = [m for m in neck.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for fc in linears:
        w = fc.weight.detach()
        assert w.abs().max() <= 0.02 + 1e-7  # truncated at +-std
        assert w.abs().max() > 0.0199  # ... and the tails reach it
        assert w.mean().abs() < 5e-4
        assert w.std().item() == pytest.approx(0.02 * TRUNC_1SIGMA_STD,
                                               rel=0.03)
        if fc.bias is not None:
            assert torch.all(fc.bias == 0)
    # NonLinearNeck's with_bias covers the hidden layers
    assert (linears[0].bias is not None) == with_bias
    norms = [m for m in neck.modules()
             if isinstance(m, BATCH_NORMS)]
    assert len(norms) == 3
    for bn in norms:
        if bn.affine:
            assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert not norms[-1].affine


def test_plain_nonlinear_neck_would_not_match():
    """The check above can fail: mmpretrain's own neck keeps PyTorch's
    U(+-1/sqrt(fan_in)) init (std 0.031 at fan_in 96)."""
    torch.manual_seed(0)
    neck = build(dict(
        type='NonLinearNeck', in_channels=96, hid_channels=1024,
        out_channels=64, num_layers=3, with_bias=False, with_last_bn=True,
        with_last_bn_affine=False, with_avg_pool=False,
        norm_cfg=dict(type='BN1d')))
    neck.init_weights()
    assert neck.fc0.weight.abs().max() > 0.05


def test_conmim_configs_use_the_official_projector():
    cfg = Config.fromfile(osp.join(
        REPO_ROOT,
        'configs/conmim/conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k.py'))
    assert cfg.model.neck.type == 'ConMIMProjector'


def test_conmim_projector_keeps_pretrained_weights(tmp_path):
    torch.manual_seed(0)
    cfg = dict(type='ConMIMProjector', in_channels=8, hid_channels=16,
               out_channels=4, num_layers=3, with_bias=False,
               with_last_bn=True, with_last_bn_affine=False,
               with_avg_pool=False, norm_cfg=dict(type='BN1d'))
    source = build(cfg)
    path = str(tmp_path / 'neck.pth')
    torch.save({'state_dict': source.state_dict()}, path)
    neck = build(dict(cfg, init_cfg=dict(type='Pretrained',
                                         checkpoint=path)))
    neck.init_weights()
    assert torch.equal(neck.fc0.weight, source.fc0.weight)


# --------------------------------------------------------------------------
# A2MIM decoder and ViT initialisation.

def test_a2mim_decoder_init_is_trunc_normal_002_zero_bias():
    torch.manual_seed(0)
    decoder = build(dict(type='A2MIMLinearDecoder', in_channels=256,
                         encoder_stride=8))
    decoder.init_weights()
    conv = decoder.decoder[0]
    assert conv.out_channels == 8**2 * 3
    w = conv.weight.detach()
    # mmcv's trunc_normal_init truncates at +-2 (absolute): at std 0.02 that
    # is a plain normal(0, 0.02).
    assert w.std().item() == pytest.approx(0.02, rel=0.03)
    assert w.mean().abs() < 5e-4
    assert torch.all(conv.bias == 0)
    # PyTorch's default would be U(+-1/16): std 0.036.
    assert w.abs().max() < 0.12


def test_a2mim_base_configs_use_the_reference_decoder():
    for name in ('a2mim_resnet50', 'a2mim_convnext-tiny',
                 'a2mim_vit-base-p16'):
        cfg = Config.fromfile(
            osp.join(REPO_ROOT, f'configs/_base_/models/{name}.py'))
        assert cfg.model.neck.type == 'A2MIMLinearDecoder', name


def test_a2mim_vit_relative_position_tables_start_at_zero():
    torch.manual_seed(0)
    vit = build(dict(
        type='A2MIMViT',
        arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                  feedforward_channels=128),
        img_size=32, patch_size=8, layer_scale_init_value=0.1,
        use_abs_pos_emb=True, use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False, out_type='featmap', mask_layer=0))
    vit.init_weights()
    tables = [layer.attn.relative_position_bias_table
              for layer in vit.layers]
    assert len(tables) == 2
    for table in tables:
        assert table.shape == ((2 * 4 - 1)**2 + 3, 4)
        assert torch.all(table == 0)
    # the rest is still drawn (the zeroing is targeted)
    assert vit.pos_embed.abs().sum() > 0
    assert vit.layers[0].attn.qkv.weight.abs().sum() > 0


# --------------------------------------------------------------------------
# A2MIM weight-decay / lr table against the reference rules.

# openmixup configs/selfsup/a2mim/imagenet/r50_l3_sz224_init_8xb256_cos_ep100
R50_100E_RULES = [
    (r'(bn|ln|gn)(\d+)?.(weight|bias)', dict(weight_decay=0.)),
    (r'bias', dict(weight_decay=0.)),
    (r'mask_token', dict(weight_decay=0., lr_mult=0.1)),
    (r'mask_gamma', dict(weight_decay=0., lr_mult=0.1)),
]
# ... r50_l3_sz224_init_8xb256_cos_ep300: no mask_gamma rule
R50_300E_RULES = R50_100E_RULES[:3]
# ... convnext_{t,b}_l3_sz224_init_8xb256_cos_ep300
CONVNEXT_RULES = [
    (r'(bn|ln|gn)(\d+)?.(weight|bias)', dict(weight_decay=0.)),
    (r'bias', dict(weight_decay=0.)),
    (r'gamma', dict(weight_decay=0.)),
    (r'mask_token', dict(weight_decay=0., lr_mult=0.1)),
    (r'mask_gamma', dict(weight_decay=0., lr_mult=0.1)),
]
# ... vit_{small,base}_l0_*_step_ep800
VIT_RULES = [
    (r'(bn|ln|gn)(\d+)?.(weight|bias)', dict(weight_decay=0.)),
    (r'norm', dict(weight_decay=0.)),
    (r'bias', dict(weight_decay=0.)),
    (r'mask_token', dict(weight_decay=0.)),
    (r'pos_embed', dict(weight_decay=0.)),
    (r'cls_token', dict(weight_decay=0.)),
    (r'gamma', dict(weight_decay=0.)),
]

A2MIM_CONFIGS = {
    'a2mim_resnet50_8xb256-coslr-100e_in1k.py': R50_100E_RULES,
    'a2mim_resnet50_8xb256-coslr-300e_in1k.py': R50_300E_RULES,
    'a2mim_convnext-tiny_8xb256-amp-coslr-300e_in1k.py': CONVNEXT_RULES,
    'a2mim_convnext-base_8xb256-amp-coslr-300e_in1k.py': CONVNEXT_RULES,
    'a2mim_vit-base-p16_8xb128-accu2-steplr-800e_in1k.py': VIT_RULES,
    'a2mim_vit-small-p16_8xb256-steplr-800e_in1k.py': VIT_RULES,
}


def reference_multipliers(name, rules):
    """(lr multiplier, weight-decay multiplier) of parameter ``name`` under
    openmixup's DefaultOptimizerConstructor: every regex that
    ``re.search``-es the name sets its options, in order."""
    lr_mult, wd_mult = 1.0, 1.0
    for regexp, options in rules:
        if re.search(regexp, name):
            if 'weight_decay' in options:
                wd_mult = options['weight_decay'] / 0.05
            if 'lr_mult' in options:
                lr_mult = options['lr_mult']
    return lr_mult, wd_mult


def our_multipliers(path):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    base_wd = cfg.optim_wrapper.optimizer.weight_decay
    group_of = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            group_of[id(param)] = group
    table = {}
    for name, param in model.named_parameters():
        group = group_of[id(param)]  # every parameter is optimised
        table[name] = (group['lr'] / base_lr,
                       group['weight_decay'] / base_wd)
    return table


@pytest.mark.parametrize('config', sorted(A2MIM_CONFIGS))
def test_a2mim_decay_and_lr_per_parameter_match_the_reference(config):
    rules = A2MIM_CONFIGS[config]
    ours = our_multipliers(osp.join(REPO_ROOT, 'configs/a2mim', config))
    mismatches = []
    for name, (lr_mult, wd_mult) in ours.items():
        expected = reference_multipliers(name, rules)
        if (lr_mult, wd_mult) != pytest.approx(expected):
            mismatches.append((name, (lr_mult, wd_mult), expected))
    assert not mismatches, mismatches[:10]

    # The cases where the reference differs from "no decay on every norm
    # and every 1-D parameter", spelled out:
    if 'resnet50' in config:
        ds_bn = 'backbone.layer1.0.downsample.1.weight'
        assert ours[ds_bn] == (1.0, 1.0)  # decayed
        assert ours['backbone.layer1.0.downsample.1.bias'] == (1.0, 0.0)
        assert ours['backbone.layer1.0.bn1.weight'] == (1.0, 0.0)
        assert ours['backbone.mask_token'] == pytest.approx((0.1, 0.0))
        gamma = (1.0, 1.0) if '300e' in config else (0.1, 0.0)
        assert ours['backbone.mask_gamma'] == pytest.approx(gamma)
    elif 'convnext' in config:
        assert ours['backbone.stages.0.0.norm.weight'] == (1.0, 1.0)
        assert ours['backbone.downsample_layers.1.0.weight'] == (1.0, 1.0)
        assert ours['backbone.norm3.weight'] == (1.0, 1.0)
        assert ours['backbone.stages.0.0.norm.bias'] == (1.0, 0.0)
        assert ours['backbone.stages.0.0.gamma'] == (1.0, 0.0)
        assert ours['backbone.mask_gamma'] == pytest.approx((0.1, 0.0))
    else:
        table = 'backbone.layers.0.attn.relative_position_bias_table'
        assert ours[table] == (1.0, 0.0)
        assert ours['backbone.layers.0.attn.qkv.weight'] == (1.0, 1.0)
        assert ours['backbone.layers.0.attn.q_bias'] == (1.0, 0.0)
        assert ours['backbone.mask_token'] == (1.0, 0.0)
        assert ours['neck.decoder.0.weight'] == (1.0, 1.0)


def test_reference_rules_reproduce_the_documented_upstream_cases():
    """The independent table itself gives the three cases the reference is
    known for (so the comparison above cannot pass by accident)."""
    assert reference_multipliers(
        'backbone.layer1.0.downsample.1.weight', R50_100E_RULES) == (1., 1.)
    assert reference_multipliers(
        'backbone.stages.0.0.norm.weight', CONVNEXT_RULES) == (1., 1.)
    assert reference_multipliers(
        'backbone.layers.3.attn.relative_position_bias_table',
        VIT_RULES) == (1., 0.)
    assert reference_multipliers('backbone.mask_gamma',
                                 R50_300E_RULES) == (1., 1.)


# --------------------------------------------------------------------------
# The paper's architecture at initialisation (benchmarks/conmim_paper_setting)

def test_paper_architecture_starts_with_identical_masked_tokens(monkeypatch):
    """No absolute position embedding + a zero shared relative position
    table: every masked patch of an image gives the same output at
    initialisation (so the loss cannot go below log(masked tokens) until
    the table has learned positions); with an absolute position embedding
    (the CPU demo's switch) they differ from the start."""
    import sys
    from mmengine.logging import MessageHub

    from benchmarks import conmim_paper_setting as bench
    monkeypatch.setattr(sys, 'argv', [
        'x', '--img-size', '32', '--patch-size', '8', '--unit-size', '16',
        '--embed-dims', '32', '--num-layers', '2', '--proj-hidden', '64',
        '--proj-out', '32', '--batch-size', '4', '--iters', '1'])
    args = bench.parse_args()
    init_default_scope('mmpretrain')
    MessageHub.get_current_instance().update_info('max_iters', 1)
    torch.manual_seed(0)
    batch = next(iter(bench.build_loader(args)))
    spreads = {}
    for abs_pos in (False, True):
        args.abs_pos_emb = abs_pos
        torch.manual_seed(0)
        model = bench.build_model(args)
        model.train()
        data = model.data_preprocessor(batch, True)
        # 3 of 4 units of 2 x 2 patches
        assert int(data['data_samples'][0].mask.sum()) == 12
        spreads[abs_pos] = bench.masked_spread(model, data)
    assert abs(spreads[False]) < 1e-6
    assert spreads[True] > 1e-4


def test_paper_setting_benchmark_defaults_are_the_papers(monkeypatch):
    """benchmarks/conmim_paper_setting.py builds the paper's model unless
    the small-data options are given (--weight-init, --layer-scale,
    --proj-layers, --visible-weight, --image-weight, --rel-pos-init-std),
    and then builds what they say."""
    import sys

    from benchmarks import conmim_paper_setting as bench
    tiny = ['x', '--img-size', '32', '--patch-size', '8', '--unit-size',
            '16', '--embed-dims', '32', '--num-layers', '2', '--proj-hidden',
            '64', '--proj-out', '32']
    init_default_scope('mmpretrain')
    models = {}
    for name, extra in (('paper', []),
                        ('fix', ['--weight-init', 'mmpretrain',
                                 '--layer-scale', '1.0',
                                 '--proj-layers', '2',
                                 '--visible-weight', '0.25',
                                 '--image-weight', '0.5',
                                 '--rel-pos-init-std', '0.02'])):
        monkeypatch.setattr(sys, 'argv', tiny + extra)
        torch.manual_seed(0)
        models[name] = bench.build_model(bench.parse_args())
    paper, fix = models['paper'], models['fix']
    assert paper.backbone.weight_init == 'paper'
    assert fix.backbone.weight_init == 'mmpretrain'
    assert torch.allclose(paper.backbone.layers[0].gamma_1,
                          torch.full((32, ), 0.1))
    assert torch.allclose(fix.backbone.layers[0].gamma_1, torch.ones(32))
    # paper: Linear-BN-ReLU x 2, then Linear-BN; the fix drops one block
    assert hasattr(paper.neck, 'fc2') and not hasattr(fix.neck, 'fc2')
    assert fix.neck.fc1.out_features == 32
    # the loss: masked rows only and no image-level term unless asked
    assert (paper.head.loss_module.visible_weight,
            paper.head.loss_module.image_weight) == (0., 0.)
    assert (fix.head.loss_module.visible_weight,
            fix.head.loss_module.image_weight) == (0.25, 0.5)
    # the shared relative position table: zero (paper) or drawn at 0.02
    paper_table = paper.backbone.rel_pos_bias.relative_position_bias_table
    fix_table = fix.backbone.rel_pos_bias.relative_position_bias_table
    assert torch.count_nonzero(paper_table) == 0
    assert 0.01 < float(fix_table.std()) < 0.03
