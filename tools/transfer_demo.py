"""The transfer demo: the ConMIM demo checkpoint into mmsegmentation and
mmdetection, on CPU, compared with a random init of the same backbone.

    python tools/transfer_demo.py [--checkpoint CKPT] \\
        [--work-dir work_dirs/conmim_demo_transfer] [--iters N] [--jobs 2]

``bash tools/run_demo.sh transfer [args]`` runs it after the bootstrap (and
runs the pre-training demo first when there is no demo checkpoint yet).

1. exports the demo checkpoint's teacher (tools/model_converters/
   export_backbone.py) -> WORK/backbone.pth;
2. cuts labelled crops from data/demo/images (benchmarks/photo_regions.py:
   class = photo, train and val from different quadrants of each photo) and
   tiles them into mosaics (mmconmim/datasets/dense_mosaics.py): mmseg masks
   and COCO boxes + polygons, one instance per tile -> WORK/mosaics;
3. fine-tunes UperNet (configs/demo/upernet_conmim-demo_*.py) with
   mmsegmentation's own train script and Mask R-CNN (configs/demo/
   mask-rcnn_conmim-demo_*.py) with mmdetection's, through openmim as
   tools/benchmarks/mm{segmentation,detection}/dist_train.sh run them
   (``mim train mmseg|mmdet CONFIG --launcher none -G 0``): once from the
   export (through that wrapper), once from a random init of the same
   backbone (``model.backbone.init_cfg=None``). The two runs of a task train
   side by side, one thread each (``--jobs 1``: one after the other);
4. prints the table (mIoU; box and mask AP on the val mosaics), writes it to
   WORK/results.{md,json}, and draws both runs' predictions on val mosaics,
   one PNG per task, named with the backbone checkpoint and the iteration.

Progress: a line per step with the elapsed time and the ETA, and the runs'
iterations every few seconds. Logs: WORK/<run>.log.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    seg='configs/demo/upernet_conmim-demo_1xb8-200iters_photo-mosaics-64x64.py',  # noqa: E501
    det='configs/demo/mask-rcnn_conmim-demo_fpn_1xb8-200iters_photo-mosaics-64x64.py')  # noqa: E501
PACKAGES = dict(seg='mmseg', det='mmdet')
WRAPPERS = dict(seg='mmsegmentation', det='mmdetection')
TASK_NAMES = dict(seg='UperNet (mmseg)', det='Mask R-CNN (mmdet)')
METRICS = dict(seg=('mIoU', ), det=('coco/bbox_mAP', 'coco/segm_mAP'))
INITS = ('pretrained', 'random')
# rough seconds of each step on 2 idle cores, only for the first ETA
PRIOR_SECONDS = dict(prepare=30, seg=90, det=150, pictures=30)
ITER_LINE = re.compile(r'Iter\(train\) \[\s*(\d+)/(\d+)\]')


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60}:{seconds % 60:02d}'


class Progress:
    """Step lines with the elapsed time and an ETA: the prior step times,
    scaled by how the finished steps compared with them, and within a
    running step the iterations done so far."""

    def __init__(self, steps):
        self.steps, self.done, self.start = list(steps), [], time.time()
        self.step_start = self.start

    def _rate(self) -> float:
        done_prior = sum(PRIOR_SECONDS[s] for s in self.done)
        spent = self.step_start - self.start
        return spent / done_prior if done_prior else 1.0

    def eta(self, fraction: float = 0.0) -> float:
        """Seconds left; ``fraction`` of the current step is done."""
        later = sum(PRIOR_SECONDS[s] for s in self.steps[len(self.done) + 1:])
        in_step = time.time() - self.step_start
        if fraction > 0.05:
            step_left = in_step * (1 - fraction) / fraction
        else:
            step_left = max(PRIOR_SECONDS[self.current] * self._rate() -
                            in_step, 0)
        return step_left + later * self._rate()

    def begin(self, step: str, what: str) -> None:
        self.current, self.step_start = step, time.time()
        print(f'[{len(self.done) + 1}/{len(self.steps)}] {what} -- elapsed '
              f'{_clock(time.time() - self.start)}, ETA '
              f'{_clock(self.eta())}', flush=True)

    def end(self) -> None:
        self.done.append(self.current)

    def total(self) -> float:
        return time.time() - self.start


def find_demo_checkpoint() -> str:
    """The newest checkpoint named by ``work_dirs/conmim_demo*/
    last_checkpoint``, or an error saying how to make one."""
    found = []
    for pointer in glob.glob(osp.join(REPO, 'work_dirs', 'conmim_demo*',
                                      'last_checkpoint')):
        with open(pointer) as f:
            path = f.read().strip()
        path = path if osp.isabs(path) else osp.join(REPO, path)
        if osp.isfile(path):
            found.append(path)
    if not found:
        raise SystemExit(
            'error: no ConMIM demo checkpoint (work_dirs/conmim_demo*/'
            'last_checkpoint). Make one with `bash tools/run_demo.sh` (a '
            'few minutes on CPU), or run `bash tools/run_demo.sh transfer`, '
            'which does that first; or pass --checkpoint.')
    return max(found, key=osp.getmtime)


def run_quiet(cmd, log_path: str) -> None:
    """Run a short command with its output in ``log_path``."""
    with open(log_path, 'w') as log:
        code = subprocess.call(cmd, cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, env=tool_env(2))
    if code:
        raise SystemExit(f'error: {" ".join(cmd)} failed ({code}):\n'
                         + _tail(log_path))


def _tail(path: str, lines: int = 40) -> str:
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def tool_env(threads: int) -> dict:
    """The repo importable (custom_imports), this interpreter and its mim
    first on PATH, openmim's route for the benchmark wrappers."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['PYTHON'] = sys.executable
    env['DOWNSTREAM_LAUNCHER'] = 'mim'
    env['OMP_NUM_THREADS'] = str(threads)
    return env


