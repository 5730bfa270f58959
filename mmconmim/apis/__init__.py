"""Public entry points: a ready backbone from a checkpoint
(:func:`load_backbone`), the teacher/student rule
(:mod:`mmconmim.checkpoint.networks`) and our model index in mmpretrain's hub
(:mod:`mmconmim.apis.model_index`). See docs/apis.md."""
from mmconmim.checkpoint.networks import (NETWORKS, select_backbone,
                                          select_projector)
from .backbone import backbone_weights, load_backbone
from .model_index import register_model_index

__all__ = [
    'NETWORKS', 'backbone_weights', 'load_backbone', 'register_model_index',
    'select_backbone', 'select_projector'
]
