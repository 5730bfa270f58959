"""tools/model_converters/mmconmim_to_timm.py: exported backbones, written
in timm / torchvision key layouts, give the same features there as in
mmpretrain (fp32, max abs diff <= 1e-5).

Every weight is randomised first (relative position tables, q/v biases and
layer scales start at 0 / constants), so a misplaced or dropped tensor
changes the features."""
import importlib.util
import json
import os.path as osp
import runpy
import sys

import pytest
import timm
import torch
import torchvision
from mmpretrain.models.backbones import BEiTViT

import mmconmim  # noqa: F401
from tests.fixtures.conmim_tiny import build_tiny_conmim
from tests.fixtures.helpers import REPO_ROOT
from mmconmim.models.backbones import A2MIMConvNeXt, A2MIMResNet
from mmconmim.checkpoint.layout import extract_backbone

TOOL = osp.join(REPO_ROOT, 'tools/model_converters/mmconmim_to_timm.py')
EXPORT_TOOL = osp.join(REPO_ROOT, 'tools/model_converters/export_backbone.py')
TOL = 1e-5


def load_tool():
    spec = importlib.util.spec_from_file_location('mmconmim_to_timm', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = load_tool()


def randomise(module, seed=0):
    """Every float parameter and buffer random (norm scales around 1, BN
    variances positive), so each tensor matters for the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith('running_var'):
                tensor.copy_(noise.abs() + 0.5)
            elif ('ln' in name or 'norm' in name or 'bn' in name) and \
                    name.endswith('weight') and tensor.ndim == 1:
                tensor.copy_(1 + 0.2 * noise)
            else:
                tensor.copy_(0.1 * noise)
    module.eval()  # (mmpretrain backbones' train() returns None)
    return module


def export_of(backbone):
    """What export_backbone.py writes for a single-network model."""
    weights, _, _ = extract_backbone(
        {'backbone.' + k: v for k, v in backbone.state_dict().items()})
    return {k[len('backbone.'):]: v for k, v in weights.items()}


def images(size, batch=2, seed=1):
    return torch.randn(batch, 3, size, size,
                       generator=torch.Generator().manual_seed(seed))


def timm_tokens(state_dict, name, kwargs, x):
    model = timm.create_model(name, pretrained=False, **kwargs).eval()
    model.load_state_dict(state_dict, strict=True)  # nothing missing/extra
    with torch.no_grad():
        return model.forward_features(x)


def test_conmim_export_cli_matches_timm_beit(tmp_path, monkeypatch, capsys):
    """The full route: a ConMIM training checkpoint -> export_backbone.py
    (teacher) -> mmconmim_to_timm.py --safetensors -> timm Beit with a shared
    relative position bias, layer scale, q/v biases and the final norm."""
    from safetensors.torch import load_file
    from safetensors import safe_open
    model = randomise(build_tiny_conmim(use_abs_pos_emb=False), seed=3)
    ckpt = str(tmp_path / 'iter_7.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(iter=7, epoch=0, cfg='')), ckpt)
    exported = str(tmp_path / 'backbone.pth')
    # both command lines, in this process (a subprocess each would spend
    # most of the test importing mmpretrain)
    monkeypatch.setattr(sys, 'argv', [EXPORT_TOOL, ckpt, exported])
    runpy.run_path(EXPORT_TOOL, run_name='__main__')
    out = str(tmp_path / 'beit.safetensors')
    capsys.readouterr()
    converter.main([exported, out, '--safetensors'])
    printed = capsys.readouterr().out
    assert 'with strict=True' in printed, printed
    assert "timm.create_model('beit_base_patch16_224'" in printed

    with safe_open(out, framework='pt') as f:
        meta = f.metadata()
    assert meta['source'] == 'teacher' and meta['iteration'] == '7'
    kwargs = json.loads(meta['create_kwargs'])
    assert kwargs == dict(
        img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4,
        mlp_ratio=2, qkv_bias=True, use_abs_pos_emb=False,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=True,
        init_values=0.1, num_classes=0, global_pool='token')
    state_dict = load_file(out)
    assert 'rel_pos_bias.relative_position_bias_table' in state_dict
    assert not any('relative_position_index' in k for k in state_dict)

    x = images(32)
    teacher = model.teacher.module[0]
    with torch.no_grad():
        ours = teacher(x, mask=None)[0]  # (B, 1 + N, C), final norm
    theirs = timm_tokens(state_dict, meta['model'], kwargs, x)
    assert ours.shape == theirs.shape == (2, 17, 64)
    assert (ours - theirs).abs().max() <= TOL
    # the teacher, not the student, was exported
    with torch.no_grad():
        student = model.backbone(x, mask=None)[0]
    assert (student - theirs).abs().max() > 1e-2


@pytest.mark.parametrize('variant', [
    dict(use_abs_pos_emb=True, use_rel_pos_bias=True,
         use_shared_rel_pos_bias=False, layer_scale_init_value=0.1),
    dict(use_abs_pos_emb=True, use_rel_pos_bias=False,
         use_shared_rel_pos_bias=False, layer_scale_init_value=0.,
         bias=False),
], ids=['per-layer-rel-pos', 'abs-pos-only-no-bias'])
def test_beit_variants_match_timm(variant):
    """A2MIM-style per-layer relative position bias (each layer its own
    table), and a ViT without relative position tables, layer scale or q/v
    biases (heads then come from --num-heads)."""
    backbone = randomise(BEiTViT(
        arch=dict(embed_dims=48, num_layers=3, num_heads=3,
                  feedforward_channels=192),
        img_size=24, patch_size=8, final_norm=True, out_type='raw',
        **variant), seed=5)
    weights = export_of(backbone)
    if not variant['use_rel_pos_bias']:
        with pytest.raises(converter.ConversionError, match='--num-heads'):
            converter.convert(weights)
    state_dict, library, name, kwargs = converter.convert(weights,
                                                          num_heads=3)
    assert library == 'timm'
    assert kwargs['use_rel_pos_bias'] == variant['use_rel_pos_bias']
    assert kwargs['qkv_bias'] == ('bias' not in variant)
    assert kwargs['init_values'] == variant['layer_scale_init_value']
    x = images(24)
    with torch.no_grad():
        ours = backbone(x)[0]
    theirs = timm_tokens(state_dict, name, kwargs, x)
    assert (ours - theirs).abs().max() <= TOL


def test_resnet_export_matches_torchvision():
    """A2MIM ResNet (mask token dropped by the export) -> torchvision
    resnet18: identical stage-4 features."""
    backbone = randomise(A2MIMResNet(depth=18, mask_layer=2,
                                     out_indices=(3, )), seed=7)
    weights = export_of(backbone)
    assert not any('mask' in k for k in weights)
    state_dict, library, name, kwargs = converter.convert(weights)
    assert (library, name) == ('torchvision', 'resnet18')
    assert converter.verify(state_dict, library, name, kwargs) == \
        'checked: loads into torchvision resnet18 (new: fc.weight, fc.bias)'
    reference = torchvision.models.resnet18(weights=None).eval()
    reference.load_state_dict(state_dict, strict=False)
    trunk = torch.nn.Sequential(*list(reference.children())[:-2])
    x = images(64)
    with torch.no_grad():
        ours = backbone(x)[0]
        theirs = trunk(x)
    assert ours.shape == theirs.shape == (2, 512, 2, 2)
    assert (ours - theirs).abs().max() <= TOL


def test_convnext_export_matches_timm():
    """A2MIM ConvNeXt -> timm ConvNeXt: identical pooled, normalised
    features (mmpretrain's gap-then-norm3 = timm's pool-then-head.norm)."""
    backbone = randomise(A2MIMConvNeXt(
        arch=dict(depths=[1, 2, 1, 1], channels=[16, 24, 32, 40]),
        mask_layer=2), seed=9)
    weights = export_of(backbone)
    state_dict, library, name, kwargs = converter.convert(weights)
    assert library == 'timm'
    assert kwargs == dict(depths=(1, 2, 1, 1), dims=(16, 24, 32, 40),
                          num_classes=0)
    model = timm.create_model(name, pretrained=False, **kwargs).eval()
    model.load_state_dict(state_dict, strict=True)
    x = images(64)
    with torch.no_grad():
        ours = backbone(x)[0]
        theirs = model.forward_head(model.forward_features(x),
                                    pre_logits=True)
    assert ours.shape == theirs.shape == (2, 40)
    assert (ours - theirs).abs().max() <= TOL


def test_refuses_to_overwrite_and_bad_input(tmp_path, capsys):
    backbone = randomise(A2MIMResNet(depth=18, out_indices=(3, )))
    exported = str(tmp_path / 'r18.pth')
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in
                                export_of(backbone).items()},
                    meta=dict(source='student', iteration=3)), exported)
    out = tmp_path / 'r18_tv.pth'
    out.write_bytes(b'keep me')
    with pytest.raises(SystemExit, match='exists; pass --force'):
        converter.main([exported, str(out)])
    assert out.read_bytes() == b'keep me'
    converter.main([exported, str(out), '--force'])
    written = torch.load(str(out), weights_only=True)
    assert torch.equal(written['layer4.1.bn2.running_var'],
                       backbone.state_dict()['layer4.1.bn2.running_var'])
    assert 'iteration 3' in capsys.readouterr().out
    # the .safetensors suffix implies --safetensors
    from safetensors.torch import load_file
    named = str(tmp_path / 'r18.safetensors')
    converter.main([exported, named])
    assert torch.equal(load_file(named)['conv1.weight'],
                       written['conv1.weight'])

    # a full training checkpoint is refused with the export command
    full = str(tmp_path / 'iter_3.pth')
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1),
                                'neck.fc.weight': torch.zeros(1)}), full)
    with pytest.raises(SystemExit, match='export_backbone.py'):
        converter.main([full, str(tmp_path / 'x.pth')])
    # a plain ViT (full qkv bias) has no beit layout
    with pytest.raises(converter.ConversionError, match='VisionTransformer'):
        converter.convert({'layers.0.attn.qkv.weight': torch.zeros(3, 1),
                           'layers.0.attn.qkv.bias': torch.zeros(3)})
