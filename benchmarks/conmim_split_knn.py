"""Is the halves32 fall a collapse, or a shift between the pre-training
split and the query split? A diagnosis for issue 25
(docs/conmim_small_scale.md, section 12).

    OMP_NUM_THREADS=1 python benchmarks/conmim_split_knn.py DRIVER-ARGS...

Runs the small-scale driver (``benchmarks/conmim_small_scale.py``, every
argument is its own) unchanged, and adds to each of its evaluations, on the
teacher's pooled (patch-mean) features (and, as ``<key>_student``, on the
student's, section 17), with every class cut into two
random halves (a fixed draw: the kNN memory and the queries; 24 + 24 per
class on the 48-per-class sets; random, not by file order, because
photo_regions' files alternate between two quadrants of each photo):

* ``knn_within_train``: train memory -> train queries: the images the
  run pre-trains on (halves32: the TOP halves of the photos);
* ``knn_within_val``: val memory -> val queries: images it never sees
  (halves32: the BOTTOM halves), with no shift between memory and queries;
* ``knn_cross``: train memory -> val queries: the driver's own kNN
  (``knn_avg``, train -> val) at the same memory and query size;
* ``split_probe``: a linear probe (``mmconmim.evaluation.linear_probe``)
  telling train images from val images (fit on the memory halves, scored
  on the query halves; chance 50 %): how much the features encode which
  split an image comes from.

If the driver's kNN falls because the features collapse, all three kNNs
fall; if it falls because they specialise to the pre-training split,
``knn_within_train`` holds while ``knn_cross`` falls.

    python benchmarks/conmim_split_knn.py --colour-baseline \
        --data work_dirs/halves32 --img-size 32

scores, instead of a model, colour statistics of each image (its channel
means and standard deviations, 6 numbers; then with 8-bin channel
histograms too), centred on the train set's mean: how much of a set's
class signal is colour alone. The driver's kNN (all train images -> all
val images) comes first.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from benchmarks import conmim_small_scale as driver  # noqa: E402

KEYS = ('knn_within_train', 'knn_within_val', 'knn_cross', 'split_probe')


def memory_half(labels, seed=0):
    """(n,) bool: a random half of each class (``ceil(n_c / 2)`` images,
    the same for a given seed) is the memory (True), the rest the queries."""
    gen = torch.Generator().manual_seed(seed)
    memory = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        where = (labels == c).nonzero().flatten()
        pick = torch.randperm(len(where), generator=gen)
        memory[where[pick[:(len(where) + 1) // 2]]] = True
    return memory


knn = driver.knn_top1  # the driver's weighted kNN top-1, %


def split_scores(train_feats, train_labels, val_feats, val_labels):
    """The four numbers of the module docstring, as a dict of %."""
    from mmconmim.evaluation.linear_probe import linear_probe
    mt, mv = memory_half(train_labels), memory_half(val_labels)
    split = torch.cat([torch.zeros(len(train_labels)),
                       torch.ones(len(val_labels))]).long()
    feats = torch.cat([train_feats, val_feats])
    mem = torch.cat([mt, mv])
    return dict(
        knn_within_train=knn(train_feats[mt], train_labels[mt],
                             train_feats[~mt], train_labels[~mt]),
        knn_within_val=knn(val_feats[mv], val_labels[mv], val_feats[~mv],
                           val_labels[~mv]),
        knn_cross=knn(train_feats[mt], train_labels[mt], val_feats[~mv],
                      val_labels[~mv]),
        split_probe=linear_probe(feats[mem], split[mem], feats[~mem],
                                 split[~mem], weight_decay=1e-2,
                                 topk=(1, ))['top1'])


def colour_features(images, bins=0):
    """(n, 6 + 3 * bins): the channel means and standard deviations of
    uint8 images (n, 3, H, W) scaled to [0, 1], then, with ``bins``, the
    share of each channel's pixels in each of ``bins`` equal bins."""
    x = images.float() / 255
    feats = [x.mean(dim=(2, 3)), x.std(dim=(2, 3), unbiased=False)]
    if bins:
        which = (x * bins).long().clamp(max=bins - 1).flatten(2)
        share = torch.nn.functional.one_hot(which, bins).float().mean(2)
        feats.append(share.flatten(1))
    return torch.cat(feats, dim=1)


def colour_baseline(a):
    """Print :func:`split_scores` (and the driver's kNN) of
    :func:`colour_features` on ``a.data``."""
    (xtr, ytr), (xva, yva) = driver.eval_batches(a)
    for bins, name in ((0, 'channel mean + std'),
                       (8, 'channel mean + std + 8-bin histograms')):
        ftr, fva = colour_features(xtr, bins), colour_features(xva, bins)
        centre = ftr.mean(dim=0)
        ftr, fva = ftr - centre, fva - centre
        full = knn(ftr, ytr, fva, yva)
        scores = split_scores(ftr, ytr, fva, yva)
        print(f'{a.data}, {name}: knn_avg {full:.1f} ' + ' '.join(
            f'{k} {scores[k]:.1f}' for k in KEYS))


def install():
    """Add :func:`split_scores` to every driver evaluation."""
    evaluate = driver.evaluate

    def evaluate_with_splits(model, sets, full=True):
        rec = evaluate(model, sets, full)
        rec.update(split_scores(*rec['_pooled']))
        print('split kNN: ' + ' '.join(f'{k} {rec[k]:.1f}' for k in KEYS),
              flush=True)
        if '_pooled_student' in rec:  # the same scores of the student
            student = split_scores(*rec['_pooled_student'])
            rec.update({k + '_student': v for k, v in student.items()})
            print('split kNN, student: ' + ' '.join(
                f'{k} {student[k]:.1f}' for k in KEYS), flush=True)
        return rec

    driver.evaluate = evaluate_with_splits


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--colour-baseline' in argv:
        argv.remove('--colour-baseline')
        a = driver.parse_args(argv)
        if not a.data:
            raise SystemExit('--colour-baseline needs --data')
        return colour_baseline(a)
    install()
    driver.main(argv)


if __name__ == '__main__':
    main()
