"""BEiT-style ViT with A2MIM's residual mask token.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), Sec. 3 (see
:mod:`.a2mim_mask_token` for the injection rule). The A2MIM ViTs are SimMIM's:
absolute position embedding *and* a per-layer relative position bias, layer
scale 0.1, final norm, output = last-layer patch tokens as a (B, D, h, w) map
(``BEiTViT(use_abs_pos_emb=True, use_rel_pos_bias=True,
layer_scale_init_value=0.1, final_norm=True, out_type='featmap')``).

``mask_layer`` follows the reference implementation:

* ``0`` -- right after the patch embedding, before the CLS token is prepended
  and before the position embedding is added (all A2MIM ImageNet recipes);
* ``k`` in 1..num_layers -- on the input of the k-th transformer layer
  (``layers[k - 1]``, i.e. after k - 1 layers), patch tokens only.
"""
from typing import Optional

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import BEiTViT
from torch import nn

from mmconmim.registry import MODELS
from ..utils.checkpointing import checkpoint_beit_layers
from ..utils.vit_tokens import add_cls_and_position
from .a2mim_mask_token import ResidualMaskTokenMixin, check_mask_layer


@MODELS.register_module()
class A2MIMViT(ResidualMaskTokenMixin, BEiTViT):
    """mmpretrain ``BEiTViT`` with a residual mask token at ``mask_layer``.

    Args:
        arch (str | dict): ViT architecture; ``'small'`` is A2MIM's "ViT-S"
            (768 wide, 8 layers), ``'base'`` ViT-B. Defaults to 'base'.
        mask_layer (int): 0 (after patch embedding) .. ``num_layers``
            (input of the last layer). Defaults to 0.
        mask_gamma_init (float, optional): Learnable per-channel gamma on the
            masked tokens; the ViT recipes use none. Defaults to None.
        mask_token_mode (str): ``'add'`` (A2MIM) or ``'replace'`` (the
            token ablation, SimMIM's rule). Defaults to 'add'.
        with_cp (bool): Recompute each transformer layer in backward
            (activation checkpointing): less memory, same loss and
            gradients. Defaults to False.
        **kwargs: Arguments of mmpretrain's ``BEiTViT``.
    """

    def __init__(self, arch='base', mask_layer: int = 0,
                 mask_gamma_init: Optional[float] = None,
                 mask_token_mode: str = 'add',
                 with_cp: bool = False,
                 **kwargs) -> None:
        super().__init__(arch=arch, **kwargs)
        self.with_cp = with_cp
        checkpoint_beit_layers(self.layers, enable=with_cp)
        self.mask_layer = check_mask_layer(
            type(self).__name__, mask_layer, range(self.num_layers + 1),
            max(self.out_indices) + 1, '0 (patch embedding) or k, the input '
            'of the k-th transformer layer')
        stride_h, stride_w = self.patch_embed.projection.stride
        if stride_h != stride_w:
            raise ValueError(f'{type(self).__name__}: non-square patches '
                             f'{(stride_h, stride_w)} are not supported')
        self.mask_stride = self.out_stride = stride_h
        self._init_mask_token(self.embed_dims, channels_last=True,
                              gamma_init=mask_gamma_init,
                              mode=mask_token_mode)

    def init_weights(self) -> None:
        """SimMIM-style init (as mmpretrain's ``SimMIMSwinTransformer``):
        Linear weights trunc-normal(0.02) with zero bias, LayerNorm 1/0,
        trunc-normal(0.02) position embedding, CLS token and mask token, and
        zero relative position tables (as the reference SimMIMViT)."""
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for param in (self.pos_embed, self.cls_token, self.mask_token):
            if param is not None:
                trunc_normal_(param, std=.02)
        # The reference's relative position tables start at zero (openmixup
        # MultiheadAttentionWithRPE); mmpretrain's BEiTAttention draws them
        # from trunc-normal(0.02).
        for module in self.modules():
            table = getattr(module, 'relative_position_bias_table', None)
            if isinstance(table, nn.Parameter):
                nn.init.zeros_(table)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        if mask is None:
            return super().forward(x)
        x, patch_resolution = self.patch_embed(x)
        if self.mask_layer == 0:
            x = self.add_mask_token(x, mask, patch_resolution)
        x = add_cls_and_position(self, x, patch_resolution)
        rel_pos_bias = self.rel_pos_bias() \
            if self.rel_pos_bias is not None else None

        outs = []
        extra = self.num_extra_tokens
        for i, layer in enumerate(self.layers):
            if i == self.mask_layer - 1:  # the CLS token is never masked
                x = torch.cat((x[:, :extra],
                               self.add_mask_token(x[:, extra:], mask,
                                                   patch_resolution)),
                              dim=1)
            x = layer(x, rel_pos_bias)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)
