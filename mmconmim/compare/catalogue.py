"""What a method comparison can run: backbones, methods, their recipes.

Every method row names the recipe it scales down (its config file under
``configs/compare/``, which inherits the method's published recipe: ours
for ConMIM and A2MIM, mmpretrain's for MAE, SimMIM and MoCo v3); the
published learning rate and the batch it belongs to are read from that
recipe (:func:`mmconmim.compare.settings.published_lr`), not retyped here.
"""
from typing import List, Optional


class CompareError(ValueError):
    """Bad input to a comparison; the message names the problem and fix."""


ARCHS = {
    # name: (kind, settings); ViT sizes are DeiT's
    'vit-tiny': ('vit', dict(embed_dims=192, num_layers=12, num_heads=3)),
    'vit-small': ('vit', dict(embed_dims=384, num_layers=12, num_heads=6)),
    'resnet18': ('cnn', dict(depth=18)),
    'resnet50': ('cnn', dict(depth=50)),
}

METHOD_LABELS = {
    'conmim': 'ConMIM, paper backbone (shared rel. pos. bias, no abs. pos. '
              'embedding) + small-data fix (cross-image dictionary, '
              'mask-token position code, mmpretrain init, 2-layer '
              'projector)',
    'conmim-abspos': 'ConMIM + absolute position embedding + cross-image '
                     'dictionary, mmpretrain init, 2-layer projector',
    'a2mim': 'A2MIM',
    'mae': 'MAE',
    'simmim': 'SimMIM',
    'mocov3': 'MoCo v3',
    'cim': 'CIM / BEiT v2',
}
KNOWN_METHODS = tuple(METHOD_LABELS)
DEFAULT_METHODS = ('conmim', 'conmim-abspos', 'a2mim', 'mae', 'simmim',
                   'mocov3')

# The random-initialisation rows. ``random_init`` is the plain mmpretrain
# VisionTransformer (or ResNet) of the compared size; ``random_init-<m>`` is
# method m's own pre-training model at iteration 0 (its backbone variant and
# its initialisation), the row its gain is measured against.
RANDOM_INIT = 'random_init'
RANDOM_PREFIX = RANDOM_INIT + '-'


def own_init(method: str) -> str:
    """Name of the random-init row of ``method``'s backbone variant."""
    return RANDOM_PREFIX + method


def is_random(name: str) -> bool:
    return name == RANDOM_INIT or name.startswith(RANDOM_PREFIX)


def method_of(name: str) -> Optional[str]:
    """The method a row belongs to (None: the plain random init)."""
    if name == RANDOM_INIT:
        return None
    return name[len(RANDOM_PREFIX):] if is_random(name) else name


# configs/compare/<file>: the row's recipe, per backbone kind
METHOD_CONFIGS = {
    ('conmim', 'vit'): 'conmim_vit.py',
    ('conmim', 'cnn'): 'conmim_resnet.py',
    ('conmim-abspos', 'vit'): 'conmim-abspos_vit.py',
    ('a2mim', 'vit'): 'a2mim_vit.py',
    ('a2mim', 'cnn'): 'a2mim_resnet.py',
    ('mae', 'vit'): 'mae_vit.py',
    ('simmim', 'vit'): 'simmim_vit.py',
    ('mocov3', 'vit'): 'mocov3_vit.py',
    ('mocov3', 'cnn'): 'mocov3_resnet.py',
}

# backbone variant each method trains (the random-init rows' labels)
BACKBONE_VARIANTS = {
    'conmim': 'BEiT-style ViT (ConMIMViT: mmpretrain init, layer scale 1.0, '
              'shared rel. pos. bias, no abs. pos. embedding)',
    'conmim-abspos': 'BEiT-style ViT (ConMIMViT: mmpretrain init, layer '
                     'scale 1.0, shared rel. pos. bias, abs. pos. embedding)',
    'a2mim': 'A2MIMViT (BEiT-style: layer scale 0.1, abs. pos. embedding + '
             'per-layer rel. pos. bias)',
    'mae': 'MAEViT (fixed sin-cos pos. embedding, Xavier init)',
    'simmim': 'SimMIMViT (BEiT-style: layer scale 0.1, abs. pos. embedding)',
    'mocov3': 'MoCoV3ViT (fixed sin-cos pos. embedding, frozen patch '
              'projection)',
}
CNN_VARIANTS = {
    'conmim': 'ConMIMCNN\'s ResNet',
    'a2mim': 'A2MIMResNet',
    'mocov3': 'ResNet (BN, no zero-init residual)',
}

# fine-tune recipe family of each method's ViT rows (its own and its
# random init's; mmconmim.compare.finetune.RECIPES); None: the plain ViT.
# Every ResNet row fine-tunes with the 'resnet' recipe.
FINETUNE_FAMILY = {
    'conmim': 'beit', 'conmim-abspos': 'beit', 'a2mim': 'a2mim',
    'mae': 'mae', 'simmim': 'simmim', 'mocov3': 'mocov3', None: 'vit',
}


def finetune_family(name: str, arch: str) -> str:
    """The fine-tune recipe family of a row (a method or a random init)."""
    if kind_of(arch) == 'cnn':
        return 'resnet'
    return FINETUNE_FAMILY[method_of(name)]

NEEDS_TOKENIZER = ('needs --cim-tokenizer (pretrained DALL-E / VQ-KD '
                   'tokenizer weights); this tool does not run CIM or BEiT '
                   'v2 yet')
CNN_UNSUPPORTED = {
    'conmim-abspos': 'a ResNet has no position embedding to switch on '
                     '(the ResNet ConMIM row is "conmim", ConMIMCNN)',
    'mae': 'MAE drops the masked patches from the encoder input, which a '
           'CNN cannot do (ViT only)',
    'simmim': 'SimMIM has no CNN recipe in the paper or in mmpretrain '
              '(A2MIM is its CNN extension)',
}


def kind_of(arch: str) -> str:
    return ARCHS[arch][0]


def parse_methods(text: str) -> List[str]:
    names = [m.strip().lower() for m in text.split(',') if m.strip()]
    if not names:
        raise CompareError('--methods is empty; known methods: '
                           + ', '.join(KNOWN_METHODS))
    unknown = [m for m in names if m not in METHOD_LABELS]
    if unknown:
        raise CompareError(
            f'unknown method(s) {", ".join(unknown)}; known methods: '
            f'{", ".join(KNOWN_METHODS)} (comma-separated, e.g. '
            '--methods conmim,mae)')
    if len(set(names)) != len(names):
        raise CompareError(f'--methods names a method twice: {text}')
    return names


def method_label(name: str, arch: str) -> str:
    """Table label of a row (a method or a random-init row)."""
    method = method_of(name)
    cnn = kind_of(arch) == 'cnn'
    if name == RANDOM_INIT:
        return ('random init, plain ' + ('ResNet' if cnn else
                                         'mmpretrain VisionTransformer'))
    if is_random(name):
        variant = (CNN_VARIANTS if cnn else BACKBONE_VARIANTS).get(method,
                                                                   method)
        return f'random init, {variant}'
    if method == 'conmim' and cnn:
        return 'ConMIM on a ResNet (ConMIMCNN)'
    return METHOD_LABELS[method]


def skip_reason(method: str, arch: str) -> Optional[str]:
    """Why ``method`` does not run with ``arch`` (None: it runs)."""
    if method == 'cim':
        return NEEDS_TOKENIZER
    if kind_of(arch) == 'cnn':
        return CNN_UNSUPPORTED.get(method)
    return None
