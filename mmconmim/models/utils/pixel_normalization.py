"""The data preprocessor's pixel normalisation, both ways, for images made
or shown outside its ``forward``: CIM's rendered corrupted image goes into
the enhancer's normalisation, visualisers bring normalised views back to
pixels.

mmengine's ``ImgDataPreprocessor`` normalises ``x' = (x - mean) / std`` (x in
0..255, after its channel conversion) and registers ``mean``/``std`` buffers
only when it normalises; these helpers read those buffers, nothing private.
"""
from typing import Tuple

import torch
from torch import nn


def normalisation_of(preprocessor: nn.Module
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The (C, 1, 1) ``mean`` and ``std`` of a normalising preprocessor."""
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if mean is None or std is None:
        raise ValueError(
            f'{type(preprocessor).__name__} does not normalise images (no '
            'mean/std); configure data_preprocessor with mean and std')
    return mean, std


def normalize_pixels(preprocessor: nn.Module,
                     pixels: torch.Tensor) -> torch.Tensor:
    """0..255 RGB (already in the model's channel order) -> normalised."""
    mean, std = normalisation_of(preprocessor)
    return (pixels - mean) / std


def denormalize_pixels(preprocessor: nn.Module,
                       normalised: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`normalize_pixels`: normalised -> 0..255."""
    mean, std = normalisation_of(preprocessor)
    return normalised * std + mean
