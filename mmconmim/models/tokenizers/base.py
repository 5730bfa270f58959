"""Frozen image tokenizers: pixels -> visual token ids -> pixels.

CIM (Fang et al., ICLR 2023, Sec. 2.1) uses a *pre-trained, frozen* image
tokenizer twice: its encoder gives the golden tokens of the generator view,
its decoder renders the corrupted image from the mixed token grid. Both stay
frozen for the whole pre-training:

* always in eval mode (:meth:`train` is overridden),
* ``requires_grad=False`` on every parameter, so that optimizer constructors
  that filter on it (``TrainableParamsOptimWrapperConstructor``) leave them
  out and DDP ignores them,
* run under ``no_grad`` with autocast disabled (fp32 semantics, whatever the
  optimizer wrapper's mixed precision),
* :meth:`init_weights` never re-initialises them: subclasses *load* their
  weights there, once.
"""
import torch
from mmengine.model import BaseModule

from .logit_laplace import logit_laplace_to_pixels


class BaseImageTokenizer(BaseModule):
    """Interface of a frozen tokenizer.

    Subclasses set ``vocab_size``, ``downsample`` (pixels per token side) and
    ``image_size`` (expected input size, or None for any multiple of
    ``downsample``), and implement :meth:`encode_logits` (input in
    ``map_pixels`` space) and :meth:`decode_stats` (logit-Laplace decoder
    output, 2 x 3 channels).
    """
    vocab_size: int
    downsample: int
    image_size = None

    def freeze(self) -> None:
        """Make every parameter constant and switch to eval mode."""
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):
        # A frozen tokenizer is never in training mode: its parent's
        # model.train() must not switch it (no BN/dropout statistics change).
        return super().train(False)

    def init_weights(self) -> None:
        # Nothing is (re-)initialised here; subclasses that load weights do
        # it in their override and call this at the end.
        self._is_init = True

    def grid_size(self, img_size):
        """Token grid (h, w) for an input of ``img_size`` (h, w) pixels."""
        h, w = img_size
        if h % self.downsample or w % self.downsample:
            raise ValueError(
                f'{type(self).__name__}: input size {(h, w)} is not '
                f'divisible by the tokenizer stride {self.downsample}')
        return h // self.downsample, w // self.downsample

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'{type(self).__name__}: expects (B, 3, H, W) '
                             f'images, got {tuple(x.shape)}')
        if self.image_size is not None and \
                tuple(x.shape[-2:]) != tuple(self.image_size):
            raise ValueError(
                f'{type(self).__name__}: got {tuple(x.shape[-2:])} px '
                f'images but image_size={tuple(self.image_size)}; set the '
                "pipeline's second_size (tokenizer view) and the tokenizer's "
                'image_size to the same value')
        self.grid_size(x.shape[-2:])

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in map_pixels space -> (B, vocab, h, w) logits."""
        raise NotImplementedError

    def decode_stats(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, h, w) ids -> (B, 6, H, W) logit-Laplace parameters."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Golden token ids (B, h, w): argmax of the encoder logits.

        Args:
            x (Tensor): (B, 3, H, W) in ``map_pixels`` space [0.1, 0.9].
        """
        self._check_input(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.encode_logits(x.float()).argmax(dim=1)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Render a token grid (B, h, w) as an image (B, 3, H, W) in [0, 1]
        (location of the logit-Laplace output, unmapped)."""
        with torch.autocast(device_type=ids.device.type, enabled=False):
            return logit_laplace_to_pixels(self.decode_stats(ids))
