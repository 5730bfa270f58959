"""The ConMIM student/teacher backbone: mmpretrain's ``BEiTPretrainViT``
(mask token, shared relative position bias, layer scale, no absolute position
embedding) with the official BEiT/ConMIM initialisation.

Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023, Sec. 4;
initialisation as in the official code (inherited from BEiT): every Linear and
Conv weight, the CLS token, the mask token (and the absolute position
embedding, when enabled) are drawn from a normal
distribution with std 0.02 truncated at +-std (not at +-2, as mmengine's
``trunc_normal_`` defaults), biases are 0, LayerNorms 1/0, and each block's
attention projection and second FFN weight is divided by sqrt(2 * layer_id).
mmpretrain's own BEiT initialisation uses xavier/kaiming for the Linear layers
instead, which trains differently from scratch.

Opt-in, beyond the paper (docs/conmim_small_scale.md):
``rel_pos_bias_init_std > 0`` draws the shared relative position table from
a truncated normal instead of zeros, so that masked positions differ from
the first iteration (the paper setting starts with identical mask tokens);
``rel_pos_locality > 0`` starts the table as a locality prior instead, the
bias of head ``h`` for a patch offset ``d`` being
``-rel_pos_locality * 2**-h * |d|`` (ALiBi's distance penalty with
geometric slopes, Press et al. 2022, in 2-D; the CLS entries stay 0), so
that every token attends to its neighbours first;
``mask_token_pos_scale > 0`` adds a fixed 2-D sin-cos code of the patch
position (MAE's, scaled) to the mask tokens only, so that the masked
positions of an image differ from the first iteration while visible tokens,
the unmasked forward and the state dict (the code is a non-persistent
buffer) stay those of the paper's backbone;
``weight_init='mmpretrain'`` keeps mmpretrain's own ``BEiTPretrainViT``
initialisation (xavier-uniform Linear layers, patch embedding std 0.02
truncated at +-2) instead of the paper's tiny weights: at small budgets the
paper's initialisation starts 20 kNN points below a random plain ViT and
training does not close the gap (docs/conmim_small_scale.md, section 8).
"""
from mmengine.model.weight_init import trunc_normal_
import torch
from mmpretrain.models.selfsup.beit import BEiTPretrainViT
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_choice, check_number
from ..utils.checkpointing import checkpoint_beit_layers
from ..utils.fused_attention import set_attention_impl


