"""The DALL-E dVAE decoder (Ramesh et al., "Zero-Shot Text-to-Image
Generation", ICML 2021; architecture of the official ``dall_e`` package,
``dall_e/decoder.py``).

mmpretrain ships only the encoder (``type='DALL-E'``, ``DALLEEncoder`` in
``mmpretrain/models/selfsup/cae.py``); this is the missing decoder, built from
the same ``Conv2d`` (parameters named ``w``/``b``, fp16 on CUDA) so that the
official ``decoder.pkl`` weights load by key, strictly:

    blocks.input            1x1 conv vocab -> n_init (fp32)
    blocks.group_1..4       n_blk_per_group DecoderBlocks each, widths
                            8, 4, 2, 1 x n_hid; nearest x2 upsampling after
                            groups 1..3
    blocks.output           ReLU + 1x1 conv n_hid -> 2 * output_channels

    DecoderBlock(x) = id_path(x) + (1 / n_layers^2) * res_path(x)
    res_path = ReLU-1x1-ReLU-3x3-ReLU-3x3-ReLU-3x3, hidden width n_out / 4,
    n_layers = group_count * n_blk_per_group.

With the default arguments: 76 tensors, 43.8M parameters. The output is the
logit-Laplace parameter map (see :mod:`.logit_laplace`).

The input of the official decoder is a one-hot (B, vocab, h, w) float map.
Its first layer is a 1x1 convolution, i.e. linear in the one-hot vector, so
:meth:`DALLEDecoder.decode_ids` replaces it by a gather of weight columns
(exactly the same result, without the 8192-channel input).
"""
from collections import OrderedDict
from functools import partial

import torch
from mmengine.model import BaseModule
from mmpretrain.models.selfsup.cae import Conv2d
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_int


