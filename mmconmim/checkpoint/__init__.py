"""Checkpoints in one place: the trust gate, the one reader, the one writer.

* :mod:`.gate` -- ``torch.load`` that runs no code from a file
  (``weights_only`` plus the runner allow-list; ``MMCONMIM_TRUST_CHECKPOINTS=1``
  opts in to full unpickling) and the "not a checkpoint" diagnosis.
* :mod:`.schemes` -- every mmengine ``CheckpointLoader`` scheme behind the
  gate (:func:`install_gate`, done by ``import mmconmim``).
* :mod:`.reader` -- :func:`load_file`, the reader every tool and API uses,
  for local paths and URLs.
* :mod:`.writer` -- :func:`check_output_path` (never over an input, never
  over an existing file without ``--force``) and atomic writes with the
  umask's permissions (:func:`save_file`, :func:`save_safetensors`).
* :mod:`.config_text` -- config text stored in a checkpoint is data: fields
  are read as literals (:func:`config_field`); parsing it as a config
  (:func:`trusted_config`) needs the opt-in.
* :mod:`.errors` -- the refusals, and :func:`refusals_as_exit` for tools.
* :mod:`.networks` (teacher or student), :mod:`.layout` (where a backbone's
  weights are), :mod:`.coverage` (what a load filled), :mod:`.official`
  (the official ConMIM key layout), :mod:`.info` (a checkpoint's one-line
  label for figures).
"""
from .config_text import config_field, literal_config, trusted_config
from .errors import (TRUST_ENV_VAR, CheckpointDownloadError,
                     NotACheckpointError, OutputPathError,
                     UnsafeCheckpointError, UntrustedTextError,
                     refusals_as_exit)
from .gate import checkpoint_safe_globals, safe_torch_load, trusted
from .reader import is_url, load_file, read_meta, read_state_dict
from .schemes import GATED_SCHEMES, install_gate
from .writer import (atomic_output, check_output_path, current_umask,
                     same_file, save_bytes, save_file, save_json,
                     save_safetensors, save_text, temp_name)

__all__ = [
    'TRUST_ENV_VAR', 'CheckpointDownloadError', 'NotACheckpointError',
    'OutputPathError', 'UnsafeCheckpointError', 'UntrustedTextError',
    'refusals_as_exit', 'checkpoint_safe_globals', 'safe_torch_load',
    'trusted', 'is_url', 'load_file', 'read_meta', 'read_state_dict',
    'GATED_SCHEMES', 'install_gate', 'atomic_output', 'check_output_path',
    'current_umask', 'same_file', 'save_bytes', 'save_file', 'save_json',
    'save_safetensors', 'save_text', 'temp_name',
    'config_field', 'literal_config', 'trusted_config'
]
