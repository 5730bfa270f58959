"""Scale evidence: the paper's ConMIM architecture learns on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/conmim_paper_setting.py \
        [--img-size 32] [--patch-size 4] [--unit-size 8] [--iters 600] \
        [--out work_dirs/conmim_paper_setting.json]

The paper's backbone (Yi et al., ICLR 2023, Sec. 4; official
``--abs_pos_emb`` off, ``--rel_pos_bias`` on) has **no absolute position
embedding**: position enters only through one shared relative position bias
table, initialised to zero. At initialisation every masked patch of an image
therefore has the same input (the mask token) and, with a zero bias, the same
attention over the same keys: all masked positions give the *same* student
embedding. For identical queries the contrastive loss of an image is at least
log(M), M = number of masked patches (Jensen: the mean of -log p_j over the M
masked labels is >= -log(mean p_j) >= -log(1/M)). So

* the spread of the student's masked embeddings (mean pairwise 1 - cosine
  within an image, last backbone layer) is exactly 0 at iteration 0, and
* a loss below log(M) is only possible once the relative position bias has
  learned to tell masked positions apart ("symmetry break").

This script pre-trains that architecture (``ConMIMViT`` with
``use_abs_pos_emb=False, use_shared_rel_pos_bias=True``, layer scale 0.1,
3-layer BN projector, EMA teacher, ``DenoisingContrastLoss`` at tau 0.1) at a
small size on the bundled photographs (data/demo/images) through the
paper's two-view pipeline (shared flip + RandomResizedCrop, strong
photometric ops on the teacher view, unit masking at 0.75), and logs every
``--log-interval`` iterations: the loss, log(M), log(N), the masked-token
spread, the masked-row top-1 of the contrastive task (chance 1/N) and the
norm of the shared relative position table. It prints the first iteration
whose running-mean loss is below log(M) and writes everything to ``--out``.

Sizes are defaults, not the paper's (ViT-S/B/L at 224 px): see
benchmarks/conmim_paper_setting.md for a recorded run.
"""
import json
import math
import os
import os.path as osp
import sys
import textwrap
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common import (  # noqa: E402
    REPO_ROOT, add_small_data_args, add_tiny_conmim_args, add_timing_args,
    benchmark_parser, recipe_teacher_photometric, tiny_conmim_cfg)


def parse_args():
    parser = benchmark_parser(__doc__)
    add_tiny_conmim_args(
        parser, img_size=32, patch_size=4, unit_size=8,
        unit_help='mask unit in px (random_mps32 at 224 px)', embed_dims=96,
        num_layers=4, num_heads=4, proj_hidden=384, proj_out=96)
    add_timing_args(parser, batch_size=32, iters=600, warmup=30)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--log-interval', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    add_small_data_args(parser, abs_pos_help=(
        'control run, NOT the paper setting: add an absolute position '
        'embedding (as the CPU demo does)'))
    parser.add_argument('--data-root', default=osp.join(
        REPO_ROOT, 'data', 'demo', 'images'))
    parser.add_argument('--out', default=osp.join(
        REPO_ROOT, 'work_dirs', 'conmim_paper_setting.json'))
    parser.add_argument('--plot', metavar='JSON', nargs='+',
                        help='only draw the curve of a recorded run (the '
                        '--out JSON of an earlier run) into JSON -> .png; '
                        'several runs: their intra-image losses in one '
                        'figure, --plot-out')
    parser.add_argument('--plot-out', metavar='PNG',
                        help='the figure of several --plot runs')
    parser.add_argument('--plot-window', type=int, default=200,
                        help='iterations in the running mean of the '
                        'several-run figure (of the batches logged in them)')
    args = parser.parse_args()
    if args.plot and len(args.plot) > 1 and not args.plot_out:
        parser.error('--plot with several runs draws one figure: name it '
                     'with --plot-out PNG')
    return args


def running_intra_image(records: list, window: int) -> list:
    """The paper's intra-image loss of the logged batches, as the mean of
    the last ``window`` logged values (fewer at the start). It is the
    paper's loss whatever dictionary trained the run, so runs with the
    cross-image dictionary are read on the same scale as the others. Runs
    logged before the column existed (e.g. run D) trained with the
    intra-image dictionary, whose training loss of the logged batch is the
    same quantity."""
    values = [r['loss_intra_image'] if 'loss_intra_image' in r else r['loss']
              for r in records]
    return [sum(values[max(0, i + 1 - window):i + 1]) /
            (i + 1 - max(0, i + 1 - window)) for i in range(len(values))]


