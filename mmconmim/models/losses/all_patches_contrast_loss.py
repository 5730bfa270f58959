"""ConMIM's denoising contrast over *every* patch: the no-masking ablation.

Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023
(arXiv:2205.09616), Sec. 5.4 (the denoising-mechanism ablation: patch-level
contrast without masking). Eq. 3 averages over the masked positions ``M``;
with no patch masked, ``M`` is empty and :class:`DenoisingContrastLoss`
returns 0 by construction (nothing would be trained). Without masking, the
only patch-level objective left is Eq. 3 with ``M`` = all ``K`` patches:
each (unmasked) student patch must pick out the teacher patch at its own
position among the patches of the same image.
"""
import torch

from mmconmim.registry import MODELS
from .denoising_contrast_loss import DenoisingContrastLoss


@MODELS.register_module()
class AllPatchesContrastLoss(DenoisingContrastLoss):
    """:class:`DenoisingContrastLoss` with every patch row selected,
    whatever the mask (the ablation's student sees an all-False mask).
    Same arguments."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return super().forward(student, teacher,
                               torch.ones_like(mask, dtype=torch.bool))
