"""Image loading that turns every common file into 3-channel uint8 BGR and
never lets a bad file through silently.

mmcv's ``LoadImageFromFile`` decodes with OpenCV's ``IMREAD_COLOR``: a
truncated JPEG decodes "successfully" with a grey bottom, RGBA drops its alpha
without compositing, and an undecodable file ends in a bare assertion; Pillow's
decompression-bomb guard raises an error that names no file.
:class:`RobustLoadImageFromFile` decodes with Pillow (which rejects truncated
files), converts grayscale, palette, alpha and 16-bit images explicitly, and
on a file it cannot read (decompression bombs included) either raises an
error naming the file (default) or, with ``on_error='skip'``, logs a warning
naming it, counts it and returns ``None`` so that the dataset draws another
sample (mmengine's refetch). Skipped *files* are counted (a file drawn again
is not counted twice), and a run of consecutive unreadable draws (a folder
without any readable image) stops with a clear error long before mmengine's
"Cannot find valid image after 1000!".
"""
import atexit
import ctypes
import hashlib
import io
import logging
import multiprocessing
import os
import re
import sys

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, UnidentifiedImageError

from mmconmim.registry import TRANSFORMS
from mmconmim.utils.validation import check_choice


class UnreadableImageError(OSError):
    """An image file exists but cannot be decoded."""


# slots of the shared set of skipped file names (hashes); past this many
# distinct files the count goes on, per skip event
SEEN_SLOTS = 4096
_OBJECT_REPR = re.compile(r'<[\w.]+ object at 0x[0-9a-fA-F]+>')


def _file_hash(filename: str) -> int:
    digest = hashlib.blake2b(str(filename).encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'little') or 1  # 0 marks a free slot


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        return (arr.clip(0, 1) * 255).round().astype(np.uint8)
    # 16-bit images (PNG 'I;16', 'I'): full range 0..65535 -> 0..255
    return (arr.astype(np.float32) / 257.).clip(0, 255).round().astype(
        np.uint8)


