"""Stop before training when the train dataloader can yield no batch."""
from mmengine.dataset import InfiniteSampler
from mmengine.hooks import Hook

from mmconmim.registry import HOOKS


def _batch_size(loader):
    if loader.batch_size is not None:
        return loader.batch_size
    return getattr(loader.batch_sampler, 'batch_size', None)


@HOOKS.register_module()
class TrainDataCheckHook(Hook):
    """Raise ``ValueError`` naming the fix when one pass of the train
    dataloader holds no batch.

    With a finite sampler (mmengine's ``DefaultSampler``) and
    ``drop_last=True``, a batch larger than the samples a process gets is
    dropped whole: an ``IterBasedTrainLoop`` then dies with a bare
    ``StopIteration`` and an ``EpochBasedTrainLoop`` runs epochs that train
    nothing. ``InfiniteSampler`` keeps drawing, so it is left alone. Listed
    in ``default_hooks`` of ``configs/_base_/default_runtime.py`` so that
    every route that builds a runner from our configs runs it.
    """

    # before any other before_train work (e.g. a kNN evaluation)
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        sampler = getattr(loader.batch_sampler, 'sampler', None) or getattr(
            loader, 'sampler', None)
        if isinstance(sampler, InfiniteSampler):
            return
        try:
            num_batches = len(loader)
        except TypeError:  # an IterableDataset without a length
            return
        if num_batches > 0:
            return
        batch_size = _batch_size(loader)
        per_process = len(sampler) if sampler is not None else 0
        total = len(loader.dataset)
        if total == 0:
            raise ValueError(
                'train_dataloader: the dataset is empty; check '
                'train_dataloader.dataset (data_root, ann_file, data_prefix)')
        where = (f'this process gets {per_process} of the dataset\'s {total}'
                 f' samples ({runner.world_size} processes)'
                 if runner.world_size > 1 else
                 f'the dataset has {total} samples')
        drop_last = getattr(loader.batch_sampler, 'drop_last',
                            getattr(loader, 'drop_last', False))
        if not drop_last:  # more processes than samples
            raise ValueError(
                f'train_dataloader yields no batch: {where}. Add data or use '
                'fewer processes.')
        raise ValueError(
            f'train_dataloader yields no batch: batch_size={batch_size} but '
            f'{where}, and drop_last=True drops the incomplete batch '
            f'(sampler {type(sampler).__name__}). Lower '
            f'train_dataloader.batch_size to at most {per_process}, add '
            'data, set train_dataloader.drop_last=False, or use '
            "sampler=dict(type='InfiniteSampler') with an "
            'IterBasedTrainLoop.')
