"""The comparison's report: ``report.json`` (every seed), ``report.md``
(mean +- std over seeds in every column, each method's gain over its own
random initialisation) and ``report.png`` (kNN curves)."""
import json
import math
import os
import os.path as osp
import platform
import subprocess
from typing import Dict, List, Optional

from .catalogue import RANDOM_INIT, is_random, kind_of, method_label, own_init
from .settings import LR_RULE, vit_arch

# (metrics key, column title); a column nobody measured is left out
SCORES = (
    ('knn_top1', 'kNN top-1 (patch mean)'),
    ('knn_cls_top1', 'kNN top-1 (CLS)'),
    ('knn_top5', 'kNN top-5 (patch mean)'),
    ('linear_top1', 'linear top-1'),
    ('finetune_top1', 'finetune top-1'),
    ('dense_linear_miou', 'dense linear mIoU'),
    ('dense_finetune_miou', 'dense fine-tune mIoU'),
)
COSTS = (
    ('lr', 'peak lr', '.2e'),
    ('train_seconds', 'pretrain time (s)', '.1f'),
    ('images_per_second', 'img/s', '.1f'),
    ('peak_memory_mb', 'peak memory (MB)', '.0f'),
    ('final_loss', 'final loss', '.3f'),
    ('iterations', 'iterations', '.0f'),
)


