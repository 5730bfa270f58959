"""Write an exported mmconmim backbone in timm / torchvision key layout.

    python tools/model_converters/mmconmim_to_timm.py EXPORT OUT [--safetensors] [--force]

EXPORT is the output of ``tools/model_converters/export_backbone.py`` (keys
``backbone.*``, or bare keys with ``--no-prefix``). The architecture is
recognised from the keys:

* BEiT-style ViT (mmpretrain ``BEiTViT`` / ``BEiTPretrainViT``: ConMIM's
  ``ConMIMViT``, A2MIM's and CIM's ViTs) -> timm ``Beit`` (``beit_*``). The
  names are the official BEiT ones (docs/transfer.md has the table):
  ``layers.N.ln1/ln2`` -> ``blocks.N.norm1/norm2``, ``ffn.layers.0.0`` /
  ``ffn.layers.1`` -> ``mlp.fc1`` / ``mlp.fc2``, ``attn.{qkv,proj,q_bias,
  v_bias,relative_position_bias_table}`` and ``gamma_1/2`` keep their names,
  the final norm ``ln1`` -> ``norm``, the shared table ``rel_pos_bias.*``
  stays shared (``use_shared_rel_pos_bias=True``) and per-layer tables stay
  per layer (``use_rel_pos_bias=True``). The ``relative_position_index``
  buffers are dropped (timm derives them from the grid).
  Load it with the printed ``timm.create_model(...)`` call: ``global_pool=
  'token'`` keeps the pre-trained final norm on every token, so
  ``forward_features`` gives the same tokens as our backbone. (timm's default
  ``global_pool='avg'`` has a new ``fc_norm`` instead of ``norm``, the
  fine-tuning recipe: load with ``strict=False``.)
* ResNet (mmpretrain ``ResNet`` / ``A2MIMResNet``, default ``pytorch`` style)
  -> torchvision ``resnet{18,34,50,101,152}`` (also timm's ``resnet*``):
  the key names already agree; ``fc`` is absent (``strict=False``, or
  ``num_classes`` head left new).
* ConvNeXt v1 (mmpretrain ``ConvNeXt`` / ``A2MIMConvNeXt``) -> timm
  ``convnext_*``: ``downsample_layers.0`` -> ``stem``, ``downsample_layers.i``
  -> ``stages.i.downsample``, ``stages.i.j.{depthwise_conv,norm,
  pointwise_conv1,pointwise_conv2,gamma}`` -> ``stages.i.blocks.j.{conv_dw,
  norm,mlp.fc1,mlp.fc2,gamma}``, the final ``norm3`` (pooled) ->
  ``head.norm``.

OUT is a plain tensor state dict (``torch.load(OUT, weights_only=True)``), or
a ``.safetensors`` file with ``--safetensors`` (the timm call is stored in its
metadata), written atomically with the umask's permissions. An existing OUT
is never overwritten without ``--force``, and never when it is EXPORT (also
through ``..``, symlinks or hard links). The config stored in the export is
read as literals (``num_heads``), never run.
"""
import argparse
import json
import math
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

# timm's names for the official BEiT geometries (anything else is created
# from beit_base_patch16_224 with every geometry argument overridden).
TIMM_BEIT_NAMES = {
    (768, 12, 12, 16): 'beit_base_patch16_224',
    (1024, 24, 16, 16): 'beit_large_patch16_224',
}
# torchvision depth by (block kind, blocks per stage).
RESNET_DEPTHS = {
    ('basic', (2, 2, 2, 2)): 18,
    ('basic', (3, 4, 6, 3)): 34,
    ('bottleneck', (3, 4, 6, 3)): 50,
    ('bottleneck', (3, 4, 23, 3)): 101,
    ('bottleneck', (3, 8, 36, 3)): 152,
}
TIMM_CONVNEXT_NAMES = {
    ((3, 3, 9, 3), (96, 192, 384, 768)): 'convnext_tiny',
    ((3, 3, 27, 3), (96, 192, 384, 768)): 'convnext_small',
    ((3, 3, 27, 3), (128, 256, 512, 1024)): 'convnext_base',
    ((3, 3, 27, 3), (192, 384, 768, 1536)): 'convnext_large',
}


