"""Does an MAE-style split -- the encoder sees the visible patches only, a
small decoder predicts the masked ones -- make ConMIM's frozen features
grow faster at small budgets? A trial for issue 25
(docs/conmim_small_scale.md, section 14).

    OMP_NUM_THREADS=1 python benchmarks/conmim_decoder.py \
        --decoder-depth D DRIVER-ARGS...

Why: on photo-regions-13 the two pixel-target methods differ exactly in
this split, and by 14 kNN points (``benchmarks/compare_photo_regions.md``:
SimMIM, mask tokens inside the encoder, 63.3; MAE, visible patches only plus
a decoder, 77.4). ConMIM puts its mask tokens inside the encoder, like
SimMIM, so the encoder that is transferred (and becomes the teacher) also
does the inpainting. Here the student is ``d(f(x_s[visible]))`` (He et al.,
CVPR 2022, Sec. 3; with a contrast target instead of pixels as in data2vec
2.0 / CAE), and the loss is ConMIM's Eq. 3 unchanged::

    z   = f(x_s[visible])               # encoder: CLS + visible patches
    u   = d(z, mask)                    # decoder: mask tokens + 2-D sin-cos
    s   = g(u)                          # the student projector, all tokens
    t   = sg(g_t(f_t(x_t)))             # teacher: EMA of f and g, full view

``f`` keeps its own position information (the shared relative position
bias, gathered at the visible patches, and the absolute embedding where it
has one); ``d`` is ``Linear(C, C)`` - mask token at the masked patches - a
fixed 2-D sin-cos code (MAE's) - D transformer blocks - LayerNorm -
``Linear(C, C)``, with MAE's compare-tool width and heads (those of the
encoder). The teacher is the EMA of ``Sequential(backbone, neck)`` as
before: ``d`` has no teacher copy and is not transferred. ``d`` is drawn
from its own random stream, so crops, masks and initial weights are the
driver's with the same seed. Every evaluation is the driver's (the teacher's
unmasked forward, unchanged). All other arguments are the driver's
(``benchmarks/conmim_small_scale.py``); ``decoder_depth`` joins the run's
recorded args.

``--pixel-weight w`` adds MAE's pixel head on the decoder and its loss
(the normalised pixels of the masked patches of the student view, mean
squared error) to ConMIM's, ``loss = c * Eq. 3 + w * pixels`` (CMAE's sum,
Huang et al., 2022; ``--contrast-weight c``, default 1). ``c = 0`` is the
control: MAE's objective trained by the driver on ConMIM's backbone, with
the same crops, masks, lr, schedule and evaluation (on the EMA teacher).
Both weights join the recorded args; the recorded training loss is then
the weighted sum, not comparable with the driver's.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.common import run_driver_trial, trial_parser  # noqa: E402

DECODER_SEED = 4321  # its own stream: the driver's draws stay the same


def gather_tokens(x, index):
    """x (B, L, C), index (B, K) -> (B, K, C)."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def visible_index(mask):
    """(B, V) indices of the visible patches (row-major), the same count in
    every image (ConMIM's unit masks mask a fixed number)."""
    keep = ~mask.flatten(1).bool()
    counts = keep.sum(1)
    if not bool((counts == counts[0]).all()):
        raise ValueError('conmim_decoder: every image needs the same number '
                         f'of visible patches, got {counts.tolist()}')
    return keep.nonzero()[:, 1].view(keep.shape[0], int(counts[0]))


def encode_visible(backbone, img, index):
    """The backbone's forward on CLS + the patches in ``index`` only:
    (B, 1 + V, C), after the final norm."""
    x, _ = backbone.patch_embed(img)
    B = x.shape[0]
    x = torch.cat((backbone.cls_token.expand(B, -1, -1), x), dim=1)
    if backbone.pos_embed is not None:
        x = x + backbone.pos_embed
    tokens = torch.cat((index.new_zeros(B, 1), index + 1), dim=1)
    x = backbone.drop_after_pos(gather_tokens(x, tokens))
    bias = None
    if backbone.rel_pos_bias is not None:  # (H, 1+N, 1+N) -> (B, H, K, K)
        table = backbone.rel_pos_bias().to(x.device)
        rows = table[:, tokens].permute(1, 0, 2, 3)  # (B, H, K, 1+N)
        bias = torch.gather(rows, 3, tokens[:, None, None, :].expand(
            -1, rows.shape[1], rows.shape[2], -1))
    for layer in backbone.layers:
        x = layer(x, rel_pos_bias=bias)
    return backbone.norm1(x) if backbone.final_norm else x


class VisibleDecoder(nn.Module):
    """MAE's decoder, mapping back to the encoder's width for the
    projector: (B, 1 + V, C) + indices -> (B, 1 + N, C)."""

    def __init__(self, dims, grid, depth, num_heads, pixels_per_patch=0):
        from mmpretrain.models.backbones.vision_transformer import \
            TransformerEncoderLayer
        from mmpretrain.models.utils import build_2d_sincos_position_embedding
        super().__init__()
        self.embed = nn.Linear(dims, dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dims))
        self.register_buffer('pos', build_2d_sincos_position_embedding(
            grid, dims, cls_token=True), persistent=False)
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(dims, num_heads, 4 * dims)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, dims)
        # MAE's pixel head, for the pixel term (``--pixel-weight``)
        self.pixel_head = nn.Linear(dims, pixels_per_patch) \
            if pixels_per_patch else None
        self.last_pixels = self.last_pixel_loss = None
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, z, index):
        z = self.embed(z)
        B, _, C = z.shape
        full = torch.cat((z[:, :1], self.mask_token.expand(
            B, self.pos.shape[1] - 1, C)), dim=1)
        full = full.scatter(1, (index + 1).unsqueeze(-1).expand(-1, -1, C),
                            z[:, 1:])
        x = full + self.pos.type_as(full)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        if self.pixel_head is not None:
            self.last_pixels = self.pixel_head(x[:, 1:])
        return self.out(x)


