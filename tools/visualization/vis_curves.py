"""Plot the training loss and the kNN metrics of a run from its work_dir.

    python tools/visualization/vis_curves.py WORK_DIR [--out curves.png] \
        [--loss-keys loss] [--metric-prefix knn]

Reads mmengine's LocalVisBackend scalars, ``WORK_DIR/<timestamp>/vis_data/
scalars.json`` (every run in the work_dir, oldest first, so a resumed run
continues its curve; a later record of the same step replaces an earlier
one); WORK_DIR may also be one ``scalars.json`` file. The metrics are those
``KNNEvalHook`` logs (``knn/top1``, ``knn/top5``).

Layout: the loss panel and, when the log has kNN metrics, the kNN panel,
under a title naming the work_dir and the logged iterations;
each 6 x 4 inches at 100 dpi (600 x 400 pixels per panel, side by side).
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

PANEL_SIZE, DPI = (6, 4), 100


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='work_dir of a run, or a '
                        'scalars.json file')
    parser.add_argument('--out', help='output PNG (default: '
                        'WORK_DIR/curves.png)')
    parser.add_argument('--loss-keys', nargs='+', default=['loss'],
                        help='scalars for the loss panel')
    parser.add_argument('--metric-prefix', default='knn',
                        help='scalars named PREFIX/... go to the metric panel')
    return parser.parse_args()


def scalar_files(path: str):
    if osp.isfile(path):
        return [path]
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {path!r}: is it the work_dir '
            'of a run with the LocalVisBackend (the default visualizer)?')
    return files


def read_scalars(files):
    """{name: {step: value}} from mmengine scalars.json files."""
    series = defaultdict(dict)
    for path in files:
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f'{path}:{line_no} is not a JSON record')
                step = record.get('step', record.get('iter'))
                if step is None:
                    continue
                for key, value in record.items():
                    if key in ('step', 'iter', 'epoch') or not isinstance(
                            value, (int, float)):
                        continue
                    series[key][int(step)] = float(value)
    return series


def plot(series, loss_keys, metric_prefix, out, title=''):
    losses = [k for k in loss_keys if k in series]
    if not losses:
        raise KeyError(f'none of {loss_keys} in the log (it has: '
                       f'{sorted(series)[:12]})')
    metrics = sorted(k for k in series if k.startswith(metric_prefix + '/'))
    panels = 1 + bool(metrics)
    fig, axes = plt.subplots(1, panels, figsize=(PANEL_SIZE[0] * panels,
                                                 PANEL_SIZE[1]), squeeze=False)
    ax = axes[0][0]
    for key in losses:
        steps = sorted(series[key])
        ax.plot(steps, [series[key][s] for s in steps], label=key, lw=1)
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title('training loss')
    ax.legend()
    ax.grid(alpha=0.3)
    if metrics:
        ax = axes[0][1]
        for key in metrics:
            steps = sorted(series[key])
            ax.plot(steps, [series[key][s] for s in steps], marker='o',
                    label=key)
        ax.set_xlabel('iteration')
        ax.set_ylabel('accuracy (%)')
        ax.set_ylim(0, 100)
        ax.set_title(f'{metric_prefix} accuracy')
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    return losses, metrics


def main():
    args = parse_args()
    files = scalar_files(args.work_dir)
    out = args.out or osp.join(
        osp.dirname(args.work_dir) if osp.isfile(args.work_dir)
        else args.work_dir, 'curves.png')
    series = read_scalars(files)
    steps = sorted({s for values in series.values() for s in values})
    span = f'iterations {steps[0]}-{steps[-1]}' if steps else 'no steps'
    title = (f'{osp.abspath(args.work_dir)}: {len(files)} log(s), {span}')
    losses, metrics = plot(series, args.loss_keys, args.metric_prefix, out,
                           title)
    print(f'wrote {out} ({", ".join(losses + metrics)} from {len(files)} '
          'log(s))')


if __name__ == '__main__':
    main()
