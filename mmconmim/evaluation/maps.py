"""Spatial views of a representation: patch-similarity and CLS-attention
maps (``tools/visualization/vis_patch_similarity.py``,
``tools/visualization/vis_cls_attention.py``).

* **Patch similarity** (ConMIM, Yi et al. ICLR 2023, Fig. 1 / Sec. 4.4): the
  cosine similarity between the embedding of a query patch and the
  embeddings of every patch of the same image. ``embedding='backbone'``
  takes the encoder's last-layer patch tokens (what the paper's figure
  shows); ``'projected'`` passes them through ConMIM's token-wise projector
  first (the space the denoising-contrast loss compares in).
* **CLS attention**: the softmax attention of the CLS token to the patch
  tokens in one transformer layer, averaged over heads. mmpretrain's
  attention modules return no weights, so a forward pre-hook captures the
  layer's attention input (and the shared relative position bias passed to
  it) and :func:`attention_weights` recomputes q, k and the softmax with the
  module's own parameters.
"""
import functools
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.utils.attention import (BEiTAttention,
                                               MultiheadAttention)
from torch import nn

from mmconmim.models.utils.fused_attention import beit_attention_logits
from .features import (backbone_forward, eval_pipeline, mmpretrain_scope,
                       preprocess_single_view)


def sample_paths(cfg, num: int) -> List[str]:
    """The first ``num`` image paths of a config's training set."""
    from mmconmim.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return [dataset.get_data_info(i)['img_path']
            for i in range(min(num, len(dataset)))]


