"""The comparison's fine-tune column: mmpretrain ImageClassifier fine-tuned
end to end through mmengine's runner from an exported backbone."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmconmim.compare.finetune import (CONFIG_FILE, RESULT_FILE,
                                       finetune_backbone, finetune_config,
                                       schedule)
from tests.test_compare.conftest import (BEIT_CFG, CLASSES, IMG, VIT_CFG,
                                         load_weights, save_export)

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def run(data, work_dir, cfg=BEIT_CFG, key='beit', **kwargs):
    args = dict(iters=6, batch_size=8, lr=None, family='beit', seed=0,
                work_dir=str(work_dir), img_size=IMG)
    args.update(kwargs)
    return finetune_backbone(data[key], cfg, data['eval_data'], **args)


def build_saved_classifier(work_dir, iters):
    """The classifier of ``finetune_config.py`` with ``iter_<iters>.pth``."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(work_dir, CONFIG_FILE))
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['init_cfg'] = None
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    model.load_state_dict(load_weights(
        osp.join(work_dir, f'iter_{iters}.pth')))
    return model.eval()


def recomputed_accuracy(model, val_root, k=5):
    """Top-1/top-k of ``model`` on the PNG class folders, with our own
    reading and normalisation (the crops are already ``IMG`` px)."""
    hits1 = hitsk = total = 0
    for label, name in enumerate(CLASSES):
        folder = osp.join(val_root, name)
        for file in sorted(os.listdir(folder)):
            rgb = np.asarray(Image.open(osp.join(folder, file)).convert('RGB'))
            x = (torch.from_numpy(rgb.copy()).permute(2, 0, 1).float()
                 - MEAN) / STD
            with torch.no_grad():
                logits = model(x[None], mode='tensor')[0]
            ranked = logits.argsort(descending=True).tolist()
            hits1 += ranked[0] == label
            hitsk += label in ranked[:k]
            total += 1
    return 100. * hits1 / total, 100. * hitsk / total


def test_accuracy_recomputed_from_the_saved_weights(compare_data, tmp_path):
    work = tmp_path / 'ft'
    result = run(compare_data, work)
    assert set(result) == {'top1', 'top5', 'iters', 'seconds'}
    assert result['iters'] == 6 and result['seconds'] > 0
    model = build_saved_classifier(str(work), 6)
    top1, top5 = recomputed_accuracy(
        model, osp.join(compare_data['eval_data'], 'val'))
    assert result['top1'] == pytest.approx(top1, abs=1e-4)
    assert result['top5'] == pytest.approx(top5, abs=1e-4)
    # the backbone started from the export (6 AdamW steps of <= 3.2e-5
    # each away from it) and was trained end to end
    export = load_weights(compare_data['beit'])
    tuned = load_weights(str(work / 'iter_6.pth'))
    key = 'backbone.layers.0.attn.qkv.weight'
    assert not torch.equal(export[key], tuned[key])
    assert (export[key] - tuned[key]).abs().max() < 6 * 3.2e-5
    assert osp.isfile(work / CONFIG_FILE)
    logs = [f for d in os.listdir(work) if osp.isdir(work / d)
            for f in os.listdir(work / d) if f.endswith('.log')]
    assert logs
    # a second call with the same config returns the stored result
    with open(work / RESULT_FILE) as f:
        assert json.load(f)['result'] == result
    assert run(compare_data, work) == result


def test_same_seed_same_numbers_and_weights(compare_data, tmp_path):
    kwargs = dict(cfg=VIT_CFG, key='vit', family='vit', iters=3, seed=3)
    first = run(compare_data, tmp_path / 'a', **kwargs)
    second = run(compare_data, tmp_path / 'b', **kwargs)
    assert (first['top1'], first['top5']) == (second['top1'],
                                              second['top5'])
    a = load_weights(str(tmp_path / 'a' / 'iter_3.pth'))
    b = load_weights(str(tmp_path / 'b' / 'iter_3.pth'))
    assert all(torch.equal(a[k], b[k]) for k in a)


def build_optimizer(compare_data, tmp_path, family, batch_size, lr=None,
                    lr_rule='linear'):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    cfg = finetune_config(
        compare_data['beit'], BEIT_CFG, compare_data['eval_data'], iters=10,
        batch_size=batch_size, lr=lr, family=family, seed=0,
        work_dir=str(tmp_path), img_size=IMG, lr_rule=lr_rule)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg['model'])
        wrapper = build_optim_wrapper(model, Config(cfg).optim_wrapper)
    return {name: group for group in wrapper.optimizer.param_groups
            for name in [group.get('param_name')]}