def first_below(records: list, window: int, bound: float):
    """The first logged iteration whose :func:`running_intra_image` mean
    (over a full window) is below ``bound``; None if none is."""
    running = running_intra_image(records, window)
    for i, value in enumerate(running):
        if i + 1 >= window and value < bound:
            return records[i]['iter']
    return None


def run_label(args: dict) -> str:
    """What a run changed against the paper setting (empty: none)."""
    fix = []
    if args.get('abs_pos_emb'):
        fix.append('abs. pos. (control)')
    if args.get('negatives', 'image') != 'image':
        fix.append(f"negatives={args['negatives']}")
    if args.get('mask_pos_scale'):
        fix.append(f"mask-token pos. code x{args['mask_pos_scale']}")
    if args.get('weight_init', 'paper') != 'paper':
        fix.append(f"{args['weight_init']} init")
    if args.get('layer_scale', 0.1) != 0.1:
        fix.append(f"layer scale {args['layer_scale']}")
    if args.get('proj_layers', 3) != 3:
        fix.append(f"{args['proj_layers']}-layer projector")
    if args.get('rel_pos_init_std'):
        fix.append(f"rel-pos table init std {args['rel_pos_init_std']}")
    if args.get('rel_pos_locality'):
        fix.append(f"rel-pos locality init {args['rel_pos_locality']}")
    return ', '.join(fix)


def plot_runs(results: list, names: list, out_png: str,
              window_iters: int) -> None:
    """Several recorded runs in one figure: each run's
    :func:`running_intra_image` over the batches logged in the last
    ``window_iters`` iterations, against log(M), the bound identical masked
    tokens cannot pass."""
    for result, name in zip(results, names):
        if 'loss_intra_image' not in result['records'][0] and result[
                'args'].get('negatives', 'image') != 'image':
            raise SystemExit(f'{name}: no intra-image loss recorded and the '
                             'run trained another loss; re-run it with this '
                             'version of the benchmark')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    bound = results[0]['log_num_masked']
    legend_height = 0.45 + 0.3 * len(results)  # below the curves, not on them
    fig, (ax, legend_ax) = plt.subplots(
        2, 1, figsize=(9, 5. + legend_height), dpi=100,
        gridspec_kw=dict(height_ratios=[5., legend_height]))
    for result, name in zip(results, names):
        records = result['records']
        args = result['args']
        window = max(1, round(window_iters / args['log_interval']))
        first = first_below(records, window, bound)
        label = (f"{name}: {run_label(args) or 'paper setting'}; lr "
                 f"{args['lr']}, {args['iters']} its, seed {args['seed']}; "
                 f"below log M: {first if first is not None else 'no'}")
        ax.plot([r['iter'] for r in records],
                running_intra_image(records, window), lw=1.1,
                label=textwrap.fill(label, 95))
    ax.axhline(bound, color='tab:red', ls='--',
               label=f"log M = {bound:.3f} (M = {results[0]['num_masked']} "
               'masked patches)')
    ax.set_xlabel('iteration')
    ax.set_ylabel("the paper's intra-image loss (Eq. 3),\nmean of the "
                  f'batches logged in the last {window_iters} iterations')
    legend_ax.axis('off')
    legend_ax.legend(*ax.get_legend_handles_labels(), fontsize=7,
                     loc='upper center', ncol=1, frameon=False)
    args = results[0]['args']
    ax.set_title(
        f"ConMIM paper-setting benchmark: the paper's intra-image loss\n"
        f"{args['img_size']} px, {args['patch_size']}-px patches, ViT "
        f"{args['embed_dims']} x {args['num_layers']}, batch "
        f"{args['batch_size']}, cosine schedule", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)


