"""How much of the last layer's token is still the token's own input (patch embedding + position)."""
import glob, sys, torch, numpy as np
from PIL import Image
from mmengine.config import Config
import mmconmim  # noqa
from mmconmim.checkpoint import load_file
from mmengine.registry import init_default_scope
init_default_scope('mmpretrain')
from mmpretrain.registry import MODELS
cfg = Config.fromfile('configs/demo/mask-rcnn_conmim-demo_fpn_1xb8-200iters_photo-mosaics-64x64.py')
bcfg = cfg.model.backbone.copy(); bcfg.pop('init_cfg', None)
bcfg['type'] = 'mmpretrain.BEiTViT' if 'BEiT' in bcfg['type'] else bcfg['type']
bcfg['out_indices'] = (0, 1, 2, 3)
files = sorted(glob.glob('work_dirs/photo_regions/val/*/*'))[::4][:128]
x = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert('RGB').resize((64, 64)), dtype=np.float32)).permute(2, 0, 1) for f in files])
mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1); std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
x = (x - mean) / std
print('| backbone | layer scale (mean gamma) | cos(layer-4 token, its input) | norm ratio layer 4 / input |')
print('|---|---|---|---|')
for name in sys.argv[1:]:
    torch.manual_seed(0)
    vit = MODELS.build(bcfg)
    if name != 'random':
        sd = load_file(name)['state_dict']
        sd = {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}
        missing = vit.load_state_dict(sd, strict=False)
    else:
        vit.init_weights()
    vit.eval()
    cap = {}
    h = vit.patch_embed.register_forward_hook(lambda m, i, o: cap.__setitem__('pe', o[0]))
    with torch.no_grad():
        outs = vit(x)
        inp = cap['pe'] + (vit.pos_embed[:, 1:] if vit.pos_embed is not None else 0)
    last = outs[-1].flatten(2).transpose(1, 2)  # B, N, C
    cos = torch.nn.functional.cosine_similarity(last, inp, dim=-1).mean().item()
    ratio = (last.norm(dim=-1) / inp.norm(dim=-1)).mean().item()
    g = np.mean([p.mean().item() for n, p in vit.named_parameters() if 'gamma' in n])
    print(f'| {name} | {g:.2f} | {cos:.2f} | {ratio:.2f} |')
