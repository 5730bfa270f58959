"""What the benchmark scripts share, written once: the checkout they run
from, the parts of their command lines that mean the same thing, and the
one way issue 25's trial scripts run its driver with a change.

Each script puts the repository root first on ``sys.path`` (one line, so
that ``python benchmarks/<name>.py`` imports this checkout's mmconmim and
``benchmarks.common``) and builds its parser here.
"""
import argparse
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of the script's docstring."""
    return argparse.ArgumentParser(description=doc.split('\n')[0])


def trial_parser(doc: str) -> argparse.ArgumentParser:
    """The parser of an issue-25 trial script: its own flags only (parsed
    with ``parse_known_args``); every other argument is the driver's."""
    parser = benchmark_parser(doc)
    parser.epilog = ("Every other argument is the driver's: "
                     'python benchmarks/conmim_small_scale.py --help')
    return parser


def recipe_teacher_photometric(img_size: int = None) -> list:
    """The ConMIM recipe's teacher-view photometric ops (BYOL's jitter,
    grayscale, blur and solarize), read from the dataset config the
    recipes and the compare tool's rows inherit. With ``img_size`` the
    blur's sigma is scaled from the recipe's crop size to it, as the
    compare tool's rows scale it (``resize_pipeline``); without, the ops
    are as published (sigmas in pixels of 224-px crops)."""
    from mmengine.config import Config

    from mmconmim.compare.configs import recipe_crop_size, scale_blurs
    dataset = Config.fromfile(osp.join(
        REPO_ROOT, 'configs', '_base_', 'datasets',
        'imagenet_bs64_conmim-224.py')).to_dict()
    ops = dataset['teacher_photometric']
    if img_size is None:
        return ops
    return scale_blurs(ops,
                       img_size / recipe_crop_size(dataset['train_pipeline']))


# colour jitter (brightness, contrast, saturation, hue) per the driver's
# --teacher-aug (benchmarks/conmim_small_scale.py)
TEACHER_JITTER = {'strong': (0.4, 0.4, 0.2, 0.1),  # BYOL's
                  'simclr': (0.8, 0.8, 0.8, 0.2),  # SimCLR's, a knob
                  'luma': (0.4, 0.4, 0., 0.)}  # hues kept, a knob


def teacher_photometric(strength='strong', img_size: int = None) -> list:
    """BYOL's strong photometric ops without blur and solarize (colour
    jitter + grayscale), the teacher view of every trial of
    docs/conmim_small_scale.md; 'simclr' jitters twice as hard, 'luma'
    changes brightness and contrast only (no saturation, hue or grayscale:
    the colours stay), 'none' leaves the teacher view as the student's
    (diagnosis knobs); 'recipe' is the ConMIM recipe's list
    (``configs/_base_/datasets/imagenet_bs64_conmim-224.py``: 'strong' +
    Gaussian blur and solarize), which the compare tool's rows use, its
    blur scaled to ``img_size`` as the tool scales it (None: the published
    sigmas, px of 224-px crops); 'strong+blur' and
    'strong+solarize' keep one of the two."""
    if strength == 'none':
        return []
    if strength in ('recipe', 'strong+blur', 'strong+solarize'):
        recipe = recipe_teacher_photometric(img_size)
        dropped = {'strong+blur': 'Solarize',
                   'strong+solarize': 'GaussianBlur'}.get(strength)
        return [op for op in recipe if op['type'] != dropped]
    brightness, contrast, saturation, hue = TEACHER_JITTER[strength]
    ops = [dict(type='RandomApply', transforms=[dict(
        type='ColorJitter', brightness=brightness, contrast=contrast,
        saturation=saturation, hue=hue)], prob=0.8)]
    if strength != 'luma':
        ops.append(dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
                        channel_weights=(0.114, 0.587, 0.2989)))
    return ops


def add_timing_args(parser: argparse.ArgumentParser, batch_size: int,
                    iters: int, warmup: int, iters_help: str = None) -> None:
    """``--batch-size``, ``--iters`` (timed or trained iterations) and
    ``--warmup`` (iterations before them)."""
    parser.add_argument('--batch-size', type=int, default=batch_size)
    parser.add_argument('--iters', type=int, default=iters, help=iters_help)
    parser.add_argument('--warmup', type=int, default=warmup)


def add_tiny_conmim_args(parser: argparse.ArgumentParser, *, img_size: int,
                         patch_size: int, unit_size: int, unit_help: str,
                         embed_dims: int, num_layers: int, num_heads: int,
                         proj_hidden: int, proj_out: int) -> None:
    """The geometry and size of a tiny ConMIM ViT trained from a script:
    crop, patch and mask unit (px), mask ratio, width, depth, heads and the
    projector's hidden and output widths."""
    parser.add_argument('--img-size', type=int, default=img_size)
    parser.add_argument('--patch-size', type=int, default=patch_size)
    parser.add_argument('--unit-size', type=int, default=unit_size,
                        help=unit_help)
    parser.add_argument('--mask-ratio', type=float, default=0.75)
    parser.add_argument('--embed-dims', type=int, default=embed_dims)
    parser.add_argument('--num-layers', type=int, default=num_layers)
    parser.add_argument('--num-heads', type=int, default=num_heads)
    parser.add_argument('--proj-hidden', type=int, default=proj_hidden)
    parser.add_argument('--proj-out', type=int, default=proj_out)