def load_images(paths: Sequence[str], img_size: int, model: nn.Module
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Resize the short edge to ``img_size`` and centre-crop a square.

    Returns:
        the (B, 3, S, S) inputs after ``model.data_preprocessor`` and the
        (B, S, S, 3) RGB crops in [0, 1] for display.
    """
    from mmengine.dataset import Compose, default_collate
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(f'no such image: {missing[0]}')
    with mmpretrain_scope():
        pipeline = Compose(eval_pipeline(img_size, crop_ratio=1.))
    batch = default_collate([pipeline(dict(img_path=p)) for p in paths])
    rgb = batch['inputs'].flip(1).permute(0, 2, 3, 1).float() / 255.
    inputs = preprocess_single_view(model, batch)
    return inputs, rgb


def _extra_tokens(backbone: nn.Module) -> int:
    extra = getattr(backbone, 'num_extra_tokens', None)
    if extra is None:
        extra = 1 if getattr(backbone, 'cls_token', None) is not None else 0
    return extra


def patch_grid(backbone: nn.Module, inputs: torch.Tensor
               ) -> Tuple[int, int]:
    """The (h, w) patch grid of a ViT for ``inputs``."""
    patch_embed = getattr(backbone, 'patch_embed', None)
    if patch_embed is None:
        raise TypeError(f'{type(backbone).__name__} is not a ViT (no '
                        'patch_embed)')
    stride = patch_embed.projection.stride
    return inputs.shape[-2] // stride[0], inputs.shape[-1] // stride[1]


@torch.no_grad()
def patch_embeddings(backbone: nn.Module, inputs: torch.Tensor,
                     projector: Optional[nn.Module] = None) -> torch.Tensor:
    """Last-layer patch embeddings as a (B, h, w, C) grid.

    ViT token outputs drop their extra (CLS) tokens; CNN / ``featmap``
    outputs are used position by position. ``projector`` (ConMIM's neck) is
    applied token-wise to the (B * L, C) token matrix, CLS included, as in
    ConMIM's loss.
    """
    outs = backbone_forward(backbone, inputs)
    while isinstance(outs, (tuple, list)):
        outs = outs[-1]
    if outs.dim() == 4:  # (B, C, h, w)
        if projector is not None:
            raise ValueError('projected embeddings need token outputs '
                             "(a ViT with out_type='raw')")
        return outs.permute(0, 2, 3, 1)
    if outs.dim() != 3:
        raise ValueError(f'cannot read patch embeddings from an output of '
                         f'shape {tuple(outs.shape)}')
    B, L, C = outs.shape
    if projector is not None:
        outs = projector((outs.reshape(B * L, C), ))[0].view(B, L, -1)
    h, w = patch_grid(backbone, inputs)
    tokens = outs[:, _extra_tokens(backbone):]
    if tokens.shape[1] != h * w:
        raise ValueError(f'{tokens.shape[1]} patch tokens do not form the '
                         f'{h}x{w} patch grid')
    return tokens.reshape(B, h, w, -1)


def check_queries(queries: Sequence[Tuple[int, int]], grid: Tuple[int, int]
                  ) -> List[Tuple[int, int]]:
    h, w = grid
    checked = []
    for query in queries:
        r, c = (int(v) for v in query)
        if not (0 <= r < h and 0 <= c < w):
            raise ValueError(
                f'query patch (row {r}, col {c}) is outside the {h}x{w} patch'
                f' grid (rows 0..{h - 1}, cols 0..{w - 1})')
        checked.append((r, c))
    return checked


def default_queries(grid: Tuple[int, int], num: int = 3
                    ) -> List[Tuple[int, int]]:
    """``num`` query patches evenly spread along the grid's diagonal."""
    h, w = grid
    return [(int((i + 0.5) * h / num), int((i + 0.5) * w / num))
            for i in range(num)]


def similarity_maps(grid_feats: torch.Tensor,
                    queries: Sequence[Tuple[int, int]]) -> torch.Tensor:
    """Cosine similarity of each query patch to every patch.

    Args:
        grid_feats: (h, w, C) patch embeddings of one image.
        queries: (row, col) patch coordinates.

    Returns:
        (Q, h, w) similarities in [-1, 1]; 1 at the query itself.
    """
    h, w, _ = grid_feats.shape
    queries = check_queries(queries, (h, w))
    feats = F.normalize(grid_feats.float(), dim=-1)
    return torch.stack([
        (feats * feats[r, c]).sum(-1) for r, c in queries
    ])


def attention_weights(attn: nn.Module, x: torch.Tensor,
                      rel_pos_bias: Optional[torch.Tensor] = None
                      ) -> torch.Tensor:
    """Softmax attention (B, heads, N, N) of an mmpretrain attention module
    for its input ``x`` (B, N, C), recomputed with the module's weights.

    Supports ``BEiTAttention`` (q/v bias, its own relative position bias
    table and a shared ``rel_pos_bias``) and ``MultiheadAttention``.
    """
    if isinstance(attn, BEiTAttention):
        logits = beit_attention_logits(attn, x, rel_pos_bias)[0]
    elif isinstance(attn, MultiheadAttention):
        B, N, _ = x.shape
        qkv = attn.qkv(x).reshape(B, N, 3, attn.num_heads,
                                  attn.head_dims).permute(2, 0, 3, 1, 4)
        sdpa = attn.scaled_dot_product_attention
        if isinstance(sdpa, functools.partial):  # mmpretrain's python impl.
            logits = qkv[0] @ qkv[1].transpose(-2, -1) / sdpa.keywords[
                'scale']
        else:
            logits = qkv[0] @ qkv[1].transpose(-2, -1) * attn.head_dims**-0.5
    else:
        raise TypeError(f'attention weights of {type(attn).__name__} are not'
                        ' supported (BEiTAttention, MultiheadAttention)')
    return logits.softmax(dim=-1)


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    layers = getattr(backbone, 'layers', None)
    if not isinstance(layers, nn.ModuleList) or not all(
            hasattr(layer, 'attn') for layer in layers):
        raise TypeError(
            f'{type(backbone).__name__} has no transformer layers with '
            'attention (CLS-attention maps need a ViT backbone)')
    return layers


@torch.no_grad()
def capture_attention(backbone: nn.Module, inputs: torch.Tensor,
                      layer: int = -1) -> torch.Tensor:
    """Run ``backbone`` without mask and return the attention weights
    (B, heads, N, N) of ``layers[layer]``."""
    layers = transformer_layers(backbone)
    if not -len(layers) <= layer < len(layers):
        raise ValueError(f'layer {layer} does not exist: the backbone has '
                         f'{len(layers)} layers')
    attn = layers[layer].attn
    captured = {}

    def hook(module, args, kwargs):
        captured['x'] = args[0] if args else kwargs['x']
        captured['rel_pos_bias'] = kwargs.get(
            'rel_pos_bias', args[1] if len(args) > 1 else None)

    handle = attn.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        backbone_forward(backbone, inputs)
    finally:
        handle.remove()
    return attention_weights(attn, captured['x'], captured['rel_pos_bias'])


def cls_attention_maps(backbone: nn.Module, inputs: torch.Tensor,
                       layer: int = -1) -> torch.Tensor:
    """Attention of the CLS token to every patch, averaged over heads:
    (B, h, w); each map sums to 1 minus the CLS token's attention to
    itself (and to other extra tokens)."""
    transformer_layers(backbone)  # a ViT?
    if _extra_tokens(backbone) < 1 or getattr(backbone, 'cls_token',
                                              None) is None:
        raise TypeError(f'{type(backbone).__name__} has no CLS token')
    weights = capture_attention(backbone, inputs, layer)
    h, w = patch_grid(backbone, inputs)
    cls_row = weights[:, :, 0, _extra_tokens(backbone):].mean(dim=1)
    return cls_row.reshape(-1, h, w)