def build_decoder(backbone, depth, pixel_head=False):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DECODER_SEED)
        patch = backbone.patch_embed.projection
        pixels = patch.in_channels * patch.kernel_size[0] * \
            patch.kernel_size[1] if pixel_head else 0
        return VisibleDecoder(backbone.embed_dims,
                              tuple(backbone.patch_resolution), depth,
                              backbone.layers[0].attn.num_heads, pixels)


def patch_pixels(img, patch):
    """(B, 3, H, W) -> (B, N, p*p*3), each patch normalised to mean 0,
    variance 1 (MAE's ``norm_pix_loss`` target)."""
    B, C, H, W = img.shape
    x = img.reshape(B, C, H // patch, patch, W // patch, patch)
    x = x.permute(0, 2, 4, 3, 5, 1).reshape(B, -1, patch * patch * C)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True)
    return (x - mean) / (var + 1e-6).sqrt()


def pixel_loss(predicted, img, mask, patch):
    """MAE's loss: mean squared error on the masked patches."""
    err = (predicted - patch_pixels(img, patch)).pow(2).mean(-1)
    weight = mask.flatten(1).type_as(err)
    return (err * weight).sum() / weight.sum()


class EncoderDecoderStudent:
    """Called like the student backbone by ``ConMIM.patch_embeddings``:
    ``(d(f(x[visible])), )``, with the attributes it reads."""

    def __init__(self, backbone, decoder):
        self.backbone, self.decoder = backbone, decoder
        self.num_extra_tokens = backbone.num_extra_tokens

    def __call__(self, img, mask):
        index = visible_index(mask)
        z = encode_visible(self.backbone, img, index)
        out = self.decoder(z, index)
        if self.decoder.pixel_head is not None:  # read by the loss
            self.decoder.last_pixel_loss = pixel_loss(
                self.decoder.last_pixels, img, mask,
                self.backbone.patch_embed.projection.kernel_size[0])
        return (out, )


def install():
    """Route the student's masked call in ``ConMIM.patch_embeddings``
    through ``model.decoder`` when the model has one; the teacher's call
    and models without a decoder stay as they are."""
    from mmconmim.models.selfsup.conmim import ConMIM
    plain = ConMIM.patch_embeddings

    def patch_embeddings(self, backbone, projector, img, mask):
        decoder = getattr(self, 'decoder', None)
        if decoder is not None and backbone is self.backbone \
                and mask is not None:
            backbone = EncoderDecoderStudent(backbone, decoder)
        return plain(self, backbone, projector, img, mask)

    ConMIM.patch_embeddings = patch_embeddings


def install_pixel_term(contrast_weight, pixel_weight):
    """``ConMIM.loss`` becomes ``contrast_weight * Eq. 3 + pixel_weight *
    MAE's pixel loss`` of the same student call (CMAE's sum, Huang et al.
    2022); contrast weight 0 is an MAE trained in the driver, the control.
    """
    from mmconmim.models.selfsup.conmim import ConMIM
    plain = ConMIM.loss

    def loss(self, inputs, data_samples, **kwargs):
        self.decoder.last_pixel_loss = None
        contrast = plain(self, inputs, data_samples, **kwargs)['loss']
        pixels = self.decoder.last_pixel_loss
        return dict(loss=contrast_weight * contrast + pixel_weight * pixels)

    ConMIM.loss = loss


def attach(model, depth, pixel_head=False):
    """Add ``model.decoder`` (a sub-module: the optimizer and
    ``model.train()`` see it)."""
    model.decoder = build_decoder(model.backbone, depth, pixel_head).train(
        model.training)
    return model


def main(argv=None):
    p = trial_parser(__doc__)
    p.add_argument('--decoder-depth', type=int, required=True, metavar='D',
                   help='decoder blocks')
    p.add_argument('--pixel-weight', type=float, default=0.,
                   help='add MAE\'s pixel loss (on the decoder) with this '
                   'weight (0: none)')
    p.add_argument('--contrast-weight', type=float, default=1.,
                   help='weight of ConMIM\'s loss (0 with --pixel-weight: '
                   'MAE in the driver, the control)')
    a, rest = p.parse_known_args(argv)
    if a.decoder_depth < 1:
        raise SystemExit(f'--decoder-depth must be >= 1, got '
                         f'{a.decoder_depth}')
    if a.pixel_weight < 0 or a.contrast_weight < 0 or \
            a.pixel_weight == a.contrast_weight == 0:
        raise SystemExit('--pixel-weight and --contrast-weight must be >= 0 '
                         'and not both 0')
    if a.contrast_weight != 1 and not a.pixel_weight:
        raise SystemExit('--contrast-weight needs --pixel-weight')
    install()
    if a.pixel_weight:
        install_pixel_term(a.contrast_weight, a.pixel_weight)
    recorded = dict(decoder_depth=a.decoder_depth)
    if a.pixel_weight:
        recorded.update(pixel_weight=a.pixel_weight,
                        contrast_weight=a.contrast_weight)
    run_driver_trial(rest, recorded, lambda model: attach(
        model, a.decoder_depth, bool(a.pixel_weight)))


if __name__ == '__main__':
    main()
