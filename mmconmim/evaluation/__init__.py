"""Representation monitoring: weighted kNN (DINO), frozen-feature
extraction and a linear probe, shared by ``KNNEvalHook``, the analysis
tools and ``benchmarks/learning_signal.py``."""
from .features import (build_eval_dataloader, build_knn_loaders,
                       extract_features, gather_features, pool_features,
                       select_backbone)
from .knn import knn_class_scores, knn_classify, topk_accuracy

__all__ = [
    'build_eval_dataloader', 'build_knn_loaders', 'extract_features',
    'gather_features', 'knn_class_scores', 'knn_classify', 'pool_features',
    'select_backbone', 'topk_accuracy'
]
