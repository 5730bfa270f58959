"""An analytic "palette" tokenizer, exactly invertible on block-coloured
images (for tests and for understanding CIM without a trained dVAE).

* Encoder: for each ``patch_size`` x ``patch_size`` block, the logits are
  minus the squared distance between the block's mean colour and each of the
  ``levels^3`` palette colours (all in ``map_pixels`` space), so the argmax
  is the nearest palette colour.
* Decoder: paints every block with its palette colour and emits it in the
  DALL-E decoder's logit-Laplace format (location logits
  ``logit(map_pixels(colour))``, log-scales 0), so that the same
  post-processing as for the dVAE applies.

On an image whose blocks are painted with palette colours, ``decode(encode(x))``
returns ``x`` (up to float rounding): the golden decode reproduces the input,
and a replaced token changes exactly its own block.
"""
import itertools

import torch
import torch.nn.functional as F

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_int
from .base import BaseImageTokenizer
from .logit_laplace import map_pixels, pixels_to_logit_laplace


@MODELS.register_module()
class PaletteTokenizer(BaseImageTokenizer):
    """Nearest-palette-colour tokenizer.

    Args:
        levels (int): Intensity levels per channel, evenly spaced in [0, 1];
            the vocabulary is ``levels ** 3``. Defaults to 8 (512 tokens).
        patch_size (int): Pixels per token side. Defaults to 8 (as DALL-E).
        image_size (int | tuple, optional): Expected input size; None accepts
            any multiple of ``patch_size``. Defaults to None.
    """

    def __init__(self, levels: int = 8, patch_size: int = 8, image_size=None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_int('PaletteTokenizer', 'levels', levels, min=2)
        check_int('PaletteTokenizer', 'patch_size', patch_size, min=1)
        self.downsample = patch_size
        self.vocab_size = levels**3
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = None if image_size is None else tuple(image_size)
        steps = torch.linspace(0, 1, levels)
        palette = torch.tensor(list(itertools.product(steps.tolist(),
                                                      repeat=3)))
        # Not a state: a pure function of `levels`.
        self.register_buffer('palette', palette, persistent=False)
        self.freeze()

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        means = F.avg_pool2d(x, self.downsample)  # (B, 3, h, w)
        colours = map_pixels(self.palette)  # (V, 3), compared in input space
        dist = ((means.unsqueeze(1) -
                 colours.view(1, -1, 3, 1, 1))**2).sum(dim=2)
        return -dist  # (B, V, h, w)

    def decode_stats(self, ids: torch.Tensor) -> torch.Tensor:
        img = self.palette[ids.long()].permute(0, 3, 1, 2)  # (B, 3, h, w)
        img = F.interpolate(img, scale_factor=self.downsample, mode='nearest')
        return pixels_to_logit_laplace(img)

    def colour_ids(self, rgb) -> torch.Tensor:
        """Token ids of palette colours given as an (..., 3) tensor of
        level indices (each in [0, levels))."""
        levels = round(self.vocab_size**(1 / 3))
        rgb = torch.as_tensor(rgb).long()
        return (rgb[..., 0] * levels + rgb[..., 1]) * levels + rgb[..., 2]
