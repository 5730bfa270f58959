"""Weighted k-nearest-neighbour classification of frozen features.

The protocol of DINO (Caron et al., "Emerging Properties in Self-Supervised
Vision Transformers", ICCV 2021, arXiv:2104.14294, Sec. 4.1 and its
``eval_knn.py``), which follows Wu et al. (CVPR 2018):

1. every feature is L2-normalised, so the dot product is the cosine
   similarity;
2. each test sample retrieves its ``k`` most similar training samples
   (default 20);
3. neighbour ``j`` votes for its own class with weight
   ``exp(sim_j / T)`` (temperature ``T``, default 0.07);
4. classes are ranked by their summed votes; top-1 / top-5 accuracy is the
   percentage of test samples whose label is the first / among the first
   five classes.

Ties between classes with equal votes are broken towards the smaller class
index (a stable sort), so results are deterministic. Used by
:class:`~mmconmim.engine.hooks.KNNEvalHook`, ``tools/analysis_tools/
knn_eval.py`` and ``benchmarks/learning_signal.py``.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from mmconmim.utils.validation import check_int, check_positive


def knn_class_scores(train_feats: torch.Tensor,
                     train_labels: torch.Tensor,
                     test_feats: torch.Tensor,
                     num_classes: Optional[int] = None,
                     k: int = 20,
                     temperature: float = 0.07,
                     chunk_size: int = 1024) -> torch.Tensor:
    """Summed neighbour votes per class, shape (num_test, num_classes).

    Args:
        train_feats: (N, C) features of the labelled reference set.
        train_labels: (N, ) integer labels in ``[0, num_classes)``.
        test_feats: (M, C) features to classify.
        num_classes: Defaults to ``max(train_labels) + 1``.
        k: Number of neighbours; clipped to N.
        temperature: T in ``exp(sim / T)``.
        chunk_size: Test samples per similarity block (bounds memory).
    """
    if train_feats.dim() != 2 or test_feats.dim() != 2:
        raise ValueError(
            f'kNN: features must be (N, C) matrices, got train '
            f'{tuple(train_feats.shape)} and test {tuple(test_feats.shape)}')
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(
            f'kNN: train features have {train_feats.shape[1]} channels but '
            f'test features {test_feats.shape[1]}')
    train_labels = train_labels.reshape(-1).long()
    if train_labels.numel() != train_feats.shape[0]:
        raise ValueError(
            f'kNN: {train_feats.shape[0]} train features but '
            f'{train_labels.numel()} labels')
    if train_feats.shape[0] == 0:
        raise ValueError('kNN: the reference (train) set is empty')
    check_int('kNN', 'k', k, min=1, bool_ok=True)
    check_positive('kNN', 'temperature', temperature, finite=True,
                   bool_ok=True, fix='e.g. 0.07')
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    if int(train_labels.min()) < 0 or int(train_labels.max()) >= num_classes:
        raise ValueError(
            f'kNN: train labels must lie in [0, {num_classes}), got '
            f'[{int(train_labels.min())}, {int(train_labels.max())}]')
    k = min(k, train_feats.shape[0])

    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.float(), dim=1)
    scores = torch.zeros(test.shape[0], num_classes)
    for start in range(0, test.shape[0], chunk_size):
        block = test[start:start + chunk_size]
        sim = block @ train.t()  # cosine similarities (m, N)
        top_sim, top_idx = sim.topk(k, dim=1)  # sorted, largest first
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(block.shape[0], num_classes, dtype=weights.dtype)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        scores[start:start + block.shape[0]] = votes
    return scores


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                  topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Percent of samples whose label is among the ``k`` best-scored classes
    (ties towards the smaller class index); ``k`` is clipped to the number of
    classes. Returns ``{'top1': .., 'top5': ..}``."""
    labels = labels.reshape(-1).long()
    if scores.shape[0] != labels.numel():
        raise ValueError(f'{scores.shape[0]} score rows but {labels.numel()} '
                         'labels')
    if labels.numel() == 0:
        raise ValueError('kNN: the evaluation (val) set is empty')
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    correct = order == labels[:, None]
    results = {}
    for kk in topk:
        hit = correct[:, :min(kk, scores.shape[1])].any(dim=1)
        results[f'top{kk}'] = 100. * hit.float().mean().item()
    return results


def knn_classify(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: Optional[int] = None,
                 k: int = 20,
                 temperature: float = 0.07,
                 topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Weighted kNN (DINO) accuracy of ``test_feats`` against the labelled
    ``train_feats``: ``{'top1': %, 'top5': %}``."""
    if num_classes is None:
        num_classes = int(
            max(train_labels.max(), test_labels.max())) + 1
    scores = knn_class_scores(train_feats, train_labels, test_feats,
                              num_classes, k, temperature)
    return topk_accuracy(scores, test_labels, topk)
