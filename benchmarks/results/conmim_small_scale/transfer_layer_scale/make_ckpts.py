"""Backbones for the transfer trials of docs/conmim_small_scale.md section 9.

* untrained ConMIM demo backbones (mmpretrain init) at each layer scale,
  saved like a pre-training checkpoint and exported with
  tools/model_converters/export_backbone.py (work_dirs/detexp/init_lsX.pth;
  the trials used 1.0, 0.1, 0.3, 0.5 -> init_ls1, init_ls01, init_ls03,
  init_ls05);
* with --scale-gammas BACKBONE: that exported backbone with its layer-scale
  factors multiplied by 0.1 (work_dirs/detexp/pre_g01.pth).

Run from the repository root:
  python benchmarks/results/conmim_small_scale/transfer_layer_scale/make_ckpts.py \
      --layer-scales 1.0 0.1 0.3 0.5 --scale-gammas work_dirs/conmim_demo_transfer/backbone.pth
"""
import argparse
import os
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import mmconmim  # noqa: F401
from mmconmim.checkpoint import load_file
from mmpretrain.registry import MODELS

OUT = 'work_dirs/detexp'


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--layer-scales', type=float, nargs='*', default=[])
    p.add_argument('--scale-gammas', metavar='BACKBONE')
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    init_default_scope('mmpretrain')
    for ls in a.layer_scales:
        name = 'init_ls' + f'{ls:g}'.replace('.', '')
        cfg = Config.fromfile('configs/demo/conmim_demo.py')
        cfg.model.backbone.layer_scale_init_value = ls
        set_random_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        train = f'{OUT}/{name}_train.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, train)
        subprocess.run([sys.executable,
                        'tools/model_converters/export_backbone.py', train,
                        f'{OUT}/{name}.pth', '--force'], check=True)
    if a.scale_gammas:
        ckpt = load_file(a.scale_gammas)
        for key in ckpt['state_dict']:
            if 'gamma' in key:
                ckpt['state_dict'][key] = ckpt['state_dict'][key] * 0.1
        torch.save(ckpt, f'{OUT}/pre_g01.pth')


if __name__ == '__main__':
    main()
