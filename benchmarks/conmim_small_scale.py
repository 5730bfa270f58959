"""Why ConMIM makes frozen features worse at small budgets: one experiment
driver (issue 25, docs/conmim_small_scale.md).

    OMP_NUM_THREADS=1 python benchmarks/conmim_small_scale.py \
        --data work_dirs/photo_regions --img-size 64 --patch-size 8 \
        --iters 500 --name paper [--abs-pos-emb] [--negatives batch] ...
    python benchmarks/conmim_small_scale.py --make-halves work_dirs/halves32
    python benchmarks/conmim_small_scale.py --plot RUN.json [RUN2.json ...]

Pre-trains the ConMIM model of the demo (``ConMIM``, ``ConMIMViT``,
``ConMIMProjector``, ``DenoisingContrastLoss``, EMA teacher; the paper's
two-view pipeline and unit masking) with a plain loop on the unlabelled
``DATA/train`` images, and every ``--eval-interval`` iterations logs, on the
labelled ``DATA/{train,val}`` (one sub-folder per class):

* teacher kNN top-1 (``mmconmim.evaluation.knn``, k=20, T=0.07) with
  patch-mean and CLS pooling (``mmconmim.evaluation.features``);
* effective rank (exp of the entropy of the normalised singular values,
  Roy & Vetterli 2007) and mean per-dimension std of the L2-normalised
  teacher pooled features and patch tokens;
* ``pos_share``: the share of the teacher patch tokens' variance explained
  by their position (variance of the per-position means / total variance);
* ``pos_probe``: top-1 of a linear probe predicting the patch index from a
  teacher patch token (fit on train images, tested on val images);
* the projector BN running statistics, the attention entropy per teacher
  layer, the EMA gap ||theta_s - theta_t|| / ||theta_t||;
* on the current training batch: the loss, the loss when each image's
  teacher tokens come from ANOTHER image of the batch (``loss_xteacher``;
  low = the task is solved from position, not content), the masked/visible
  distance ratio of the student's tokens, the masked top-1;

and every iteration the loss and the gradient norm (before clipping). At the
end a linear probe on the pooled teacher features. Writes ``--out`` (JSON).
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from benchmarks.common import (  # noqa: E402
    add_small_data_args, teacher_photometric, tiny_conmim_cfg)
from benchmarks.conmim_small_scale_report import (  # noqa: E402
    plot, trials_table)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', help='folder with train/ and val/ (one '
                   'sub-folder per class); pre-training uses train/')
    p.add_argument('--name', default='run')
    p.add_argument('--out', help='JSON (default work_dirs/conmim_small_'
                   'scale/NAME.json)')
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--patch-size', type=int, default=8)
    p.add_argument('--unit-size', type=int, default=None,
                   help='mask unit (px); default 2 patches')
    p.add_argument('--mask-ratio', type=float, default=0.75)
    p.add_argument('--embed-dims', type=int, default=128)
    p.add_argument('--num-layers', type=int, default=4)
    p.add_argument('--num-heads', type=int, default=2)
    p.add_argument('--proj-hidden', type=int, default=512)
    p.add_argument('--proj-out', type=int, default=128)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--warmup', type=int, default=None,
                   help='warmup iterations (default: 30, at most iters/10)')
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--clip', type=float, default=3.,
                   help='gradient-norm clip; 0 = none (the ConMIM recipe '
                   'and the compare tool set none)')
    p.add_argument('--momentum', type=float, default=0.004,
                   help='EMA start momentum (mmengine convention)')
    p.add_argument('--end-momentum', type=float, default=0.)
    p.add_argument('--crop-min', type=float, default=0.08)
    p.add_argument('--temperature', type=float, default=0.1)
    p.add_argument('--teacher-aug', default='strong',
                   choices=('strong', 'recipe', 'strong+blur',
                            'strong+solarize', 'simclr', 'luma', 'none'),
                   help="the teacher view's photometric ops: 'strong' (the "
                   "paper's BYOL jitter and grayscale, the trials' "
                   "default), 'recipe' (the ConMIM recipe's and the compare "
                   "tool's view: 'strong' + BYOL's blur and solarize; "
                   "'strong+blur' / 'strong+solarize': one of the two), "
                   "'simclr' (twice as hard), 'luma' (brightness and "
                   "contrast only) or 'none' (diagnosis knobs)")
    p.add_argument('--teacher-blur', default='crop', choices=('crop', '224px'),
                   help="the blur's sigma (views with a blur): scaled from "
                   "the recipe's 224-px crops to --img-size, as the compare "
                   "tool does ('crop'), or the published pixels ('224px': "
                   "section 16's records, before 2026-12-07)")
    p.add_argument('--center-targets', action='store_true')
    add_small_data_args(p)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--eval-interval', type=int, default=50)
    p.add_argument('--random-vit', action='store_true',
                   help='only score a random plain ViT of the same size '
                   '(the compare tool\'s random-init row) on --data')
    p.add_argument('--make-halves', metavar='DIR',
                   help='only build the photo-halves-13 set (32 px) in DIR')
    p.add_argument('--plot', nargs='+', metavar='JSON',
                   help='only plot recorded runs (one figure)')
    p.add_argument('--plot-out', help='PNG for --plot')
    p.add_argument('--table', nargs='+', metavar='JSON',
                   help='only print the markdown trials table of runs')
    p.add_argument('--plot-keys', default='knn_avg,loss_running,pos_probe,'
                   'loss_xteacher,erank_pooled,grad_norm')
    return p.parse_args(argv)


def teacher_view(a) -> list:
    """The run's teacher-view ops (``--teacher-aug``, ``--teacher-blur``)."""
    return teacher_photometric(
        a.teacher_aug, a.img_size if a.teacher_blur == 'crop' else None)


