"""Teacher or student: the one rule every tool follows. It lives in
:mod:`mmconmim.checkpoint.networks` (low enough for models and the
checkpoint code to import it); this module keeps the documented import path.
"""
from mmconmim.checkpoint.networks import (  # noqa: F401
    NETWORKS, STUDENT_BACKBONE_PREFIX, Network, STUDENT_PROJECTOR_PREFIX,
    TEACHER_BACKBONE_PREFIX, TEACHER_PROJECTOR_PREFIX, backbone_prefix,
    check_network, choose, exported_network, has_teacher, model_network,
    select_backbone, select_projector, state_has_teacher, state_network,
    strip_prefix, teacher_prefixes, unwrap)
