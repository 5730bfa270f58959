"""Plots and the trials table of the issue-25 driver's JSON records
(``benchmarks/conmim_small_scale.py --plot / --table``;
docs/conmim_small_scale.md)."""
import json
import math
import os.path as osp


# --------------------------------------------------------------------- plot
LABELS = dict(knn_avg='teacher kNN top-1 (patch mean), %',
              knn_cls='teacher kNN top-1 (CLS), %',
              knn_student='student kNN top-1 (patch mean, unmasked), %',
              loss_running='loss (running mean)',
              loss_xteacher='loss vs ANOTHER image\'s teacher',
              pos_probe='position probe top-1, %',
              pos_share='position share of token variance',
              erank_pooled='effective rank, pooled',
              erank_patch='effective rank, patch tokens',
              masked_distance_ratio='masked/visible distance',
              ema_gap='EMA gap |s - t| / |t|', grad_norm='grad norm (max '
              'per interval)',
              # benchmarks/conmim_split_knn.py (half memory, half queries)
              knn_within_train='kNN train -> train (pre-training split), %',
              knn_within_val='kNN val -> val (unseen split), %',
              knn_cross='kNN train -> val (the shift), %',
              split_probe='linear probe train vs val split, %')


def plot(paths, out, keys, title=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    runs = [json.load(open(p)) for p in paths]
    keys = keys.split(',')
    cols = 3
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.3 * rows),
                             dpi=90, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for r in runs:
            recs = r['records']
            src = 'grad_norm_max' if key == 'grad_norm' else key
            xs = [x['iter'] for x in recs if x.get(src) is not None]
            ys = [x[src] for x in recs if x.get(src) is not None]
            ax.plot(xs, ys, marker='.', label=r['args']['name'])
        ax.set_title(LABELS.get(key, key), fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    axes.flat[0].legend(fontsize=7)
    a = runs[0]['args']
    # runs of different lengths or seeds in one figure: name every value
    iters = ' / '.join(str(i) for i in sorted({r['args']['iters']
                                               for r in runs}))
    seeds = ' / '.join(str(i) for i in sorted({r['args']['seed']
                                               for r in runs}))
    fig.suptitle(title or (
        f"ConMIM small scale: {osp.basename(a['data'].rstrip('/'))}, "
        f"{a['img_size']} px / {a['patch_size']}-px patches, ViT "
        f"{a['embed_dims']} x {a['num_layers']}, batch {a['batch_size']}, "
        f"{iters} iterations, seed {seeds}"), fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    print(f'written {out}')


SETTING_KEYS = (('abs_pos_emb', True, 'abs. pos.'),
                ('negatives', 'batch', "negatives='batch'"),
                ('center_targets', True, 'centred targets'),
                ('mask_pos_scale', None, 'mask-token pos. code'),
                ('rel_pos_init_std', None, 'rel-pos table init'),
                ('rel_pos_locality', None, 'rel-pos locality init'),
                ('weight_init', 'mmpretrain', 'mmpretrain init'),
                # benchmarks/conmim_false_negatives.py
                ('exclude', None, 'dictionary without'),
                ('soft_targets', None, "teacher-similarity targets, tau_t"),
                # benchmarks/conmim_predictor.py
                ('predictor_hidden', None, 'student predictor, hidden'),
                # benchmarks/conmim_decoder.py
                ('decoder_depth', None,
                 'encoder on visible patches + decoder, depth'),
                # benchmarks/conmim_symmetric.py
                ('symmetric_views', True, 'symmetric views'))
DEFAULTS = dict(lr=2e-3, warmup=30, momentum=0.004, crop_min=0.08,
                batch_size=32, layer_scale=0.1, proj_layers=3,
                teacher_aug='strong', temperature=0.1, mask_ratio=0.75,
                clip=3.,
                visible_weight=0., image_weight=0.,
                # benchmarks/conmim_layer_targets.py
                target_layers=1, end_momentum=0.,
                # benchmarks/conmim_decoder.py
                pixel_weight=0., contrast_weight=1.)


def setting_of(args):
    """A run's setting in words: paper backbone / abs. pos. plus every
    option and knob that differs from the demo's defaults."""
    if args.get('random_vit'):
        return 'random plain ViT (compare tool row)'
    words = []
    for key, on, label in SETTING_KEYS:
        value = args.get(key)
        if (on is None and value) or (on is not None and value == on):
            words.append(label if on is not None else f'{label} {value}')
    for key, default in DEFAULTS.items():
        if args.get(key) not in (None, default):
            words.append(f'{key}={args[key]}')
    if args.get('teacher_aug') in ('recipe', 'strong+blur'):
        # records older than --teacher-blur ran the published sigmas
        words.append(f"blur sigma {args.get('teacher_blur', '224px')}")
    return 'paper backbone' + (' + ' + ', '.join(words) if words else '')


def trials_table(paths):
    rows = ['| run | setting | dataset | iters | seed | kNN @0 | kNN end '
            '| kNN min | CLS kNN @0 -> end | linear | final loss |',
            '|---|---|---|---|---|---|---|---|---|---|---|']
    for path in paths:
        r = json.load(open(path))
        a, s = r['args'], r.get('summary')
        if not s:
            continue
        data = osp.basename(a['data'].rstrip('/'))
        cls = (f"{s['knn_cls0']:.1f} -> {s['knn_cls_end']:.1f}"
               if 'knn_cls0' in s else '-')
        loss = f"{s['final_loss']:.3f}" if 'final_loss' in s else '-'
        rows.append(
            f"| {s['name']} | {setting_of(a)} | {data} | "
            f"{0 if a.get('random_vit') else a['iters']} | {a['seed']} | "
            f"{s['knn0']:.1f} | {s['knn_end']:.1f} | "
            f"{s.get('knn_min', s['knn_end']):.1f} | {cls} | "
            f"{s['linear']:.1f} | {loss} |")
    return '\n'.join(rows)
