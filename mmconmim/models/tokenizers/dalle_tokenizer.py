"""The frozen DALL-E dVAE as CIM's image tokenizer (encoder + decoder).

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023, Sec. 2.1: the golden tokens are the argmax of the
frozen dVAE encoder on the tokenizer view (pixels in ``map_pixels`` space);
the corrupted image is the frozen dVAE decoder's rendering of the *whole*
mixed token grid, ``unmap_pixels(sigmoid(mu_logits))``.

Weights come from local files only (converted once with
``tools/model_converters/dalle_to_mmconmim.py``, or the official pickles,
which are read with a restricted unpickler); they are loaded strictly by
:meth:`DALLETokenizer.init_weights`, which the runner calls once, and never
re-initialised afterwards.
"""
from typing import Optional

import torch

from mmconmim.registry import MODELS
from .base import BaseImageTokenizer
from .dalle_checkpoint import DECODER, ENCODER, load_dalle_weights


@MODELS.register_module()
class DALLETokenizer(BaseImageTokenizer):
    """Frozen DALL-E dVAE encoder and decoder.

    Args:
        encoder (dict): mmpretrain's encoder, ``dict(type='DALL-E', ...)``
            (``DALLEEncoder``).
        decoder (dict): ``dict(type='DALLEDecoder', ...)``.
        encoder_checkpoint (str, optional): Local path of the encoder weights
            (official key names: converted ``.pth`` or official ``.pkl``).
        decoder_checkpoint (str, optional): Same for the decoder.
        image_size (int | tuple): Size of the tokenizer view; the token grid
            is ``image_size / 8``. Defaults to 112 (14 x 14 tokens).
        allow_random_weights (bool): Allow running without checkpoints, with
            the random initial weights (tests and CPU demos only: the golden
            tokens and corrupted images are then meaningless). Defaults to
            False, so a config that forgot the checkpoints fails loudly.
    """

    def __init__(self,
                 encoder: dict = dict(type='DALL-E'),
                 decoder: dict = dict(type='DALLEDecoder'),
                 encoder_checkpoint: Optional[str] = None,
                 decoder_checkpoint: Optional[str] = None,
                 image_size=112,
                 allow_random_weights: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(image_size)
        for name, cfg in (('encoder', encoder), ('decoder', decoder)):
            if isinstance(cfg, dict) and cfg.get('init_cfg') is not None:
                # mmpretrain's BEiT configs download the encoder through
                # init_cfg; here weights come from local files only.
                raise ValueError(
                    f'DALLETokenizer: {name}.init_cfg is not supported; give '
                    f'the local weights as {name}_checkpoint')
        self.encoder = MODELS.build(encoder)
        self.decoder = MODELS.build(decoder)
        self.downsample = 8
        encoder_vocab = self.encoder.blocks.output.conv.w.shape[0]
        if encoder_vocab != self.decoder.vocab_size:
            raise ValueError(
                f'DALLETokenizer: encoder.vocab_size ({encoder_vocab}) and '
                f'decoder.vocab_size ({self.decoder.vocab_size}) differ')
        self.vocab_size = encoder_vocab
        self.grid_size(self.image_size)  # validates image_size

        self.checkpoints = {
            ENCODER: encoder_checkpoint,
            DECODER: decoder_checkpoint
        }
        given = [v is not None for v in self.checkpoints.values()]
        if any(given) and not all(given):
            raise ValueError(
                'DALLETokenizer: give both encoder_checkpoint and '
                'decoder_checkpoint (golden tokens and rendering must come '
                'from the same dVAE)')
        if not any(given) and not allow_random_weights:
            raise ValueError(
                'DALLETokenizer: encoder_checkpoint and decoder_checkpoint '
                'are required (local paths, see docs/cim.md); set '
                'allow_random_weights=True only for tests or demos')
        # Without checkpoints the construction-time weights are used as is.
        self._weights_ready = not any(given)
        self.freeze()

    def init_weights(self) -> None:
        """Load both halves strictly from their local files, once.

        Nothing is re-initialised: mmengine calls this once per model, and a
        second call (or the parent's) leaves the loaded weights alone.
        """
        if self._is_init:
            return
        for kind, module in ((ENCODER, self.encoder), (DECODER,
                                                         self.decoder)):
            path = self.checkpoints[kind]
            if path is not None:
                load_dalle_weights(module, path, kind)
        self._weights_ready = True
        self.freeze()
        super().init_weights()

    def _load_from_state_dict(self, *args, **kwargs):
        # Weights that arrive with a whole CIM checkpoint (load_from,
        # resume) count as loaded too.
        super()._load_from_state_dict(*args, **kwargs)
        self._weights_ready = True

    def _check_ready(self) -> None:
        if not self._weights_ready:
            raise RuntimeError(
                'DALLETokenizer: the dVAE weights are not loaded yet; call '
                'model.init_weights() (the runner does) before using it')

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        self._check_ready()
        return self.encoder(x)

    def decode_stats(self, ids: torch.Tensor) -> torch.Tensor:
        self._check_ready()
        return self.decoder.decode_ids(ids)
