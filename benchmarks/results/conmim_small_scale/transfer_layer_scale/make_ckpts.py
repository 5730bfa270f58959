"""Untrained demo backbones at a layer scale, exported like a pre-training checkpoint;
the pre-trained layer-scale-1.0 demo backbone with its gammas x 0.1 (run 1: 1.0 / 0.1, run 2: 0.3 / 0.5)."""
import torch, sys, subprocess
from mmengine.config import Config
from mmengine.runner import set_random_seed
import mmconmim  # noqa
from mmpretrain.registry import MODELS
from mmengine.registry import init_default_scope
init_default_scope('mmpretrain')
out = 'work_dirs/detexp'
for name, ls in [('init_ls1', 1.0), ('init_ls01', 0.1)]:
    cfg = Config.fromfile('configs/demo/conmim_demo.py')
    cfg.model.backbone.layer_scale_init_value = ls
    set_random_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, f'{out}/{name}_train.pth')
    subprocess.run([sys.executable, 'tools/model_converters/export_backbone.py', f'{out}/{name}_train.pth', f'{out}/{name}.pth', '--force'], check=True)
sd = torch.load('/work/democlone/work_dirs/conmim_demo_transfer/backbone.pth', map_location='cpu', weights_only=False)
for k in sd['state_dict']:
    if 'gamma' in k:
        sd['state_dict'][k] = sd['state_dict'][k] * 0.1
torch.save(sd, f'{out}/pre_g01.pth')
for n in ['init_ls1', 'init_ls01']:
    s = torch.load(f'{out}/{n}.pth', map_location='cpu', weights_only=False)['state_dict']
    print(n, len(s), float(s['backbone.layers.0.gamma_1'].mean()), float(s['backbone.layers.0.attn.qkv.weight'].std()))
s = torch.load('/work/democlone/work_dirs/conmim_demo_transfer/backbone.pth', map_location='cpu', weights_only=False)['state_dict']
print('pre', float(s['backbone.layers.0.attn.qkv.weight'].std()))
