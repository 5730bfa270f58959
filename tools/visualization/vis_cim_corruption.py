"""Write a PNG of what CIM trains on: for a few images of a config's training
set, the original view, the generator's mask, the dVAE rendering of the
golden tokens, the corrupted image (the decoder's rendering of the mixed
token grid), the replaced tokens (REVDET labels) and the enhancer's
prediction (REVDET probabilities, or the RESPIX prediction).

    python tools/visualization/vis_cim_corruption.py CONFIG --out cim.png \
        [--checkpoint CKPT] [--num-images 4] [--seed 0] \
        [--cfg-options model.objective=revdet]

Without a checkpoint the model is freshly initialised (the tokenizer is
loaded from its configured files, or random in the demo config). With one,
the objective (RESPIX / REVDET, whose heads differ) is read from the config
stored in the checkpoint (as a literal: the stored text is never run), so
the demo config draws a REVDET checkpoint correctly; an explicit ``--cfg-options model.objective=...`` that contradicts
the checkpoint, or weights that do not fit the model, are refused. The title
names the checkpoint and its iteration.
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import default_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint, set_random_seed  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402
from mmpretrain.registry import DATASETS, MODELS  # noqa: E402

import mmconmim  # noqa: E402,F401
from mmconmim.checkpoint import config_field, refusals_as_exit  # noqa: E402
from mmconmim.checkpoint.info import (checkpoint_label,  # noqa: E402
                                     checkpoint_meta)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='CIM config')
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--checkpoint', help='CIM checkpoint to load')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def hwc(img: torch.Tensor) -> np.ndarray:
    return img.permute(1, 2, 0).cpu().numpy().clip(0, 1)


def grid_to_pixels(grid: torch.Tensor, size) -> np.ndarray:
    """(h, w) token values -> (H, W) pixels (nearest)."""
    return torch.nn.functional.interpolate(
        grid[None, None].float(), size=tuple(size),
        mode='nearest')[0, 0].cpu().numpy()


def overlay(img: np.ndarray, pixel_mask: np.ndarray, colour,
            alpha=0.55) -> np.ndarray:
    out = img.copy()
    sel = pixel_mask > 0.5
    out[sel] = (1 - alpha) * out[sel] + alpha * np.asarray(colour)
    return out


def normalised_to_grey(img: np.ndarray) -> np.ndarray:
    """Sliding-window normalised pixels (about zero mean, unit variance):
    channel mean, [-2, 2] -> [0, 1], as a grey image."""
    grey = np.clip((img.mean(-1) + 2) / 4, 0, 1)
    return np.repeat(grey[..., None], 3, axis=-1)


def trained_objective(meta: dict):
    """``model.objective`` of the config stored in a runner checkpoint, read
    as a literal (the text is never run), or None when it does not say."""
    text = meta.get('cfg')
    if not isinstance(text, str):
        return None
    objective = config_field(text, 'model.objective')
    return objective if isinstance(objective, str) else None


def use_trained_objective(cfg, args, meta: dict) -> None:
    """Set ``cfg.model.objective`` to the checkpoint's, refusing an explicit
    ``--cfg-options model.objective`` that contradicts it."""
    trained = trained_objective(meta)
    if trained is None or trained == cfg.model.get('objective'):
        return
    asked = (args.cfg_options or {}).get('model.objective')
    if asked is not None:
        raise SystemExit(
            f'error: --cfg-options model.objective={asked} contradicts '
            f'{args.checkpoint}, which was trained with '
            f"objective='{trained}'")
    print(f'using objective={trained!r} from the checkpoint\'s config '
          f'(the config file says {cfg.model.get("objective")!r})')
    cfg.model.objective = trained


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    set_random_seed(args.seed)

    with refusals_as_exit():
        meta = checkpoint_meta(args.checkpoint) if args.checkpoint else {}
    use_trained_objective(cfg, args, meta)

    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint:
        # strict: a head of the other objective must not stay random
        try:
            load_checkpoint(model, args.checkpoint, map_location='cpu',
                            strict=True)
        except (RuntimeError, KeyError) as exc:
            raise SystemExit(
                f'error: {args.checkpoint} does not fit the model of '
                f'{args.config} (objective {model.objective!r}); use the '
                'config it was trained with or set model.objective. '
                f'Details: {str(exc).splitlines()[0][:300]}')
    model.eval()

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    count = min(args.num_images, len(dataset))
    batch = default_collate([dataset[i] for i in range(count)])
    data = model.data_preprocessor(batch, False)
    out = model.visualize(data['inputs'], data['data_samples'])

    objective = model.objective
    titles = ('original (view A)', 'mask', 'dVAE(golden tokens)',
              'corrupted (enhancer input)', 'replaced = REVDET label',
              'REVDET p(replaced)'
              if objective == 'revdet' else 'RESPIX prediction (grey)')
    fig, axes = plt.subplots(
        count, len(titles), figsize=(2 * len(titles), 2 * count),
        squeeze=False)
    for row in range(count):
        original = hwc(out['original'][row])
        size = original.shape[:2]
        mask = grid_to_pixels(out['mask'][row], size)
        replaced = grid_to_pixels(out['replaced'][row], size)
        corrupted = hwc(out['corrupted'][row])
        if objective == 'revdet':
            prediction = grid_to_pixels(out['prediction'][row], size)
            prediction = plt.get_cmap('magma')(prediction)[..., :3]
        else:
            prediction = normalised_to_grey(
                out['prediction'][row].permute(1, 2, 0).cpu().numpy())
        panels = (original, overlay(original, mask, (0., 0., 0.), 0.7),
                  hwc(out['golden_decoded'][row]), corrupted,
                  overlay(corrupted, replaced, (1., 0., 0.)), prediction)
        for col, (ax, img) in enumerate(zip(axes[row], panels)):
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=7)
        rate = out['replaced'][row].mean().item()
        axes[row][0].set_ylabel(f'{rate:.0%} replaced', fontsize=7)
    label = checkpoint_label(args.checkpoint, meta) if args.checkpoint \
        else 'no checkpoint (fresh initialisation)'
    fig.suptitle(f'{label}: objective {objective}', fontsize=9)
    fig.tight_layout()
    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
