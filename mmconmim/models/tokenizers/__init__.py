from .base import BaseImageTokenizer
from .dalle_decoder import DALLEDecoder
from .dalle_tokenizer import DALLETokenizer
from .logit_laplace import (logit_laplace_to_pixels, map_pixels,
                            pixels_to_logit_laplace, unmap_pixels)
from .palette_tokenizer import PaletteTokenizer

__all__ = [
    'BaseImageTokenizer', 'DALLEDecoder', 'DALLETokenizer', 'PaletteTokenizer',
    'map_pixels', 'unmap_pixels', 'logit_laplace_to_pixels',
    'pixels_to_logit_laplace'
]
