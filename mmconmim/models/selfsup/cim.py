"""CIM: Corrupted Image Modeling.

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023 (arXiv:2202.03382), Sec. 2, Fig. 1b. A small
trainable BEiT generator predicts the frozen dVAE's golden tokens at masked
positions (L_G); replacements are sampled from its output distribution at the
masked positions, the golden tokens fill the rest, and the frozen dVAE
decoder renders the whole mixed grid as the corrupted image. The enhancer --
the network being pre-trained, ViT or CNN -- sees only the corrupted image
and learns either

* RESPIX: regress all original pixels (sliding-window normalised), or
* REVDET: detect, per visual token, whether it was replaced,

    L = L_G + lambda * L_E.

Sampling is not differentiable and the decoder is frozen, so L_E never
reaches the generator. After pre-training only the enhancer (``backbone``)
is kept.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_choice, check_number
from ..losses.cim_revdet_loss import replaced_token_labels
from ..tokenizers.logit_laplace import LOGIT_LAPLACE_EPS, unmap_pixels
from ..utils.pixel_normalization import denormalize_pixels, normalize_pixels


class Corruption(NamedTuple):
    """One batch through CIM's corruption path (:meth:`CIM.corrupt`)."""
    golden: torch.Tensor  #: (B, h, w) dVAE token ids of the original
    logits: torch.Tensor  #: (M, vocab) generator logits, M masked tokens
    ids: torch.Tensor  #: (B, h, w) sampled ids at masked, golden elsewhere
    image: torch.Tensor  #: (B, 3, H, W) rendering, enhancer normalisation

    @property
    def replaced(self) -> torch.Tensor:
        """(B, h, w) REVDET labels: 1 where the sampled id differs from the
        golden one."""
        return replaced_token_labels(self.ids, self.golden)