def test_layer_decay_gives_the_hand_computed_lrs(compare_data, tmp_path):
    # beit: 4e-3 at batch 1024 -> 3.125e-5 at batch 8; 2 layers, so the
    # depths are 0 (embeddings), 1, 2 (layers), 3 (norm, head): lr * 0.65
    # ** (3 - depth)
    groups = build_optimizer(compare_data, tmp_path, 'beit', 8)
    base = 4e-3 * 8 / 1024
    expected = {
        'backbone.patch_embed.projection.weight': base * 0.65**3,
        'backbone.cls_token': base * 0.65**3,
        'backbone.layers.0.attn.qkv.weight': base * 0.65**2,
        'backbone.layers.0.attn.relative_position_bias_table':
        base * 0.65**2,
        'backbone.layers.1.ffn.layers.1.weight': base * 0.65,
        'backbone.layers.1.gamma_1': base * 0.65,
        'backbone.ln2.weight': base,
        'head.fc.weight': base,
    }
    for name, lr in expected.items():
        assert groups[name]['lr'] == pytest.approx(lr, rel=1e-12), name
    # no weight decay on norms, biases, tokens, layer scale; 0.05 elsewhere
    for name in ('backbone.cls_token', 'backbone.layers.1.gamma_1',
                 'backbone.layers.0.ln1.weight', 'head.fc.bias',
                 'backbone.layers.0.attn.q_bias'):
        assert groups[name]['weight_decay'] == 0., name
    for name in ('backbone.layers.0.attn.qkv.weight', 'head.fc.weight'):
        assert groups[name]['weight_decay'] == 0.05, name
    # mae: 2e-3 at 1024, decay 0.65; an explicit lr is used as given
    groups = build_optimizer(compare_data, tmp_path, 'mae', 16)
    assert groups['backbone.layers.0.attn.qkv.weight']['lr'] == \
        pytest.approx(2e-3 * 16 / 1024 * 0.65**2, rel=1e-12)
    # the square-root rule: 2e-3 * sqrt(16 / 1024) = 2.5e-4
    groups = build_optimizer(compare_data, tmp_path, 'mae', 16,
                             lr_rule='sqrt')
    assert groups['head.fc.weight']['lr'] == pytest.approx(2.5e-4,
                                                           rel=1e-12)
    groups = build_optimizer(compare_data, tmp_path, 'mocov3', 16, lr=1e-3)
    assert groups['backbone.patch_embed.projection.weight']['lr'] == \
        pytest.approx(1e-3, rel=1e-12)  # MoCo v3: no layer decay


@pytest.mark.parametrize('change, error, words', [
    (dict(family='dino'), ValueError, 'family must be one of'),
    (dict(iters=0), ValueError, 'iters must be a positive integer'),
    (dict(lr=-1.), ValueError, 'lr must be > 0'),
    (dict(batch_size=True), ValueError, 'batch_size must be'),
    (dict(lr_rule='log'), ValueError, "lr_rule must be 'linear' or"),
    (dict(img_size=36), ValueError, 'multiple (>= 2x) of the backbone\'s '
     'patch size 8'),
])
def test_bad_arguments_are_refused(compare_data, tmp_path, change, error,
                                   words):
    with pytest.raises(error) as info:
        run(compare_data, tmp_path, **change)
    assert words in str(info.value)
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_bad_inputs_are_refused(compare_data, tmp_path):
    eval_data = compare_data['eval_data']
    with pytest.raises(FileNotFoundError, match='val'):
        finetune_backbone(compare_data['beit'], BEIT_CFG,
                          osp.join(eval_data, 'train'), iters=2,
                          batch_size=2, lr=None, family='beit', seed=0,
                          work_dir=str(tmp_path / 'w'), img_size=IMG)
    wide = dict(BEIT_CFG, arch=dict(BEIT_CFG['arch'], embed_dims=96))
    with pytest.raises(ValueError, match='does not fit the config'):
        run(compare_data, tmp_path / 'w', cfg=wide)
    with pytest.raises(TypeError, match='backbone_cfg'):
        run(compare_data, tmp_path / 'w', cfg='configs/demo/conmim_demo.py')
    # a changed backbone file under the same path is not given the stored
    # result of the old one
    data = dict(compare_data, beit=save_export(
        BEIT_CFG, str(tmp_path / 'copy.pth'), seed=5))
    run(data, tmp_path / 'cached', iters=1)
    save_export(BEIT_CFG, data['beit'], seed=6)
    with pytest.raises(FileExistsError, match='another run'):
        run(data, tmp_path / 'cached', iters=1)
    # a work dir holding the result of another run is not overwritten
    work = tmp_path / 'used'
    work.mkdir()
    (work / RESULT_FILE).write_text(json.dumps(
        dict(config_sha256='0' * 16, result={})))
    with pytest.raises(FileExistsError, match='another run'):
        run(compare_data, work)


