"""Throughput of a config's training data pipeline alone, per worker.

    python benchmarks/data_throughput.py [--config CONFIG] [--images 64]
        [--size 500x375] [--repeats 2]

Runs the pipeline in this single process (one dataloader worker does exactly
this work) over photo-sized JPEG files and prints images/s and the time spent
in each transform, so the expensive steps are visible. For the ConMIM
two-view pipeline the image is decoded, flipped and cropped once; only the
teacher view's photometric ops and the mask are extra per view.
"""
import os.path as osp
import statistics
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common import benchmark_parser  # noqa: E402
from benchmarks.train_throughput import (DEFAULT_CONFIG,  # noqa: E402
                                         write_jpegs)


def parse_args(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--images', type=int, default=64)
    parser.add_argument('--size', default='500x375',
                        help='JPEG size WxH (ImageNet-typical by default)')
    parser.add_argument('--repeats', type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import TRANSFORMS

    import mmconmim  # noqa: F401
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(args.config)
    transforms = [TRANSFORMS.build(t) for t in cfg.train_pipeline]
    width, height = (int(v) for v in args.size.split('x'))
    folder = write_jpegs(tempfile.mkdtemp(prefix='mmconmim_data_'),
                         num=args.images, size=(width, height))
    paths = sorted(osp.join(folder, f) for f in
                   __import__('os').listdir(folder))
    np.random.seed(0)

    per_transform = defaultdict(float)
    totals = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for path in paths:
            results = dict(img_path=path)
            for transform in transforms:
                t0 = time.perf_counter()
                results = transform(results)
                per_transform[type(transform).__name__] += \
                    time.perf_counter() - t0
        totals.append(time.perf_counter() - start)
    images = len(paths)
    best = min(totals)
    print(f'config {osp.basename(args.config)}: {images} JPEGs of '
          f'{width}x{height}, {args.repeats} passes')
    print(f'data pipeline: {images / best:.1f} images/s per worker '
          f'(median pass {statistics.median(totals):.2f} s)')
    spent = sum(per_transform.values())
    for name, seconds in sorted(per_transform.items(), key=lambda kv: -kv[1]):
        print(f'  {name:32s} {1e3 * seconds / (images * args.repeats):7.2f}'
              f' ms/image  {seconds / spent:6.1%}')
    return images / best


if __name__ == '__main__':
    main()
