"""Issue 25, section 17: the compare tool's ConMIM runs scored again from
their last checkpoint, the EMA teacher (what the tool exports, as the paper
fine-tunes from) and the student side by side.

For every ConMIM run dir of the given compare work dirs (a ``conmim*`` row
with an ``iter_N.pth``), both networks are exported from the newest
checkpoint by ``tools/model_converters/export_backbone.py`` (with and
without ``--student``) and scored by the tool's own frozen evaluation
(:func:`mmconmim.compare.evaluate.evaluate_backbone`: kNN top-1 on the patch
mean and the linear probe). The teacher's scores must repeat the run's
``metrics.json`` (the check that the scoring is the tool's); the student's
are new. Nothing is trained; the work dirs are only read.

    python benchmarks/conmim_student_export.py work_dirs/cmp16_pr \
        work_dirs/cmp16_h32 --out student_export.json
"""
import argparse
import functools
import glob
import json
import os
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common import REPO_ROOT, benchmark_parser  # noqa: E402

TOLERANCE = 1e-6  # the teacher's scores against the run's metrics.json


def parse_args(argv=None):
    p = benchmark_parser(__doc__)
    p.add_argument('work_dirs', nargs='+', help='compare tool work dirs')
    p.add_argument('--out', help='JSON with one entry per run')
    return p.parse_args(argv)


def conmim_runs(work_dir: str) -> list:
    """The ConMIM run dirs of a compare work dir that kept a checkpoint."""
    runs = []
    for run in sorted(glob.glob(osp.join(work_dir, 'conmim*'))):
        if osp.isfile(osp.join(run, 'last_checkpoint')) and \
                osp.isfile(osp.join(run, 'metrics.json')):
            runs.append(run)
    return runs


def newest_checkpoint(run: str) -> str:
    with open(osp.join(run, 'last_checkpoint')) as f:
        path = f.read().strip()
    # the tool may have been run from another checkout: keep the file name
    return osp.join(run, osp.basename(path))


@functools.lru_cache(maxsize=None)
def export_tool():
    """``tools/model_converters/export_backbone.py``, loaded once from its
    file (it is a script, not a package module)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('export_backbone', osp.join(
        REPO_ROOT, 'tools', 'model_converters', 'export_backbone.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def export(checkpoint: str, out: str, student: bool) -> None:
    """``export_backbone.py`` on ``checkpoint`` (the teacher, or the
    student with ``student=True``)."""
    export_tool().export(argparse.Namespace(
        checkpoint=checkpoint, out=out, student=student, no_prefix=False,
        force=True))


def score_run(run: str, settings: dict) -> dict:
    """Teacher and student scores of one run; raises if the teacher's do
    not repeat the run's metrics.json."""
    from mmconmim.compare.configs import backbone_cfg, eval_backbone_cfg
    from mmconmim.compare.evaluate import evaluate_backbone
    with open(osp.join(run, 'metrics.json')) as f:
        recorded = json.load(f)
    backbone = eval_backbone_cfg(backbone_cfg(osp.join(run, 'config.py')),
                                 settings['arch'])
    checkpoint = newest_checkpoint(run)
    out = dict(run=run, checkpoint=osp.basename(checkpoint))
    with tempfile.TemporaryDirectory() as tmp:
        for network in ('teacher', 'student'):
            file = osp.join(tmp, network + '.pth')
            export(checkpoint, file, network == 'student')
            scores = evaluate_backbone(file, backbone,
                                       settings['eval_data']['path'],
                                       settings['img_size'],
                                       settings['knn_k'])
            out[network] = {k: scores[k] for k in (
                'knn_top1', 'knn_cls_top1', 'linear_top1')}
    for key in ('knn_top1', 'linear_top1'):
        if abs(out['teacher'][key] - recorded[key]) > TOLERANCE:
            raise RuntimeError(
                f'{run}: the teacher scored {out["teacher"][key]:.4f} '
                f'{key} here and {recorded[key]:.4f} in metrics.json: this '
                'is not the run the tool scored (checkpoint or data '
                'changed); nothing is reported for it')
    return out


def main(argv=None):
    a = parse_args(argv)
    results = []
    for work_dir in a.work_dirs:
        with open(osp.join(work_dir, 'settings.json')) as f:
            settings = json.load(f)
        runs = conmim_runs(work_dir)
        if not runs:
            raise SystemExit(f'{work_dir}: no conmim* run dir with a '
                             'last_checkpoint and a metrics.json')
        for i, run in enumerate(runs):
            r = score_run(run, settings)
            results.append(r)
            t, s = r['teacher'], r['student']
            print(f"[{i + 1}/{len(runs)}] {run} ({r['checkpoint']}): kNN "
                  f"teacher {t['knn_top1']:.1f} student {s['knn_top1']:.1f}"
                  f" | linear teacher {t['linear_top1']:.1f} student "
                  f"{s['linear_top1']:.1f}", flush=True)
    if a.out:
        os.makedirs(osp.dirname(osp.abspath(a.out)), exist_ok=True)
        with open(a.out, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
