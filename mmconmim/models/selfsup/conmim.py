"""ConMIM: masked image modeling as intra-image denoising contrast.

Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023
(arXiv:2205.09616). A student ViT sees the weakly augmented view with masked
patches replaced by a mask token; a momentum teacher (EMA of student backbone
and projector) sees the strongly augmented full view of the same crop. Both
project every token with an MLP projector; the loss (Eq. 3, see
:class:`DenoisingContrastLoss`) asks each masked student patch to pick out the
teacher patch at the same position among all patches of its image.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from mmconmim.checkpoint.networks import select_backbone
from mmconmim.registry import MODELS
from ..utils.ema import ForeachCosineEMA


@MODELS.register_module()
class ConMIM(BaseSelfSupervisor):
    """ConMIM pre-training algorithm.

    Args:
        backbone (dict): BEiT-style ViT with a mask token (``ConMIMViT`` or
            ``BEiTPretrainViT``), ``out_type='raw'``.
        neck (dict): Token-wise projector, applied to every token (CLS
            included) as a (B * L, C) matrix, e.g. ``NonLinearNeck`` with
            ``with_avg_pool=False``.
        head (dict): Head holding the loss, e.g. ``MIMHead`` with
            ``DenoisingContrastLoss``.
        momentum (float): Teacher EMA momentum in mmengine's convention
            (weight of the student), annealed by cosine to ``end_momentum``.
            The paper's 0.996 -> 1 is 0.004 -> 0. Defaults to 0.004.
        end_momentum (float): Defaults to 0.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.

    The pipeline packs two views per image, ``[student_view, teacher_view]``
    (weak, strong) and a patch-grid ``mask`` (True = masked).

    The teacher is reached only through :attr:`teacher_backbone`,
    :attr:`teacher_projector` and, in state dicts, the key prefixes
    :attr:`TEACHER_BACKBONE_PREFIX` / :attr:`TEACHER_PROJECTOR_PREFIX`
    (``mmconmim.apis.networks`` resolves teacher vs student for every tool).
    """

    # State-dict prefixes of the EMA copy of ``Sequential(backbone, neck)``
    # built in ``__init__`` (attribute ``teacher``, an averaged model whose
    # ``module`` holds the copy). Keep them next to that attribute.
    TEACHER_BACKBONE_PREFIX = 'teacher.module.0.'
    TEACHER_PROJECTOR_PREFIX = 'teacher.module.1.'

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 momentum: float = 0.004,
                 end_momentum: float = 0.,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self._check_backbone_geometry()
        # Built here, not lazily: BEiTPretrainViT keeps a non-leaf tensor
        # after a masked forward, which deepcopy refuses.
        self.teacher = ForeachCosineEMA(
            nn.Sequential(self.backbone, self.neck),
            momentum=momentum,
            end_momentum=end_momentum)

    @property
    def teacher_backbone(self) -> nn.Module:
        """The momentum (EMA) copy of the backbone."""
        return self.teacher.module[0]

    @property
    def teacher_projector(self) -> nn.Module:
        """The momentum (EMA) copy of the projector (``neck``)."""
        return self.teacher.module[1]

    @property
    def teacher_updated(self) -> bool:
        """Whether the EMA teacher has been updated at least once (or loaded
        from a checkpoint that was): before that it is not a copy of the
        student but an independently initialised network."""
        return int(self.teacher.steps) > 0

    @teacher_updated.setter
    def teacher_updated(self, value: bool) -> None:
        """Mark the teacher as holding weights (after loading them into it
        directly); ``False`` makes the next update copy the student."""
        if bool(value) != self.teacher_updated:
            self.teacher.steps.fill_(1 if value else 0)

    def update_teacher(self) -> None:
        """One momentum (EMA) step of the teacher (backbone + projector)
        towards the student; the first one copies the student."""
        self.teacher.update_parameters(nn.Sequential(self.backbone, self.neck))

    def _check_backbone_geometry(self) -> None:
        img_h, img_w = self.backbone.patch_embed.init_input_size
        patch_h, patch_w = self.backbone.patch_embed.projection.kernel_size
        if img_h % patch_h or img_w % patch_w:
            raise ValueError(
                f'ConMIM: backbone img_size {(img_h, img_w)} is not divisible '
                f'by its patch_size {(patch_h, patch_w)}')

    def extract_feat(self, inputs: torch.Tensor) -> Sequence[torch.Tensor]:
        """Unmasked features of the network ConMIM transfers: the teacher
        once it holds weights (trained or loaded), else the student -- the
        rule of :mod:`mmconmim.apis.networks`, which exports and tools
        follow too."""
        backbone, _ = select_backbone(self, 'auto')
        return backbone(inputs, mask=None)

    def patch_embeddings(self, backbone: nn.Module, projector: nn.Module,
                         img: torch.Tensor,
                         mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Backbone -> projector on all tokens -> drop CLS: (B, N, C')."""
        tokens = backbone(img, mask)[-1]  # (B, 1 + N, C)
        B, L, C = tokens.shape
        projected = projector((tokens.reshape(B * L, C), ))[0]
        return projected.view(B, L, -1)[:, backbone.num_extra_tokens:]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Denoising-contrast loss of one batch (paper Sec. 3, Eq. 3)::

            x_s, x_t = inputs                 # weak view, strong view
            s = proj(f(x_s, mask))            # student: masked patches
            teacher = ema(teacher, student)   # momentum update, no grad
            t = sg(proj_t(f_t(x_t)))          # teacher: full view
            s, t = normalize(s), normalize(t) # (B, N, C'), CLS dropped
            logits = s @ t^T / tau            # per image: (N, N)
            loss = cross_entropy(logits[mask], arange(N)[mask])

        i.e. each masked student patch must pick out the teacher patch at
        its own position among all patches of the same image.

        Args:
            inputs: ``[student_view, teacher_view]`` of the same crop,
                normalised by the data preprocessor.
            data_samples: one per image, each with a patch-grid ``mask``
                (True = masked).

        Returns:
            ``dict(loss=...)``.
        """
        student_view, teacher_view = inputs  # weak + mask, strong + full
        mask = torch.stack([sample.mask for sample in data_samples]).bool()
        self._check_inputs(student_view, teacher_view, mask)

        student = self.patch_embeddings(self.backbone, self.neck,
                                        student_view, mask)
        with torch.no_grad():
            self.update_teacher()
            teacher = self.patch_embeddings(self.teacher_backbone,
                                            self.teacher_projector,
                                            teacher_view, None)

        loss = self.head.loss(student, teacher, mask.flatten(1))
        return dict(loss=loss)

    def _check_inputs(self, student_view, teacher_view, mask) -> None:
        expected = tuple(self.backbone.patch_embed.init_input_size)
        for name, view in (('student', student_view), ('teacher',
                                                       teacher_view)):
            if tuple(view.shape[-2:]) != expected:
                raise ValueError(
                    f'ConMIM: {name} view is {tuple(view.shape[-2:])} px but '
                    f'the backbone was built for img_size {expected}; set the '
                    'crop size and the backbone img_size to the same value')
        grid = tuple(self.backbone.patch_resolution)
        if tuple(mask.shape[-2:]) != grid:
            raise ValueError(
                f'ConMIM: mask grid {tuple(mask.shape[-2:])} does not match '
                f'the backbone patch grid {grid}; the mask generator needs '
                'input_size=img_size and model_patch_size=patch_size')
