"""Does a target averaged over the teacher's last blocks (data2vec) make
ConMIM's frozen features grow faster at small budgets? A trial for issue
25 (docs/conmim_small_scale.md, section 13).

    OMP_NUM_THREADS=1 python benchmarks/conmim_layer_targets.py \
        --target-layers K DRIVER-ARGS...

ConMIM's target for patch j is the teacher's last-block token, after the
final norm, through the teacher projector: ``t_j = g(norm(h_L,j))``.
data2vec (Baevski et al., ICML 2022, Sec. 3.3) regresses instead the
average of the top K blocks' outputs, each normalised, and reports that
the average learns faster and better than the top block alone. Here, with
ConMIM's contrast unchanged::

    t_j = g( (1/K) * sum_{l = L-K+1..L} norm(h_l,j) )

``norm`` is the teacher's own final norm (LayerNorm with its EMA affine),
so the projector sees inputs on the scale it is trained on, and ``K = 1``
is the driver's target exactly (a test checks this). Only the teacher's
TRAINING target changes: the student, the loss and every evaluation (kNN
and probes on the teacher's last block, after the final norm) are the
driver's, unchanged. All other arguments are the driver's
(``benchmarks/conmim_small_scale.py``); ``target_layers`` joins the run's
recorded args.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from benchmarks.common import run_driver_trial, trial_parser  # noqa: E402


def averaged_tokens(backbone, img, num_layers):
    """(B, 1 + N, C): the mean over the last ``num_layers`` blocks of the
    final norm of each block's output (unmasked forward); for 1 it is
    ``backbone(img)[-1]`` itself."""
    if not 1 <= num_layers <= len(backbone.layers):
        raise SystemExit(f'--target-layers must be in 1..'
                         f'{len(backbone.layers)}, got {num_layers}')
    captured = []
    hooks = [layer.register_forward_hook(
        lambda module, args, out: captured.append(out))
        for layer in backbone.layers[-num_layers:]]
    try:
        last = backbone(img, None)[-1]  # final norm already applied
    finally:
        for hook in hooks:
            hook.remove()
    normed = [backbone.norm1(h) for h in captured[:-1]] + [last]
    return torch.stack(normed).mean(dim=0)


class LayerAveragedTeacher:
    """Called like the teacher backbone by ``ConMIM.patch_embeddings``,
    returning ``(averaged_tokens,)``."""

    def __init__(self, backbone, num_layers):
        self.backbone, self.num_layers = backbone, num_layers
        self.num_extra_tokens = backbone.num_extra_tokens

    def __call__(self, img, mask=None):
        return (averaged_tokens(self.backbone, img, self.num_layers), )


def install(num_layers):
    """Route the teacher's unmasked target through
    :class:`LayerAveragedTeacher` in ``ConMIM.patch_embeddings``; the
    student's call and direct teacher-backbone calls (evaluation) stay as
    they are."""
    from mmconmim.models.selfsup.conmim import ConMIM
    plain = ConMIM.patch_embeddings

    def patch_embeddings(self, backbone, projector, img, mask):
        if backbone is self.teacher_backbone and mask is None:
            backbone = LayerAveragedTeacher(backbone, num_layers)
        return plain(self, backbone, projector, img, mask)

    ConMIM.patch_embeddings = patch_embeddings


def main(argv=None):
    p = trial_parser(__doc__)
    p.add_argument('--target-layers', type=int, required=True, metavar='K',
                   help='average the last K blocks (1 = the driver)')
    a, rest = p.parse_known_args(argv)
    if a.target_layers < 1:
        raise SystemExit(f'--target-layers must be >= 1, got '
                         f'{a.target_layers}')
    install(a.target_layers)
    run_driver_trial(rest, dict(target_layers=a.target_layers))


if __name__ == '__main__':
    main()