@MODELS.register_module()
class CIM(BaseSelfSupervisor):
    """CIM pre-training algorithm.

    Args:
        backbone (dict): The enhancer: a ViT with ``out_type='featmap'``
            (e.g. mmpretrain ``BEiTViT``) or a CNN (e.g. ``ResNet``). It
            lives under ``self.backbone``, so ``prefix='backbone.'`` selects
            it (and only it) from a checkpoint.
        generator (dict): :class:`CIMGenerator` config.
        tokenizer (dict): Frozen tokenizer (:class:`DALLETokenizer` or
            :class:`PaletteTokenizer`).
        respix_head (dict, optional): Head used when
            ``objective='respix'`` (:class:`CIMResPixHead`).
        revdet_head (dict, optional): Head used when
            ``objective='revdet'`` (:class:`CIMRevDetHead`). Only the head
            of the chosen objective is built.
        objective (str): ``'respix'`` or ``'revdet'``.
        enhancer_loss_weight (float, optional): ``lambda``. Defaults to 1 for
            RESPIX and 50 for REVDET (ELECTRA's weight); knob, the paper's
            value is not confirmed.
        generator_input (str): ``'enhancer_view'`` (view A, e.g. 224 px with
            16-px patches) or ``'tokenizer_view'`` (view B, e.g. 112 px with
            8-px patches, converted to the enhancer normalisation). Knob.
        resize_mode (str): Interpolation of the decoded image to the size of
            view A (``'bilinear'``, ``'bicubic'``, ``'nearest'``,
            ``'area'``). Defaults to ``'bilinear'`` (knob).
        data_preprocessor (dict): A ``TwoNormDataPreprocessor`` whose
            second view is in the dVAE's map_pixels space (second mean
            -31.875, std 318.75); required, the configs take it from
            ``configs/_base_/datasets/imagenet_bs256_cim-224.py``.

    The pipeline packs two views of the same crop, ``[view_A, view_B]``
    (``RandomResizedCropAndInterpolationWithTwoPic``), and a token-grid
    ``mask`` (True = masked) on the tokenizer's grid.
    """
    OBJECTIVES = ('respix', 'revdet')
    DEFAULT_ENHANCER_LOSS_WEIGHT = dict(respix=1.0, revdet=50.0)
    GENERATOR_INPUTS = ('enhancer_view', 'tokenizer_view')
    RESIZE_MODES = ('bilinear', 'bicubic', 'nearest', 'area')

    def __init__(self,
                 backbone: dict,
                 generator: dict,
                 tokenizer: dict,
                 respix_head: Optional[dict] = None,
                 revdet_head: Optional[dict] = None,
                 objective: str = 'respix',
                 enhancer_loss_weight: Optional[float] = None,
                 generator_input: str = 'enhancer_view',
                 resize_mode: str = 'bilinear',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        check_choice('CIM', 'objective', objective, self.OBJECTIVES)
        head = dict(respix=respix_head, revdet=revdet_head)[objective]
        if head is None:
            raise ValueError(f'CIM: objective={objective!r} needs '
                             f'{objective}_head')
        if enhancer_loss_weight is None:
            enhancer_loss_weight = self.DEFAULT_ENHANCER_LOSS_WEIGHT[objective]
        check_number('CIM', 'enhancer_loss_weight', enhancer_loss_weight,
                     low=0, bool_ok=True)
        check_choice('CIM', 'generator_input', generator_input,
                     self.GENERATOR_INPUTS)
        check_choice('CIM', 'resize_mode', resize_mode, self.RESIZE_MODES)
        super().__init__(
            backbone=backbone,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.generator = MODELS.build(generator)
        self.tokenizer = MODELS.build(tokenizer)
        self.objective = objective
        self.enhancer_loss_weight = float(enhancer_loss_weight)
        self.generator_input = generator_input
        self.resize_mode = resize_mode
        self._check_pixel_spaces()
        self._check_token_grids()

    # ------------------------------------------------------------------
    # The algorithm
    # ------------------------------------------------------------------
    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """CIM's loss for one batch (paper Sec. 2, Fig. 1b).

        Args:
            inputs: ``[view_A, view_B]``: view A in the enhancer's
                normalisation (generator and enhancer input, RESPIX
                target), view B in the dVAE's map_pixels space.
            data_samples: one per image, each with a token-grid ``mask``
                (True = masked) on the tokenizer's grid.

        Returns:
            ``loss_gen`` (L_G, cross-entropy of the generator at the masked
            positions), ``loss_enh`` (lambda * L_E of the chosen objective)
            and, not optimised, ``gen_acc`` and ``replaced_ratio``.
        """
        img, img_tok = inputs  # view A (enhancer space), view B ([0.1, 0.9])
        mask = torch.stack([s.mask for s in data_samples]).bool()  # (B, h, w)
        corruption = self.corrupt(img, img_tok, mask)
        golden, logits = corruption.golden, corruption.logits

        # L_G: the generator predicts the golden tokens at masked positions
        loss_gen = self.generator.loss(logits, golden[mask])
        # L_E: the enhancer learns from the corrupted image only
        feats = self.backbone(corruption.image)
        loss_enh = self.head.loss(feats, *self.head_inputs(img, corruption))

        with torch.no_grad():
            gen_acc = (logits.argmax(-1) == golden[mask]).float().mean()
        return dict(
            loss_gen=loss_gen,
            loss_enh=self.enhancer_loss_weight * loss_enh,
            gen_acc=gen_acc,
            replaced_ratio=corruption.replaced.mean())

    def corrupt(self, img: torch.Tensor, img_tok: torch.Tensor,
                mask: torch.Tensor) -> Corruption:
        """Encode -> generate -> sample -> render: the corrupted image of a
        batch (paper Sec. 2.1).

        Args:
            img: view A (B, 3, H, W) in the enhancer's normalisation.
            img_tok: view B in the dVAE's map_pixels space.
            mask: (B, h, w) bool token-grid mask (True = masked).

        Returns:
            :class:`Corruption`. Sampling draws from the global RNG once per
            masked token; the generator logits keep their graph (L_G),
            nothing else does.
        """
        # 1. golden tokens of the frozen dVAE encoder
        golden = self.tokenizer.encode(img_tok)
        self._check_batch(mask, golden, img, img_tok)
        # 2. the generator predicts the golden tokens at masked positions
        logits = self.generator(self.generator_view(img, img_tok), mask)
        # 3. sample replacements at masked positions, golden ids elsewhere
        ids = self.generator.corrupt(logits, golden, mask)
        # 4. the frozen decoder renders the WHOLE mixed grid (no pasting)
        image = self.render(ids, img.shape[-2:])
        return Corruption(golden=golden, logits=logits, ids=ids, image=image)

    def head_inputs(self, img: torch.Tensor,
                    corruption: Corruption) -> Tuple[torch.Tensor, ...]:
        """What the enhancer head learns from, after the features: all
        original pixels and the corrupted input (RESPIX; the input matters
        only for the residual target) or the per-token replaced labels
        (REVDET)."""
        if self.objective == 'respix':
            return img, corruption.image
        return (corruption.replaced, )

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    # ------------------------------------------------------------------
    # Pixel spaces
    # ------------------------------------------------------------------
    def to_enhancer_space(self, img01: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB -> the enhancer's normalisation (view A's space)."""
        return normalize_pixels(self.data_preprocessor, img01 * 255.)

    def from_enhancer_space(self, img: torch.Tensor) -> torch.Tensor:
        """View A's normalisation -> [0, 1] RGB."""
        return denormalize_pixels(self.data_preprocessor, img) / 255.

    def generator_view(self, img: torch.Tensor,
                       img_tok: torch.Tensor) -> torch.Tensor:
        if self.generator_input == 'enhancer_view':
            return img
        # View B in the enhancer's normalisation.
        return self.to_enhancer_space(unmap_pixels(img_tok))

    @torch.no_grad()
    def render(self, ids: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """Decode a token grid with the frozen decoder, resize it to ``size``
        and normalise it for the enhancer."""
        img = self.tokenizer.decode(ids)  # [0, 1], tokenizer resolution
        if tuple(img.shape[-2:]) != tuple(size):
            kwargs = dict(align_corners=False) if self.resize_mode in (
                'bilinear', 'bicubic') else {}
            img = F.interpolate(
                img, size=tuple(size), mode=self.resize_mode,
                **kwargs).clamp(0, 1)
        return self.to_enhancer_space(img)

    # ------------------------------------------------------------------
    # Inspection (tools/visualization/vis_cim_corruption.py)
    # ------------------------------------------------------------------
    @torch.no_grad()
    def visualize(self, inputs: List[torch.Tensor],
                  data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """The steps of :meth:`loss` without losses: original and corrupted
        images in [0, 1], mask, golden and corrupted ids, REVDET labels and
        the head's prediction (REVDET probabilities or the RESPIX
        prediction with its target)."""
        img, img_tok = inputs
        mask = torch.stack([s.mask for s in data_samples]).bool()
        corruption = self.corrupt(img, img_tok, mask)
        feats = self.backbone(corruption.image)
        out = dict(
            original=self.from_enhancer_space(img).clamp(0, 1),
            golden_decoded=self.tokenizer.decode(corruption.golden),
            corrupted=self.from_enhancer_space(corruption.image).clamp(0, 1),
            mask=mask,
            golden=corruption.golden,
            corrupted_ids=corruption.ids,
            replaced=corruption.replaced)
        if self.objective == 'respix':
            out['prediction'] = self.head(feats)
            out['target'] = self.head.loss_module.target(
                *self.head_inputs(img, corruption))
        else:
            out['prediction'] = torch.sigmoid(self.head(feats))
        return out

    # ------------------------------------------------------------------
    # Configuration checks
    # ------------------------------------------------------------------
    def _check_pixel_spaces(self) -> None:
        dp = self.data_preprocessor
        if getattr(dp, 'second_mean', None) is None or getattr(
                dp, 'mean', None) is None:  # mean: registered if normalising
            raise ValueError(
                'CIM: data_preprocessor must be a TwoNormDataPreprocessor '
                'with mean/std (view A) and second_mean/second_std (view B), '
                f'got {type(dp).__name__}; configs take it from '
                'configs/_base_/datasets/imagenet_bs256_cim-224.py '
                '(model.data_preprocessor, or the top-level '
                'data_preprocessor that the Runner passes to the model)')
        # View B must land in the dVAE's map_pixels space: 0 -> 0.1,
        # 255 -> 0.9.
        lo = (0. - dp.second_mean) / dp.second_std
        hi = (255. - dp.second_mean) / dp.second_std
        eps = LOGIT_LAPLACE_EPS
        if not (torch.allclose(lo, torch.full_like(lo, eps), atol=1e-4)
                and torch.allclose(hi, torch.full_like(hi, 1 - eps),
                                   atol=1e-4)):
            raise ValueError(
                'CIM: data_preprocessor.second_mean/second_std must map '
                f'0..255 to the tokenizer input range [{eps}, {1 - eps}] '
                '(second_mean=-31.875, second_std=318.75), got '
                f'[{lo.flatten().tolist()}, {hi.flatten().tolist()}]')

    def _check_token_grids(self) -> None:
        if self.generator.vocab_size != self.tokenizer.vocab_size:
            raise ValueError(
                f'CIM: generator.vocab_size ({self.generator.vocab_size}) '
                f'differs from the tokenizer vocabulary '
                f'({self.tokenizer.vocab_size})')
        if self.tokenizer.image_size is None:
            return
        grid = self.tokenizer.grid_size(self.tokenizer.image_size)
        if self.generator.patch_resolution != grid:
            raise ValueError(
                f'CIM: the generator patch grid '
                f'{self.generator.patch_resolution} (generator.backbone '
                f'img_size / patch_size) differs from the tokenizer grid '
                f'{grid} (tokenizer.image_size / {self.tokenizer.downsample})')
        if self.generator_input == 'tokenizer_view' and \
                self.generator.img_size != tuple(self.tokenizer.image_size):
            raise ValueError(
                "CIM: generator_input='tokenizer_view' needs "
                'generator.backbone.img_size == tokenizer.image_size, got '
                f'{self.generator.img_size} and {self.tokenizer.image_size}')

    def _check_batch(self, mask, golden, img, img_tok) -> None:
        if mask.shape != golden.shape:
            raise ValueError(
                f"CIM: the pipeline's mask grid {tuple(mask.shape[1:])} "
                f'(mask generator input_size) does not match the tokenizer '
                f'grid {tuple(golden.shape[1:])} of the '
                f'{tuple(img_tok.shape[-2:])} px tokenizer view')
        view = img_tok if self.generator_input == 'tokenizer_view' else img
        if tuple(view.shape[-2:]) != self.generator.img_size:
            raise ValueError(
                f'CIM: the generator input ({self.generator_input}) is '
                f'{tuple(view.shape[-2:])} px but generator.backbone.img_size'
                f' is {self.generator.img_size}')