def build_preprocessor():
    """The ImageNet-normalising ``SelfSupDataPreprocessor`` of every run."""
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], to_rgb=True))


# -------------------------------------------------------------------- model
def model_cfg(a):
    return tiny_conmim_cfg(
        a, temperature=a.temperature, momentum=a.momentum,
        end_momentum=a.end_momentum,
        center_targets=a.center_targets)


def build_loader(a):
    import torch
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    pipeline = [
        dict(type='RobustLoadImageFromFile'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomResizedCrop', scale=a.img_size,
             crop_ratio_range=(a.crop_min, 1.0),
             aspect_ratio_range=(3. / 4., 4. / 3.),
             interpolation='bicubic', backend='pillow'),
        dict(type='MultiView', num_views=[1, 1],
             transforms=[[], teacher_view(a)]),
        dict(type='UnitMaskGenerator', input_size=a.img_size,
             mask_patch_size=a.unit_size, model_patch_size=a.patch_size,
             mask_ratio=a.mask_ratio),
        dict(type='PackInputs'),
    ]
    dataset = DATASETS.build(dict(type='CustomDataset',
                                  data_root=osp.join(a.data, 'train'),
                                  with_label=False, pipeline=pipeline))
    gen = torch.Generator().manual_seed(a.seed)
    sampler = torch.utils.data.RandomSampler(
        dataset, replacement=True, num_samples=a.iters * a.batch_size,
        generator=gen)
    return torch.utils.data.DataLoader(
        dataset, batch_size=a.batch_size, sampler=sampler, num_workers=0,
        collate_fn=default_collate, drop_last=True)


def eval_batches(a):
    """The labelled train/val sets, decoded once: [(inputs, labels)]."""
    import torch

    from mmconmim.evaluation.features import build_knn_loaders
    loaders = build_knn_loaders(osp.join(a.data, 'train'),
                                osp.join(a.data, 'val'), a.img_size, 128, 0)
    out = []
    for loader in loaders:
        xs, ys = [], []
        for batch in loader:
            xs.append(torch.stack(list(batch['inputs'])))
            ys.append(torch.cat([s.gt_label.reshape(-1)[:1]
                                 for s in batch['data_samples']]))
        out.append((torch.cat(xs), torch.cat(ys).long()))
    return out


# ------------------------------------------------------------------ metrics
def effective_rank(x):
    """exp(entropy of the normalised singular values) of centred rows."""
    import torch
    s = torch.linalg.svdvals((x - x.mean(0)).double())
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def per_dim_std(x):
    import torch.nn.functional as F
    return float(F.normalize(x, dim=-1).std(0).mean())


