"""The comparison driver (``tools/compare_methods.py``;
docs/compare_methods.md).

Every method pre-trains the same backbone size on the same unlabelled
folder with the same budget (iterations, or wall-clock minutes of
training), each in its own process through the mmengine runner with its own
recipe (:mod:`.configs`); each exported backbone and each random-init row
(:mod:`.evaluate`) is then scored on a labelled folder.

Layout of a work dir::

    settings.json              what the comparison was started with
    report.md / .json / .png   the results
    seg_data/                  the dense task's mosaics (--dense)
    random_init[-seedS]/       backbone.pth, metrics.json
    random_init-<m>[-seedS]/   config.py, backbone.pth, metrics.json
    <m>[-seedS]/               config.py, pipeline.json, iter_*.pth,
                               <timestamp>/ (logs), pretrain.json,
                               backbone.pth, metrics.json,
                               finetune/, finetune.log, dense/, dense.log

A row whose ``backbone.pth`` and ``metrics.json`` exist is finished and
skipped on a re-run (a column it lacks, e.g. after adding ``--dense``, is
computed); one with a checkpoint but no backbone resumes from its last
checkpoint (mmengine ``resume``). A row whose recorded training pipeline
(``pipeline.json``; none before 2026-12-07) differs from the one the tool
builds now is named in a warning.
"""
import contextlib
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config

from .catalogue import (RANDOM_INIT, CompareError, finetune_family,
                        is_random, kind_of, method_of, own_init, skip_reason)
from . import dense, finetune
from .checks import (check_eval_data, check_numbers, check_seg_data,
                     check_settings_geometry, fingerprint, parse_lr)
from .configs import (backbone_cfg, eval_backbone_cfg, method_config,
                      write_config)
from .evaluate import (dense_column, evaluate_backbone, finetune_column,
                       plain_backbone_cfg, save_method_init,
                       save_plain_random)
from .pretrain import PRETRAIN_ENTRY
from .report import (cpu_model, init_points, knn_curve, plot_report,
                     write_report)
from .settings import LR_RULE, check_or_store_settings, vit_arch