def plot_curve(result: dict, out_png: str) -> None:
    """Draw a recorded run: the running-mean loss against log(M) and
    log(N) (top) and the masked/visible distance ratio (bottom)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    records = result['records']
    iters = [r['iter'] for r in records]
    args = result['args']
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                      dpi=100)
    batch = args.get('negatives', 'image') != 'image'
    if not batch:
        top.plot(iters, [r['loss_running'] for r in records], lw=1.2,
                 label=f'loss, mean of the last {args["log_interval"]} '
                 'iterations')
    shown = [r['loss_running'] for r in records] if not batch else []
    if records and 'loss_intra_image' in records[0]:
        shown += [r['loss_intra_image'] for r in records]
        top.plot(iters, [r['loss_intra_image'] for r in records], lw=1.,
                 color='tab:purple', label='paper\'s intra-image loss on '
                 'the logged batch' + (' (training loss: cross-image '
                                       'dictionary, not bounded by log M)'
                                       if batch else ''))
    top.axhline(result['log_num_masked'], color='tab:red', ls='--',
                label=f'log M = {result["log_num_masked"]:.3f} '
                f'(M = {result["num_masked"]} masked patches)')
    top.axhline(result['log_num_patches'], color='tab:gray', ls=':',
                label=f'log N = {result["log_num_patches"]:.3f} '
                f'(N = {result["num_patches"]} patches)')
    first = result.get('first_iter_running_loss_below_log_masked')
    if first:
        top.axvline(first, color='tab:red', lw=0.8, alpha=0.5,
                    label=f'first running mean below log M: iteration {first}')
    top.set_ylabel('contrastive loss')
    top.set_ylim(min(min(shown), result['log_num_masked']) - 0.05,
                 max(result['log_num_patches'] + 0.25,
                     min(max(shown), result['log_num_patches'] + 1.)))
    top.legend(loc='upper right', fontsize=8)
    bottom.plot(iters, [r.get('masked_distance_ratio') or 0.
                        for r in records], color='tab:green', lw=1.2)
    bottom.set_ylabel('masked / visible distance\n(0 = masked tokens '
                      'identical)')
    bottom.set_xlabel('iteration')
    pos = 'WITH absolute position embedding (control)' if args.get(
        'abs_pos_emb') else 'paper setting: no absolute position embedding'
    fix = run_label(dict(args, abs_pos_emb=False))
    if fix:  # wrapped: the full fix does not fit one title line
        pos += '\n' + textwrap.fill('+ ' + fix + ' (NOT the paper)',
                                     width=90)
    fig.suptitle(
        f'ConMIM {pos}\n{args["img_size"]} px, {args["patch_size"]}-px '
        f'patches, ViT {args["embed_dims"]} x {args["num_layers"]}, batch '
        f'{args["batch_size"]}, lr {args["lr"]}, cosine over '
        f'{args["iters"]} iterations, seed {args["seed"]}', fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)


def build_model(args):
    from mmpretrain.registry import MODELS
    model = MODELS.build(tiny_conmim_cfg(args))
    model.init_weights()
    return model


def build_loader(args):
    import torch
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS
    pipeline = [
        dict(type='RobustLoadImageFromFile'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomResizedCrop', scale=args.img_size,
             crop_ratio_range=(0.08, 1.0),
             aspect_ratio_range=(3. / 4., 4. / 3.),
             interpolation='bicubic', backend='pillow'),
        # the blur's sigmas as published (px of 224-px crops), as in the
        # runs issue 25 reports and this benchmark's records; the compare
        # tool's rows now scale them to the crop (resize_pipeline)
        dict(type='MultiView', num_views=[1, 1],
             transforms=[[], recipe_teacher_photometric()]),
        dict(type='UnitMaskGenerator', input_size=args.img_size,
             mask_patch_size=args.unit_size,
             model_patch_size=args.patch_size, mask_ratio=args.mask_ratio),
        dict(type='PackInputs'),
    ]
    dataset = DATASETS.build(dict(type='CustomDataset',
                                  data_root=args.data_root,
                                  with_label=False, pipeline=pipeline))
    gen = torch.Generator().manual_seed(args.seed)
    sampler = torch.utils.data.RandomSampler(
        dataset, replacement=True, num_samples=args.iters * args.batch_size,
        generator=gen)
    return torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, sampler=sampler,
        num_workers=0, collate_fn=default_collate, drop_last=True)


def masked_spread(model, data):
    """Mean over images of the mean pairwise (1 - cosine) between the
    student's last-layer tokens at masked positions (0 = all identical)."""
    import torch
    student_view = data['inputs'][0]
    mask = torch.stack([s.mask for s in data['data_samples']]).bool()
    with torch.no_grad():
        tokens = model.backbone(student_view, mask)[-1]
        tokens = tokens[:, model.backbone.num_extra_tokens:]
        tokens = torch.nn.functional.normalize(tokens, dim=-1)
        spreads = []
        for feats, m in zip(tokens, mask.flatten(1)):
            x = feats[m]
            sim = x @ x.t()
            k = x.shape[0]
            spreads.append(
                (1 - sim).sum() / (k * (k - 1)))  # diagonal is 0
    return float(torch.stack(spreads).mean())


