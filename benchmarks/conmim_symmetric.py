"""Does a symmetric loss (each view is once the student's, once the
teacher's) make ConMIM's frozen features grow faster at small budgets? A
trial for issue 25 (docs/conmim_small_scale.md, section 21).

    OMP_NUM_THREADS=1 python benchmarks/conmim_symmetric.py DRIVER-ARGS...

ConMIM is asymmetric (paper Sec. 3.2): the student sees the weak view ``x_w``
with masked patches, the teacher the strong view ``x_s`` in full, and the
loss is ``L(g(f(x_w, m)), g_t(f_t(x_s)))`` (Eq. 3). BYOL and MoCo v3
symmetrise their losses: each view also plays the other part. Here::

    loss = ( L(g(f(x_w, m)), g_t(f_t(x_s)))
           + L(g(f(x_s, m)), g_t(f_t(x_w))) ) / 2

with the same mask ``m`` in both terms and ONE teacher update per
iteration (before both teacher passes, as in ``ConMIM.loss``). It costs two
student and two teacher passes per iteration, as many as the driver's run
of twice the iterations: the fair control is the adopted setting at 1500
iterations (section 10's records), not only at 750. The loss, the teacher
and every evaluation (kNN and probes on the teacher's last block) are the
driver's; ``symmetric_views`` joins the run's recorded args.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from benchmarks.common import run_driver_trial, trial_parser  # noqa: E402


def symmetric_loss(model, inputs, data_samples):
    """Both directions of ConMIM's Eq. 3, one teacher update."""
    weak_view, strong_view = inputs
    mask = torch.stack([sample.mask for sample in data_samples]).bool()
    model._check_inputs(weak_view, strong_view, mask)
    students = [model.patch_embeddings(model.backbone, model.neck, view, mask)
                for view in (weak_view, strong_view)]
    with torch.no_grad():
        model.update_teacher()
        teachers = [model.patch_embeddings(model.teacher_backbone,
                                           model.teacher_projector, view,
                                           None)
                    for view in (strong_view, weak_view)]
    flat_mask = mask.flatten(1)
    losses = [model.head.loss(s, t, flat_mask)
              for s, t in zip(students, teachers)]
    return dict(loss=(losses[0] + losses[1]) / 2)


def install():
    """Route ``ConMIM.loss`` through :func:`symmetric_loss` for models with
    ``symmetric_views = True``; other models keep the paper's loss."""
    from mmconmim.models.selfsup.conmim import ConMIM
    plain = ConMIM.loss

    def loss(self, inputs, data_samples, **kwargs):
        if getattr(self, 'symmetric_views', False):
            return symmetric_loss(self, inputs, data_samples)
        return plain(self, inputs, data_samples, **kwargs)

    ConMIM.loss = loss


def attach(model):
    model.symmetric_views = True
    return model


def main(argv=None):
    p = trial_parser(__doc__)
    _, rest = p.parse_known_args(argv)
    install()
    run_driver_trial(rest, dict(symmetric_views=True), attach)


if __name__ == '__main__':
    main()
