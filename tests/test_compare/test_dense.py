"""The comparison's dense column: mosaics in mmseg's layout, a frozen-
backbone linear head and a fine-tuned FCN trained by mmseg's runner."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmconmim.compare.dense import (CONFIG_FILE, dense_config,
                                    dense_transfer, prepare_seg_data)
from tests.test_compare.conftest import (BEIT_CFG, CLASSES, IMG, VIT_CFG,
                                         load_weights)

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
TILE = IMG // 2  # 2x2 mosaics of IMG px: one inference window each


@pytest.fixture(scope='module')
def seg_data(compare_data):
    out = str(compare_data['root'] / 'mosaics')
    prepare_seg_data(compare_data['eval_data'], out, seed=0,
                     tile_size=TILE, grids=((2, 2), ))
    return out


def saved_segmentor(mode_dir, iters):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(mode_dir, CONFIG_FILE))
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['init_cfg'] = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(model_cfg)
    model.load_state_dict(load_weights(
        osp.join(mode_dir, f'iter_{iters}.pth')))
    return model.eval()


def recomputed_miou(model, seg_data, num_classes):
    """mIoU in percent with our own reading, normalisation and counting:
    per class intersection / union over all val pixels, mean over the
    classes present in the labels or the predictions."""
    inter = np.zeros(num_classes)
    union = np.zeros(num_classes)
    img_dir = osp.join(seg_data, 'img_dir', 'val')
    for file in sorted(os.listdir(img_dir)):
        rgb = np.asarray(Image.open(osp.join(img_dir, file)).convert('RGB'))
        label = np.asarray(Image.open(osp.join(
            seg_data, 'ann_dir', 'val', osp.splitext(file)[0] + '.png')))
        assert rgb.shape[:2] == (IMG, IMG)  # a single window
        x = (torch.from_numpy(rgb.copy()).permute(2, 0, 1).float()
             - MEAN) / STD
        with torch.no_grad():
            logits = model.decode_head(model.extract_feat(x[None]))
            logits = torch.nn.functional.interpolate(
                logits, size=(IMG, IMG), mode='bilinear',
                align_corners=False)
        pred = logits[0].argmax(0).numpy()
        valid = label != 255
        for c in range(num_classes):
            p, t = (pred == c) & valid, (label == c) & valid
            inter[c] += (p & t).sum()
            union[c] += (p | t).sum()
    present = union > 0
    return 100. * float(np.mean(inter[present] / union[present]))


def test_mosaics_are_in_mmseg_layout(seg_data):
    with open(osp.join(seg_data, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['classes'] == list(CLASSES)
    for split in ('train', 'val'):
        names = sorted(os.listdir(osp.join(seg_data, 'img_dir', split)))
        assert names == sorted(os.listdir(osp.join(seg_data, 'ann_dir',
                                                   split)))
        assert len(names) == len(meta['splits'][split])
    with pytest.raises(FileExistsError, match='other files'):
        prepare_seg_data(seg_data + '/..', seg_data + '/..', seed=0)


def test_linear_keeps_the_backbone_and_miou_is_recomputed(
        compare_data, seg_data, tmp_path):
    result = dense_transfer(compare_data['beit'], BEIT_CFG, seg_data,
                            iters=4, seed=0, work_dir=str(tmp_path),
                            img_size=IMG, modes=('linear', ), batch_size=4)
    assert result['finetune_miou'] is None and result['seconds'] > 0
    mode_dir = str(tmp_path / 'linear')
    saved = load_weights(osp.join(mode_dir, 'iter_4.pth'))
    export = load_weights(compare_data['beit'])
    backbone = {k: v for k, v in saved.items() if k.startswith('backbone.')}
    # every backbone weight (buffers rebuilt from the geometry aside) is
    # bit-identical to the export after training the head
    compared = [k for k in backbone if not k.endswith('position_index')]
    assert len(compared) >= 20
    for key in compared:
        assert torch.equal(backbone[key], export[key]), key
    head = 'decode_head.conv_seg.weight'
    assert saved[head].shape == (len(CLASSES), 64, 1, 1)  # linear: 1x1
    model = saved_segmentor(mode_dir, 4)
    assert result['linear_miou'] == pytest.approx(
        recomputed_miou(model, seg_data, len(CLASSES)), abs=0.006)


def test_finetune_on_a_users_dataset_with_classes_given(
        compare_data, seg_data, tmp_path):
    # one's own mmseg dataset: no meta.json, classes passed
    own = str(tmp_path / 'own')
    shutil.copytree(seg_data, own, ignore=shutil.ignore_patterns('*.json'))
    with pytest.raises(FileNotFoundError, match='classes='):
        dense_transfer(compare_data['vit'], VIT_CFG, own, iters=2, seed=0,
                       work_dir=str(tmp_path / 'w'), img_size=IMG)
    result = dense_transfer(compare_data['vit'], VIT_CFG, own, iters=4,
                            seed=0, work_dir=str(tmp_path / 'w'),
                            img_size=IMG, modes=('finetune', ),
                            classes=CLASSES, batch_size=4)
    assert result['linear_miou'] is None
    mode_dir = str(tmp_path / 'w' / 'finetune')
    saved = load_weights(osp.join(mode_dir, 'iter_4.pth'))
    export = load_weights(compare_data['vit'])  # bare keys
    key = 'layers.0.attn.qkv.weight'
    # loaded from the export, then 4 AdamW steps of <= 4e-4 each (lr 1e-4
    # x 16 x 4 / 16, layer decay)
    change = (saved['backbone.' + key] - export[key]).abs().max()
    assert 0 < change < 4 * 4e-4
    model = saved_segmentor(mode_dir, 4)
    assert result['finetune_miou'] == pytest.approx(
        recomputed_miou(model, own, len(CLASSES)), abs=0.006)


def test_finetune_layer_decay_per_parameter(compare_data, seg_data,
                                            tmp_path):
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    cfg = dense_config(compare_data['beit'], BEIT_CFG, seg_data,
                       mode='finetune', iters=10, seed=0,
                       work_dir=str(tmp_path), img_size=IMG, batch_size=8)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg['model'])
        wrapper = build_optim_wrapper(model, Config(cfg).optim_wrapper)
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for name, param in model.named_parameters():
            if any(param is p for p in group['params']):
                lrs[name] = (group['lr'], group['weight_decay'])
    # mmseg's BEiT recipe (batch 16 -> 8) x 16 for the short schedule
    base = 1e-4 * 16 * 8 / 16
    # 2 layers: ids 0 (embeddings), 1, 2, 3 (rest): lr * 0.65 ** (3 - id)
    assert lrs['backbone.patch_embed.projection.weight'] == (
        pytest.approx(base * 0.65**3), 0.05)
    assert lrs['backbone.layers.0.attn.qkv.weight'] == (
        pytest.approx(base * 0.65**2), 0.05)
    assert lrs['backbone.layers.1.ln1.weight'] == (
        pytest.approx(base * 0.65), 0.)
    assert lrs['backbone.cls_token'] == (pytest.approx(base * 0.65**3), 0.)
    # the new head at 10x (mmseg's SegFormer recipe)
    assert lrs['decode_head.conv_seg.weight'] == (pytest.approx(10 * base),
                                                  0.05)
    assert lrs['decode_head.convs.0.bn.weight'] == (
        pytest.approx(10 * base), 0.)


def test_bad_inputs_are_refused(compare_data, seg_data, tmp_path):
    args = (compare_data['beit'], BEIT_CFG, seg_data)
    kwargs = dict(iters=2, seed=0, work_dir=str(tmp_path / 'w'),
                  img_size=IMG)
    with pytest.raises(ValueError, match='modes must be'):
        dense_transfer(*args, modes=('linear', 'knn'), **kwargs)
    with pytest.raises(ValueError, match='iters must be'):
        dense_transfer(*args, **dict(kwargs, iters=-1))
    with pytest.raises(FileNotFoundError, match='img_dir'):
        dense_transfer(compare_data['beit'], BEIT_CFG,
                       compare_data['eval_data'], **kwargs)
    with pytest.raises(ValueError, match='differ'):
        dense_transfer(*args, classes=('a', 'b'), **kwargs)
    bad = str(tmp_path / 'bad')
    shutil.copytree(seg_data, bad)
    mask = osp.join(bad, 'ann_dir', 'val',
                    sorted(os.listdir(osp.join(bad, 'ann_dir', 'val')))[0])
    Image.fromarray(np.full((IMG, IMG), 7, np.uint8)).save(mask)
    with pytest.raises(ValueError, match=r'labels \[7\]'):
        dense_transfer(compare_data['beit'], BEIT_CFG, bad, **kwargs)
    assert not osp.exists(tmp_path / 'w')