class DecoderBlock(nn.Module):
    """Residual block of the DALL-E decoder (official key layout)."""

    def __init__(self, n_in: int, n_out: int, n_layers: int,
                 use_float16: bool = True) -> None:
        super().__init__()
        check_int('DecoderBlock', 'n_in', n_in, min=1)
        check_int('DecoderBlock', 'n_out', n_out, min=4)
        if n_out % 4:
            raise ValueError(f'DecoderBlock: n_out must be divisible by 4, '
                             f'got {n_out}')
        check_int('DecoderBlock', 'n_layers', n_layers, min=1)
        self.n_hid = n_out // 4
        # Keeps the residual branches small at init (official post_gain).
        self.post_gain = 1 / (n_layers**2)

        make_conv = partial(Conv2d, use_float16=use_float16)
        self.id_path = make_conv(n_in, n_out, 1) \
            if n_in != n_out else nn.Identity()
        self.res_path = nn.Sequential(
            OrderedDict([
                ('relu_1', nn.ReLU()),
                ('conv_1', make_conv(n_in, self.n_hid, 1)),
                ('relu_2', nn.ReLU()),
                ('conv_2', make_conv(self.n_hid, self.n_hid, 3)),
                ('relu_3', nn.ReLU()),
                ('conv_3', make_conv(self.n_hid, self.n_hid, 3)),
                ('relu_4', nn.ReLU()),
                ('conv_4', make_conv(self.n_hid, n_out, 3)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.id_path(x) + self.post_gain * self.res_path(x)


@MODELS.register_module()
class DALLEDecoder(BaseModule):
    """DALL-E dVAE decoder: token ids (or their one-hot map) -> logit-Laplace
    parameters at 8x the grid resolution.

    Args:
        group_count (int): Only enters ``n_layers = group_count *
            n_blk_per_group`` (the residual gain), as in the official code;
            the layout always has 4 groups. Defaults to 4.
        n_init (int): Width after the input conv. Defaults to 128.
        n_hid (int): Base width (groups are 8, 4, 2, 1 x n_hid).
            Defaults to 256.
        n_blk_per_group (int): Blocks per group. Defaults to 2.
        output_channels (int): Image channels; the output has twice as many
            (location logits and log-scales). Defaults to 3.
        vocab_size (int): Number of visual tokens. Defaults to 8192.
        use_float16 (bool): Run the inner convs in fp16 on CUDA, as the
            official decoder does (the input conv always stays fp32).
            Defaults to True.
        init_cfg (dict, optional): Initialisation config. The convolutions
            are initialised at construction (normal, std 1/sqrt(fan_in)).
    """

    def __init__(self,
                 group_count: int = 4,
                 n_init: int = 128,
                 n_hid: int = 256,
                 n_blk_per_group: int = 2,
                 output_channels: int = 3,
                 vocab_size: int = 8192,
                 use_float16: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        owner = type(self).__name__
        # The official attrs validators.
        check_int(owner, 'group_count', group_count, min=1)
        check_int(owner, 'n_init', n_init, min=8)
        check_int(owner, 'n_hid', n_hid, min=64)
        check_int(owner, 'n_blk_per_group', n_blk_per_group, min=1)
        check_int(owner, 'output_channels', output_channels, min=1)
        check_int(owner, 'vocab_size', vocab_size, min=512)
        self.vocab_size = vocab_size
        self.output_channels = output_channels
        self.downsample = 8  # three nearest x2 upsamplings

        blk_range = range(n_blk_per_group)
        n_layers = group_count * n_blk_per_group
        make_conv = partial(Conv2d, use_float16=use_float16)
        make_blk = partial(
            DecoderBlock, n_layers=n_layers, use_float16=use_float16)

        def group(n_in, n_out, upsample):
            layers = [(f'block_{i + 1}', make_blk(n_in if i == 0 else n_out,
                                                  n_out)) for i in blk_range]
            if upsample:
                layers.append(('upsample',
                               nn.Upsample(scale_factor=2, mode='nearest')))
            return nn.Sequential(OrderedDict(layers))

        self.blocks = nn.Sequential(
            OrderedDict([
                ('input', make_conv(vocab_size, n_init, 1,
                                    use_float16=False)),
                ('group_1', group(n_init, 8 * n_hid, True)),
                ('group_2', group(8 * n_hid, 4 * n_hid, True)),
                ('group_3', group(4 * n_hid, 2 * n_hid, True)),
                ('group_4', group(2 * n_hid, 1 * n_hid, False)),
                ('output',
                 nn.Sequential(
                     OrderedDict([
                         ('relu', nn.ReLU()),
                         ('conv', make_conv(n_hid, 2 * output_channels, 1)),
                     ]))),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Official interface: a float32 one-hot map (B, vocab, h, w) ->
        (B, 2 * output_channels, 8h, 8w)."""
        if x.dim() != 4:
            raise ValueError(f'input shape {tuple(x.shape)} is not 4d')
        if x.shape[1] != self.vocab_size:
            raise ValueError(f'input has {x.shape[1]} channels but the '
                             f'decoder was built for {self.vocab_size}')
        if x.dtype != torch.float32:
            raise ValueError('input must have dtype torch.float32')
        return self.blocks(x)

    def _check_id_range(self, ids: torch.Tensor) -> None:
        """Out-of-range ids would index the weight table wrongly (negative
        ones wrap around silently). On CPU this raises at once; on an
        accelerator reading the answer back would stall every training step
        on a device-to-host sync, so the check is queued with
        ``torch._assert_async`` and a failure surfaces at the next
        synchronisation (as a device-side assert that ends the process).
        """
        if not ids.numel():
            return
        message = f'token ids must lie in [0, {self.vocab_size})'
        in_range = (ids.min() >= 0) & (ids.max() < self.vocab_size)
        if ids.device.type == 'cpu':
            if not in_range:
                raise ValueError(message)
        else:
            torch._assert_async(in_range, message)

    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, h, w) -> (B, 2 * output_channels, 8h, 8w).

        Equal to ``forward(one_hot(ids))``: the input 1x1 conv applied to a
        one-hot vector picks one column of its weight, so a gather replaces
        the (B, vocab, h, w) float map.
        """
        if ids.dim() != 3:
            raise ValueError(f'token ids must be (B, h, w), got '
                             f'{tuple(ids.shape)}')
        if ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f'token ids must be integers, got {ids.dtype}')
        self._check_id_range(ids)
        conv = self.blocks.input
        table = conv.w[:, :, 0, 0].float().t()  # (vocab, n_init)
        x = table[ids.long()].permute(0, 3, 1, 2) + conv.b.float().view(
            1, -1, 1, 1)
        for name, module in self.blocks.named_children():
            if name != 'input':
                x = module(x)
        return x
