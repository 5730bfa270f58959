"""BEiT attention through ``F.scaled_dot_product_attention``.

mmpretrain's ``BEiTAttention`` materialises ``softmax(q k^T * scale + B) v``
step by step (three full (B, H, N, N) tensors kept for backward). The fused
kernel computes the same function with the relative position bias ``B``
passed as an additive float mask, so the bias (shared or per layer) still
receives its gradient. Numerically equal to the unfused path in fp32 (tested
to 1e-5); state dict unchanged.
"""
import torch
import torch.nn.functional as F
from mmpretrain.models.utils.attention import BEiTAttention


class FusedBEiTAttention(BEiTAttention):
    """Drop-in ``BEiTAttention`` with a fused attention kernel."""

    def forward(self, x, rel_pos_bias=None):
        B, N, C = x.shape
        if self.bias == 'qv_bias':
            qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias),
                                  self.v_bias))
            qkv = F.linear(x, self.qkv.weight, qkv_bias)
        else:
            qkv = self.qkv(x)
        q, k, v = qkv.reshape(B, N, 3, self.num_heads,
                              -1).permute(2, 0, 3, 1, 4).unbind(0)

        bias = None
        if self.relative_position_bias_table is not None:
            Wh, Ww = self.window_size
            bias = self.relative_position_bias_table[
                self.relative_position_index.view(-1)].view(
                    Wh * Ww + 1, Wh * Ww + 1, -1).permute(2, 0, 1)
        if rel_pos_bias is not None:
            bias = rel_pos_bias if bias is None else bias + rel_pos_bias
        if bias is not None:
            # a (1, H, N, N) mask in the computation dtype
            bias = bias.unsqueeze(0).to(q.dtype)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias,
            dropout_p=self.attn_drop.p if self.training else 0.,
            scale=self.scale)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


def use_fused_attention(module: torch.nn.Module) -> int:
    """Switch every ``BEiTAttention`` inside ``module`` to the fused forward
    (same parameters and buffers, so this is a class change only). Returns
    the number of attention modules switched."""
    count = 0
    for sub in module.modules():
        if type(sub) is BEiTAttention:
            sub.__class__ = FusedBEiTAttention
            count += 1
    return count
