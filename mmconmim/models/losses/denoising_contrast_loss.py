"""Denoising contrastive loss of ConMIM.

Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023
(arXiv:2205.09616), Eq. 3:

    L = E_{j in M} [ -log( exp(<s_j, sg(t_j)> / tau)
                           / sum_{i=1..K} exp(<s_j, sg(t_i)> / tau) ) ]

``s`` are the student's (corrupted view) patch embeddings, ``t`` the momentum
teacher's (full view) embeddings of the *same image*, both L2-normalised; ``M``
is the set of masked positions and ``K`` the number of patches. Negatives are
the other patches of the same image only (no cross-image negatives); the mean
runs over all masked rows of the local batch.

Not in the paper (opt-in, ``visible_weight > 0``): the visible rows join the
mean with that weight, i.e. ``L = sum_j w_j l_j / sum_j w_j`` with ``w_j = 1``
on masked and ``visible_weight`` on visible positions -- a dense
view-invariance term (the visible student token must pick out its own
teacher token across the two views), for budgets too small for the masked
rows alone (docs/conmim_small_scale.md).

Not in the paper (opt-in, ``image_weight > 0``): an image-level term is added,
``L + image_weight * L_img`` with ``L_img`` the InfoNCE of each image's mean
student token against the mean teacher tokens of the batch (its own the
positive, same ``tau``) -- the patch-level objective alone leaves the pooled
features (what kNN and linear probes read) nearly where they started.
"""
import torch
import torch.nn.functional as F
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_number, check_positive


@MODELS.register_module()
class DenoisingContrastLoss(nn.Module):
    """Intra-image patch-level InfoNCE over masked positions.

    Args:
        temperature (float): ``tau`` (> 0). Defaults to 0.1.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        negatives (str): ``'image'`` (the paper: the N patches of the same
            image) or ``'batch'`` (all B * N patches of the local batch).
            Defaults to 'image'.
        center_targets (bool): Subtract the per-position batch mean from the
            teacher embeddings before normalising. Defaults to False.
        visible_weight (float): Weight of the visible rows in the mean
            (>= 0; 0 is the paper: masked rows only). Defaults to 0.
        image_weight (float): Weight of the image-level term (>= 0; 0 is
            the paper). Defaults to 0.
    """

    NEGATIVES = ('image', 'batch')

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0,
                 negatives: str = 'image', center_targets: bool = False,
                 visible_weight: float = 0., image_weight: float = 0.):
        super().__init__()
        if negatives not in self.NEGATIVES:
            raise ValueError(
                f'DenoisingContrastLoss: negatives must be one of '
                f'{self.NEGATIVES}, got {negatives!r} (\'image\' is the '
                'paper\'s intra-image dictionary)')
        self.negatives = negatives
        self.center_targets = bool(center_targets)
        # inf would make every logit 0 (a constant loss, no gradient) and
        # NaN poisons the first step: reject both at build time
        check_positive('DenoisingContrastLoss', 'temperature', temperature,
                       finite=True,
                       fix='ConMIM uses 0.1; set model.head.loss.temperature')
        self.temperature = float(temperature)
        self.loss_weight = loss_weight
        check_number('DenoisingContrastLoss', 'visible_weight', visible_weight,
                     low=0, finite=True,
                     fix='0 is the paper (masked rows only); set '
                     'model.head.loss.visible_weight')
        self.visible_weight = float(visible_weight)
        check_number('DenoisingContrastLoss', 'image_weight', image_weight,
                     low=0, finite=True,
                     fix='0 is the paper (no image-level term); set '
                     'model.head.loss.image_weight')
        self.image_weight = float(image_weight)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            student (Tensor): (B, N, C) student patch embeddings.
            teacher (Tensor): (B, N, C) teacher patch embeddings; no gradient
                flows into them.
            mask (Tensor): (B, N) bool, True at masked positions.

        Returns:
            Tensor: scalar loss.
        """
        self._check_inputs(student, teacher, mask)
        mask = mask.bool()
        # The logits are computed in fp32 even under autocast: with tau=0.1
        # they span [-10, 10] and bf16 would round them to ~0.06.
        with torch.autocast(device_type=student.device.type, enabled=False):
            s = F.normalize(student.float(), dim=-1)
            t = self.targets(teacher)
            B, N = mask.shape
            if self.negatives == 'image':
                # (B, N, N): every student token against the N teacher
                # tokens of its own image; the label of row j is j.
                logits = torch.bmm(s, t.transpose(1, 2)) / self.temperature
                labels = torch.arange(N, device=logits.device).repeat(B)
                logits = logits.reshape(B * N, N)
            else:
                # (B * N, B * N): against every token of the batch; the
                # label of row b * N + j is b * N + j.
                logits = s.reshape(B * N, -1) @ t.reshape(B * N, -1).t()
                logits = logits / self.temperature
                labels = torch.arange(B * N, device=logits.device)
            per_token = F.cross_entropy(logits, labels, reduction='none')
            # Mean over masked rows (and visible ones, if weighted), written
            # as a weighted sum so that the step has no data-dependent shapes
            # (no host sync); an empty mask gives 0 rather than NaN. The
            # clamp is tiny, not 1: visible weights may sum to less than 1.
            weight = mask.reshape(-1).float()
            if self.visible_weight:
                weight = weight + self.visible_weight * (1. - weight)
            loss = (per_token * weight).sum() / weight.sum().clamp(min=1e-12)
            if self.image_weight:
                loss = loss + self.image_weight * self.image_level_loss(
                    student, teacher)
        return self.loss_weight * loss

    def _check_inputs(self, student: torch.Tensor, teacher: torch.Tensor,
                      mask: torch.Tensor) -> None:
        """Shapes that fit together, and a batch large enough for the
        options that need other images."""
        if student.shape != teacher.shape or student.dim() != 3:
            raise ValueError(
                'DenoisingContrastLoss expects student and teacher tokens of '
                f'the same shape (B, N, C), got {tuple(student.shape)} and '
                f'{tuple(teacher.shape)}')
        if mask.shape != student.shape[:2]:
            raise ValueError(
                f'DenoisingContrastLoss: mask shape {tuple(mask.shape)} does '
                f'not match the token grid {tuple(student.shape[:2])}')
        if self.center_targets and student.shape[0] < 2:
            raise ValueError(
                'DenoisingContrastLoss: center_targets=True needs at least 2 '
                'images per batch (a per-position mean over one image '
                'removes the targets entirely)')
        if self.image_weight and student.shape[0] < 2:
            raise ValueError(
                'DenoisingContrastLoss: image_weight > 0 needs at least 2 '
                'images per batch (the other images are its negatives)')

    def image_level_loss(self, student: torch.Tensor,
                         teacher: torch.Tensor) -> torch.Tensor:
        """InfoNCE of the mean student token of each image against the
        mean teacher tokens of the batch (fp32; the positive is the same
        image)."""
        s = F.normalize(student.float().mean(dim=1), dim=-1)
        t = F.normalize(teacher.detach().float().mean(dim=1), dim=-1)
        logits = s @ t.t() / self.temperature
        labels = torch.arange(s.shape[0], device=logits.device)
        return F.cross_entropy(logits, labels)

    def targets(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher keys as the loss uses them: detached, fp32,
        optionally centred per position over the batch, L2-normalised."""
        t = teacher.detach().float()
        if self.center_targets:
            t = t - t.mean(dim=0, keepdim=True)
        return F.normalize(t, dim=-1)