@pytest.mark.parametrize('warmup, decay', [
    (0.2, None),  # beit: 20 of 100 epochs, cosine
    (1500 / 160000, dict(type='PolyLR', eta_min=0., power=1.0)),  # dense
])
def test_schedule_reaches_the_base_lr_and_decays(warmup, decay):
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=0.1))
    schedulers = [PARAM_SCHEDULERS.build(dict(cfg, optimizer=wrapper))
                  for cfg in schedule(150, warmup, decay=decay)]
    lrs = []
    for _ in range(150):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    warm = round(warmup * 150)
    warm = warm if warm >= 2 else 0  # 1500/160k of 150: no warm-up
    assert lrs[warm] == pytest.approx(0.1)  # the full lr after warm-up
    if warm:
        assert lrs[0] == pytest.approx(0.1 * 1e-4)
        # mmengine's LinearLR is at the full lr on its last step
        assert lrs[warm - 1] == pytest.approx(0.1)
        assert all(a < b for a, b in zip(lrs[:warm - 1], lrs[1:warm]))
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:]))
    assert lrs[-1] < 0.1 * 0.01


PRETRAINING_BACKBONES = {
    # pre-training backbone (as the comparison's configs build it):
    # downstream type
    'ConMIMViT': (BEIT_CFG, 'BEiTViT'),
    'SimMIMViT': (dict(BEIT_CFG, type='SimMIMViT', use_abs_pos_emb=True,
                       use_shared_rel_pos_bias=False), 'BEiTViT'),
    'A2MIMViT': (dict(type='A2MIMViT', arch=BEIT_CFG['arch'], img_size=IMG,
                      patch_size=8, use_abs_pos_emb=True,
                      use_rel_pos_bias=True, layer_scale_init_value=0.1,
                      final_norm=True, out_type='featmap'), 'BEiTViT'),
    'MAEViT': (dict(VIT_CFG, type='MAEViT', mask_ratio=0.75),
               'VisionTransformer'),
    'MoCoV3ViT': (dict(VIT_CFG, type='MoCoV3ViT', stop_grad_conv1=True),
                  'VisionTransformer'),
    'VisionTransformer': (VIT_CFG, 'VisionTransformer'),
    'ResNet': (dict(type='ResNet', depth=18, stem_channels=16,
                    base_channels=16), 'ResNet'),
    'A2MIMResNet': (dict(type='A2MIMResNet', depth=18, stem_channels=16,
                         base_channels=16), 'ResNet'),
}


@pytest.mark.parametrize('name', sorted(PRETRAINING_BACKBONES))
def test_every_pretraining_backbone_has_a_downstream_classifier(
        compare_data, tmp_path, name):
    """The export of each compared backbone fills its downstream network
    (checked by finetune_config) and the classifier runs."""
    from mmpretrain.registry import MODELS
    cfg, downstream = PRETRAINING_BACKBONES[name]
    path = save_export(cfg, str(tmp_path / 'export.pth'))
    family = 'resnet' if downstream == 'ResNet' else 'beit'
    model_cfg = finetune_config(
        path, cfg, compare_data['eval_data'], iters=2, batch_size=2,
        lr=None, family=family, seed=0, work_dir=str(tmp_path),
        img_size=IMG)['model']
    assert model_cfg['backbone']['type'] == 'mmpretrain.' + downstream
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    model.init_weights()  # loads the export (init_cfg=Pretrained)
    export = load_weights(path)
    state = model.backbone.state_dict()
    shared = [k for k in state if 'backbone.' + k in export
              and 'index' not in k]
    assert len(shared) >= 0.8 * len(state)
    for key in shared:
        assert torch.equal(state[key], export['backbone.' + key]), key
    with torch.no_grad():
        logits = model(torch.zeros(2, 3, IMG, IMG), mode='tensor')
    assert logits.shape == (2, len(CLASSES))
