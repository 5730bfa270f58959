"""The CIM generator: a small trainable BEiT that corrupts the image.

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023, Sec. 2.1. Given the masked input, the generator
predicts the golden visual token at every masked position i (BEiT's MIM):

    L_G = mean_{i in M} -log p_G(z_i | x_masked)

and replacements are *sampled* from its output distribution,

    z'_i ~ softmax(l_i / T)   for i in M,      z'_i = z_i  otherwise,

with temperature T (1 by default; the paper's value is not confirmed). The
sampling runs in fp32 under ``no_grad``: it is not differentiable, so the
enhancer's loss never reaches the generator.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_int, check_positive


@MODELS.register_module()
class CIMGenerator(BaseModule):
    """BEiT (ViT with a mask token) + linear head over the tokenizer vocab.

    Args:
        backbone (dict): A ViT with a mask token and ``out_type='raw'``,
            called as ``backbone(img, mask)`` (``ConMIMViT`` /
            ``BEiTPretrainViT``). Depth, width and heads are knobs.
        vocab_size (int): Tokenizer vocabulary. Defaults to 8192.
        temperature (float): Sampling temperature ``T`` (> 0). Defaults to
            1.0 (knob).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 vocab_size: int = 8192,
                 temperature: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        vocab_size = check_int('CIMGenerator', 'vocab_size', vocab_size,
                               min=2)
        check_positive('CIMGenerator', 'temperature', temperature,
                       finite=True,
                       fix='use a small value to approach argmax; set '
                       'model.generator.temperature')
        self.backbone = MODELS.build(backbone)
        if not hasattr(self.backbone, 'mask_token'):
            raise ValueError(
                f'CIMGenerator: backbone {type(self.backbone).__name__} has '
                'no mask token; use ConMIMViT or BEiTPretrainViT')
        if getattr(self.backbone, 'out_type', 'raw') != 'raw':
            raise ValueError("CIMGenerator: backbone.out_type must be 'raw'")
        self.vocab_size = vocab_size
        self.temperature = float(temperature)
        self.head = nn.Linear(self.backbone.embed_dims, vocab_size)

    @property
    def patch_resolution(self):
        return tuple(self.backbone.patch_resolution)

    @property
    def img_size(self):
        return tuple(self.backbone.patch_embed.init_input_size)

    def init_weights(self) -> None:
        if not self.is_init:
            # BEiT's lm_head initialisation; before super(), so that an
            # init_cfg (Pretrained is applied last) can still override it,
            # and only once.
            trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
        super().init_weights()

    def forward(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (M, vocab) at the M masked positions, in row-major order
        of ``mask`` (B, h, w) -- the order of ``golden[mask]``."""
        tokens = self.backbone(img, mask)[-1]
        patches = tokens[:, self.backbone.num_extra_tokens:]  # (B, N, C)
        return self.head(patches[mask.flatten(1)])

    def loss(self, logits: torch.Tensor,
             golden: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against the golden ids of the masked positions."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return F.cross_entropy(logits.float(), golden)

    @torch.no_grad()
    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        """One id per row of ``logits`` from softmax(logits / T), in fp32."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            probs = F.softmax(logits.detach().float() / self.temperature, -1)
            return torch.multinomial(probs, 1).squeeze(1)

    @torch.no_grad()
    def corrupt(self, logits: torch.Tensor, golden: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """The mixed token grid: samples at masked positions, golden ids
        everywhere else."""
        ids = golden.clone()
        ids[mask] = self.sample(logits)
        return ids
