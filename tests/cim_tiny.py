"""Tiny CIM models, batches and DALL-E stand-ins for CPU tests.

Geometry: view A 64 px (enhancer and generator, 16-px patches -> 4x4), view B
32 px (tokenizer, 8-px tokens -> 4x4).
"""
import os
import os.path as osp
import sys
import textwrap

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmconmim  # noqa: F401
from mmconmim.models.tokenizers import map_pixels

IMG, TOK, GRID, PATCH = 64, 32, 4, 16
WIDTH = 64
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
TINY_ENCODER = dict(type='DALL-E', n_hid=64, n_blk_per_group=1,
                    vocab_size=512)
TINY_DECODER = dict(type='DALLEDecoder', n_init=8, n_hid=64,
                    n_blk_per_group=1, vocab_size=512)


def tiny_dalle_tokenizer_cfg(**kwargs):
    cfg = dict(type='DALLETokenizer', encoder=TINY_ENCODER,
               decoder=TINY_DECODER, image_size=TOK,
               allow_random_weights=True)
    cfg.update(kwargs)
    return cfg


def palette_tokenizer_cfg():
    return dict(type='PaletteTokenizer', levels=8, patch_size=8,
                image_size=TOK)


def tiny_vit_enhancer():
    return dict(
        type='BEiTViT',
        arch=dict(embed_dims=WIDTH, num_layers=2, num_heads=4,
                  feedforward_channels=WIDTH * 2),
        img_size=IMG, patch_size=PATCH, out_type='featmap', final_norm=True,
        layer_scale_init_value=0.1, use_abs_pos_emb=True,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=True)


def tiny_resnet_enhancer():
    return dict(type='ResNet', depth=18, stem_channels=16, base_channels=16,
                out_indices=(3, ), norm_cfg=dict(type='BN'))


