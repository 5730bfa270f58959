"""Patch-grid mask generators for masked image modeling, with validated
geometry.

* :class:`UnitMaskGenerator` -- ConMIM's ``random_mps32`` (= SimMIM's rule,
  Xie et al. 2022): the image is cut into square units of ``mask_patch_size``
  px; exactly ``ceil(num_units * mask_ratio)`` units are masked uniformly
  without replacement and expanded to the model's patch grid. At 224 px,
  32-px units, 16-px patches, ratio 0.75: 37 of 49 units, 148 of 196 patches.
* :class:`BlockMaskGenerator` -- BEiT's block-wise masking (Bao et al. 2022):
  rectangles of at least ``min_num_patches`` patches with aspect ratio in
  [min_aspect, 1/min_aspect] until exactly ``num_masking_patches`` are masked.

Both write ``results['mask']``: an int (H_p, W_p) array, 1 = masked.
"""
from typing import Optional

import numpy as np
from mmpretrain.datasets.transforms import (BEiTMaskGenerator,
                                            SimMIMMaskGenerator)

from mmconmim.registry import TRANSFORMS
from mmconmim.utils.validation import check_int, check_number


@TRANSFORMS.register_module()
class UnitMaskGenerator(SimMIMMaskGenerator):
    """Random masking of square units (ConMIM ``random_mps32`` / SimMIM).

    Args:
        input_size (int): Image size in px. Defaults to 224.
        mask_patch_size (int): Unit size in px. Defaults to 32.
        model_patch_size (int): The backbone's patch size. Defaults to 16.
        mask_ratio (float): Fraction of units to mask, in (0, 1); the count
            is rounded up. Defaults to 0.75.
    """

    def __init__(self,
                 input_size: int = 224,
                 mask_patch_size: int = 32,
                 model_patch_size: int = 16,
                 mask_ratio: float = 0.75) -> None:
        owner = type(self).__name__
        input_size = check_int(owner, 'input_size', input_size, min=1)
        mask_patch_size = check_int(owner, 'mask_patch_size',
                                    mask_patch_size, min=1)
        model_patch_size = check_int(owner, 'model_patch_size',
                                     model_patch_size, min=1)
        mask_ratio = float(
            check_number(owner, 'mask_ratio', mask_ratio, low=0, high=1,
                         low_open=True, high_open=True))
        if input_size % mask_patch_size:
            raise ValueError(
                f'{owner}: input_size {input_size} is not divisible by '
                f'mask_patch_size {mask_patch_size}')
        if mask_patch_size % model_patch_size:
            raise ValueError(
                f'{owner}: mask_patch_size {mask_patch_size} is not divisible '
                f'by model_patch_size {model_patch_size}')
        super().__init__(input_size, mask_patch_size, model_patch_size,
                         mask_ratio)


@TRANSFORMS.register_module()
class BlockMaskGenerator(BEiTMaskGenerator):
    """BEiT block-wise masking with validated arguments and a bounded loop.

    mmpretrain's ``BEiTMaskGenerator`` loops forever when no block can be
    placed (tiny grids, large ``min_num_patches``); this one raises after
    ``max_attempts`` rounds without progress.

    Args:
        input_size (int | tuple): Patch grid (H_p, W_p), or one int.
        num_masking_patches (int): Exact number of masked patches.
        min_num_patches (int): Smallest block. Defaults to 4.
        max_num_patches (int, optional): Largest block. Defaults to
            ``num_masking_patches``.
        min_aspect (float): Smallest aspect ratio. Defaults to 0.3.
        max_aspect (float, optional): Defaults to ``1 / min_aspect``.
        max_attempts (int): Rounds without progress before giving up.
            Defaults to 1000.
    """

    def __init__(self,
                 input_size,
                 num_masking_patches: int,
                 min_num_patches: int = 4,
                 max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None,
                 max_attempts: int = 1000) -> None:
        owner = type(self).__name__
        grid = input_size if isinstance(input_size, (tuple, list)) else \
            (input_size, input_size)
        if len(grid) != 2:
            raise ValueError(f'{owner}: input_size must be an int or (H, W), '
                             f'got {input_size!r}')
        h, w = (check_int(owner, 'input_size', v, min=1) for v in grid)
        num_masking_patches = check_int(owner, 'num_masking_patches',
                                        num_masking_patches, min=1)
        min_num_patches = check_int(owner, 'min_num_patches',
                                    min_num_patches, min=1)
        if num_masking_patches >= h * w:
            raise ValueError(
                f'{owner}: num_masking_patches {num_masking_patches} must be '
                f'smaller than the {h}x{w} = {h * w} patches of the grid')
        if min_num_patches > num_masking_patches:
            raise ValueError(
                f'{owner}: min_num_patches {min_num_patches} exceeds '
                f'num_masking_patches {num_masking_patches}')
        # A block must be strictly smaller than the grid on both sides.
        if min_num_patches > (h - 1) * (w - 1):
            raise ValueError(
                f'{owner}: no block of min_num_patches={min_num_patches} fits '
                f'in a {h}x{w} grid (blocks are at most {h - 1}x{w - 1})')
        check_number(owner, 'min_aspect', min_aspect, low=0, high=1,
                     low_open=True, bool_ok=True)
        self.max_attempts = check_int(owner, 'max_attempts', max_attempts,
                                      min=1)
        super().__init__((h, w), num_masking_patches, min_num_patches,
                         max_num_patches, min_aspect, max_aspect)

    def transform(self, results: dict) -> dict:
        mask = np.zeros((self.height, self.width), dtype=int)
        count, stalled = 0, 0
        while count < self.num_masking_patches:
            budget = min(self.num_masking_patches - count,
                         self.max_num_patches)
            delta = self._mask(mask, budget)
            count += delta
            stalled = 0 if delta else stalled + 1
            if stalled >= self.max_attempts:
                raise RuntimeError(
                    f'{type(self).__name__}: placed only {count} of '
                    f'{self.num_masking_patches} patches in a '
                    f'{self.height}x{self.width} grid after '
                    f'{self.max_attempts} rounds without progress; lower '
                    'min_num_patches or num_masking_patches')
        results['mask'] = mask
        return results