def prepare(args, work_dir: str) -> dict:
    """Export the teacher, cut labelled crops, build the mosaics."""
    backbone = osp.join(work_dir, 'backbone.pth')
    run_quiet([sys.executable, 'tools/model_converters/export_backbone.py',
               args.checkpoint, backbone, '--force'],
              osp.join(work_dir, 'export.log'))
    regions = osp.join(work_dir, 'regions')
    run_quiet([sys.executable, 'benchmarks/photo_regions.py', regions,
               '--per-class', str(args.crops_per_class), '--size', '64',
               '--seed', str(args.seed)], osp.join(work_dir, 'regions.log'))
    from mmconmim.datasets.dense_mosaics import write_detection_mosaics
    meta = write_detection_mosaics(
        regions, osp.join(work_dir, 'mosaics'),
        num_per_split=dict(train=args.train_mosaics, val=args.val_mosaics),
        tile_size=32, seed=args.seed)
    return dict(backbone=backbone, meta=meta)


def run_options(task: str, mosaics: str, iters, seed: int):
    """--cfg-options: this run's mosaics, seed and schedule length."""
    opts = [f'{loader}.dataset.data_root={mosaics}'
            for loader in ('train_dataloader', 'val_dataloader',
                           'test_dataloader')]
    if task == 'det':
        ann = osp.join(mosaics, 'annotations', 'instances_val.json')
        opts += [f'val_evaluator.ann_file={ann}',
                 f'test_evaluator.ann_file={ann}']
    opts.append(f'randomness.seed={seed}')
    if iters:  # the loop, checkpoint and poly decay end at iters
        warmup = max(1, iters // 10)
        opts += [f'train_cfg.max_iters={iters}',
                 f'train_cfg.val_interval={iters}',
                 f'default_hooks.checkpoint.interval={iters}',
                 f'param_scheduler.0.end={warmup}',
                 f'param_scheduler.1.begin={warmup}',
                 f'param_scheduler.1.end={iters}']
    return opts


def train_command(task: str, init: str, work: str, options, backbone: str):
    """The benchmark wrapper (it adds the export as the backbone's
    ``init_cfg``) for the pretrained run; ``mim train`` with
    ``init_cfg=None`` for the random init. Both run the upstream script in
    one CPU process."""
    if init == 'pretrained':
        return ['bash', f'tools/benchmarks/{WRAPPERS[task]}/dist_train.sh',
                CONFIGS[task], backbone, '0', '--work-dir', work,
                '--cfg-options', *options]
    return ['mim', 'train', PACKAGES[task], CONFIGS[task], '--launcher',
            'none', '-G', '0', '--work-dir', work, '--cfg-options', *options,
            'model.backbone.init_cfg=None']


def _iteration(log_path: str):
    """(done, total) of the last train iteration line of a runner log."""
    found = None
    if osp.isfile(log_path):
        with open(log_path, errors='replace') as f:
            for match in ITER_LINE.finditer(f.read()):
                found = match
    return (int(found[1]), int(found[2])) if found else (0, None)


def run_task(task: str, jobs, work_dir, data, args, progress) -> None:
    """Train both inits of a task (side by side when jobs > 1), printing
    their iterations and the ETA while they run."""
    pending, running, shown = list(INITS), {}, None
    while pending or running:
        while pending and len(running) < jobs:
            init = pending.pop(0)
            key = f'{task}_{init}'
            cmd = train_command(
                task, init, osp.join(work_dir, key),
                run_options(task, osp.join(work_dir, 'mosaics'), args.iters,
                            args.seed), data['backbone'])
            log = open(osp.join(work_dir, key + '.log'), 'w')
            running[init] = (subprocess.Popen(
                cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                env=tool_env(2 if jobs == 1 else 1)), log)
        time.sleep(2)
        states = {init: _iteration(osp.join(work_dir, f'{task}_{init}.log'))
                  for init in INITS}
        total = next((t for _, t in states.values() if t), None)
        if total:
            fraction = sum(d for d, _ in states.values()) / (2 * total)
            line = ', '.join(f'{init} {d}/{total}'
                             for init, (d, _) in states.items())
            if line != shown:
                print(f'    {task}: {line} -- ETA '
                      f'{_clock(progress.eta(fraction))}', flush=True)
                shown = line
        for init, (proc, log) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[init]
            if proc.returncode:
                path = osp.join(work_dir, f'{task}_{init}.log')
                raise SystemExit(f'error: {task} ({init}) failed '
                                 f'({proc.returncode}); {path}:\n'
                                 + _tail(path))


def run_result(work: str, task: str) -> dict:
    """The run's final evaluation (mmengine's scalars.json) and checkpoint."""
    found = {}
    for path in sorted(glob.glob(osp.join(work, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if METRICS[task][0] in record:
                    found = record
    if not found:
        raise SystemExit(f'error: no {METRICS[task][0]} in the logs of '
                         f'{work}')
    with open(osp.join(work, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    iteration = int(re.search(r'iter_(\d+)\.pth$', checkpoint)[1])
    return {key: found[key] for key in METRICS[task]} | dict(
        iteration=iteration, checkpoint=checkpoint, work_dir=work)


def write_results(work_dir: str, results: dict, header: str) -> str:
    """Print the table; save it as results.md and results.json."""
    rows = [('seg', 'mIoU', 'mIoU', 1.0),
            ('det', 'box AP', 'coco/bbox_mAP', 100.0),
            ('det', 'mask AP', 'coco/segm_mAP', 100.0)]
    lines = [header, '', '| task | metric | pretrained | random init |',
             '|---|---|---|---|']
    for task, metric, key, scale in rows:
        if task in results:
            cells = [f'{results[task][init][key] * scale:.1f}'
                     for init in INITS]
            lines.append(f'| {TASK_NAMES[task]} | {metric} | '
                         f'{" | ".join(cells)} |')
    text = '\n'.join(lines) + '\n'
    print('\n' + text)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(text)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(header=header, **results), f, indent=1)
    return text


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', help='ConMIM demo checkpoint '
                        '(default: the newest work_dirs/conmim_demo*/ one)')
    parser.add_argument('--work-dir', default='work_dirs/'
                        'conmim_demo_transfer')
    parser.add_argument('--iters', type=int, default=None, help='training '
                        "iterations of every run (default: the configs')")
    parser.add_argument('--tasks', nargs='+', default=['seg', 'det'],
                        choices=['seg', 'det'])
    parser.add_argument('--jobs', type=int, default=2, choices=[1, 2],
                        help='runs training at once (1 thread each when 2)')
    parser.add_argument('--crops-per-class', type=int, default=16,
                        help='photo_regions crops per photo and split')
    parser.add_argument('--train-mosaics', type=int, default=192)
    parser.add_argument('--val-mosaics', type=int, default=24)
    parser.add_argument('--pictures', type=int, default=6,
                        help='val mosaics drawn per task')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    sys.path.insert(0, REPO)  # this checkout's mmconmim, as in the children
    args.checkpoint = osp.abspath(args.checkpoint or find_demo_checkpoint())
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    progress = Progress(['prepare', *args.tasks, 'pictures'])
    progress.begin('prepare', f'export {osp.relpath(args.checkpoint)} and '
                   'build the photo mosaics')
    data = prepare(args, work_dir)
    progress.end()
    results = {}
    for task in args.tasks:
        progress.begin(task, f'{TASK_NAMES[task]}: fine-tune from the export '
                       'and from a random init')
        run_task(task, args.jobs, work_dir, data, args, progress)
        results[task] = {init: run_result(
            osp.join(work_dir, f'{task}_{init}'), task) for init in INITS}
        progress.end()
    progress.begin('pictures', 'draw the val predictions')
    sys.path.insert(0, osp.join(REPO, 'tools', 'visualization'))
    from vis_transfer_predictions import draw_predictions
    pictures = [
        draw_predictions(
            task, osp.join(REPO, CONFIGS[task]), osp.join(work_dir, 'mosaics'),
            {i: results[task][i]['checkpoint'] for i in INITS},
            results[task]['pretrained']['iteration'], args.checkpoint,
            work_dir, args.pictures) for task in args.tasks]
    progress.end()
    iters = max(r['iteration'] for t in results.values() for r in t.values())
    val = len(data['meta']['splits']['val'])
    write_results(work_dir, dict(results, pictures=pictures),
                  f'Transfer demo: {val} val photo mosaics, 13 classes; '
                  f'backbone {osp.relpath(args.checkpoint)} (teacher), '
                  f'{iters} fine-tuning iterations')
    for path in pictures:
        print(f'picture: {osp.relpath(path)}')
    print(f'total {_clock(progress.total())} (min:s)')


if __name__ == '__main__':
    main()
