"""Online k-NN evaluation of the representation during pre-training.

Weighted kNN as in DINO (Caron et al., "Emerging Properties in
Self-Supervised Vision Transformers", ICCV 2021): cosine similarity, k = 20
neighbours, votes ``exp(sim / 0.07)`` (:mod:`mmconmim.evaluation.knn`).

Collapse alarm: a pre-training run that leaves the frozen features worse
than its own initialisation is a failed run (ConMIM at small budgets, see
docs/conmim_small_scale.md). The hook keeps the first top-1 it measured
(iteration 0 with ``eval_before_train``) as the reference and warns once
when top-1 falls more than ``collapse_drop`` points below it;
``stop_on_collapse`` also stops training and names the last checkpoint
saved while the kNN was still within the margin.
"""
import glob
import logging
import os.path as osp
import re
import time
from typing import Optional, Sequence, Union

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmconmim.checkpoint.networks import model_network
from mmconmim.evaluation.features import (POOLS, SOURCES, build_knn_loaders,
                                          default_img_size, extract_features,
                                          gather_features, num_classes_of,
                                          resolve_source, unwrap)
from mmconmim.evaluation.knn import knn_classify
from mmconmim.registry import HOOKS
from mmconmim.utils.validation import (check_choice, check_int,
                                       check_number, check_positive)

