"""REVDET loss of CIM: replaced visual token detection.

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023, Sec. 2.2 (REVDET), after ELECTRA's replaced token
detection (Clark et al., ICLR 2020). For every visual token position i the
enhancer predicts whether it was replaced by a generator sample:

    y_i = 1[z'_i != z_i]        (z: golden ids, z': ids after corruption)
    L   = mean_i BCE(sigmoid(s_i), y_i)      over all tokens of the batch

A sample that equals the golden id counts as original (y = 0), as in ELECTRA;
unmasked positions keep the golden id and are always 0.
"""
import torch
import torch.nn.functional as F
from torch import nn

from mmconmim.registry import MODELS


def replaced_token_labels(corrupted_ids: torch.Tensor,
                          golden_ids: torch.Tensor) -> torch.Tensor:
    """1 where the final id differs from the golden id, else 0 (float)."""
    if corrupted_ids.shape != golden_ids.shape:
        raise ValueError(f'token grids differ: {tuple(corrupted_ids.shape)} '
                         f'vs {tuple(golden_ids.shape)}')
    return (corrupted_ids != golden_ids).float()


@MODELS.register_module()
class CIMRevDetLoss(nn.Module):
    """Binary cross-entropy with logits, averaged over all tokens.

    Args:
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        if logits.shape != labels.shape:
            raise ValueError(
                f'CIMRevDetLoss: logits {tuple(logits.shape)} and labels '
                f'{tuple(labels.shape)} differ in shape')
        with torch.autocast(device_type=logits.device.type, enabled=False):
            loss = F.binary_cross_entropy_with_logits(
                logits.float(), labels.detach().float())
        return self.loss_weight * loss
