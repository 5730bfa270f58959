"""Does a predictor on the student (BYOL, MoCo v3) make ConMIM's frozen
features grow faster at small budgets? A trial for issue 25
(docs/conmim_small_scale.md, section 14).

    OMP_NUM_THREADS=1 python benchmarks/conmim_predictor.py \
        --predictor-hidden H DRIVER-ARGS...

ConMIM contrasts the student's projected masked tokens with the teacher's
projected tokens directly: ``s_j = g(f(x_s, m))_j``, ``t_j = g_t(f_t(x_t))_j``
(paper Eq. 3). BYOL (Grill et al., NeurIPS 2020, Sec. 3.1) and MoCo v3
(Chen et al., ICCV 2021, Sec. 3) put a small MLP ``q`` on the online branch
only, ``s_j = q(g(f(x_s, m)))_j``, and report that the momentum target
trains faster and better with it: the projector of the teacher no longer has
to equal the student's function of a corrupted input. Here, with ConMIM's
contrast unchanged::

    q = Linear(C', H, no bias) - BN - ReLU - Linear(H, C')

on every student token (CLS included, as the projector). The teacher is the
EMA of ``Sequential(backbone, neck)`` as before: ``q`` has no teacher copy.
``q`` is drawn from its own random stream, so the run's crops, masks and
initial weights are the driver's with the same seed. Only the student's
TRAINING embedding changes: the loss, the teacher and every evaluation (kNN
and probes on the teacher's last block) are the driver's. All other
arguments are the driver's (``benchmarks/conmim_small_scale.py``);
``predictor_hidden`` joins the run's recorded args.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.common import run_driver_trial, trial_parser  # noqa: E402

PREDICTOR_SEED = 1234  # its own stream: the driver's draws stay the same


def build_predictor(dims, hidden):
    """BYOL / MoCo v3 predictor: (T, dims) -> (T, dims)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PREDICTOR_SEED)
        return nn.Sequential(nn.Linear(dims, hidden, bias=False),
                             nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, dims))


class PredictedProjector:
    """Called like the projector by ``ConMIM.patch_embeddings``: the
    projector's tokens through the predictor."""

    def __init__(self, projector, predictor):
        self.projector, self.predictor = projector, predictor

    def __call__(self, inputs):
        return (self.predictor(self.projector(inputs)[0]), )


def install():
    """Route the student's embedding in ``ConMIM.patch_embeddings`` through
    ``model.predictor`` when the model has one; the teacher's call and
    models without a predictor stay as they are."""
    from mmconmim.models.selfsup.conmim import ConMIM
    plain = ConMIM.patch_embeddings

    def patch_embeddings(self, backbone, projector, img, mask):
        predictor = getattr(self, 'predictor', None)
        if predictor is not None and backbone is self.backbone:
            projector = PredictedProjector(projector, predictor)
        return plain(self, backbone, projector, img, mask)

    ConMIM.patch_embeddings = patch_embeddings


def attach(model, hidden):
    """Add ``model.predictor`` (a sub-module, so the optimizer and
    ``model.train()`` see it) sized to the projector's output."""
    dims = [m for m in model.neck.modules()
            if isinstance(m, nn.Linear)][-1].out_features
    model.predictor = build_predictor(dims, hidden).train(model.training)
    return model


def main(argv=None):
    p = trial_parser(__doc__)
    p.add_argument('--predictor-hidden', type=int, required=True,
                   metavar='H', help='hidden width of the predictor')
    a, rest = p.parse_known_args(argv)
    if a.predictor_hidden < 1:
        raise SystemExit(f'--predictor-hidden must be >= 1, got '
                         f'{a.predictor_hidden}')
    install()
    run_driver_trial(rest, dict(predictor_hidden=a.predictor_hidden),
                     lambda model: attach(model, a.predictor_hidden))


if __name__ == '__main__':
    main()
