"""Does the cross-image dictionary's false negatives make ConMIM's kNN fall?
A diagnosis for issue 25 (docs/conmim_small_scale.md, section 11).

    OMP_NUM_THREADS=1 python benchmarks/conmim_false_negatives.py \
        --exclude same-class  DRIVER-ARGS...
    OMP_NUM_THREADS=1 python benchmarks/conmim_false_negatives.py \
        --exclude nearest:2   DRIVER-ARGS...
    OMP_NUM_THREADS=1 python benchmarks/conmim_false_negatives.py \
        --soft-targets 0.05   DRIVER-ARGS...

Runs the small-scale driver (``benchmarks/conmim_small_scale.py``, every
other argument is its own) with ``negatives='batch'``, except that in the
training loss the patch keys of some OTHER images of the batch are removed
from each query's dictionary (their logits set to -inf; the image's own
patches and every other image stay):

* ``same-class``: the images of the same class, i.e. crops of the same
  source photo (the class is the image's folder) -- an ORACLE that reads
  the labels: it tells whether those false negatives matter, it is not a
  method;
* ``nearest:K``: the K other images whose mean teacher token is closest
  (cosine) to the query image's -- the same idea without labels (it lost:
  section 11 of the doc, so it stays here and not in the library);
* ``groups:G``: every image outside its group of G consecutive images of
  the (randomly sampled) batch -- a smaller cross-image dictionary, so
  that most queries meet no crop of their own photo, without labels;

or, with ``--soft-targets TAU_T``, nothing leaves the dictionary but the
one-hot target becomes the teacher's own similarity distribution
``softmax(t_j . t_k / TAU_T)`` over the batch's keys k: a key the teacher
sees as (nearly) the same patch shares the target instead of being pushed
away, with no labels.

The driver's own per-batch metrics (``loss_batch``, ``loss_xteacher``) keep
the unmodified loss.
"""
import os.path as osp
import re
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.common import run_driver_trial, trial_parser  # noqa: E402

# the class ids of the batch in flight, set only inside ConMIM.loss
_IN_FLIGHT = {}


def excluded_images(groups, teacher, rule):
    """(B, B) bool: True where image j's keys leave image i's dictionary
    (never i itself)."""
    B = teacher.shape[0]
    eye = torch.eye(B, dtype=torch.bool, device=teacher.device)
    if rule == 'same-class':
        return (groups[:, None] == groups[None, :]) & ~eye
    if rule.startswith('groups:'):
        block = torch.arange(B, device=teacher.device) // int(rule[7:])
        return block[:, None] != block[None, :]
    k = int(rule.split(':', 1)[1])
    pooled = F.normalize(teacher.detach().float().mean(dim=1), dim=-1)
    sim = (pooled @ pooled.t()).masked_fill(eye, float('-inf'))
    nearest = sim.topk(k, dim=1).indices
    return torch.zeros(B, B, dtype=torch.bool,
                       device=teacher.device).scatter_(1, nearest, True)


def batch_logits(loss_module, student, teacher):
    """(B * N, B * N) logits of every student token against every teacher
    key of the batch, as the library's batch dictionary forms them, and the
    (B * N, C) keys."""
    B, N, C = student.shape
    keys = loss_module.targets(teacher).reshape(B * N, C)
    s = F.normalize(student.float(), dim=-1).reshape(B * N, C)
    return s @ keys.t() / loss_module.temperature, keys


def masked_mean(loss_module, per_token, mask):
    """The library's reduction: the mean over masked rows, times the loss
    weight."""
    weight = mask.reshape(-1).float()
    loss = (per_token * weight).sum() / weight.sum().clamp(min=1e-12)
    return loss_module.loss_weight * loss


def batch_loss_without(loss_module, student, teacher, mask, rule):
    """The batch-dictionary loss with the excluded images' keys removed."""
    B, N, _ = student.shape
    logits, _ = batch_logits(loss_module, student, teacher)
    drop = excluded_images(_IN_FLIGHT['groups'], teacher, rule)
    logits = logits.view(B, N, B, N).masked_fill(
        drop[:, None, :, None], float('-inf')).view(B * N, B * N)
    labels = torch.arange(B * N, device=logits.device)
    per_token = F.cross_entropy(logits, labels, reduction='none')
    return masked_mean(loss_module, per_token, mask)


def soft_target_loss(loss_module, student, teacher, mask, tau_t):
    """The batch-dictionary loss with the teacher's similarity distribution
    (temperature ``tau_t``) as the target of each row."""
    logits, keys = batch_logits(loss_module, student, teacher)
    target = torch.softmax(keys @ keys.t() / tau_t, dim=1)
    per_token = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
    return masked_mean(loss_module, per_token, mask)


def install(rule):
    """Route ConMIM's training loss through :func:`batch_loss_without`
    (``rule`` a string) or :func:`soft_target_loss` (``rule`` = TAU_T)."""
    from mmconmim.models.losses import DenoisingContrastLoss
    from mmconmim.models.selfsup.conmim import ConMIM

    train_loss, plain_forward = ConMIM.loss, DenoisingContrastLoss.forward

    def loss(self, inputs, data_samples, **kwargs):
        names = [osp.basename(osp.dirname(s.img_path)) for s in data_samples]
        classes = {n: i for i, n in enumerate(sorted(set(names)))}
        _IN_FLIGHT['groups'] = torch.tensor([classes[n] for n in names])
        try:
            return train_loss(self, inputs, data_samples, **kwargs)
        finally:
            _IN_FLIGHT.clear()

    def forward(self, student, teacher, mask):
        if not _IN_FLIGHT:
            return plain_forward(self, student, teacher, mask)
        if (self.negatives != 'batch' or self.visible_weight
                or self.image_weight or self.center_targets):
            raise SystemExit('--exclude / --soft-targets need --negatives '
                             'batch and no other loss option')
        if isinstance(rule, float):
            return soft_target_loss(self, student, teacher, mask, rule)
        return batch_loss_without(self, student, teacher, mask, rule)

    ConMIM.loss = loss
    DenoisingContrastLoss.forward = forward


def main(argv=None):
    p = trial_parser(__doc__)
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument('--exclude', help="'same-class' (oracle), "
                      "'nearest:K' or 'groups:G'")
    rule.add_argument('--soft-targets', type=float, metavar='TAU_T',
                      help="the teacher's similarity distribution as the "
                      'target (temperature TAU_T > 0)')
    a, rest = p.parse_known_args(argv)
    if a.soft_targets is not None:
        if not a.soft_targets > 0:
            raise SystemExit(f'--soft-targets must be > 0, got '
                             f'{a.soft_targets}')
    elif a.exclude != 'same-class' and not re.fullmatch(
            r'(nearest|groups):0*[1-9][0-9]*', a.exclude):
        raise SystemExit("--exclude must be 'same-class', 'nearest:K' or "
                         f"'groups:G' (K, G > 0), got {a.exclude!r}")
    install(a.exclude if a.soft_targets is None else a.soft_targets)
    # the rule joins the run's recorded args (the trials table's setting)
    run_driver_trial(rest, dict(exclude=a.exclude,
                                soft_targets=a.soft_targets))


if __name__ == '__main__':
    main()
