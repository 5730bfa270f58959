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
"""
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.selfsup.beit import BEiTPretrainViT
from torch import nn

from mmconmim.registry import MODELS
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
    """

    def __init__(self, *args, attention_impl: str = 'matmul',
                 with_cp: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.attention_impl = attention_impl
        set_attention_impl(self, attention_impl)
        self.with_cp = with_cp
        checkpoint_beit_layers(self.layers, enable=with_cp)

    def forward(self, x, mask=None):
        """``BEiTPretrainViT.forward`` with ``mask`` optional: without a
        mask it is the plain (unmasked) ViT, so a loaded backbone is called
        as ``backbone(images)`` (``mmconmim.apis.load_backbone``)."""
        return super().forward(x, mask)

    def init_weights(self) -> None:
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
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
        self.rescale_init_weight()