def masked_distance_ratio(model, data):
    """First-order version of the spread: mean pairwise distance between the
    student's L2-normalised last-layer tokens at masked positions, divided by
    the same among visible positions (float64; 0 = all masked identical,
    about 1 = masked positions as distinct as the visible patches)."""
    import torch
    student_view = data['inputs'][0]
    mask = torch.stack([s.mask for s in data['data_samples']]).bool()
    with torch.no_grad():
        tokens = model.backbone(student_view, mask)[-1]
        tokens = tokens[:, model.backbone.num_extra_tokens:].double()
        tokens = torch.nn.functional.normalize(tokens, dim=-1)
        ratios = []
        for feats, m in zip(tokens, mask.flatten(1)):
            masked = torch.pdist(feats[m]).mean()
            visible = torch.pdist(feats[~m]).mean()
            ratios.append(masked / visible)
    return float(torch.stack(ratios).mean())


def masked_top1(model, data):
    """Fraction of masked student rows whose most similar teacher patch (of
    the same image) is the one at the same position."""
    import torch
    student_view, teacher_view = data['inputs']
    mask = torch.stack([s.mask for s in data['data_samples']]).bool()
    with torch.no_grad():
        s = model.patch_embeddings(model.backbone, model.neck, student_view,
                                   mask)
        t_backbone, t_proj = model.teacher_backbone, model.teacher_projector
        t = model.patch_embeddings(t_backbone, t_proj, teacher_view, None)
        logits = torch.einsum('bnc,bkc->bnk',
                              torch.nn.functional.normalize(s, dim=-1),
                              torch.nn.functional.normalize(t, dim=-1))
        pred = logits.argmax(-1)
        target = torch.arange(pred.shape[1]).expand_as(pred)
        m = mask.flatten(1)
    return float((pred[m] == target[m]).float().mean())


def intra_image_loss(model, data):
    """The paper's loss (intra-image dictionary, Eq. 3) on this batch, with
    the model's current student and teacher: what log(M) bounds, whatever
    dictionary the model trains with."""
    import torch

    from mmconmim.models import DenoisingContrastLoss
    student_view, teacher_view = data['inputs']
    mask = torch.stack([s.mask for s in data['data_samples']]).bool()
    with torch.no_grad():
        s = model.patch_embeddings(model.backbone, model.neck, student_view,
                                   mask)
        t = model.patch_embeddings(model.teacher_backbone,
                                   model.teacher_projector, teacher_view,
                                   None)
        return float(DenoisingContrastLoss(temperature=0.1)(
            s, t, mask.flatten(1)))