def tiny_cim_cfg(enhancer='vit', objective='revdet', tokenizer=None,
                 temperature=1.0, **kwargs):
    if enhancer == 'vit':
        backbone, channels, stride = tiny_vit_enhancer(), WIDTH, PATCH
    else:
        backbone, channels, stride = tiny_resnet_enhancer(), 128, 32
    cfg = dict(
        type='CIM',
        backbone=backbone,
        generator=dict(
            type='CIMGenerator',
            backbone=dict(
                type='ConMIMViT',
                arch=dict(embed_dims=WIDTH, num_layers=2, num_heads=4,
                          feedforward_channels=WIDTH * 2),
                img_size=IMG, patch_size=PATCH, use_abs_pos_emb=True,
                out_type='raw'),
            vocab_size=512, temperature=temperature),
        tokenizer=tokenizer or tiny_dalle_tokenizer_cfg(),
        respix_head=dict(type='CIMResPixHead', in_channels=channels,
                         upscale=stride,
                         loss=dict(type='CIMResPixLoss', window_size=8)),
        revdet_head=dict(type='CIMRevDetHead', in_channels=channels,
                         upsample_factor=stride // PATCH),
        objective=objective,
        data_preprocessor=dict(
            type='TwoNormDataPreprocessor', mean=MEAN, std=STD,
            second_mean=[-31.875] * 3, second_std=[318.75] * 3,
            to_rgb=True))
    cfg.update(kwargs)
    return cfg


def build_tiny_cim(**kwargs):
    model = MODELS.build(tiny_cim_cfg(**kwargs))
    model.init_weights()
    return model


def random_mask(batch_size, num_masked=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch_size, GRID * GRID, dtype=torch.bool)
    for row in masks:
        row[torch.randperm(GRID * GRID, generator=gen)[:num_masked]] = True
    return masks.view(batch_size, GRID, GRID)


def samples_with(masks):
    samples = []
    for mask in masks:
        sample = DataSample()
        sample.set_mask(mask)
        samples.append(sample)
    return samples


def preprocessed_batch(batch_size=4, seed=0, num_masked=6):
    """Already-normalised inputs, as ``model.data_preprocessor`` returns
    them: [view A (ImageNet-normalised), view B (map_pixels)]."""
    gen = torch.Generator().manual_seed(seed)
    img01 = torch.rand(batch_size, 3, IMG, IMG, generator=gen)
    img01 = torch.nn.functional.avg_pool2d(img01, 3, 1, 1)  # some structure
    view_a = (img01 * 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)
    view_b = map_pixels(
        torch.nn.functional.interpolate(img01, size=TOK, mode='area'))
    masks = random_mask(batch_size, num_masked, seed)
    return [view_a, view_b], samples_with(masks)


def palette_images(palette_tokenizer, level_ids):
    """Block-coloured images from a (B, GRID, GRID, 3) tensor of palette
    level indices: (view A normalised at IMG px, view B in map_pixels space
    at TOK px, golden ids (B, GRID, GRID), [0, 1] image at TOK px)."""
    ids = palette_tokenizer.colour_ids(level_ids)
    colours = palette_tokenizer.palette[ids].permute(0, 3, 1, 2)
    tok01 = colours.repeat_interleave(TOK // GRID, 2).repeat_interleave(
        TOK // GRID, 3)
    img01 = colours.repeat_interleave(IMG // GRID, 2).repeat_interleave(
        IMG // GRID, 3)
    view_a = (img01 * 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)
    return view_a, map_pixels(tok01), ids, tok01


# Stand-ins for the official `dall_e` package: same class paths, attribute
# names and parameter layout (attrs-free), used to write pickles of whole
# modules as the official encoder.pkl / decoder.pkl are.
DALL_E_SOURCES = {
    '__init__.py': '',
    'utils.py': '''
        import math
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Conv2d(nn.Module):
            def __init__(self, n_in, n_out, kw, use_float16=True,
                         device=torch.device('cpu'), requires_grad=False):
                super().__init__()
                self.n_in, self.n_out, self.kw = n_in, n_out, kw
                self.use_float16, self.device = use_float16, device
                self.requires_grad = requires_grad
                w = torch.empty((n_out, n_in, kw, kw), dtype=torch.float32)
                w.normal_(std=1 / math.sqrt(n_in * kw ** 2))
                b = torch.zeros((n_out, ), dtype=torch.float32)
                self.w, self.b = nn.Parameter(w), nn.Parameter(b)

            def forward(self, x):
                return F.conv2d(x, self.w, self.b, padding=(self.kw - 1) // 2)
    ''',
    'encoder.py': '''
        from collections import OrderedDict
        import torch.nn as nn
        from .utils import Conv2d

        class EncoderBlock(nn.Module):
            def __init__(self, n_in, n_out, n_layers):
                super().__init__()
                self.n_in, self.n_out, self.n_layers = n_in, n_out, n_layers
                self.n_hid = n_out // 4
                self.post_gain = 1 / (n_layers ** 2)
                self.id_path = Conv2d(n_in, n_out, 1) if n_in != n_out \\
                    else nn.Identity()
                self.res_path = nn.Sequential(OrderedDict([
                    ('relu_1', nn.ReLU()),
                    ('conv_1', Conv2d(n_in, self.n_hid, 3)),
                    ('relu_2', nn.ReLU()),
                    ('conv_2', Conv2d(self.n_hid, self.n_hid, 3)),
                    ('relu_3', nn.ReLU()),
                    ('conv_3', Conv2d(self.n_hid, self.n_hid, 3)),
                    ('relu_4', nn.ReLU()),
                    ('conv_4', Conv2d(self.n_hid, n_out, 1))]))

            def forward(self, x):
                return self.id_path(x) + self.post_gain * self.res_path(x)

        class Encoder(nn.Module):
            def __init__(self, group_count=4, n_hid=256, n_blk_per_group=2,
                         input_channels=3, vocab_size=8192):
                super().__init__()
                self.group_count, self.n_hid = group_count, n_hid
                self.n_blk_per_group = n_blk_per_group
                self.input_channels, self.vocab_size = input_channels, vocab_size
                n_layers = group_count * n_blk_per_group
                r = range(n_blk_per_group)
                def group(n_in, n_out, pool):
                    layers = [(f'block_{i + 1}', EncoderBlock(
                        n_in if i == 0 else n_out, n_out, n_layers))
                        for i in r]
                    if pool:
                        layers.append(('pool', nn.MaxPool2d(kernel_size=2)))
                    return nn.Sequential(OrderedDict(layers))
                self.blocks = nn.Sequential(OrderedDict([
                    ('input', Conv2d(input_channels, n_hid, 7)),
                    ('group_1', group(n_hid, n_hid, True)),
                    ('group_2', group(n_hid, 2 * n_hid, True)),
                    ('group_3', group(2 * n_hid, 4 * n_hid, True)),
                    ('group_4', group(4 * n_hid, 8 * n_hid, False)),
                    ('output', nn.Sequential(OrderedDict([
                        ('relu', nn.ReLU()),
                        ('conv', Conv2d(8 * n_hid, vocab_size, 1,
                                        use_float16=False))])))]))

            def forward(self, x):
                return self.blocks(x)
    ''',
    'decoder.py': '''
        from collections import OrderedDict
        import torch.nn as nn
        from .utils import Conv2d

        class DecoderBlock(nn.Module):
            def __init__(self, n_in, n_out, n_layers):
                super().__init__()
                self.n_in, self.n_out, self.n_layers = n_in, n_out, n_layers
                self.n_hid = n_out // 4
                self.post_gain = 1 / (n_layers ** 2)
                self.id_path = Conv2d(n_in, n_out, 1) if n_in != n_out \\
                    else nn.Identity()
                self.res_path = nn.Sequential(OrderedDict([
                    ('relu_1', nn.ReLU()),
                    ('conv_1', Conv2d(n_in, self.n_hid, 1)),
                    ('relu_2', nn.ReLU()),
                    ('conv_2', Conv2d(self.n_hid, self.n_hid, 3)),
                    ('relu_3', nn.ReLU()),
                    ('conv_3', Conv2d(self.n_hid, self.n_hid, 3)),
                    ('relu_4', nn.ReLU()),
                    ('conv_4', Conv2d(self.n_hid, n_out, 3))]))

            def forward(self, x):
                return self.id_path(x) + self.post_gain * self.res_path(x)

        class Decoder(nn.Module):
            def __init__(self, group_count=4, n_init=128, n_hid=256,
                         n_blk_per_group=2, output_channels=3,
                         vocab_size=8192):
                super().__init__()
                self.group_count, self.n_init, self.n_hid = \\
                    group_count, n_init, n_hid
                self.n_blk_per_group = n_blk_per_group
                self.output_channels, self.vocab_size = \\
                    output_channels, vocab_size
                n_layers = group_count * n_blk_per_group
                r = range(n_blk_per_group)
                def group(n_in, n_out, up):
                    layers = [(f'block_{i + 1}', DecoderBlock(
                        n_in if i == 0 else n_out, n_out, n_layers))
                        for i in r]
                    if up:
                        layers.append(('upsample', nn.Upsample(
                            scale_factor=2, mode='nearest')))
                    return nn.Sequential(OrderedDict(layers))
                self.blocks = nn.Sequential(OrderedDict([
                    ('input', Conv2d(vocab_size, n_init, 1,
                                     use_float16=False)),
                    ('group_1', group(n_init, 8 * n_hid, True)),
                    ('group_2', group(8 * n_hid, 4 * n_hid, True)),
                    ('group_3', group(4 * n_hid, 2 * n_hid, True)),
                    ('group_4', group(2 * n_hid, 1 * n_hid, False)),
                    ('output', nn.Sequential(OrderedDict([
                        ('relu', nn.ReLU()),
                        ('conv', Conv2d(n_hid, 2 * output_channels, 1))])))]))

            def forward(self, x):
                return self.blocks(x)
    ''',
}


def write_official_pickles(folder, legacy=True):
    """Pickle tiny official-layout Encoder/Decoder modules of a stand-in
    ``dall_e`` package as whole modules (legacy torch format by default, as
    the official files), then unload the package again.

    Returns a dict with the two paths, their state dicts, and reference
    outputs of the stand-ins: encoder logits for ``ref_input`` (a 32-px
    image in map_pixels space) and decoder output for ``ref_ids``.
    """
    pkg = osp.join(folder, 'standin', 'dall_e')
    os.makedirs(pkg, exist_ok=True)
    for name, source in DALL_E_SOURCES.items():
        with open(osp.join(pkg, name), 'w') as f:
            f.write(textwrap.dedent(source))
    sys.path.insert(0, osp.dirname(pkg))
    try:
        from dall_e.decoder import Decoder
        from dall_e.encoder import Encoder
        torch.manual_seed(0)
        enc = Encoder(n_hid=64, n_blk_per_group=1, vocab_size=512)
        dec = Decoder(n_init=8, n_hid=64, n_blk_per_group=1, vocab_size=512)
        out = dict(
            encoder=osp.join(folder, 'encoder.pkl'),
            decoder=osp.join(folder, 'decoder.pkl'))
        for module, path in ((enc, out['encoder']), (dec, out['decoder'])):
            torch.save(module, path,
                       _use_new_zipfile_serialization=not legacy)
        out['encoder_state'] = enc.state_dict()
        out['decoder_state'] = dec.state_dict()
        gen = torch.Generator().manual_seed(1)
        out['ref_input'] = map_pixels(torch.rand(2, 3, TOK, TOK,
                                                 generator=gen))
        out['ref_ids'] = torch.randint(0, 512, (2, GRID, GRID),
                                       generator=gen)
        with torch.no_grad():
            out['ref_logits'] = enc(out['ref_input'])
            one_hot = torch.nn.functional.one_hot(out['ref_ids'], 512)
            out['ref_decoded'] = dec(one_hot.permute(0, 3, 1, 2).float())
    finally:
        sys.path.remove(osp.dirname(pkg))
        for name in [m for m in sys.modules if m.split('.')[0] == 'dall_e']:
            del sys.modules[name]
    return out
