"""Pixel spaces of the DALL-E dVAE (Ramesh et al., "Zero-Shot Text-to-Image
Generation", ICML 2021, Sec. 2.1 / Appendix A.3; official ``dall_e`` package).

The dVAE is trained with a *logit-Laplace* likelihood on pixels squeezed into
``[eps, 1 - eps]`` with ``eps = 0.1``:

    map_pixels(x)   = (1 - 2 eps) x + eps                 [0, 1] -> [0.1, 0.9]
    unmap_pixels(x) = clamp((x - eps) / (1 - 2 eps), 0, 1)  [0.1, 0.9] -> [0, 1]

The decoder outputs ``2C`` channels: the first ``C`` are the logits of the
Laplace location ``mu`` (in the mapped space), the last ``C`` its log-scales.
The reconstructed image is ``unmap_pixels(sigmoid(mu_logits))``; the log-scales
are not used for decoding (official usage notebook).

Three pixel spaces meet in CIM and must not be mixed up: the tokenizer input
(``map_pixels`` space, which mmpretrain's ``TwoNormDataPreprocessor`` produces
from 0..255 with mean -31.875 and std 318.75), the decoder output ([0, 1]) and
the enhancer input (ImageNet-normalised).
"""
import torch

LOGIT_LAPLACE_EPS = 0.1


def map_pixels(x: torch.Tensor, eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """[0, 1] -> [eps, 1 - eps]: the dVAE encoder's input space."""
    return (1 - 2 * eps) * x + eps


def unmap_pixels(x: torch.Tensor,
                 eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """[eps, 1 - eps] -> [0, 1], clamped (the inverse of :func:`map_pixels`)."""
    return torch.clamp((x - eps) / (1 - 2 * eps), 0, 1)


def logit_laplace_to_pixels(stats: torch.Tensor,
                            eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """Decoder output (B, 2C, H, W) -> image (B, C, H, W) in [0, 1].

    Takes the location logits (first half of the channels), applies the
    sigmoid and unmaps; computed in fp32 (the official decoder runs its convs
    in fp16 on CUDA).
    """
    if stats.dim() != 4 or stats.shape[1] % 2:
        raise ValueError('logit-Laplace decoder output must be (B, 2C, H, W), '
                         f'got {tuple(stats.shape)}')
    channels = stats.shape[1] // 2
    return unmap_pixels(torch.sigmoid(stats[:, :channels].float()), eps)


def pixels_to_logit_laplace(img: torch.Tensor,
                            log_scale: float = 0.,
                            eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """The exact inverse of :func:`logit_laplace_to_pixels` for an image in
    [0, 1]: location logits ``logit(map_pixels(img))`` followed by constant
    log-scales. Used by analytic tokenizers that emit the dVAE's format."""
    mu_logits = torch.logit(map_pixels(img.float(), eps))
    return torch.cat([mu_logits, torch.full_like(mu_logits, log_scale)], 1)