# fine-tune / dense iterations per row: the modules' defaults, which keep
# the photo-regions run under 45 min on 2 cores (docs/compare_methods.md)
DEFAULT_FINETUNE_ITERS = finetune.DEFAULT_ITERS
DEFAULT_DENSE_ITERS = dense.DEFAULT_ITERS
# the dense task's mosaics: 2x2 and 3x3 crops of different classes (the
# 3x3 ones only with 9 classes or more)
MOSAIC_GRIDS = ((2, 2), (3, 3))


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def unit_dir(work_dir: str, name: str, seed: int) -> str:
    return osp.join(work_dir, name if seed == 0 else f'{name}-seed{seed}')


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _save_json(path, data):
    with open(path + '.tmp', 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(path + '.tmp', path)


def is_finished(run_dir: str) -> bool:
    return (osp.isfile(osp.join(run_dir, 'backbone.pth'))
            and osp.isfile(osp.join(run_dir, 'metrics.json')))


def estimate_remaining(done_times: Dict[bool, List[float]],
                       pending: List[str]) -> Optional[float]:
    """Seconds left for the ``pending`` rows: the mean time of the
    pre-trainings done so far for each pending method, the mean time of the
    random-init rows done so far for each pending random init; None while a
    pending kind has no measured row yet."""
    eta = 0.
    for random in (True, False):
        count = sum(is_random(name) == random for name in pending)
        if not count:
            continue
        times = done_times.get(random)
        if not times:
            return None
        eta += sum(times) / len(times) * count
    return eta


class MethodFailed(RuntimeError):
    """A pre-training process exited with an error."""


def _pretrain_subprocess(config: str, result: str, run_dir: str, log,
                         tag: str) -> None:
    if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        with open(osp.join(run_dir, 'last_checkpoint')) as f:
            log(f'{tag}: resuming from {f.read().strip()}')
    log_file = osp.join(run_dir, 'pretrain.log')
    env = dict(os.environ)
    pkg_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env['PYTHONPATH'] = pkg_root + os.pathsep + env.get('PYTHONPATH', '')
    with open(log_file, 'a') as f:
        proc = subprocess.run(
            [sys.executable, '-c', PRETRAIN_ENTRY, config, result],
            stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        with open(log_file) as f:
            log(f.read()[-3000:])
        raise MethodFailed(f'pre-training exited with {proc.returncode}; '
                           f'log: {log_file}')


def run_method(name: str, seed: int, settings: dict, run_dir: str, log,
               tag: str) -> dict:
    """Pre-train one method (or resume it), evaluate its export."""
    config = osp.join(run_dir, 'config.py')
    result = osp.join(run_dir, 'pretrain.json')
    if not osp.isfile(osp.join(run_dir, 'backbone.pth')) or \
            not osp.isfile(result):
        begins = not osp.isfile(config)
        cfg = method_config(name, settings, run_dir, seed)
        write_config(cfg, config)
        if begins:  # a resumed row keeps the record it was begun with
            _save_json(osp.join(run_dir, PIPELINE_FILE),
                       _pipeline_record(cfg))
        _pretrain_subprocess(config, result, run_dir, log, tag)
    pre = _load_json(result)
    backbone = eval_backbone_cfg(backbone_cfg(config), settings['arch'])
    metrics = evaluate_backbone(
        osp.join(run_dir, 'backbone.pth'), backbone,
        settings['eval_data']['path'], settings['img_size'],
        settings['knn_k'])
    metrics.update({k: pre[k] for k in (
        'iterations', 'train_seconds', 'images_per_second', 'peak_rss_mb',
        'peak_cuda_mb', 'final_loss', 'stopped_by', 'network')})
    metrics.update(
        peak_memory_mb=pre['peak_cuda_mb'] or pre['peak_rss_mb'],
        lr=Config.fromfile(config).optim_wrapper.optimizer.lr,
        backbone_cfg=backbone)
    return metrics


def run_random(name: str, seed: int, settings: dict, run_dir: str) -> dict:
    """Build, save and evaluate a random-init row."""
    if name == RANDOM_INIT:
        backbone = plain_backbone_cfg(settings)
        save_plain_random(backbone, seed, osp.join(run_dir, 'backbone.pth'))
    else:
        backbone = save_method_init(method_of(name), settings, seed, run_dir)
    metrics = evaluate_backbone(
        osp.join(run_dir, 'backbone.pth'), backbone,
        settings['eval_data']['path'], settings['img_size'],
        settings['knn_k'])
    metrics.update(iterations=0, backbone_cfg=backbone)
    return metrics


# the training pipeline a pre-training row was begun with (plain JSON, so a
# re-run compares it without executing the row's config.py)
PIPELINE_FILE = 'pipeline.json'


def _pipeline_record(cfg: Config) -> list:
    return json.loads(json.dumps(cfg.train_dataloader.dataset.pipeline))


def warn_if_pipeline_changed(name: str, seed: int, settings: dict,
                             run_dir: str, log, tag: str) -> bool:
    """Say so when a row was begun by another version of the tool whose
    training pipeline differs from the one built now (the blur's sigma
    follows the crop since 2026-12-07): a finished row keeps its scores,
    an interrupted one would continue with today's pipeline; neither is
    mixed in silently."""
    if is_random(name) or not osp.isfile(osp.join(run_dir, 'config.py')):
        return False
    record = osp.join(run_dir, PIPELINE_FILE)
    if not osp.isfile(record):
        why = (f'{run_dir} has no {PIPELINE_FILE}: it was begun before the '
               'tool recorded its training pipeline (2026-12-07), when a '
               "recipe's blur was not yet scaled to the crop")
    elif _load_json(record) != _pipeline_record(
            method_config(name, settings, run_dir, seed)):
        why = (f'{record}: the row was begun with another training '
               'pipeline than this version of the tool builds')
    else:
        return False
    log(f'{tag}: WARNING: {why}; a finished row keeps what it was trained '
        'with, an interrupted one continues with the current pipeline. '
        f'Delete {run_dir} to train the row again from the start.')
    return True


COLUMN_DIRS = ('finetune', 'dense')


def _drop_stale_columns(run_dir: str, log, tag: str) -> None:
    """Remove the fine-tune / dense runs of an earlier attempt at a row
    that is computed again: they belong to a backbone that is replaced."""
    import shutil
    for sub in COLUMN_DIRS:
        path = osp.join(run_dir, sub)
        if osp.isdir(path):
            log(f'{tag}: removing {path} (the {sub} run of the backbone '
                'this row replaces)')
            shutil.rmtree(path)
        if osp.isfile(path + '.log'):
            os.remove(path + '.log')


def compute_row(name: str, seed: int, settings: dict, run_dir: str, log,
                tag: str) -> dict:
    """Pre-train (or initialise) and evaluate a row that is not finished;
    its frozen-feature metrics are saved before any optional column."""
    _drop_stale_columns(run_dir, log, tag)
    if is_random(name):
        metrics = run_random(name, seed, settings, run_dir)
    else:
        metrics = run_method(name, seed, settings, run_dir, log, tag)
    _save_json(osp.join(run_dir, 'metrics.json'), metrics)
    return metrics


def missing_columns(metrics: dict, settings: dict) -> List[str]:
    """The optional columns asked for that ``metrics`` lacks."""
    wanted = []
    if settings['finetune_iters']:
        wanted.append('finetune')
    if settings['dense']:
        wanted.append('dense')
    keys = dict(finetune='finetune_top1', dense='dense_linear_miou')
    return [c for c in wanted if keys[c] not in metrics]


class _AppendingLog:
    """A stream that appends every write to a file: the runners of the
    fine-tune and dense columns log there instead of between the progress
    lines (a logger they leave behind keeps writing to it, never to a
    closed file)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, text: str) -> int:
        with open(self.path, 'a') as f:
            return f.write(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def add_columns(name: str, seed: int, metrics: dict, settings: dict,
                run_dir: str, columns: List[str], seg_data: str) -> None:
    """Fine-tune / dense-transfer the row's backbone (their runners' output
    in ``run_dir/<column>.log``); ``metrics`` updated and saved after each
    column."""
    backbone_file = osp.join(run_dir, 'backbone.pth')
    for column in columns:
        out = _AppendingLog(osp.join(run_dir, f'{column}.log'))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if column == 'finetune':
                metrics.update(finetune_column(
                    backbone_file, metrics['backbone_cfg'], settings,
                    finetune_family(name, settings['arch']), seed,
                    osp.join(run_dir, COLUMN_DIRS[0])))
            else:
                metrics.update(dense_column(
                    backbone_file, metrics['backbone_cfg'], settings,
                    seg_data, seed, osp.join(run_dir, COLUMN_DIRS[1])))
        _save_json(osp.join(run_dir, 'metrics.json'), metrics)


def _check_dense_options(dense: bool, dense_iters, seg_data, eval_data: str,
                         classes: int):
    """The dense column's options; returns the fingerprint of --seg-data
    (None: mosaics of the eval crops)."""
    for option, value in (('--seg-data', seg_data),
                          ('--dense-iters', dense_iters)):
        if value is not None and not dense:
            raise CompareError(f'{option} is given without --dense; add '
                               f'--dense (the dense column) or drop {option}')
    if dense and not seg_data and classes < 4:
        raise CompareError(
            f'--dense: {eval_data!r} has {classes} classes; the '
            'segmentation mosaics need at least 4 (a 2x2 grid of crops of '
            'different classes). Give your own mmseg dataset with --seg-data '
            'or drop --dense')
    return fingerprint(check_seg_data(seg_data)) if seg_data else None


def prepare_settings(pretrain_data: str, eval_data: str, arch: str,
                     img_size: int, patch_size: int, iters, minutes,
                     seeds: int, batch_size: int, lr, knn_k: int,
                     knn_interval, checkpoint_interval, width, depth, heads,
                     num_workers: int, finetune_iters: int, dense: bool,
                     dense_iters, seg_data) -> dict:
    """Check every input (nothing is written before) and return the
    settings of the comparison."""
    check_numbers(iters, minutes, seeds, batch_size, knn_k, finetune_iters,
                  num_workers, knn_interval, checkpoint_interval,
                  dict(width=width, depth=depth, heads=heads,
                       **{'dense-iters': dense_iters}))
    lr = parse_lr(lr)
    check_settings_geometry(arch, img_size, patch_size)
    if not osp.isdir(pretrain_data):
        raise CompareError(f'--pretrain-data {pretrain_data!r} is not a '
                           'folder; give a folder of images (any layout, '
                           'searched recursively; labels are not used)')
    counts = check_eval_data(eval_data, knn_k)
    pre = fingerprint(pretrain_data)
    if pre['images'] < batch_size:
        raise CompareError(
            f'--pretrain-data {pretrain_data!r} has {pre["images"]} images, '
            f'fewer than one batch ({batch_size}); add images or lower '
            '--batch-size')
    seg = _check_dense_options(dense, dense_iters, seg_data, eval_data,
                               len(counts['train']))
    ev = fingerprint(eval_data)
    ev.update(train_images=sum(counts['train'].values()),
              val_images=sum(counts['val'].values()),
              classes=len(counts['train']))
    if checkpoint_interval is None:
        checkpoint_interval = max(1, iters // 5) if iters else 100
    if knn_interval is None:
        knn_interval = max(1, iters // 5) if iters else 200
    settings = dict(
        arch=arch, width=width, depth=depth, heads=heads,
        img_size=img_size, patch_size=patch_size, iters=iters,
        minutes=minutes, batch_size=batch_size, lr=lr, lr_rule=LR_RULE,
        knn_k=knn_k, knn_interval=knn_interval,
        checkpoint_interval=checkpoint_interval, pretrain_data=pre,
        eval_data=ev, seeds=seeds, num_workers=num_workers,
        finetune_iters=finetune_iters, dense=bool(dense),
        dense_iters=(dense_iters or DEFAULT_DENSE_ITERS) if dense else None,
        seg_data=seg)
    if kind_of(arch) == 'vit':
        try:
            vit_arch(settings)
        except CompareError as exc:
            raise CompareError(f'--width/--heads: {exc}') from None
    return settings


def _environment() -> dict:
    return dict(cpu=cpu_model(), threads=torch.get_num_threads(),
                device=(torch.cuda.get_device_name(0)
                        if torch.cuda.is_available() else 'no GPU'),
                torch=torch.__version__, python=platform.python_version())


def _seg_data(settings: dict, work_dir: str, log) -> Optional[str]:
    """The dense task's dataset: ``--seg-data`` or the eval folder's
    mosaics, written once into the work dir."""
    if not settings['dense']:
        return None
    if settings['seg_data']:
        return settings['seg_data']['path']
    out = osp.join(work_dir, 'seg_data')
    if not osp.isfile(osp.join(out, 'meta.json')):
        log(f'dense: writing the segmentation mosaics to {out}')
        classes = settings['eval_data']['classes']
        from .dense import prepare_seg_data
        prepare_seg_data(
            settings['eval_data']['path'], out, seed=0,
            grids=tuple(g for g in MOSAIC_GRIDS if g[0] * g[1] <= classes))
    return out


def compare(pretrain_data: str, eval_data: str, methods: List[str],
            arch: str = 'vit-tiny', img_size: int = 64, patch_size: int = 8,
            iters: Optional[int] = None, minutes: Optional[float] = None,
            seeds: int = 1, batch_size: int = 32, lr='auto',
            work_dir: str = 'work_dirs/compare',
            knn_interval: Optional[int] = None, knn_k: int = 20,
            checkpoint_interval: Optional[int] = None,
            width: Optional[int] = None, depth: Optional[int] = None,
            heads: Optional[int] = None, num_workers: int = 2,
            finetune_iters: int = DEFAULT_FINETUNE_ITERS,
            dense: bool = False, dense_iters: Optional[int] = None,
            seg_data: Optional[str] = None, log=print) -> dict:
    """Run (or continue) a comparison; returns the report dict. See the
    module docstring and docs/compare_methods.md."""
    settings = prepare_settings(
        pretrain_data, eval_data, arch, img_size, patch_size, iters,
        minutes, seeds, batch_size, lr, knn_k, knn_interval,
        checkpoint_interval, width, depth, heads, num_workers,
        finetune_iters, dense, dense_iters, seg_data)
    work_dir = osp.abspath(work_dir)
    check_or_store_settings(work_dir, settings)
    from mmconmim.evaluation.loading import quiet_logger
    quiet_logger()  # no weight-initialisation messages between the lines
    seg = _seg_data(settings, work_dir, log)
    skipped = {m: skip_reason(m, arch) for m in methods
               if skip_reason(m, arch)}
    runnable = [m for m in methods if m not in skipped]
    seed_list = range(seeds)
    units = [(RANDOM_INIT, s) for s in seed_list] + \
        [(own_init(m), s) for m in runnable for s in seed_list] + \
        [(m, s) for m in runnable for s in seed_list]
    results, failed, curves = {}, {}, {}
    t_start = time.time()
    done_times = {}  # {is a random-init row: [seconds of each row done]}
    for index, (name, seed) in enumerate(units):
        run_dir = unit_dir(work_dir, name, seed)
        label = name if seed == 0 else f'{name}-seed{seed}'
        tag = f'[{index + 1}/{len(units)}] {name}' + (
            f' seed {seed}' if seeds > 1 else '')
        os.makedirs(run_dir, exist_ok=True)
        warn_if_pipeline_changed(name, seed, settings, run_dir, log, tag)
        finished = is_finished(run_dir)
        if not finished:
            pending = [u[0] for u in units[index:]]
            eta = estimate_remaining(done_times, pending)
            if eta is not None:
                eta_txt = _hms(eta)
            elif minutes:
                eta_txt = '~' + _hms(sum(not is_random(u) for u in pending)
                                     * minutes * 60)
            else:
                eta_txt = 'unknown until the first method finishes'
            log(f'{tag}: start (elapsed {_hms(time.time() - t_start)}, '
                f'estimated remaining {eta_txt})')
        t0 = time.time()
        try:
            if finished:
                metrics = _load_json(osp.join(run_dir, 'metrics.json'))
            else:
                metrics = compute_row(name, seed, settings, run_dir, log, tag)
            columns = missing_columns(metrics, settings)
            if finished:
                log(f'{tag}: finished earlier, ' + (
                    f'adding {", ".join(columns)}' if columns else
                    'skipped') + f' ({run_dir})')
            add_columns(name, seed, metrics, settings, run_dir, columns, seg)
        except MethodFailed as exc:
            failed[label] = str(exc)
            log(f'{tag}: FAILED ({exc})')
            continue
        results.setdefault(name, []).append(metrics)
        if not is_random(name):
            curve = knn_curve(run_dir)
            # the final backbone's kNN (the hook's last point when it ran)
            curve.setdefault(int(metrics['iterations']), metrics['knn_top1'])
            curves[label] = curve
        if finished and not columns:
            continue
        done_times.setdefault(is_random(name), []).append(time.time() - t0)
        eta = estimate_remaining(done_times, [u[0] for u in units[index + 1:]])
        extra = ''.join(f', {title} {metrics[k]:.1f}' for k, title in (
            ('finetune_top1', 'fine-tune'), ('dense_linear_miou',
                                             'dense linear mIoU'),
            ('dense_finetune_miou', 'dense fine-tune mIoU'))
            if metrics.get(k) is not None)
        log(f'{tag}: done in {_hms(time.time() - t0)}: kNN top-1 '
            f'{metrics["knn_top1"]:.1f}, linear {metrics["linear_top1"]:.1f}'
            f'{extra} (elapsed {_hms(time.time() - t_start)}, estimated '
            f'remaining {"unknown" if eta is None else _hms(eta)})')
    report = write_report(work_dir, settings, results, skipped, failed,
                          _environment())
    plot_report(settings, curves, init_points(results),
                osp.join(work_dir, 'report.png'))
    log(f'report: {osp.join(work_dir, "report.md")} (and report.json, '
        f'report.png); total {_hms(time.time() - t_start)}')
    return report