def position_share(tokens):
    """(B, N, C): variance of the per-position means over the total
    variance of the L2-normalised tokens."""
    import torch.nn.functional as F
    t = F.normalize(tokens.double(), dim=-1)
    total = t.var(dim=(0, 1), unbiased=False).sum()
    between = t.mean(0).var(0, unbiased=False).sum()
    return float(between / total.clamp_min(1e-12))


def last_layer_tokens(model, images, backbone=None):
    """Last-layer tokens (B, 1 + N, C) of preprocessed images, in chunks,
    of the teacher (default) or of ``backbone`` (the student: unmasked)."""
    import torch
    from mmconmim.evaluation.features import preprocess_single_view
    if backbone is None:
        backbone = model.teacher_backbone
    was = backbone.training
    backbone.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, images.shape[0], 128):
            batch = dict(inputs=images[start:start + 128],
                         data_samples=None)
            x = preprocess_single_view(model, batch)
            outs.append(backbone(x, mask=None)[-1])
    backbone.train(was)
    return torch.cat(outs)


def attention_entropy(backbone, x):
    """Mean entropy (nats) of each layer's attention rows, recomputed from
    the layer inputs captured by forward pre-hooks (so it follows the
    module's own weights and the shared relative position bias)."""
    import torch
    captured = []

    def hook(module, args, kwargs):
        captured.append((module, args[0], kwargs.get('rel_pos_bias')))

    handles = [layer.attn.register_forward_pre_hook(hook, with_kwargs=True)
               for layer in backbone.layers]
    try:
        with torch.no_grad():
            backbone(x, mask=None)
    finally:
        for h in handles:
            h.remove()
    entropies = []
    for attn, inp, rel in captured:
        B, L, C = inp.shape
        bias = None
        if attn.q_bias is not None:
            bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias),
                              attn.v_bias))
        qkv = torch.nn.functional.linear(inp, attn.qkv.weight, bias)
        qkv = qkv.reshape(B, L, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = qkv[0] * attn.scale, qkv[1]
        logits = q @ k.transpose(-2, -1)
        if attn.relative_position_bias_table is not None:
            logits = logits + attn.relative_position_bias()[None]
        if rel is not None:
            logits = logits + rel
        p = logits.softmax(-1)
        entropies.append(float(-(p * p.clamp_min(1e-12).log()).sum(-1)
                               .mean()))
    return entropies


def position_probe(train_tok, val_tok):
    """Top-1 (%) of a linear probe predicting the patch index (0..N-1) from
    one patch token: fit on train images, tested on val images."""
    import torch
    from mmconmim.evaluation.linear_probe import linear_probe
    B, N, C = train_tok.shape
    gen = torch.Generator().manual_seed(0)
    tr = train_tok[torch.randperm(B, generator=gen)[:64]]
    va = val_tok[torch.randperm(val_tok.shape[0], generator=gen)[:64]]
    labels = torch.arange(N)
    res = linear_probe(tr.reshape(-1, C), labels.repeat(tr.shape[0]),
                       va.reshape(-1, C), labels.repeat(va.shape[0]),
                       num_classes=N, weight_decay=1e-3, max_iter=30)
    return res['top1']


def ema_gap(model):
    import torch
    num, den = 0., 0.
    for ps, pt in zip(model.backbone.parameters(),
                      model.teacher_backbone.parameters()):
        num += float((ps.detach() - pt.detach()).pow(2).sum())
        den += float(pt.detach().pow(2).sum())
    return math.sqrt(num / max(den, 1e-12)) if den else 0.


def bn_stats(model):
    import torch
    out = {}
    for name, m in model.neck.named_modules():
        if isinstance(m, torch.nn.BatchNorm1d) and m.running_var is not None:
            out[name] = dict(mean_abs=float(m.running_mean.abs().mean()),
                             var_mean=float(m.running_var.mean()),
                             var_min=float(m.running_var.min()))
    return out


def batch_metrics(model, data):
    """Loss, cross-image-teacher loss, masked/visible distance, masked
    top-1 on one training batch (no update)."""
    import torch
    from benchmarks.conmim_paper_setting import (masked_distance_ratio,
                                                 masked_top1)
    student_view, teacher_view = data['inputs']
    mask = torch.stack([s.mask for s in data['data_samples']]).bool()
    with torch.no_grad():
        s = model.patch_embeddings(model.backbone, model.neck, student_view,
                                   mask)
        t = model.patch_embeddings(model.teacher_backbone,
                                   model.teacher_projector, teacher_view,
                                   None)
        m = mask.flatten(1)
        loss = float(model.head.loss(s, t, m))
        loss_x = float(model.head.loss(s, t.roll(1, dims=0), m))
    return dict(loss_batch=loss, loss_xteacher=loss_x,
                masked_distance_ratio=masked_distance_ratio(model, data),
                masked_top1=masked_top1(model, data))


def knn_top1(mem_feats, mem_labels, query_feats, query_labels) -> float:
    """The driver's weighted kNN top-1 (DINO: k 20, T 0.07), %."""
    from mmconmim.evaluation.knn import knn_classify
    return knn_classify(mem_feats, mem_labels, query_feats, query_labels,
                        k=20, temperature=0.07)['top1']


def evaluate(model, sets, full=True):
    """kNN (avg, cls), rank/std, position metrics of the teacher."""
    import torch
    (xtr, ytr), (xva, yva) = sets
    backbone = model.teacher_backbone
    extra = backbone.num_extra_tokens
    ttr, tva = last_layer_tokens(model, xtr), last_layer_tokens(model, xva)
    rec = {}
    for pool, fn in (('avg', lambda t: t[:, extra:].mean(1)),
                     ('cls', lambda t: t[:, 0])):
        rec[f'knn_{pool}'] = knn_top1(fn(ttr), ytr, fn(tva), yva)
    pooled = tva[:, extra:].mean(1)
    patches = tva[:, extra:]
    flat = patches.reshape(-1, patches.shape[-1])
    sub = flat[torch.randperm(flat.shape[0],
                              generator=torch.Generator().manual_seed(0))
               [:4096]]
    rec.update(erank_pooled=effective_rank(pooled),
               std_pooled=per_dim_std(pooled),
               erank_patch=effective_rank(sub), std_patch=per_dim_std(sub),
               pos_share=position_share(patches))
    if full:
        rec['pos_probe'] = position_probe(ttr[:, extra:], patches)
        from mmconmim.evaluation.features import preprocess_single_view
        x = preprocess_single_view(model, dict(inputs=xva[:64],
                                               data_samples=None))
        was = backbone.training
        backbone.eval()
        rec['attn_entropy'] = attention_entropy(backbone, x)
        backbone.train(was)
    rec['_pooled'] = (ttr[:, extra:].mean(1), ytr, pooled, yva)
    # the student on unmasked images: is the EMA teacher behind it?
    str_, sva = (last_layer_tokens(model, x, model.backbone)[:, extra:]
                 .mean(1) for x in (xtr, xva))
    rec['knn_student'] = knn_top1(str_, ytr, sva, yva)
    rec['_pooled_student'] = (str_, ytr, sva, yva)
    return rec


def final_linear(rec, key='_pooled'):
    from mmconmim.evaluation.linear_probe import linear_probe
    ftr, ytr, fva, yva = rec[key]
    return linear_probe(ftr, ytr, fva, yva, weight_decay=1e-2)['top1']


# --------------------------------------------------------------------- main
def build_optim(model, a):
    from mmengine.optim import build_optim_wrapper
    return build_optim_wrapper(model, dict(
        type='OptimWrapper',
        constructor='TrainableParamsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=a.lr, betas=(0.9, 0.98), eps=1e-8,
                       weight_decay=0.05),
        paramwise_cfg=dict(flat_decay_mult=0., custom_keys={
            'cls_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.)})))


def clip_gradients(params, clip: float) -> float:
    """The total gradient norm before clipping; clipped to ``clip`` when it
    is positive, only measured for 0 (the ConMIM recipe and the compare
    tool clip nothing)."""
    import torch
    if clip > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, clip))
    return float(torch.nn.utils.get_total_norm(
        [p.grad for p in params if p.grad is not None]))


def lr_at(a, it):
    """LinearLR warmup (start 1e-4) then cosine to 1e-5, per iteration, as
    the demo's param_scheduler."""
    if it < a.warmup:
        return a.lr * (1e-4 + (1 - 1e-4) * it / a.warmup)
    prog = (it - a.warmup) / max(1, a.iters - a.warmup)
    return 1e-5 + (a.lr - 1e-5) * 0.5 * (1 + math.cos(math.pi * prog))


def run(a):
    import random

    import numpy as np
    import torch
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmconmim  # noqa: F401
    init_default_scope('mmpretrain')
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    MessageHub.get_current_instance().update_info('max_iters', a.iters)
    model = MODELS.build(model_cfg(a))
    model.init_weights()
    model.train()
    optim = build_optim(model, a)
    params = [p for g in optim.optimizer.param_groups for p in g['params']]
    sets = eval_batches(a)
    loader = build_loader(a)
    result = dict(args=vars(a), records=[], grad_norm=[], loss=[],
                  start=time.time())
    # iteration 0: the teacher is not a copy of the student before its
    # first update; copy it so that "iteration 0" is the initialisation
    # (through the model's public teacher properties; the EMA step count
    # stays 0, so the schedule starts at step 0 and the first update copies
    # the student again, as in training)
    model.teacher_backbone.load_state_dict(model.backbone.state_dict())
    model.teacher_projector.load_state_dict(model.neck.state_dict())
    rec = evaluate(model, sets)
    window = []
    t0 = time.time()
    for it, batch in enumerate(loader):
        data = model.data_preprocessor(batch, True)
        if it % a.eval_interval == 0:
            rec.update(batch_metrics(model, data))
            log(result, rec, it, window, model, t0, a)
        for g in optim.optimizer.param_groups:
            g['lr'] = lr_at(a, it) * g.get('lr_mult', 1.)
        loss = model(**data, mode='loss')['loss']
        optim.zero_grad()
        loss.backward()
        gn = clip_gradients(params, a.clip)
        optim.step()
        result['grad_norm'].append(gn)
        result['loss'].append(float(loss.detach()))
        window = (window + [float(loss.detach())])[-a.eval_interval:]
        if not math.isfinite(float(loss.detach())):
            print('non-finite loss; stopping', flush=True)
            break
        if (it + 1) % a.eval_interval == 0 and it + 1 < a.iters:
            rec = evaluate(model, sets)
    rec = evaluate(model, sets)
    rec.update(batch_metrics(model, data))
    log(result, rec, a.iters, window, model, t0, a)
    result['linear'] = final_linear(rec)
    result['linear_student'] = final_linear(rec, '_pooled_student')
    first = result['records'][0]
    last = result['records'][-1]
    result['summary'] = dict(
        name=a.name, knn0=first['knn_avg'], knn_end=last['knn_avg'],
        knn_cls0=first['knn_cls'], knn_cls_end=last['knn_cls'],
        knn_min=min(r['knn_avg'] for r in result['records']),
        linear=result['linear'], final_loss=last['loss_running'],
        knn_student_end=last['knn_student'],
        linear_student=result['linear_student'],
        max_grad_norm=max(result['grad_norm'] or [0.]),
        seconds=time.time() - t0)
    dump(result, a)
    s = result['summary']
    print(f"DONE {a.name}: kNN {s['knn0']:.1f} -> {s['knn_end']:.1f} "
          f"(cls {s['knn_cls0']:.1f} -> {s['knn_cls_end']:.1f}), linear "
          f"{s['linear']:.1f}, loss {s['final_loss']:.3f}; student kNN "
          f"{s['knn_student_end']:.1f}, linear {s['linear_student']:.1f}",
          flush=True)
    return result


def log(result, rec, it, window, model, t0, a):
    out = {k: v for k, v in rec.items() if not k.startswith('_')}
    out.update(iter=it, loss_running=(sum(window) / len(window)
                                      if window else out.get('loss_batch')),
               ema_gap=ema_gap(model), bn=bn_stats(model),
               grad_norm_max=max(result['grad_norm'][-a.eval_interval:] or
                                 [0.]),
               rel_pos_table_norm=float(
                   model.backbone.rel_pos_bias.relative_position_bias_table
                   .detach().norm()))
    result['records'].append(out)
    elapsed = time.time() - t0
    eta = elapsed / max(it, 1) * (a.iters - it)
    print(f"[{a.name}] it {it:4d}/{a.iters} loss {out['loss_running']:.3f} "
          f"x-img {out.get('loss_xteacher', float('nan')):.3f} kNN avg "
          f"{out['knn_avg']:.1f} cls {out['knn_cls']:.1f} student "
          f"{out['knn_student']:.1f} pos-probe "
          f"{out.get('pos_probe', float('nan')):.1f} pos-share "
          f"{out['pos_share']:.3f} erank {out['erank_pooled']:.1f} "
          f"gn-max {out['grad_norm_max']:.2f} ema-gap {out['ema_gap']:.3f} "
          f"| {elapsed:.0f} s, ETA {eta:.0f} s", flush=True)
    dump(result, a)


def dump(result, a):
    out = a.out or osp.join(REPO_ROOT, 'work_dirs', 'conmim_small_scale',
                            a.name + '.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.tmp', 'w') as f:
        json.dump({k: v for k, v in result.items() if k != 'start'}, f)
    os.replace(out + '.tmp', out)


def frozen_scores(backbone, sets):
    """kNN top-1 on the patch mean and on the CLS token, and the linear
    probe on the patch mean, of an untrained backbone's last-layer tokens
    (``sets``: the (train, val) batches of :func:`eval_batches`)."""
    import torch

    from mmconmim.evaluation.linear_probe import linear_probe
    prep = build_preprocessor()
    mean, cls = [], []
    for x, y in sets:
        with torch.no_grad():
            tokens = backbone(prep(dict(inputs=x, data_samples=None))
                              ['inputs'].float())[-1]
        mean += [tokens[:, 1:].mean(1), y]
        cls += [tokens[:, 0], y]
    return (knn_top1(*mean), knn_top1(*cls),
            linear_probe(*mean, weight_decay=1e-2)['top1'])


def random_vit(a):
    """kNN (patch mean) and linear probe of the compare tool's random-init
    row: mmpretrain ``VisionTransformer`` of the same size, seed ``a.seed``
    (:func:`mmconmim.compare.evaluate.plain_backbone_cfg`)."""
    import torch
    from mmengine.registry import DefaultScope

    from mmconmim.compare.evaluate import plain_backbone_cfg
    from mmconmim.registry import MODELS
    import mmconmim  # noqa: F401
    cfg = plain_backbone_cfg(dict(
        arch='vit-tiny', width=a.embed_dims, depth=a.num_layers,
        heads=a.num_heads, img_size=a.img_size, patch_size=a.patch_size))
    torch.manual_seed(a.seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(cfg)
    backbone.init_weights()
    backbone.eval()
    knn, _, lin = frozen_scores(backbone, eval_batches(a))
    print(f'RANDOM ViT {a.data} seed {a.seed}: kNN {knn:.1f} linear '
          f'{lin:.1f}')
    dump(dict(args=vars(a), summary=dict(name=a.name, knn0=knn,
                                         knn_end=knn, linear=lin)), a)


def main(argv=None):
    a = parse_args(argv)
    import mmconmim
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    if a.make_halves:
        from benchmarks.photo_halves import make_halves
        return make_halves(a.make_halves)
    if a.table:
        return print(trials_table(a.table))
    if a.plot:
        return plot(a.plot, a.plot_out or osp.splitext(a.plot[0])[0] +
                    '.png', a.plot_keys)
    if not a.data:
        raise SystemExit('--data is required')
    if a.random_vit:
        return random_vit(a)
    if a.unit_size is None:
        a.unit_size = 2 * a.patch_size if a.img_size % (
            2 * a.patch_size) == 0 else a.patch_size
    if a.warmup is None:
        a.warmup = max(1, min(30, a.iters // 10))
    elif not 0 < a.warmup < a.iters:
        raise SystemExit(f'--warmup {a.warmup} must be in [1, --iters)')
    if a.clip < 0:
        raise SystemExit(f'--clip {a.clip} must be >= 0 (0: no clipping)')
    run(a)


if __name__ == '__main__':
    main()