def add_small_data_args(parser: argparse.ArgumentParser,
                        abs_pos_help: str = None) -> None:
    """The opt-in switches of docs/conmim_small_scale.md (none is the
    paper's; the defaults are): absolute position embedding, cross-image
    dictionary, mask-token position code, mmpretrain initialisation, layer
    scale, projector depth, weights of the visible rows and of an
    image-level term in the loss, initial spread of the relative position
    table."""
    parser.add_argument('--abs-pos-emb', action='store_true',
                        help=abs_pos_help)
    parser.add_argument('--negatives', default='image',
                        choices=('image', 'batch'),
                        help="DenoisingContrastLoss negatives; 'batch' is "
                        'the small-data fix, NOT the paper')
    parser.add_argument('--mask-pos-scale', type=float, default=0.,
                        help='ConMIMViT mask_token_pos_scale (> 0: sin-cos '
                        'code on the mask tokens only; NOT the paper)')
    parser.add_argument('--weight-init', choices=('paper', 'mmpretrain'),
                        default='paper',
                        help="ConMIMViT weight_init ('mmpretrain': xavier "
                        "Linear layers instead of the paper's std-0.02 "
                        'weights; the small-data fix)')
    parser.add_argument('--layer-scale', type=float, default=0.1,
                        help='layer_scale_init_value (paper 0.1; the '
                        'small-data fix 1.0)')
    parser.add_argument('--proj-layers', type=int, default=3,
                        help='projector layers (paper 3; the small-data '
                        'fix 2)')
    parser.add_argument('--visible-weight', type=float, default=0.,
                        help='DenoisingContrastLoss visible_weight (paper 0: '
                        'masked rows only; > 0 adds the visible rows)')
    parser.add_argument('--image-weight', type=float, default=0.,
                        help='DenoisingContrastLoss image_weight (paper 0; '
                        '> 0 adds an image-level InfoNCE on the mean token)')
    parser.add_argument('--rel-pos-init-std', type=float, default=0.,
                        help='ConMIMViT rel_pos_bias_init_std (paper 0: the '
                        'shared relative position table starts at zero)')
    parser.add_argument('--rel-pos-locality', type=float, default=0.,
                        help='ConMIMViT rel_pos_locality (paper 0; > 0 '
                        'starts the table as a distance penalty, slope '
                        'halved per head; NOT the paper)')


def tiny_conmim_cfg(a: argparse.Namespace, *, temperature: float = 0.1,
                    momentum: float = 0.004, end_momentum: float = 0.,
                    center_targets: bool = False) -> dict:
    """The ``ConMIM`` model config of a script run from the arguments of
    :func:`add_tiny_conmim_args` and :func:`add_small_data_args`: the
    paper's backbone (shared relative position bias, final norm, no drop
    path), BN projector without biases, denoising contrast, EMA teacher
    (mmengine momentum ``momentum`` -> ``end_momentum``)."""
    return dict(
        type='ConMIM',
        backbone=dict(
            type='ConMIMViT',
            arch=dict(embed_dims=a.embed_dims, num_layers=a.num_layers,
                      num_heads=a.num_heads,
                      feedforward_channels=a.embed_dims * 4),
            img_size=a.img_size, patch_size=a.patch_size, drop_path_rate=0.,
            layer_scale_init_value=a.layer_scale,
            use_abs_pos_emb=a.abs_pos_emb, use_rel_pos_bias=False,
            use_shared_rel_pos_bias=True,
            rel_pos_bias_init_std=a.rel_pos_init_std,
            rel_pos_locality=a.rel_pos_locality,
            mask_token_pos_scale=a.mask_pos_scale,
            weight_init=a.weight_init,
            final_norm=True, out_type='raw', out_indices=-1),
        neck=dict(type='ConMIMProjector', in_channels=a.embed_dims,
                  hid_channels=a.proj_hidden, out_channels=a.proj_out,
                  num_layers=a.proj_layers, with_bias=False,
                  with_last_bn=True, with_last_bn_affine=False,
                  with_avg_pool=False, norm_cfg=dict(type='BN1d')),
        head=dict(type='MIMHead', loss=dict(
            type='DenoisingContrastLoss', temperature=temperature,
            negatives=a.negatives, center_targets=center_targets,
            visible_weight=a.visible_weight, image_weight=a.image_weight)),
        momentum=momentum, end_momentum=end_momentum,
        data_preprocessor=dict(type='SelfSupDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True))


def run_driver_trial(argv, recorded: dict, attach=None):
    """Run issue 25's driver (``benchmarks/conmim_small_scale.py``) on
    ``argv`` for a trial script that changes one part of ConMIM.

    ``recorded`` joins the run's recorded args (so the trials table names
    the setting); ``attach(model)``, when given, adds the trial's modules to
    the model before the optimizer is built, so that it trains them. The
    driver's functions are put back afterwards."""
    from benchmarks import conmim_small_scale as driver
    parse, build_optim = driver.parse_args, driver.build_optim

    def parse_args(argv=None):
        args = parse(argv)
        vars(args).update(recorded)
        return args

    def build_optim_after_attach(model, args):
        return build_optim(attach(model) if attach else model, args)

    driver.parse_args = parse_args
    driver.build_optim = build_optim_after_attach
    try:
        return driver.main(argv)
    finally:
        driver.parse_args, driver.build_optim = parse, build_optim