def cpu_model() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            if line.startswith('Model name:'):
                return line.split(':', 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def knn_curve(run_dir: str) -> Dict[int, float]:
    """{iteration: kNN top-1} that KNNEvalHook logged in ``run_dir`` (all
    runs of the dir, a later record of a step replacing an earlier one)."""
    curve = {}
    for ts in sorted(os.listdir(run_dir)) if osp.isdir(run_dir) else []:
        path = osp.join(run_dir, ts, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                if 'knn/top1' in record and 'step' in record:
                    curve[int(record['step'])] = float(record['knn/top1'])
    return curve


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not (
        isinstance(value, float) and math.isnan(value))


def mean_std(values: List) -> Optional[dict]:
    """{'mean', 'std' (sample, None for one value), 'n'} of the numbers in
    ``values``; None when there are none."""
    values = [float(v) for v in values if _number(v)]
    if not values:
        return None
    mean = sum(values) / len(values)
    std = None if len(values) < 2 else math.sqrt(
        sum((v - mean)**2 for v in values) / (len(values) - 1))
    return dict(mean=mean, std=std, n=len(values))


def summarise(rows: List[dict]) -> dict:
    """Mean +- std over seeds of one row's per-seed metrics."""
    keys = [k for k, _ in SCORES] + [k for k, _, _ in COSTS]
    out = {k: mean_std([r.get(k) for r in rows]) for k in keys}
    out['seeds'] = len(rows)
    return out


def gains(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Each method's gain over its own random init, per score, paired by
    seed (seed s of the method minus seed s of its init), mean +- std."""
    out = {}
    for name, rows in results.items():
        init = results.get(own_init(name)) if not is_random(name) else None
        if not init:
            continue
        out[name] = {}
        for key, _ in SCORES:
            diffs = [a.get(key) - b.get(key) for a, b in zip(rows, init)
                     if _number(a.get(key)) and _number(b.get(key))]
            out[name][key] = mean_std(diffs)
    return out


def fmt(stat: Optional[dict], spec: str = '.1f', sign: bool = False) -> str:
    if stat is None:
        return '-'
    text = format(stat['mean'], ('+' if sign else '') + spec)
    if stat['std'] is not None:
        text += ' ± ' + format(stat['std'], spec)
    return text


def _measured(summary: dict, keys) -> list:
    return [k for k in keys if any(s.get(k[0]) for s in summary.values())]


def _table(summary: dict, results: dict, arch: str) -> List[str]:
    scores = _measured(summary, SCORES)
    costs = _measured(summary, COSTS)
    head = ['row'] + [t for _, t in scores] + [t for _, t, _ in costs]
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for name in results:
        s = summary[name]
        cells = [f'`{name}` {method_label(name, arch)}']
        cells += [fmt(s[k]) for k, _ in scores]
        cells += [fmt(s[k], spec) for k, _, spec in costs]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def _gain_table(summary: dict, gain: dict) -> List[str]:
    scores = _measured(summary, SCORES)
    lines = ['| method | own init | ' + ' | '.join(
        f'Δ {t}' for _, t in scores) + ' |', '|' + '---|' * (
            len(scores) + 2)]
    for name, per_key in gain.items():
        lines.append(f'| `{name}` | `{own_init(name)}` | ' + ' | '.join(
            fmt(per_key[k], sign=True) for k, _ in scores) + ' |')
    return lines


def _lr_text(settings: dict) -> str:
    if settings['lr'] == 'auto':
        return (f'lr auto (each method\'s published lr x ('
                f'{settings["batch_size"]}'
                f' / its published batch)^{0.5 if LR_RULE == "sqrt" else 1})')
    return f'lr {settings["lr"]} for every method'


def describe_arch(settings: dict) -> str:
    if kind_of(settings['arch']) != 'vit':
        return settings['arch']
    dims = vit_arch(settings)
    return (f'{settings["arch"]} (width {dims["embed_dims"]}, depth '
            f'{dims["num_layers"]}, heads {dims["num_heads"]})')


def budget_text(settings: dict) -> str:
    return (f'{settings["iters"]} iterations' if settings['iters'] else
            f'{settings["minutes"]} minutes of training per method')


def _header(settings: dict, env: dict) -> List[str]:
    pre, ev = settings['pretrain_data'], settings['eval_data']
    data_name = osp.basename(ev['path'].rstrip('/'))
    finetune = (f'{settings["finetune_iters"]} iterations of end-to-end '
                'fine-tuning per row (each method family\'s recipe, scaled '
                'down), top-1 on val' if settings['finetune_iters']
                else 'no fine-tuning (--finetune-iters 0)')
    dense = ('dense transfer: ' + (settings['seg_data'] or 'mosaics of the '
                                   'eval crops (mmseg layout)')
             if settings['dense'] else 'no dense transfer (--dense off)')
    return [
        f'# Method comparison: {data_name}, {settings["arch"]}, '
        f'{budget_text(settings)}', '',
        f'* pretrain data: `{pre["path"]}` ({pre["images"]} images)',
        f'* eval data: `{ev["path"]}` ({ev["train_images"]} train / '
        f'{ev["val_images"]} val images, {ev["classes"]} classes)',
        f'* backbone: {describe_arch(settings)}, {settings["img_size"]} px'
        + (f', {settings["patch_size"]} px patches'
           if kind_of(settings['arch']) == 'vit' else ''),
        f'* budget: {budget_text(settings)}, batch {settings["batch_size"]},'
        f' {_lr_text(settings)}, seeds {settings["seeds"]}',
        f'* machine: {env["cpu"]}, {env["threads"]} threads, '
        f'{env["device"]}; torch {env["torch"]}',
        f'* frozen features: weighted kNN (k={settings["knn_k"]}, T=0.07, '
        'cosine) on the mean of the last layer\'s patch tokens and on its '
        'CLS token (ResNets: global average pool), linear probe (L-BFGS '
        'logistic regression, wd 1e-2) on the patch mean; ConMIM: the '
        'momentum teacher',
        f'* {finetune}; {dense}', '']


def _notes(settings: dict, skipped: dict, failed: dict) -> List[str]:
    lines = []
    for title, entries in (('Not run:', skipped),
                           ('Failed (see the log):', failed)):
        if entries:
            lines += [title, ''] + [f'* `{m}`: {why}'
                                    for m, why in entries.items()] + ['']
    plural = ' (mean ± sample std over seeds)' if settings['seeds'] > 1 \
        else ''
    lines += [
        f'Scores in %{plural}. Pretrain time counts data loading, forward, '
        'backward and the optimizer step; not the kNN evaluations, logging '
        'and checkpoints. Peak memory: CUDA max allocated on a GPU, else '
        'the training process\'s peak RSS (dataloader workers not '
        'included). Gains are paired by seed: seed s of a method minus seed '
        's of its own random init. kNN curve: `report.png`.', '']
    return lines


def write_report(work_dir: str, settings: dict, results: dict,
                 skipped: dict, failed: dict, env: dict) -> dict:
    """Write report.json and report.md; returns the report dict."""
    summary = {name: summarise(rows) for name, rows in results.items()}
    gain = gains(results)
    report = dict(settings=settings, environment=env,
                  budget=budget_text(settings), lr_rule=LR_RULE,
                  methods={name: dict(label=method_label(
                      name, settings['arch']), mean=summary[name],
                      per_seed=results[name]) for name in results},
                  gains=gain, skipped=skipped, failed=failed)
    _atomic_text(osp.join(work_dir, 'report.json'),
                 json.dumps(report, indent=2))
    lines = _header(settings, env) + _table(summary, results,
                                            settings['arch'])
    if gain:
        lines += ['', '**Gain over each method\'s own random init** '
                  '(points; the init row is the method\'s backbone variant '
                  'with its initialisation, untrained):', '']
        lines += _gain_table(summary, gain)
    lines += [''] + _notes(settings, skipped, failed)
    _atomic_text(osp.join(work_dir, 'report.md'), '\n'.join(lines))
    return report


def _atomic_text(path: str, text: str) -> None:
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def plot_report(settings: dict, curves: Dict[str, dict],
                inits: Dict[str, float], out: str) -> None:
    """kNN top-1 (patch mean) vs pre-training iteration per method run;
    each method's own random init is its curve's point at iteration 0,
    the plain random ViT a dashed line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for name, curve in curves.items():
        if curve:
            steps = sorted(curve)
            ax.plot(steps, [curve[s] for s in steps], marker='o', lw=1.2,
                    label=name)
    if RANDOM_INIT in inits:
        ax.axhline(inits[RANDOM_INIT], color='gray', ls='--', lw=1,
                   label='random init, plain ViT' if kind_of(
                       settings['arch']) == 'vit' else 'random init')
    ax.set_xlabel('pre-training iteration')
    ax.set_ylabel(f'kNN top-1 (%), patch mean, k={settings["knn_k"]}')
    data_name = osp.basename(settings['eval_data']['path'].rstrip('/'))
    ax.set_title(f'kNN top-1 on {data_name}: {describe_arch(settings)}, '
                 f'{settings["img_size"]} px, {budget_text(settings)}',
                 fontsize=9)
    ax.grid(alpha=0.3)
    if any(curves.values()):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def init_points(results: Dict[str, List[dict]]) -> Dict[str, float]:
    """{row: mean kNN top-1} of the random-init rows."""
    return {name: summarise(rows)['knn_top1']['mean']
            for name, rows in results.items()
            if is_random(name) and summarise(rows)['knn_top1']}


__all__ = ['SCORES', 'COSTS', 'write_report', 'plot_report', 'knn_curve',
           'summarise', 'gains', 'mean_std', 'cpu_model', 'init_points']