def main():
    args = parse_args()
    if args.plot:
        results = []
        for path in args.plot:
            with open(path) as f:
                results.append(json.load(f))
        if len(results) == 1:
            out_png = osp.splitext(args.plot[0])[0] + '.png'
            plot_curve(results[0], out_png)
        else:
            out_png = args.plot_out
            names = [osp.splitext(osp.basename(p))[0] for p in args.plot]
            plot_runs(results, names, out_png, args.plot_window)
        print(f'written {out_png}')
        return
    import torch
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import mmconmim  # noqa: F401
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md

    init_default_scope('mmpretrain')
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    import random

    import numpy as np
    random.seed(args.seed)
    np.random.seed(args.seed)  # mmcv/mmpretrain transforms draw from numpy
    torch.manual_seed(args.seed)
    grid = args.img_size // args.patch_size
    num_patches = grid * grid
    units = (args.img_size // args.unit_size)**2
    scale = args.unit_size // args.patch_size
    num_masked = math.ceil(units * args.mask_ratio) * scale * scale

    MessageHub.get_current_instance().update_info('max_iters', args.iters)
    model = build_model(args)
    model.train()
    # The paper's decay groups (no decay on 1-D params, cls_token,
    # pos_embed; decay on mask_token and the rel-pos table), fp32 on CPU.
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        constructor='TrainableParamsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=args.lr, betas=(0.9, 0.98),
                       eps=1e-8, weight_decay=0.05),
        clip_grad=dict(max_norm=3.0),
        paramwise_cfg=dict(flat_decay_mult=0., custom_keys={
            'cls_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.)})))
    groups = optim.optimizer.param_groups
    base_lrs = [g['lr'] for g in groups]

    def set_lr(it):  # linear warmup from 0, cosine to 1e-5 (per iteration)
        if it < args.warmup:
            factor = (it + 1) / args.warmup
        else:
            progress = (it - args.warmup) / max(1, args.iters - args.warmup)
            factor = None
        for g, base in zip(groups, base_lrs):
            if factor is not None:
                g['lr'] = base * factor
            else:
                g['lr'] = 1e-5 + (base - 1e-5) * 0.5 * (
                    1 + math.cos(math.pi * progress))

    loader = build_loader(args)
    table = model.backbone.rel_pos_bias.relative_position_bias_table
    from mmconmim.compare.report import cpu_model
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'CPU {cpu_model()}')
    print(f'{args.img_size} px, patch {args.patch_size} ({num_patches} '
          f'patches), unit {args.unit_size} px, {num_masked} masked per '
          f'image: log(M) = {math.log(num_masked):.3f}, log(N) = '
          f'{math.log(num_patches):.3f}')
    records = []
    window = []
    first_below = None
    start = time.time()
    for it, batch in enumerate(loader):
        set_lr(it)
        data = model.data_preprocessor(batch, True)
        if it % args.log_interval == 0:
            spread = masked_spread(model, data)
            ratio = masked_distance_ratio(model, data)
        with optim.optim_context(model):
            loss = model(**data, mode='loss')['loss']
        optim.update_params(loss)
        window.append(float(loss.detach()))
        window = window[-args.log_interval:]
        running = sum(window) / len(window)
        if first_below is None and len(window) == args.log_interval and \
                running < math.log(num_masked):
            first_below = it + 1
        if it % args.log_interval == 0 or it == args.iters - 1:
            rec = dict(iter=it, loss=float(loss.detach()), loss_running=running,
                       masked_spread=spread,
                       masked_distance_ratio=ratio,
                       masked_top1=masked_top1(model, data),
                       loss_intra_image=intra_image_loss(model, data),
                       rel_pos_table_norm=float(table.detach().norm()),
                       lr=groups[0]['lr'])
            records.append(rec)
            print(f"it {it:5d}  loss {rec['loss']:.3f} (mean "
                  f"{running:.3f})  spread {spread:.2e}  ratio "
                  f"{ratio:.2e}  top1 "
                  f"{rec['masked_top1']:.3f}  intra-image loss "
                  f"{rec['loss_intra_image']:.3f}  |table| "
                  f"{rec['rel_pos_table_norm']:.3f}  "
                  f"{time.time() - start:.0f} s", flush=True)
            dump(args, num_patches, num_masked, first_below, start, records)
    dump(args, num_patches, num_masked, first_below, start, records)
    print(f'first iteration with the running loss (last '
          f'{args.log_interval}) below log(M): {first_below}')
    print(f'written {args.out}')


def dump(args, num_patches, num_masked, first_below, start, records):
    """Write the curve so far (a partial run keeps its records)."""
    import torch
    result = dict(
        args=vars(args), num_patches=num_patches, num_masked=num_masked,
        log_num_masked=math.log(num_masked),
        log_num_patches=math.log(num_patches),
        first_iter_running_loss_below_log_masked=first_below,
        torch=torch.__version__, threads=torch.get_num_threads(),
        seconds=time.time() - start, records=records)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
