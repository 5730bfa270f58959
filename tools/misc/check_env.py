"""Print the versions of the pinned stack and prove mmcv's compiled ops load."""
import sys

import torch


def main():
    import mmcv
    import mmengine
    from mmcv.ops import nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    rows = [('python', sys.version.split()[0]), ('torch', torch.__version__),
            ('mmengine', mmengine.__version__), ('mmcv', mmcv.__version__),
            ('mmcv.ops.nms (CPU)', 'ok' if keep.tolist() == [0, 2] else f'WRONG {keep}')]
    for name in ('mmpretrain', 'mmseg', 'mmdet', 'mmconmim'):
        try:
            mod = __import__(name)
            rows.append((name, mod.__version__))
        except Exception as exc:  # report every missing piece, not just the first
            rows.append((name, f'IMPORT FAILED: {exc!r}'))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f'{name:<{width}}  {value}')
    if any('FAILED' in v or 'WRONG' in v for _, v in rows):
        sys.exit(1)


if __name__ == '__main__':
    main()
