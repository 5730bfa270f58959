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

``fill='zero'`` (masked pixels 0 after normalisation, SimMIM's input) is the
paper's fill ablation; the token and Fourier ablations are switches of the
backbones and losses. :func:`expand_mask` (cell mask -> injection-stage and
pixel masks) is shared with ``ConMIMCNN``.
"""
from typing import Dict, List, Tuple

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_choice

FILLS = ('mean', 'zero')


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


def zero_fill(img: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
    """Set masked pixels to 0 in the normalised space (the dataset mean):
    the input of SimMIM's ``mask_color='zero'``, A2MIM's fill ablation."""
    return img * (1. - pixel_mask.unsqueeze(1).to(img.dtype))


def fill_masked(img: torch.Tensor, pixel_mask: torch.Tensor,
                fill: str = 'mean') -> torch.Tensor:
    """``mean_fill`` or ``zero_fill`` by name (``A2MIM(fill=...)``)."""
    return dict(mean=mean_fill, zero=zero_fill)[fill](img, pixel_mask)


def expand_mask(mask: torch.Tensor, image_size: Tuple[int, int],
                mask_stride: int, owner: str = 'A2MIM'
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cell mask -> (injection-stage mask, pixel mask).

    Args:
        mask: (B, h, w) mask over square cells of the image, 1 = masked.
        image_size: (H, W) of the image in pixels.
        mask_stride: stride in pixels of the stage that receives the mask
            token (``backbone.mask_stride``); must divide the cell size.
        owner: name used in error messages.

    Returns:
        (B, H / mask_stride, W / mask_stride) and (B, H, W) masks, each
        cell repeated (nearest) to that grid.
    """
    if mask.dim() != 3:
        raise ValueError(f'{owner}: expected a (B, h, w) mask, got shape '
                         f'{tuple(mask.shape)}')
    (h, w), (H, W) = mask.shape[-2:], tuple(image_size)
    if H % h or W % w or H // h != W // w:
        raise ValueError(
            f'{owner}: a {h}x{w} mask does not tile a {H}x{W} image into '
            'square cells; check the mask generator input_size')
    cell = H // h
    if cell % mask_stride:
        raise ValueError(
            f'{owner}: the mask cells are {cell} px but the mask token is '
            f'injected at stride {mask_stride} px (the backbone mask_layer); '
            f'the mask cell size (model_patch_size of the mask generator) '
            f'must be a multiple of {mask_stride}')
    factor = cell // mask_stride
    token_mask = mask.repeat_interleave(factor, 1)\
        .repeat_interleave(factor, 2)
    pixel_mask = mask.repeat_interleave(cell, 1).repeat_interleave(cell, 2)
    return token_mask, pixel_mask


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
        fill (str): What replaces the masked input pixels: ``'mean'``, the
            image's own per-channel mean (A2MIM), or ``'zero'``, 0 in the
            normalised space, i.e. the dataset mean (SimMIM's input; the
            paper's fill ablation). Defaults to 'mean'.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.

    The pipeline packs one image and a ``mask`` over square cells of the
    image (1 = masked), e.g. ``UnitMaskGenerator`` with 32-px units. The
    cell size must be a multiple of the backbone's injection stride
    (``backbone.mask_stride``); the mask is expanded to that stage's grid
    and to pixels here.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 fill: str = 'mean', **kwargs):
        self.fill = check_choice('A2MIM', 'fill', fill, FILLS)
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
        """Fill, encode with the mask token, decode.

        Args:
            img: (B, C, H, W) normalised images.
            mask: (B, h, w) cell mask, 1 = masked.

        Returns:
            The filled input, the reconstruction (both (B, C, H, W))
            and the (B, H, W) pixel mask.
        """
        token_mask, pixel_mask = expand_mask(mask, img.shape[-2:],
                                             self.backbone.mask_stride)
        masked_img = fill_masked(img, pixel_mask, self.fill)
        latent = self.backbone(masked_img, token_mask)[-1]
        img_rec = self.neck(latent)
        if img_rec.shape != img.shape:
            raise ValueError(
                f'A2MIM: the decoder output {tuple(img_rec.shape)} does not '
                f'match the input {tuple(img.shape)}; set neck.encoder_stride '
                f'to the backbone output stride '
                f'({img.shape[-1] // latent.shape[-1]} here)')
        return masked_img, img_rec, pixel_mask