class ConversionError(ValueError):
    """The export cannot be written in a timm/torchvision layout."""


def _layer_count(state_dict, pattern):
    ids = {int(m.group(1)) for k in state_dict
           for m in [re.match(pattern, k)] if m}
    if ids != set(range(len(ids))):
        raise ConversionError(f'layer indices {sorted(ids)} are not 0..n-1')
    return len(ids)


def _drop_per_layer_copies(state_dict):
    """The state dict without the per-layer copies of the shared relative
    position table (:func:`mmconmim.checkpoint.layout.drop_per_layer_copies`);
    refuses per-layer tables that differ from it (a model fine-tuned with
    per-layer tables has no shared table to keep)."""
    from mmconmim.checkpoint.layout import drop_per_layer_copies
    kept = drop_per_layer_copies(state_dict)
    differing = [k for k in kept if re.fullmatch(
        r'layers\.\d+\.attn\.relative_position_bias_table', k)]
    if differing:
        raise ConversionError(
            f'{differing[0]} differs from the shared relative position table '
            'rel_pos_bias.relative_position_bias_table: the export holds '
            'both kinds with different values; remove one before converting')
    return kept


def _grid_from_rel_table(num_relative_distance: int) -> int:
    # (2h - 1) * (2w - 1) + 3 entries for an h x w grid (square grids only)
    side = math.isqrt(num_relative_distance - 3)
    if side * side != num_relative_distance - 3 or side % 2 == 0:
        raise ConversionError(
            f'a relative position table with {num_relative_distance} rows '
            'is not that of a square token grid')
    return (side + 1) // 2


def _heads_from_config(config_text: str) -> Optional[int]:
    """num_heads of the backbone in the pre-training config stored in the
    export's metadata (needed only without relative position tables). The
    text is read as literals, never run
    (:func:`mmconmim.checkpoint.config_field`)."""
    from mmconmim.checkpoint import config_field
    arch = config_field(config_text, 'model.backbone.arch')
    if isinstance(arch, dict):
        heads = arch.get('num_heads')
        return heads if isinstance(heads, int) else None
    if not isinstance(arch, str):
        return None
    from mmpretrain.models.backbones import BEiTViT
    for names, zoo in BEiTViT.arch_zoo.items():
        if arch in names:
            return zoo['num_heads']
    return None