def pil_to_bgr(img: Image.Image, background=(255, 255, 255)) -> np.ndarray:
    """Any Pillow image -> (H, W, 3) uint8 BGR.

    Grayscale is replicated to three channels; 16-bit values are scaled by
    1/257; images with transparency (RGBA, LA, palette with tRNS) are
    composited over ``background`` (RGB).
    """
    if img.mode == 'P':
        img = img.convert('RGBA' if 'transparency' in img.info else 'RGB')
    if img.mode in ('1', 'L', 'I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'):
        gray = _to_uint8(np.asarray(img))
        rgb = np.repeat(gray[..., None], 3, axis=-1)
    elif img.mode in ('LA', 'La', 'PA', 'RGBA', 'RGBa'):
        rgba = np.asarray(img.convert('RGBA'), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.
        rgb = rgba[..., :3] * alpha + np.asarray(
            background, np.float32) * (1 - alpha)
        rgb = rgb.round().astype(np.uint8)
    elif img.mode == 'RGB':
        rgb = np.asarray(img)
    else:  # CMYK, YCbCr, LAB, HSV...
        rgb = np.asarray(img.convert('RGB'))
    return np.ascontiguousarray(rgb[..., ::-1])


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(BaseTransform):
    """Load ``results['img_path']`` as a 3-channel uint8 BGR image.

    Args:
        on_error (str): ``'raise'`` (default): raise
            :class:`UnreadableImageError` naming the file. ``'skip'``: log a
            warning naming the file (once per file), count it
            (:attr:`num_skipped` files; a summary at exit, in the run's log
            file too) and return ``None``; mmengine datasets then fetch
            another sample.
        max_consecutive_skips (int): with ``'skip'``, this many unreadable
            draws in a row (in one process) raise
            :class:`UnreadableImageError`: the data holds no (or almost no)
            readable image.
        to_float32 (bool): Return float32 instead of uint8.
        background (tuple): RGB colour under transparent pixels.
        backend_args (dict, optional): mmengine file backend arguments.

    Adds ``img``, ``img_shape``, ``ori_shape``.
    """

    def __init__(self,
                 on_error: str = 'raise',
                 max_consecutive_skips: int = 50,
                 to_float32: bool = False,
                 background=(255, 255, 255),
                 backend_args=None) -> None:
        self.on_error = check_choice('RobustLoadImageFromFile', 'on_error',
                                     on_error, ('raise', 'skip'))
        self.to_float32 = to_float32
        self.background = tuple(background)
        self.backend_args = backend_args
        self.max_consecutive_skips = int(max_consecutive_skips)
        # Shared with dataloader workers (created before they start), so the
        # main process sees every skip: a set of file-name hashes (open
        # addressing) and the number of distinct files in it.
        self._seen = multiprocessing.Array(ctypes.c_uint64, SEEN_SLOTS)
        self._skipped = multiprocessing.Value('i', 0, lock=False)
        self._consecutive = 0  # per process
        self._owner_pid = os.getpid()
        if on_error == 'skip':
            atexit.register(self._summary)

    @property
    def num_skipped(self) -> int:
        """How many different files were skipped (all processes)."""
        return self._skipped.value

    def _record_skip(self, filename: str) -> bool:
        """Count ``filename`` once; True if it was not skipped before."""
        key = _file_hash(filename)
        with self._seen.get_lock():
            slot = key % SEEN_SLOTS
            for _ in range(SEEN_SLOTS):
                if self._seen[slot] == key:
                    return False
                if self._seen[slot] == 0:
                    self._seen[slot] = key
                    break
                slot = (slot + 1) % SEEN_SLOTS
            self._skipped.value += 1
            return True

    def _summary(self) -> None:
        if os.getpid() != self._owner_pid or not self.num_skipped:
            return
        message = (f'RobustLoadImageFromFile skipped {self.num_skipped} '
                   'unreadable image file(s) in this run (named in the '
                   'warnings logged when they were skipped).')
        # atexit runs this before logging's own shutdown, so the run's log
        # file (work_dir/<timestamp>/<timestamp>.log) is still open; the
        # console handlers may not be (their streams can be closed by now)
        try:
            from mmengine.logging import MMLogger
            logger = MMLogger.get_current_instance()
            record = logger.makeRecord(logger.name, logging.WARNING, __file__,
                                       0, message, None, None)
            for handler in logger.handlers:
                if isinstance(handler, logging.FileHandler) and \
                        handler.stream is not None:
                    handler.emit(record)
                    handler.flush()
        except Exception:  # no usable logger at exit: stderr below
            pass
        try:
            sys.__stderr__.write(message + '\n')
        except (OSError, ValueError, AttributeError):
            pass

    def decode(self, filename: str) -> np.ndarray:
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise UnreadableImageError(f'cannot read {filename}: {exc}')
        if not data:
            raise UnreadableImageError(f'{filename} is empty (0 bytes)')
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()  # raises on truncated or corrupt data
                return pil_to_bgr(img, self.background)
        except Image.DecompressionBombError as exc:
            # not an OSError: without this it would escape unnamed
            raise UnreadableImageError(
                f'cannot decode image {filename}: Pillow refuses it as a '
                f'possible decompression bomb ({exc}). If the file is '
                'trusted, raise PIL.Image.MAX_IMAGE_PIXELS (e.g. in a module '
                'listed in custom_imports) or resize it.') from exc
        except UnidentifiedImageError as exc:
            raise UnreadableImageError(
                f'cannot decode image {filename}: not an image format Pillow '
                f'knows (the file starts with {data[:16]!r})') from exc
        except (OSError, SyntaxError, ValueError) as exc:
            detail = _OBJECT_REPR.sub('the data', str(exc))
            raise UnreadableImageError(
                f'cannot decode image {filename}: {detail}') from exc

    def transform(self, results: dict):
        filename = results['img_path']
        try:
            img = self.decode(filename)
        except UnreadableImageError as exc:
            if self.on_error == 'raise':
                raise
            return self._skip(filename, exc)
        self._consecutive = 0
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _skip(self, filename: str, exc: Exception) -> None:
        self._consecutive += 1
        if self._record_skip(filename):
            print_log(f'skipping unreadable image ({self.num_skipped} '
                      f'file(s) so far): {exc}', logger='current',
                      level=logging.WARNING)
        if self._consecutive >= self.max_consecutive_skips:
            raise UnreadableImageError(
                f'{self._consecutive} images drawn in a row could not be '
                f'read ({self.num_skipped} different file(s) skipped, the '
                f'last: {exc}). The data seems to hold no readable image: '
                'check data_root and the files (or raise '
                'max_consecutive_skips if most files are truly unreadable)')
        return None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(on_error={self.on_error!r}, '
                f'to_float32={self.to_float32}, '
                f'background={self.background})')
