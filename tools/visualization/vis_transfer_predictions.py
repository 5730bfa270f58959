"""Draw two fine-tuned runs' predictions on dense mosaics side by side.

    python tools/visualization/vis_transfer_predictions.py {seg,det} CONFIG \\
        MOSAICS CKPT_PRETRAINED CKPT_RANDOM --backbone BACKBONE_CKPT \\
        [--out-dir DIR] [--num 6]

One row per val mosaic (``MOSAICS/meta.json``, from
mmconmim/datasets/dense_mosaics.py): the mosaic, its ground truth, the
predictions of the run fine-tuned from the pre-trained backbone and of the
random-init run. ``seg``: class per pixel (UperNet, mmseg's
``inference_model``); ``det``: boxes with class and score plus instance masks
(Mask R-CNN, mmdet's ``inference_detector``, score >= 0.5). The PNG is named
with the backbone checkpoint and the fine-tuning iteration
(``{seg,det}_predictions_<backbone>_finetuned-iter_<N>.png``); its title
names both fine-tuned checkpoints. Used by tools/transfer_demo.py.
"""
import argparse
import json
import os.path as osp

import numpy as np
from PIL import Image

SCORE_THR = 0.5
TITLES = dict(seg='UperNet (mmseg): class of every pixel',
              det=f'Mask R-CNN (mmdet): boxes and masks, score >= '
              f'{SCORE_THR}')


def predict(task: str, config: str, checkpoint: str, images):
    """mmseg's / mmdet's own inference on image paths: a class map per
    image (seg) or (boxes, labels, scores, masks) above the threshold."""
    if task == 'seg':
        from mmseg.apis import inference_model, init_model
        model = init_model(config, checkpoint, device='cpu')
        return [inference_model(model, img).pred_sem_seg.data[0].numpy()
                for img in images]
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(config, checkpoint, device='cpu')
    out = []
    for img in images:
        pred = inference_detector(model, img).pred_instances
        keep = pred.scores >= SCORE_THR
        out.append((pred.bboxes[keep].numpy(), pred.labels[keep].numpy(),
                    pred.scores[keep].numpy(), pred.masks[keep].numpy()))
    return out


def show_instances(ax, img, boxes, labels, palette, classes, masks=None,
                   scores=None):
    """Masks as translucent class colours, boxes labelled with the class
    (and the score)."""
    from matplotlib.patches import Rectangle
    shown = img.astype(float)
    if masks is not None:
        for mask, label in zip(masks, labels):
            shown[mask] = 0.55 * shown[mask] + 0.45 * palette[label]
    ax.imshow(shown.astype(np.uint8))
    for k, (box, label) in enumerate(zip(boxes, labels)):
        x0, y0, x1, y1 = box
        colour = palette[label] / 255.
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0,
                               fill=False, edgecolor=colour, lw=1))
        text = classes[label][:6]
        if scores is not None:
            text += f' {scores[k]:.2f}'
        ax.text(x0 + 1, y0 + 3, text, fontsize=4, color='white',
                bbox=dict(facecolor=colour, pad=0.3, lw=0))


def draw_row(task, cells, path, entry, preds, palette, classes):
    """Mosaic, ground truth, pretrained and random-init predictions."""
    img = np.asarray(Image.open(path).convert('RGB'))
    cells[0].imshow(img)
    if task == 'seg':
        ann = path.replace(osp.join('img_dir', ''), osp.join('ann_dir', ''))
        cells[1].imshow(palette[np.asarray(Image.open(ann))])
        for cell, pred in zip(cells[2:], preds):
            cell.imshow(palette[pred])
    else:
        show_instances(cells[1], img, [t['box'] for t in entry['tiles']],
                       [t['class'] for t in entry['tiles']], palette,
                       classes)
        for cell, (boxes, labels, scores, masks) in zip(cells[2:], preds):
            show_instances(cell, img, boxes, labels, palette, classes,
                           masks=masks, scores=scores)
    for cell in cells:
        cell.set_xticks([])
        cell.set_yticks([])


def _short(path: str) -> str:
    """``seg_pretrained/iter_200.pth`` from a checkpoint path."""
    return osp.join(osp.basename(osp.dirname(path)), osp.basename(path))


def output_name(task: str, backbone: str, iteration: int) -> str:
    """``seg_predictions_conmim_demo-iter_300_finetuned-iter_200.png``."""
    stem = osp.splitext(osp.basename(backbone))[0]
    run = osp.basename(osp.dirname(osp.abspath(backbone)))
    return (f'{task}_predictions_{run}-{stem}_finetuned-iter_'
            f'{iteration}.png')


def draw_predictions(task: str, config: str, mosaics: str,
                     checkpoints: dict, iteration: int, backbone: str,
                     out_dir: str, num: int = 6) -> str:
    """Draw ``num`` val mosaics; ``checkpoints`` = {'pretrained': ...,
    'random': ...}. Returns the PNG's path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(osp.join(mosaics, 'meta.json')) as f:
        meta = json.load(f)
    entries = meta['splits']['val'][:num]
    images = [osp.join(mosaics, 'img_dir', 'val', e['name'] + '.png')
              for e in entries]
    preds = [predict(task, config, checkpoints[init], images)
             for init in ('pretrained', 'random')]
    palette = np.array(meta['palette'], np.uint8)
    fig, axes = plt.subplots(len(images), 4, squeeze=False,
                             figsize=(6.4, 1.7 * len(images) + 0.6))
    for row, (path, entry) in enumerate(zip(images, entries)):
        draw_row(task, axes[row], path, entry, [p[row] for p in preds],
                 palette, meta['classes'])
    titles = ('val mosaic', 'ground truth',
              f'from the backbone\n{_short(checkpoints["pretrained"])}',
              f'random init\n{_short(checkpoints["random"])}')
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=7)
    fig.suptitle(f'{TITLES[task]}; fine-tuned {iteration} iterations\n'
                 f'backbone {osp.basename(osp.dirname(backbone))}/'
                 f'{osp.basename(backbone)} (teacher)', fontsize=7)
    fig.tight_layout()
    out = osp.join(out_dir, output_name(task, backbone, iteration))
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('task', choices=['seg', 'det'])
    parser.add_argument('config')
    parser.add_argument('mosaics', help='dense mosaics folder (meta.json)')
    parser.add_argument('pretrained', help='checkpoint of the run from the '
                        'pre-trained backbone')
    parser.add_argument('random', help='checkpoint of the random-init run')
    parser.add_argument('--backbone', required=True,
                        help='the pre-trained checkpoint (for the name)')
    parser.add_argument('--iteration', type=int, required=True)
    parser.add_argument('--out-dir', default='.')
    parser.add_argument('--num', type=int, default=6)
    args = parser.parse_args()
    import mmconmim  # noqa: F401  (the configs' modules)
    out = draw_predictions(args.task, args.config, args.mosaics,
                           dict(pretrained=args.pretrained,
                                random=args.random), args.iteration,
                           args.backbone, args.out_dir, args.num)
    print(out)


if __name__ == '__main__':
    main()