def convert_beit_vit(state_dict: Dict[str, torch.Tensor],
                     num_heads: Optional[int] = None,
                     config_text: str = '') -> Tuple[OrderedDict, str, dict]:
    """mmpretrain BEiT ViT keys (without ``backbone.``) -> timm ``Beit``.

    Returns:
        (timm state dict, timm model name, ``timm.create_model`` kwargs)
    """
    if 'layers.0.attn.qkv.bias' in state_dict:
        raise ConversionError(
            'this is a plain mmpretrain VisionTransformer (full qkv bias), '
            'not a BEiT-style ViT (q/v biases); it has no timm beit_* layout')
    embed_dim = state_dict['cls_token'].shape[-1]
    proj = state_dict['patch_embed.projection.weight']
    if proj.shape[-1] != proj.shape[-2]:
        raise ConversionError(f'non-square patches {tuple(proj.shape[-2:])}')
    patch_size = proj.shape[-1]
    depth = _layer_count(state_dict, r'layers\.(\d+)\.')
    hidden = state_dict['layers.0.ffn.layers.0.0.weight'].shape[0]
    if hidden % embed_dim:
        raise ConversionError(
            f'FFN width {hidden} is not a multiple of the embedding width '
            f'{embed_dim} (timm builds int(embed_dim * mlp_ratio))')

    shared = 'rel_pos_bias.relative_position_bias_table' in state_dict
    per_layer = 'layers.0.attn.relative_position_bias_table' in state_dict
    if shared and per_layer:
        # export_backbone.py writes the shared table and a copy of it in
        # every layer (so that every mmengine loading route gets the tables);
        # timm's shared layout is the pre-trained model: drop the copies
        state_dict = _drop_per_layer_copies(state_dict)
        per_layer = False
    grids, heads = set(), set()
    if 'pos_embed' in state_dict:
        num_tokens = state_dict['pos_embed'].shape[1] - 1
        side = math.isqrt(num_tokens)
        if side * side != num_tokens:
            raise ConversionError(f'pos_embed has {num_tokens} patch tokens, '
                                  'not a square grid')
        grids.add(side)
    for key in state_dict:
        if key.endswith('relative_position_bias_table'):
            table = state_dict[key]
            grids.add(_grid_from_rel_table(table.shape[0]))
            heads.add(table.shape[1])
    if num_heads is not None:
        heads.add(num_heads)
    if not heads:
        found = _heads_from_config(config_text)
        if found is None:
            raise ConversionError(
                'the number of attention heads cannot be read from the '
                'weights (no relative position table) nor from the '
                "export's config: pass --num-heads")
        heads.add(found)
    if len(heads) != 1 or len(grids) != 1:
        raise ConversionError(
            f'inconsistent geometry: heads {sorted(heads)}, token grid sides '
            f'{sorted(grids)}')
    (heads, ), (grid, ) = heads, grids

    converted = OrderedDict()
    rules = [
        (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
        (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
        (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
        (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
        (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
        (r'^layers\.(\d+)\.attn\.(qkv|proj)\.', r'blocks.\1.attn.\2.'),
        (r'^layers\.(\d+)\.attn\.(q_bias|v_bias|relative_position_bias_table)$',
         r'blocks.\1.attn.\2'),
        (r'^layers\.(\d+)\.(gamma_1|gamma_2)$', r'blocks.\1.\2'),
        (r'^ln1\.', 'norm.'),
        (r'^ln2\.', 'fc_norm.'),
        (r'^(cls_token|pos_embed)$', r'\1'),
        (r'^rel_pos_bias\.relative_position_bias_table$',
         'rel_pos_bias.relative_position_bias_table'),
    ]
    for key, value in state_dict.items():
        if key.endswith('relative_position_index'):
            continue  # derived from the grid; non-persistent in timm
        for pattern, repl in rules:
            new, count = re.subn(pattern, repl, key)
            if count:
                converted[new] = value
                break
        else:
            raise ConversionError(f'no timm counterpart for key {key!r}')

    kwargs = dict(
        img_size=grid * patch_size, patch_size=patch_size,
        embed_dim=embed_dim, depth=depth, num_heads=heads,
        mlp_ratio=hidden // embed_dim,
        qkv_bias='layers.0.attn.q_bias' in state_dict,
        use_abs_pos_emb='pos_embed' in state_dict,
        use_rel_pos_bias=per_layer, use_shared_rel_pos_bias=shared,
        # any non-zero value creates gamma_1/2 (the weights overwrite it);
        # 0, not None: timm.create_model drops None arguments, and the
        # beit_* defaults have layer scale
        init_values=0.1 if 'layers.0.gamma_1' in state_dict else 0,
        num_classes=0,
        # 'token' keeps the pre-trained final norm on all tokens ('avg'
        # would replace it with a new fc_norm)
        global_pool='token' if 'norm.weight' in converted else 'avg')
    name = TIMM_BEIT_NAMES.get((embed_dim, depth, heads, patch_size),
                               'beit_base_patch16_224')
    return converted, name, kwargs


def convert_resnet(state_dict: Dict[str, torch.Tensor]):
    """mmpretrain ResNet keys -> torchvision ``resnet*`` (same names)."""
    if 'stem.0.conv.weight' in state_dict:
        raise ConversionError('a deep-stem ResNet (ResNetV1c/d) has no '
                              'torchvision layout')
    kind = 'bottleneck' if 'layer1.0.conv3.weight' in state_dict else 'basic'
    blocks = tuple(
        _layer_count(state_dict, rf'layer{i}\.(\d+)\.') for i in range(1, 5))
    depth = RESNET_DEPTHS.get((kind, blocks))
    if depth is None:
        raise ConversionError(f'a ResNet with {kind} blocks {blocks} has no '
                              'torchvision counterpart')
    import torchvision
    reference = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    expected = {k: v.shape for k, v in reference.state_dict().items()
                if not k.startswith('fc.')}
    converted = OrderedDict(state_dict)
    mismatched = sorted(
        set(expected) ^ set(converted)
        | {k for k in expected if k in converted
           and converted[k].shape != expected[k]})
    if mismatched:
        raise ConversionError(
            f'keys/shapes differ from torchvision resnet{depth} (e.g. a '
            f"'caffe'-style or modified ResNet): {mismatched[:6]}")
    return converted, f'resnet{depth}', {}


def convert_convnext(state_dict: Dict[str, torch.Tensor]):
    """mmpretrain ConvNeXt (v1) keys -> timm ``ConvNeXt``."""
    if any('.grn.' in k for k in state_dict):
        raise ConversionError('ConvNeXt-v2 (GRN) export is not supported')
    num_stages = _layer_count(state_dict, r'stages\.(\d+)\.')
    depths = tuple(
        _layer_count(state_dict, rf'stages\.{i}\.(\d+)\.')
        for i in range(num_stages))
    dims = tuple(state_dict[f'stages.{i}.0.depthwise_conv.weight'].shape[0]
                 for i in range(num_stages))
    final_norm = f'norm{num_stages - 1}'
    converted = OrderedDict()
    for key, value in state_dict.items():
        new = key
        if key.startswith('downsample_layers.0.'):
            new = 'stem.' + key[len('downsample_layers.0.'):]
        elif key.startswith('downsample_layers.'):
            new = re.sub(r'^downsample_layers\.(\d+)\.',
                         r'stages.\1.downsample.', key)
        elif key.startswith('stages.'):
            new = re.sub(r'^stages\.(\d+)\.(\d+)\.', r'stages.\1.blocks.\2.',
                         key)
            new = (new.replace('.depthwise_conv.', '.conv_dw.')
                   .replace('.pointwise_conv1.', '.mlp.fc1.')
                   .replace('.pointwise_conv2.', '.mlp.fc2.'))
            if value.ndim == 4 and '.mlp.fc' in new:
                value = value.flatten(1)  # 1x1 conv -> Linear
        elif key.startswith(final_norm + '.'):
            new = 'head.norm.' + key[len(final_norm) + 1:]
        elif re.match(r'^norm\d+\.', key):
            raise ConversionError(
                f'{key}: timm has a norm only after the last stage; export '
                f'from a model with out_indices=({num_stages - 1},)')
        else:
            raise ConversionError(f'no timm counterpart for key {key!r}')
        converted[new] = value
    name = TIMM_CONVNEXT_NAMES.get((depths, dims), 'convnext_tiny')
    if 'stages.0.0.gamma' not in state_dict:
        # timm.create_model drops ls_init_value=None (it keeps the default
        # layer scale), so such a model cannot be created by name
        raise ConversionError(
            'a ConvNeXt without layer scale (layer_scale_init_value=0) has '
            'no timm.create_model counterpart')
    return converted, name, dict(depths=depths, dims=dims, num_classes=0)


def convert(state_dict: Dict[str, torch.Tensor], num_heads=None,
            config_text=''):
    """Recognise the backbone and convert it.

    Returns:
        (state dict, library ('timm' or 'torchvision'), model name, kwargs)
    """
    if 'layers.0.attn.qkv.weight' in state_dict:
        sd, name, kwargs = convert_beit_vit(state_dict, num_heads,
                                            config_text)
        return sd, 'timm', name, kwargs
    if 'conv1.weight' in state_dict and 'layer1.0.conv1.weight' in state_dict:
        sd, name, kwargs = convert_resnet(state_dict)
        return sd, 'torchvision', name, kwargs
    if 'downsample_layers.0.0.weight' in state_dict:
        sd, name, kwargs = convert_convnext(state_dict)
        return sd, 'timm', name, kwargs
    raise ConversionError(
        'unrecognised backbone (expected a BEiT-style ViT, a ResNet or a '
        f'ConvNeXt export); first keys: {list(state_dict)[:5]}')


def read_export(path: str):
    """The backbone weights (bare keys) and metadata of an export."""
    from mmconmim.checkpoint import load_file
    ckpt = load_file(path, allow_urls=False)
    if not isinstance(ckpt, dict):
        raise ConversionError(f'{path} is not a state dict')
    meta = ckpt.get('meta', {}) if isinstance(ckpt.get('meta'), dict) else {}
    state_dict = ckpt.get('state_dict', ckpt)
    from mmconmim.checkpoint.networks import state_has_teacher
    if state_has_teacher(state_dict) or any(
            k.startswith(('neck.', 'head.', 'target_generator.'))
            for k in state_dict):
        raise ConversionError(
            f'{path} is a full training checkpoint; export its backbone '
            'first: python tools/model_converters/export_backbone.py '
            f'{path} backbone.pth')
    prefix = meta.get('prefix', 'backbone.')
    if any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    bare = OrderedDict()
    for key, value in state_dict.items():
        if prefix and not key.startswith(prefix):
            raise ConversionError(f'{path}: key {key!r} lacks the '
                                  f'{prefix!r} prefix of an export')
        bare[key[len(prefix):]] = value
    return bare, meta


def call_text(library, name, kwargs):
    args = ''.join(f', {k}={v!r}' for k, v in kwargs.items())
    if library == 'timm':
        return f'timm.create_model({name!r}, pretrained=False{args})'
    return f'torchvision.models.{name}(weights=None{args})'


def write(state_dict, out, library, name, kwargs, meta, use_safetensors):
    """Write OUT atomically with the umask's permissions
    (:mod:`mmconmim.checkpoint.writer`)."""
    from mmconmim.checkpoint import save_file, save_safetensors
    if use_safetensors:
        metadata = dict(
            format='pt', library=library, model=name,
            create_kwargs=json.dumps(kwargs),
            source=str(meta.get('source', '')),
            source_checkpoint=str(meta.get('source_checkpoint', '')),
            source_sha256=str(meta.get('source_sha256', '')),
            iteration=str(meta.get('iteration', '')))
        save_safetensors(state_dict, out, metadata)
    else:
        save_file(OrderedDict(state_dict), out)


def verify(state_dict, library, name, kwargs):
    """Load the weights into the target model, if its library is installed:
    every converted tensor must be used, and only new heads may be missing.
    Returns a sentence saying what was checked."""
    if library == 'timm':
        try:
            import timm
        except ImportError:
            return 'timm is not installed, so it was not load-checked'
        model = timm.create_model(name, pretrained=False, **kwargs)
    else:
        import torchvision
        model = getattr(torchvision.models, name)(weights=None, **kwargs)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    # new downstream: torchvision's classifier, and ConvNeXt's head norm when
    # the export has no final norm
    new = [k for k in missing if re.match(r'^(fc|head\.norm)\.', k)]
    if unexpected or set(missing) - set(new):
        raise ConversionError(
            f'the converted weights do not load into {name}: missing '
            f'{sorted(set(missing) - set(new))}, unexpected {unexpected}')
    return f'checked: loads into {library} {name}' + (
        f' (new: {", ".join(new)})' if new else ' with strict=True')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 2)[-1])
    parser.add_argument('export', help='output of export_backbone.py')
    parser.add_argument('out', help='output file (.pth or .safetensors)')
    parser.add_argument('--safetensors', action='store_true',
                        help='write safetensors instead of a torch file '
                        '(implied by an OUT ending in .safetensors)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing OUT')
    parser.add_argument(
        '--num-heads', type=int, default=None,
        help='attention heads of a ViT without relative position tables '
        "when the export's config does not say")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmconmim.checkpoint import check_output_path, refusals_as_exit
    with refusals_as_exit(ConversionError):
        check_output_path(args.out, [args.export], args.force)
        weights, meta = read_export(args.export)
        state_dict, library, name, kwargs = convert(
            weights, args.num_heads, str(meta.get('config', '')))
        checked = verify(state_dict, library, name, kwargs)
        # a .safetensors name means safetensors, with or without the flag
        args.safetensors |= args.out.endswith('.safetensors')
        write(state_dict, args.out, library, name, kwargs, meta,
              args.safetensors)
    print(f'wrote {len(state_dict)} tensors ({meta.get("source", "?")} '
          f'backbone, iteration {meta.get("iteration", "?")}) in {library} '
          f'layout to {args.out}; {checked}.')
    print('create the model with:\n  ' + call_text(library, name, kwargs))
    loader = ('safetensors.torch.load_file(OUT)' if args.safetensors else
              'torch.load(OUT, weights_only=True)')
    print(f'and load it with:\n  model.load_state_dict({loader}'
          f'{", strict=False" if "new:" in checked else ""})')


if __name__ == '__main__':
    main()
