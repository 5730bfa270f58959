"""Linear probe on frozen features: multinomial logistic regression.

The features are standardised with the training set's per-channel mean and
standard deviation (the affine-free BatchNorm that MAE and ConMIM put before
their linear classifier), then one ``nn.Linear`` is trained with
cross-entropy by full-batch L-BFGS (a convex problem: deterministic and fast
for the small sets monitoring uses) with an L2 penalty ``weight_decay``.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .knn import topk_accuracy


def train_linear_probe(train_feats: torch.Tensor,
                       train_labels: torch.Tensor,
                       num_classes: Optional[int] = None,
                       weight_decay: float = 1e-4,
                       max_iter: int = 200,
                       seed: int = 0) -> nn.Module:
    """Fit ``standardise -> Linear`` on (N, C) features; returns the
    classifier (an ``nn.Sequential`` with the frozen standardisation)."""
    if train_feats.dim() != 2 or train_feats.shape[0] == 0:
        raise ValueError(f'linear probe: need (N, C) train features, got '
                         f'{tuple(train_feats.shape)}')
    labels = train_labels.reshape(-1).long()
    if labels.numel() != train_feats.shape[0]:
        raise ValueError(f'linear probe: {train_feats.shape[0]} features but '
                         f'{labels.numel()} labels')
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    feats = train_feats.detach().double()
    mean = feats.mean(0)
    std = feats.std(0, unbiased=False).clamp_min(1e-6)
    x = (feats - mean) / std
    torch.manual_seed(seed)
    linear = nn.Linear(x.shape[1], num_classes).double()
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(), lr=1., max_iter=max_iter,
        tolerance_grad=1e-9, tolerance_change=1e-12,
        line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x), labels) + \
            0.5 * weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    standardise = _Standardise(mean, std)
    return nn.Sequential(standardise, linear).eval()


class _Standardise(nn.Module):

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer('mean', mean)
        self.register_buffer('std', std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(self.mean.dtype) - self.mean) / self.std


@torch.no_grad()
def evaluate_linear_probe(classifier: nn.Module, feats: torch.Tensor,
                          labels: torch.Tensor,
                          topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    return topk_accuracy(classifier(feats).float(), labels, topk)


def linear_probe(train_feats, train_labels, val_feats, val_labels,
                 num_classes: Optional[int] = None,
                 weight_decay: float = 1e-4, max_iter: int = 200,
                 topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Train on the train features, report val top-k (and train top-1)."""
    if num_classes is None:
        num_classes = int(max(train_labels.max(), val_labels.max())) + 1
    classifier = train_linear_probe(train_feats, train_labels, num_classes,
                                    weight_decay, max_iter)
    metrics = evaluate_linear_probe(classifier, val_feats, val_labels, topk)
    metrics['train_top1'] = evaluate_linear_probe(
        classifier, train_feats, train_labels, (1, ))['top1']
    return metrics
