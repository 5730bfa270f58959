"""A2MIM: architecture-agnostic masked image modeling.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943). SimMIM-style masked pixel regression that
works for CNNs as well as ViTs:

1. the masked pixels of the (normalised) input are filled with the image's
   own per-channel mean, computed over the whole crop before filling;
2. the backbone adds a learnable mask token to an intermediate feature map at
   the masked positions (``mask_layer``, see ``A2MIMResNet`` /
   ``A2MIMConvNeXt`` / ``A2MIMViT``);
3. a linear decoder (1x1 conv + PixelShuffle) predicts the *unmasked*
   normalised image, trained with L = L_spa + lambda * L_freq
   (``A2MIMHead``).
"""
from typing import Dict, List, Tuple

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmconmim.registry import MODELS


def mean_fill(img: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
    """Replace masked pixels by the per-image, per-channel mean.

    Args:
        img: (B, C, H, W) images.
        pixel_mask: (B, H, W), 1 = masked.

    The mean runs over all pixels of each image (masked ones included), as in
    the reference; it is not a dataset mean and not zero.
    """
    mean = img.mean(dim=(2, 3), keepdim=True)
    m = pixel_mask.unsqueeze(1).to(img.dtype)
    return img * (1. - m) + mean * m


@MODELS.register_module()
class A2MIM(BaseSelfSupervisor):
    """A2MIM pre-training algorithm.

    Args:
        backbone (dict): A backbone with mask-token injection
            (``A2MIMResNet``, ``A2MIMConvNeXt`` or ``A2MIMViT``).
        neck (dict): Decoder from the last feature map to pixels, e.g.
            ``SimMIMLinearDecoder`` with ``encoder_stride`` = the backbone's
            output stride.
        head (dict): ``A2MIMHead`` with the spatial and Fourier losses.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.

    The pipeline packs one image and a ``mask`` over square cells of the
    image (1 = masked), e.g. ``UnitMaskGenerator`` with 32-px units. The
    cell size must be a multiple of the backbone's injection stride
    (``backbone.mask_stride``); the mask is expanded to that stage's grid
    and to pixels here.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        for attr in ('mask_layer', 'mask_stride', 'add_mask_token'):
            if not hasattr(self.backbone, attr):
                raise TypeError(
                    f'A2MIM needs a backbone that injects the mask token '
                    f'(A2MIMResNet, A2MIMConvNeXt, A2MIMViT); '
                    f'{type(self.backbone).__name__} has no {attr!r}')

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs, mask=None)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        img = inputs  # normalised crops: the reconstruction target
        mask = torch.stack([sample.mask for sample in data_samples])
        _, img_rec, pixel_mask = self.reconstruct(img, mask)
        return self.head.loss(img_rec, img, pixel_mask)

    def reconstruct(self, img: torch.Tensor, mask: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean-fill, encode with the mask token, decode.

        Args:
            img: (B, C, H, W) normalised images.
            mask: (B, h, w) cell mask, 1 = masked.

        Returns:
            The mean-filled input, the reconstruction (both (B, C, H, W))
            and the (B, H, W) pixel mask.
        """
        token_mask, pixel_mask = self.expand_mask(mask, img)
        masked_img = mean_fill(img, pixel_mask)
        latent = self.backbone(masked_img, token_mask)[-1]
        img_rec = self.neck(latent)
        if img_rec.shape != img.shape:
            raise ValueError(
                f'A2MIM: the decoder output {tuple(img_rec.shape)} does not '
                f'match the input {tuple(img.shape)}; set neck.encoder_stride '
                f'to the backbone output stride '
                f'({img.shape[-1] // latent.shape[-1]} here)')
        return masked_img, img_rec, pixel_mask

    def expand_mask(self, mask: torch.Tensor, img: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cell mask -> (injection-stage mask, pixel mask)."""
        if mask.dim() != 3:
            raise ValueError(f'A2MIM: expected a (B, h, w) mask, got shape '
                             f'{tuple(mask.shape)}')
        (h, w), (H, W) = mask.shape[-2:], img.shape[-2:]
        if H % h or W % w or H // h != W // w:
            raise ValueError(
                f'A2MIM: a {h}x{w} mask does not tile a {H}x{W} image into '
                'square cells; check the mask generator input_size')
        cell = H // h
        stride = self.backbone.mask_stride
        if cell % stride:
            raise ValueError(
                f'A2MIM: the mask cells are {cell} px but the mask token is '
                f'injected at stride {stride} px (backbone mask_layer='
                f'{self.backbone.mask_layer}); the mask cell size '
                f'(model_patch_size of the mask generator) must be a multiple '
                f'of {stride}')
        token_mask = mask.repeat_interleave(cell // stride, 1)\
            .repeat_interleave(cell // stride, 2)
        pixel_mask = mask.repeat_interleave(cell, 1)\
            .repeat_interleave(cell, 2)
        return token_mask, pixel_mask
