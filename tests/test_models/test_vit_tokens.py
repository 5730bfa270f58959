"""mmconmim.models.utils.vit_tokens: the CLS + position step that A2MIMViT
and WindowedBEiTViT share equals what mmpretrain's own forward feeds its
first block (the upstream code is the expectation), at the built size and
at another input size (the position embedding is resized)."""
import pytest
import torch
from mmpretrain.models import BEiTViT, VisionTransformer

from mmconmim.models.utils.vit_tokens import add_cls_and_position

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2,
            feedforward_channels=128)


class Seen(Exception):
    """Stops the forward at the first block (BEiT's relative position
    tables would not run at another size; what they get is the question)."""


def first_block_input(vit, x):
    def stop(module, args):
        raise Seen(args[0])

    handle = vit.layers[0].register_forward_pre_hook(stop)
    try:
        vit(x)
    except Seen as seen:
        return seen.args[0]
    finally:
        handle.remove()
    raise AssertionError('the first block did not run')


@pytest.mark.parametrize('cls', [VisionTransformer, BEiTViT])
@pytest.mark.parametrize('size', [32, 48])
def test_equals_the_upstream_forward(cls, size):
    torch.manual_seed(0)
    kwargs = dict(use_abs_pos_emb=True) if cls is BEiTViT else {}
    vit = cls(arch=ARCH, img_size=32, patch_size=8, drop_rate=0., **kwargs)
    vit.eval()  # mmpretrain's train() does not return the module
    if vit.pos_embed is not None:  # BEiT's starts at zero: make it count
        torch.nn.init.normal_(vit.pos_embed, std=1.)
    x = torch.randn(2, 3, size, size)
    tokens, grid = vit.patch_embed(x)
    ours = add_cls_and_position(vit, tokens, grid)
    assert ours.shape == (2, 1 + (size // 8) ** 2, 64)
    assert torch.equal(ours, first_block_input(vit, x))
    # and the position embedding was really added (not a no-op identity)
    assert not torch.equal(ours[:, 1:], tokens)
