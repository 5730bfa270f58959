"""Activation checkpointing for BEiT transformer layers (``with_cp=True``).

Chen et al., "Training Deep Nets with Sublinear Memory Cost", 2016: a
checkpointed layer keeps only its input during the forward pass and
recomputes its activations in the backward pass -- one extra layer forward
for not storing the attention maps and FFN activations, which dominate the
memory of a ViT-L at batch 64.

mmpretrain's ResNet and ConvNeXt blocks take ``with_cp``; its
``BEiTTransformerEncoderLayer`` (used by ``BEiTViT``/``BEiTPretrainViT`` and
so by our ViT backbones) does not. :class:`CheckpointedBEiTLayer` is that
layer with a checkpointed forward and nothing else changed (same
parameters, buffers and state dict); :func:`checkpoint_beit_layers` switches
the layers of a backbone to it. Recomputation uses
``torch.utils.checkpoint`` without reentrancy, which restores the RNG state
(drop path draws the same masks) and the autocast state, so the loss and
gradients equal the plain layer's.
"""
import torch
from mmpretrain.models.backbones.beit import BEiTTransformerEncoderLayer
from torch import nn
from torch.utils.checkpoint import checkpoint


class CheckpointedBEiTLayer(BEiTTransformerEncoderLayer):
    """``BEiTTransformerEncoderLayer`` whose training forward is
    recomputed in backward. Inference and no-grad passes (the EMA teacher)
    run the plain forward: there is nothing to save there."""

    def forward(self, x: torch.Tensor,
                rel_pos_bias: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            return checkpoint(super().forward, x, rel_pos_bias,
                              use_reentrant=False)
        return super().forward(x, rel_pos_bias)


def checkpoint_beit_layers(layers: nn.Module, enable: bool = True) -> int:
    """Switch every ``BEiTTransformerEncoderLayer`` in ``layers`` to the
    checkpointed forward (``enable=False`` switches back). The two classes
    share all state, so only the forward changes. Returns the number
    switched."""
    target = CheckpointedBEiTLayer if enable else BEiTTransformerEncoderLayer
    count = 0
    for module in layers.modules():
        if type(module) in (BEiTTransformerEncoderLayer,
                            CheckpointedBEiTLayer):
            module.__class__ = target
            count += 1
        elif isinstance(module, BEiTTransformerEncoderLayer):
            raise TypeError(
                f'checkpoint_beit_layers: {type(module).__name__} subclasses '
                'BEiTTransformerEncoderLayer; switching it would drop its own '
                'forward. Checkpoint it in its class instead.')
    return count
