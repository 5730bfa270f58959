"""The errors of the checkpoint room, and how tools report them.

Every refusal a user can meet when handing a file to mmconmim (not a
checkpoint, unsafe pickle, download failure, output path that would destroy
something) has its own class here, so that tools print one ``error: ...``
line for it (:func:`refusals_as_exit`) instead of a traceback.
"""
import pickle
from contextlib import contextmanager

TRUST_ENV_VAR = 'MMCONMIM_TRUST_CHECKPOINTS'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles objects outside the allow-list."""


class NotACheckpointError(ValueError):
    """A file given as a checkpoint is not one (empty, truncated, a text or
    HTML page, a Git LFS pointer, a TorchScript archive...)."""


class CheckpointDownloadError(OSError):
    """A checkpoint URL could not be downloaded (the message names the
    URL and the server's answer)."""


class OutputPathError(ValueError):
    """An output path would overwrite an input or an existing file, or is
    not a local file path."""


class UntrustedTextError(PermissionError):
    """Text stored in a file (a config) would have to run as Python code,
    which needs the explicit opt-in."""


#: refusals a tool reports as one ``error:`` line
REFUSALS = (UnsafeCheckpointError, NotACheckpointError,
            CheckpointDownloadError, OutputPathError, UntrustedTextError,
            FileNotFoundError, IsADirectoryError)


@contextmanager
def refusals_as_exit(*extra):
    """Turn the expected refusals (and ``extra`` exception types) raised in
    the block into ``SystemExit('error: <message>')``: exit status 1 and one
    line on stderr, like mmconmim's other tools.

    Example::

        with refusals_as_exit(ConversionError):
            main_body()
    """
    try:
        yield
    except (*REFUSALS, *extra) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args \
            else str(exc)
        raise SystemExit(f'error: {message}') from None
