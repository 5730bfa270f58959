"""BEiT-style ViT with ViTDet's windowed attention, for dense prediction.

Li et al., "Exploring Plain Vision Transformer Backbones for Object
Detection" (ViTDet, ECCV 2022), Sec. 3 "Backbone adaptation": most blocks
attend within non-overlapping windows (14 x 14 tokens, the pre-training
grid of a 224-px ViT/16, so their relative position tables load unchanged),
and a few blocks, evenly spaced (the last of each quarter, e.g. 2/5/8/11 of
a ViT-B), attend globally over the whole 1024-px grid with their relative
position bias interpolated from the pre-trained one. The token grid is
padded to a multiple of the window size; padded tokens are masked out as
keys.

Built on mmpretrain's :class:`BEiTViT` (the downstream backbone of our
ConMIM transfer configs): the same layers, parameters and state-dict keys;
only the window blocks' relative position tables are sized for the window
(``layers.i.attn.relative_position_bias_table``, resized on load by
``BEiTViT``'s own pre-hook where the sizes differ), and :meth:`forward`
partitions the tokens around those blocks. Normalisation and the FFN are
token-wise, so running a whole block per window equals windowing only its
attention. The class token joins every window (it attends to that window's
patches and they to it) and leaves as the mean of its per-window outputs;
with a single window covering the grid this is exactly global attention.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models import BEiTViT

from mmconmim.registry import MODELS
from ..utils.vit_tokens import add_cls_and_position


def window_partition(patches: torch.Tensor, window: int
                     ) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """(B, H, W, C) -> (B * nH * nW, window * window, C), zero-padding the
    grid at the bottom/right to a multiple of ``window``; returns the padded
    grid size too."""
    B, H, W, C = patches.shape
    pad_h, pad_w = (-H) % window, (-W) % window
    patches = F.pad(patches, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    windows = patches.view(B, Hp // window, window, Wp // window, window, C)
    windows = windows.permute(0, 1, 3, 2, 4, 5)
    return windows.reshape(-1, window * window, C), (Hp, Wp)


def window_merge(windows: torch.Tensor, window: int, padded: Tuple[int, int],
                 grid: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (B, H, W, C), padding
    dropped."""
    (Hp, Wp), (H, W) = padded, grid
    C = windows.shape[-1]
    patches = windows.view(-1, Hp // window, Wp // window, window, window, C)
    patches = patches.permute(0, 1, 3, 2, 4, 5).reshape(-1, Hp, Wp, C)
    return patches[:, :H, :W]


def padding_key_bias(grid: Tuple[int, int], window: int, num_extra: int,
                     device: torch.device) -> Optional[torch.Tensor]:
    """Additive attention bias (num_windows, 1, 1, num_extra + window**2)
    that is -inf at padded key positions, or None when nothing is padded."""
    H, W = grid
    if H % window == 0 and W % window == 0:
        return None
    valid = torch.ones(1, H, W, 1, device=device)
    valid, _ = window_partition(valid, window)  # (nW, w*w, 1)
    valid = valid[..., 0].bool()
    extra = torch.ones(valid.shape[0], num_extra, dtype=torch.bool,
                       device=device)
    valid = torch.cat([extra, valid], dim=1)
    bias = torch.zeros(valid.shape, device=device)
    bias.masked_fill_(~valid, float('-inf'))
    return bias[:, None, None, :]


@MODELS.register_module()
class WindowedBEiTViT(BEiTViT):
    """:class:`BEiTViT` whose blocks attend within windows, except
    ``global_attn_indexes`` (ViTDet).

    Args:
        window_size (int): Side of the square attention windows, in tokens.
            ViTDet: 14. A window that covers the whole grid gives global
            attention.
        global_attn_indexes (Sequence[int]): Blocks that attend globally
            (indices from 0; negative ones count from the end). ViTDet:
            (2, 5, 8, 11) for ViT-B, (5, 11, 17, 23) for ViT-L.
        **kwargs: :class:`BEiTViT` arguments. The shared relative position
            bias (``use_shared_rel_pos_bias=True``, the pre-training layout)
            is sized for the whole grid and cannot be used with windows: use
            per-block tables (``use_rel_pos_bias=True``), which
            ``BEiTViT`` fills from a shared pre-trained table on load.
    """

    def __init__(self,
                 window_size: int = 14,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
                 layer_cfgs: dict = dict(),
                 **kwargs) -> None:
        if not isinstance(window_size, int) or window_size < 1:
            raise ValueError(
                f'WindowedBEiTViT: window_size must be a positive int (tokens '
                f'per side; ViTDet uses 14), got {window_size!r}')
        if kwargs.get('use_shared_rel_pos_bias', False):
            raise ValueError(
                'WindowedBEiTViT: use_shared_rel_pos_bias=True gives one bias '
                'for the whole grid, which window blocks cannot use; set '
                'use_shared_rel_pos_bias=False, use_rel_pos_bias=True (a '
                'shared pre-trained table is copied into every block on load)')
        if not isinstance(layer_cfgs, dict):
            raise ValueError(
                'WindowedBEiTViT: layer_cfgs must be one dict for all blocks '
                '(the window blocks get their own window_size)')
        arch = kwargs.get('arch', 'base')
        num_layers = (arch['num_layers'] if isinstance(arch, dict) else
                      BEiTViT.arch_zoo[arch.lower()]['num_layers'])
        global_ids = self._normalise_indexes(global_attn_indexes, num_layers)
        # Window blocks are built by BEiTViT itself with a window-sized
        # relative position table; global blocks keep the whole grid's.
        per_layer = [
            dict(layer_cfgs) if i in global_ids else dict(
                layer_cfgs, window_size=(window_size, window_size))
            for i in range(num_layers)
        ]
        super().__init__(layer_cfgs=per_layer, **kwargs)
        self.window_size = window_size
        self.global_attn_indexes = tuple(sorted(global_ids))

    @staticmethod
    def _normalise_indexes(indexes: Sequence[int], num_layers: int) -> set:
        result = set()
        for index in indexes:
            if not -num_layers <= index < num_layers:
                raise ValueError(
                    f'WindowedBEiTViT: global_attn_indexes entry {index} is '
                    f'out of range for {num_layers} blocks')
            result.add(index % num_layers)
        return result

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        # BEiTViT.forward, with the window blocks run per window.
        x, grid = self.patch_embed(x)
        x = add_cls_and_position(self, x, grid)
        key_bias = padding_key_bias(grid, self.window_size,
                                    self.num_extra_tokens, x.device)

        outs = []
        for i, layer in enumerate(self.layers):
            if i in self.global_attn_indexes:
                x = layer(x, None)
            else:
                x = self._windowed_block(layer, x, grid, key_bias)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, grid))
        return tuple(outs)

    def _windowed_block(self, layer, x: torch.Tensor, grid: Tuple[int, int],
                        key_bias: Optional[torch.Tensor]) -> torch.Tensor:
        """One block over (B, extra + H*W, C) tokens, attention per window."""
        B, _, C = x.shape
        extra = self.num_extra_tokens
        patches = x[:, extra:].reshape(B, *grid, C)
        windows, padded = window_partition(patches, self.window_size)
        num_windows = windows.shape[0] // B
        if extra:
            # every window gets its own copy of the extra (class) token
            cls = x[:, :extra].unsqueeze(1).expand(B, num_windows, extra, C)
            windows = torch.cat([cls.reshape(-1, extra, C), windows], dim=1)
        bias = None
        if key_bias is not None:
            bias = key_bias.repeat(B, 1, 1, 1).to(windows.dtype)
        windows = layer(windows, bias)
        patches = window_merge(windows[:, extra:], self.window_size, padded,
                               grid).reshape(B, -1, C)
        if not extra:
            return patches
        cls = windows[:, :extra].reshape(B, num_windows, extra, C).mean(1)
        return torch.cat([cls, patches], dim=1)