@MODELS.register_module()
class ConMIMViT(BEiTPretrainViT):
    """``BEiTPretrainViT`` with the official ConMIM/BEiT initialisation.

    Takes the arguments of ``BEiTPretrainViT`` plus ``attention_impl``:
    ``'matmul'`` (default: mmpretrain's computation without promoting the
    logits to fp32 under autocast), ``'sdpa'`` (``F.scaled_dot_product_attention``)
    or ``'mmpretrain'`` (the original); all give the same results in fp32
    (see :mod:`mmconmim.models.utils.fused_attention`). The state-dict keys
    are unchanged, so checkpoints load into ``BEiTViT`` for fine-tuning.
    ``with_cp=True`` recomputes each transformer layer in backward
    (activation checkpointing, :mod:`mmconmim.models.utils.checkpointing`):
    less memory, same loss and gradients.
    ``rel_pos_bias_init_std`` (default 0: the paper's zero table) draws the
    shared relative position table from a normal with this std truncated at
    +-2 std (not the paper; see the module docstring).
    ``rel_pos_locality`` (default 0: off) starts the table as a distance
    penalty instead (not the paper; see the module docstring).
    ``mask_token_pos_scale`` (default 0: off, the paper) adds
    ``scale * sincos2d(position)`` to the mask tokens (not the paper).
    ``weight_init``: ``'paper'`` (default, the official initialisation) or
    ``'mmpretrain'`` (``BEiTPretrainViT``'s; not the paper).
    """

    WEIGHT_INITS = ('paper', 'mmpretrain')

    def __init__(self, *args, attention_impl: str = 'matmul',
                 with_cp: bool = False, rel_pos_bias_init_std: float = 0.,
                 rel_pos_locality: float = 0.,
                 mask_token_pos_scale: float = 0.,
                 weight_init: str = 'paper', **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_init = check_choice(
            'ConMIMViT', 'weight_init', weight_init, self.WEIGHT_INITS,
            fix="'paper' is the official initialisation")
        check_number('ConMIMViT', 'rel_pos_bias_init_std',
                     rel_pos_bias_init_std, low=0, finite=True,
                     noun='a number', fix='0 is the paper\'s zero table')
        if rel_pos_bias_init_std and self.rel_pos_bias is None:
            raise ValueError('ConMIMViT: rel_pos_bias_init_std needs '
                             'use_shared_rel_pos_bias=True')
        self.rel_pos_bias_init_std = float(rel_pos_bias_init_std)
        check_number('ConMIMViT', 'rel_pos_locality', rel_pos_locality,
                     low=0, finite=True, noun='a number',
                     fix='0 (off) is the paper\'s zero table')
        if rel_pos_locality and self.rel_pos_bias is None:
            raise ValueError('ConMIMViT: rel_pos_locality needs '
                             'use_shared_rel_pos_bias=True')
        if rel_pos_locality and rel_pos_bias_init_std:
            raise ValueError(
                'ConMIMViT: rel_pos_locality and rel_pos_bias_init_std both '
                'initialise the relative position table; set one of them')
        self.rel_pos_locality = float(rel_pos_locality)
        check_number('ConMIMViT', 'mask_token_pos_scale',
                     mask_token_pos_scale, low=0, finite=True,
                     noun='a number', fix='0 (off) is the paper')
        self.mask_token_pos_scale = float(mask_token_pos_scale)
        if self.mask_token_pos_scale:
            code = build_2d_sincos_position_embedding(
                self.patch_resolution, self.embed_dims)  # (1, N, C)
            self.register_buffer('mask_pos_code',
                                 self.mask_token_pos_scale * code,
                                 persistent=False)
        self.attention_impl = attention_impl
        set_attention_impl(self, attention_impl)
        self.with_cp = with_cp
        checkpoint_beit_layers(self.layers, enable=with_cp)

    def forward(self, x, mask=None):
        """``BEiTPretrainViT.forward`` with ``mask`` optional: without a
        mask it is the plain (unmasked) ViT, so a loaded backbone is called
        as ``backbone(images)`` (``mmconmim.apis.load_backbone``)."""
        if mask is None or not self.mask_token_pos_scale:
            return super().forward(x, mask)
        return self.forward_position_mask_tokens(x, mask)

    def forward_position_mask_tokens(self, x, mask):
        """The masked forward of ``BEiTPretrainViT`` with the mask token of
        patch ``j`` being ``mask_token + mask_pos_code[j]``."""
        x, patch_resolution = self.patch_embed(x)
        if tuple(patch_resolution) != tuple(self.patch_resolution):
            raise ValueError(
                f'ConMIMViT: mask_token_pos_scale needs the built patch grid '
                f'{tuple(self.patch_resolution)}, got {tuple(patch_resolution)}')
        B = x.shape[0]
        w = mask.flatten(1).unsqueeze(-1).type_as(x)
        tokens = self.mask_token + self.mask_pos_code.type_as(x)
        x = x * (1. - w) + tokens * w
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        x = self.drop_after_pos(x)
        self.shared_rel_pos_bias = self.rel_pos_bias().to(
            x.device) if self.rel_pos_bias is not None else None
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, rel_pos_bias=self.shared_rel_pos_bias)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self) -> None:
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
            return
        if self.weight_init == 'mmpretrain':
            self._init_rel_pos_table()
            return
        std = 0.02
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                trunc_normal_(module.weight, std=std, a=-std, b=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=std, a=-std, b=std)
        trunc_normal_(self.cls_token, std=std, a=-std, b=std)
        trunc_normal_(self.mask_token, std=std, a=-std, b=std)
        self._init_rel_pos_table()
        self.rescale_init_weight()

    def _init_rel_pos_table(self) -> None:
        if self.rel_pos_bias_init_std:
            table = self.rel_pos_bias.relative_position_bias_table
            table_std = self.rel_pos_bias_init_std
            trunc_normal_(table, std=table_std, a=-2 * table_std,
                          b=2 * table_std)
        elif self.rel_pos_locality:
            table = self.rel_pos_bias.relative_position_bias_table
            with torch.no_grad():
                table.copy_(locality_table(self.rel_pos_bias.window_size,
                                           table.shape, self.rel_pos_locality))


def locality_table(window_size, table_shape, slope: float) -> torch.Tensor:
    """A relative position table (``RelativePositionBias`` layout: the
    ``(2H - 1) * (2W - 1)`` patch offsets row-major from ``(-(H-1), -(W-1))``,
    then the CLS entries) holding ``-slope * 2**-h * |offset|`` for head
    ``h`` and 0 for the CLS entries."""
    grid_h, grid_w = window_size
    dy = torch.arange(-(grid_h - 1), grid_h, dtype=torch.float32)
    dx = torch.arange(-(grid_w - 1), grid_w, dtype=torch.float32)
    distance = torch.sqrt(dy[:, None]**2 + dx[None, :]**2).flatten()
    num_rows, num_heads = table_shape
    slopes = slope * 2.**-torch.arange(num_heads, dtype=torch.float32)
    table = torch.zeros(num_rows, num_heads)
    table[:distance.numel()] = -distance[:, None] * slopes[None, :]
    return table