# What the diagnosis of docs/conmim_small_scale.md found behind a falling
# kNN; printed by the alarm so that the user knows where to look.
COLLAPSE_CAUSES = (
    'likely causes (docs/conmim_small_scale.md): (1) ConMIM with '
    'intra-image negatives only can solve its task from patch POSITION '
    'alone (absolute position embedding, or the relative position bias once '
    'learned), which pushes the features toward position and away from '
    'content -- set model.head.loss.negatives=\'batch\' (cross-image '
    'dictionary); (2) the paper setting without an absolute position '
    'embedding: all mask tokens of an image are identical at the start '
    '(loss at or above log N, grad-norm spikes in the warmup) -- set '
    'model.backbone.mask_token_pos_scale=0.2 with negatives=\'batch\', or '
    'train far longer; (3) the CLS token is not trained by ConMIM -- monitor '
    'pool=\'avg\'')


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Every ``interval`` training iterations, classify a labelled val split
    by weighted kNN against a labelled train split, on frozen features of
    the pre-trained backbone, and log top-1 / top-5 (percent).

    The metrics go to the log (``runner.logger``), to the visualizer's
    backends as scalars ``{prefix}/top1`` and ``{prefix}/top5`` at step
    ``iteration`` (LocalVisBackend: ``vis_data/scalars.json``; TensorBoard,
    W&B alike) and to the message hub under the same names.

    Under DDP every rank extracts its shard (``DefaultSampler``,
    ``shuffle=False``), the features are all-gathered, the sampler's padding
    duplicates dropped by dataset index, and the kNN runs on the full sets.

    Args:
        train_data (str | dict): Labelled reference set: a folder with one
            sub-folder of images per class, or any mmpretrain classification
            dataset config (``ImageNet``, ``CustomDataset`` with
            ``ann_file``, ...). Without a ``pipeline`` the evaluation
            transform is used: resize the short edge to ``img_size / 0.875``,
            centre crop ``img_size``.
        val_data (str | dict): Labelled set to classify, same forms.
        interval (int): Evaluate every ``interval`` iterations; 0 disables
            the hook. Defaults to 1000.
        enable (bool): ``False`` disables the hook. A disabled hook builds no
            dataloader and runs nothing. Defaults to True.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        topk (Sequence[int]): Reported accuracies. Defaults to (1, 5).
        source (str): ``'teacher'`` (ConMIM's momentum encoder),
            ``'student'`` (``model.backbone``) or ``'auto'`` (the teacher
            when the model has one). Defaults to 'auto'. Before the teacher's
            first EMA update (``eval_before_train``) it is not yet a copy of
            the student, so the student is evaluated then.
        pool (str): ``'avg'``: mean of the last layer's patch tokens (ViT) or
            global average pooling (CNN); ``'cls'``: the CLS token.
            Defaults to 'avg'.
        img_size (int, optional): Evaluation crop size. Defaults to the ViT's
            ``img_size`` (224 for other backbones).
        batch_size (int): Per rank. Defaults to 64.
        num_workers (int): Dataloader workers per rank. Defaults to 2.
        eval_before_train (bool): Also evaluate at iteration 0 (the random
            initialisation, or the resumed weights). Defaults to False.
        eval_at_end (bool): Also evaluate after the last iteration when it is
            not a multiple of ``interval``. Defaults to True.
        prefix (str): Metric name prefix. Defaults to 'knn'.
        collapse_drop (float, optional): Warn (once) when top-1 falls more
            than this many points below the first value the hook measured
            (iteration 0 with ``eval_before_train``; else the first
            interval). ``None`` disables the alarm. Defaults to 5.
        stop_on_collapse (bool): On that alarm also stop training
            (``runner.train_loop.stop_training``) and log the last
            checkpoint saved at an iteration whose kNN was still within
            ``collapse_drop`` of the reference. Defaults to False.
    """

    priority = 'LOW'

    def __init__(self,
                 train_data: Union[str, dict, None] = None,
                 val_data: Union[str, dict, None] = None,
                 interval: int = 1000,
                 enable: bool = True,
                 k: int = 20,
                 temperature: float = 0.07,
                 topk: Sequence[int] = (1, 5),
                 source: str = 'auto',
                 pool: str = 'avg',
                 img_size: Optional[int] = None,
                 batch_size: int = 64,
                 num_workers: int = 2,
                 eval_before_train: bool = False,
                 eval_at_end: bool = True,
                 prefix: str = 'knn',
                 collapse_drop: Optional[float] = 5.,
                 stop_on_collapse: bool = False) -> None:
        owner = 'KNNEvalHook'
        if collapse_drop is not None:
            collapse_drop = float(check_number(
                owner, 'collapse_drop', collapse_drop, low=0, finite=True,
                noun='a number', fix='top-1 points, e.g. 5; None disables '
                'the alarm'))
        if stop_on_collapse and collapse_drop is None:
            raise ValueError('KNNEvalHook: stop_on_collapse=True needs the '
                             'alarm; set collapse_drop (e.g. 5)')
        check_int(owner, 'interval', interval, min=0, bool_ok=True)
        self.enabled = bool(enable) and interval > 0
        if self.enabled and (train_data is None or val_data is None):
            raise ValueError('KNNEvalHook: train_data and val_data are '
                             'required (labelled folders or dataset configs)')
        check_choice(owner, 'source', source, SOURCES)
        check_choice(owner, 'pool', pool, POOLS)
        check_int(owner, 'k', k, min=1, bool_ok=True)
        check_positive(owner, 'temperature', temperature, finite=True,
                       bool_ok=True, fix='e.g. 0.07')
        self.train_data = train_data
        self.val_data = val_data
        self.interval = interval
        self.k = k
        self.temperature = temperature
        self.topk = tuple(topk)
        self.source = source
        self.pool = pool
        self.img_size = img_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.eval_before_train = eval_before_train
        self.eval_at_end = eval_at_end
        self.prefix = prefix
        self.collapse_drop = collapse_drop
        self.stop_on_collapse = bool(stop_on_collapse)
        self._loaders = None
        self._last_eval_iter = None
        self.reference = None  # (step, top-1) of the first evaluation
        self.last_good_step = None  # last step within collapse_drop
        self.collapsed_at = None  # step of the (one) alarm

    # hooks ---------------------------------------------------------------

    def before_train(self, runner) -> None:
        if not self.enabled:
            return
        resolve_source(unwrap(runner.model), self.source)  # fail early
        if self.eval_before_train:
            self.evaluate(runner, runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.enabled:
            return
        step = runner.iter + 1
        if self.every_n_train_iters(runner, self.interval) or (
                self.eval_at_end and self.is_last_train_iter(runner)):
            if self._last_eval_iter != step:
                self.evaluate(runner, step)

    # evaluation ----------------------------------------------------------

    def _build_loaders(self, runner, source):
        model = unwrap(runner.model)
        img_size = self.img_size or default_img_size(model, source)
        self._loaders = build_knn_loaders(self.train_data, self.val_data,
                                          img_size, self.batch_size,
                                          self.num_workers)
        train_set = self._loaders[0].dataset
        runner.logger.info(
            f'KNNEvalHook: {len(train_set)} train / '
            f'{len(self._loaders[1].dataset)} val images, '
            f'{len(train_set.metainfo.get("classes", ()) or ())} classes, '
            f'{img_size} px, {get_world_size()} rank(s)')

    def evaluate(self, runner, step: int) -> dict:
        """Extract, gather, classify and log; returns the metrics."""
        model = unwrap(runner.model)
        # one resolution per evaluation: ``auto`` turns from the student to
        # the teacher once the EMA holds weights
        source = model_network(model, self.source)
        if self._loaders is None:
            self._build_loaders(runner, source)
        start = time.time()
        splits = []
        for loader, name in zip(self._loaders, ('train', 'val')):

            def progress(done, total, name=name):
                if done == total or done % max(1, total // 4) == 0:
                    runner.logger.info(f'KNNEvalHook: {name} features '
                                       f'{done}/{total} batches')

            part = extract_features(model, loader, source, self.pool,
                                    progress)
            splits.append(gather_features(part))
        train, val = splits
        metrics = knn_classify(
            train['feats'], train['labels'], val['feats'], val['labels'],
            num_classes=num_classes_of(self._loaders[0]), k=self.k,
            temperature=self.temperature, topk=self.topk)
        scalars = {f'{self.prefix}/{key}': value
                   for key, value in metrics.items()}
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(scalars, step=step)
        shown = '  '.join(f'{key}: {value:.2f}'
                          for key, value in scalars.items())
        runner.logger.info(
            f'KNNEvalHook @ iter {step} ({train["source"]}, '
            f'{self.pool} features, k={self.k}, T={self.temperature}, '
            f'{len(train["labels"])} train / {len(val["labels"])} val): '
            f'{shown}  ({time.time() - start:.1f} s)')
        self._last_eval_iter = step
        if 'top1' in metrics:
            self.check_collapse(runner, step, metrics['top1'])
        return scalars

    # collapse alarm ------------------------------------------------------

    def check_collapse(self, runner, step: int, top1: float) -> bool:
        """Record ``top1`` at ``step``; warn once (and stop, with
        ``stop_on_collapse``) when it is more than ``collapse_drop`` points
        below the reference. Returns whether the alarm fired now."""
        if self.collapse_drop is None:
            return False
        if self.reference is None:
            self.reference = (step, top1)
        ref_step, ref = self.reference
        if top1 >= ref - self.collapse_drop:
            self.last_good_step = step
            return False
        if self.collapsed_at is not None:
            return False
        self.collapsed_at = step
        good = self.last_good_checkpoint(runner)
        msg = (f'KNNEvalHook: COLLAPSE ALARM at iteration {step}: '
               f'{self.prefix}/top1 = {top1:.2f} is {ref - top1:.2f} points '
               f'below its value at iteration {ref_step} ({ref:.2f}; margin '
               f'{self.collapse_drop:g}): pre-training is making the frozen '
               f'features worse than they were. {COLLAPSE_CAUSES}. Last good '
               f'checkpoint: {good}')
        print_log(msg, logger=runner.logger, level=logging.WARNING)
        if self.stop_on_collapse:
            runner.train_loop.stop_training = True
            print_log(f'KNNEvalHook: stop_on_collapse=True: training stops '
                      f'after iteration {step}; resume or fine-tune from the '
                      f'last good checkpoint: {good}', logger=runner.logger,
                      level=logging.WARNING)
        return True

    def last_good_checkpoint(self, runner) -> str:
        """Path of the newest ``iter_N.pth`` in the work dir with N at or
        before the last evaluation within the margin, or a sentence saying
        why there is none."""
        if self.last_good_step is None:
            return 'none (no evaluation was within the margin)'
        work_dir = getattr(runner, 'work_dir', None)
        found = []
        if work_dir:
            for path in glob.glob(osp.join(work_dir, 'iter_*.pth')):
                match = re.fullmatch(r'iter_(\d+)\.pth', osp.basename(path))
                if match and int(match.group(1)) <= self.last_good_step:
                    found.append((int(match.group(1)), path))
        if not found:
            return (f'none saved at or before iteration '
                    f'{self.last_good_step} (the last evaluation within the '
                    'margin); make the checkpoint interval a multiple of '
                    'the kNN interval')
        step, path = max(found)
        return f'{path} (iteration {step})'
