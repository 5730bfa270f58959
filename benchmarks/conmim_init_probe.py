"""Frozen features of an UNTRAINED ConMIM backbone, per initialisation.

Issue 25, docs/conmim_small_scale.md section 8: at small budgets ConMIM's
teacher starts ~20 kNN points below a random plain ViT. This probe builds
the ConMIMViT of the small-scale driver (128 wide x 4 layers, shared
relative position bias, no absolute position embedding, mask-token code
0.2) with each initialisation below and each layer-scale value, and scores
the mean-pooled patch tokens and the CLS token by weighted kNN (k 20,
T 0.07) and the patch mean by a linear probe, as the driver does.

Initialisations:

* ``paper``: the official ConMIM/BEiT one (``weight_init='paper'``: std
  0.02 truncated at +-std, then the attention/FFN outputs divided by
  sqrt(2 * layer));
* ``paper_trunc2``: the same std truncated at +-2 std (timm's usual);
* ``paper_norescale``: ``paper`` without the sqrt(2 * layer) division;
* ``mmpretrain``: ``weight_init='mmpretrain'`` (BEiTPretrainViT's: xavier
  uniform Linear layers);
* ``pytorch``: the modules' own defaults (kaiming-uniform Linear).

Usage::

    python benchmarks/conmim_init_probe.py --data work_dirs/photo_regions
    python benchmarks/conmim_init_probe.py --data work_dirs/halves32 \\
        --img-size 32 --patch-size 4
"""
import argparse
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

INITS = ('paper', 'paper_trunc2', 'paper_norescale', 'mmpretrain', 'pytorch')


def build_backbone(a, init, layer_scale, seed):
    import torch
    from mmengine.model.weight_init import trunc_normal_
    from mmengine.registry import DefaultScope
    from torch import nn

    import conmim_small_scale as driver
    from mmconmim.registry import MODELS
    args = argparse.Namespace(**vars(driver.parse_args([
        '--data', a.data, '--img-size', str(a.img_size), '--patch-size',
        str(a.patch_size), '--mask-pos-scale', '0.2'])))
    args.layer_scale = layer_scale
    args.weight_init = 'mmpretrain' if init in ('mmpretrain',
                                                'pytorch') else 'paper'
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        vit = MODELS.build(driver.model_cfg(args)['backbone'])
    if init != 'pytorch':
        vit.init_weights()
    if init in ('paper_trunc2', 'paper_norescale'):
        for module in vit.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                bound = 0.04 if init == 'paper_trunc2' else 0.02
                trunc_normal_(module.weight, std=0.02, a=-bound, b=bound)
        if init == 'paper_trunc2':
            vit.rescale_init_weight()
    vit.eval()  # mmpretrain backbones' train() returns None
    return vit


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True,
                   help='labelled folder with train/ and val/')
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--patch-size', type=int, default=8)
    p.add_argument('--seeds', type=int, default=2)
    p.add_argument('--layer-scales', type=float, nargs='+',
                   default=[0.1, 1.0], metavar='GAMMA')
    p.add_argument('--inits', nargs='+', choices=INITS, default=list(INITS))
    a = p.parse_args()
    import mmconmim
    mmconmim.apply_compat_fixes()
    from mmengine.logging import MMLogger

    import conmim_small_scale as driver
    MMLogger.get_current_instance().setLevel('WARNING')
    sets = driver.eval_batches(a)
    from mmconmim.compare.report import cpu_model
    cpu = cpu_model()
    print(f'# {a.data}, {a.img_size} px / {a.patch_size}-px patches, '
          f'CPU {cpu}')
    print('| init | layer scale | seed | kNN (patch mean) | kNN (CLS) | '
          'linear |')
    print('|---|---|---|---|---|---|')
    for layer_scale in a.layer_scales:
        for init in a.inits:
            for seed in range(a.seeds):
                knn, knn_cls, lin = driver.frozen_scores(
                    build_backbone(a, init, layer_scale, seed), sets)
                print(f'| {init} | {layer_scale} | {seed} | {knn:.1f} | '
                      f'{knn_cls:.1f} | {lin:.1f} |', flush=True)


if __name__ == '__main__':
    main()
