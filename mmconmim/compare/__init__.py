"""Compare self-supervised methods on one's own images
(``tools/compare_methods.py``; docs/compare_methods.md).

* :mod:`.catalogue`: backbones, methods, their recipes and labels;
* :mod:`.checks`, :mod:`.settings`: inputs, learning-rate rule, the work
  dir's ``settings.json``;
* :mod:`.configs`: one row's pre-training config (``configs/compare/``);
* :mod:`.pretrain`: one pre-training process and the backbone export;
* :mod:`.evaluate`: scores of a backbone, the random-init rows;
* :mod:`.finetune`, :mod:`.dense`: the fine-tune and dense-transfer
  columns;
* :mod:`.run`: the driver; :mod:`.report`: report.md / .json / .png.
"""
from .catalogue import (ARCHS, DEFAULT_METHODS, KNOWN_METHODS, RANDOM_INIT,
                        CompareError, method_label, own_init, parse_methods,
                        skip_reason)
from .checks import EVAL_LAYOUT, LR_HELP
from .dense import dense_transfer, prepare_seg_data
from .finetune import FAMILIES, finetune_backbone
from .run import (DEFAULT_DENSE_ITERS, DEFAULT_FINETUNE_ITERS, compare,
                  estimate_remaining)

__all__ = [
    'ARCHS', 'DEFAULT_METHODS', 'KNOWN_METHODS', 'RANDOM_INIT',
    'CompareError', 'method_label', 'own_init', 'parse_methods',
    'skip_reason', 'EVAL_LAYOUT', 'LR_HELP', 'DEFAULT_FINETUNE_ITERS',
    'DEFAULT_DENSE_ITERS',
    'compare', 'estimate_remaining', 'FAMILIES', 'dense_transfer',
    'finetune_backbone', 'prepare_seg_data'
]
