"""The photo-halves-13 builder (benchmarks/photo_halves.py, the driver's
--make-halves): its layout, its crop size, and that it is deterministic."""
import glob
import os.path as osp

from PIL import Image

from benchmarks.photo_halves import REPO_ROOT, make_halves


def test_layout_size_and_determinism(tmp_path):
    photos = glob.glob(osp.join(REPO_ROOT, 'data', 'demo', 'images', '*.jpg'))
    names = sorted(osp.splitext(osp.basename(p))[0] for p in photos)
    for out in ('a', 'b'):
        make_halves(str(tmp_path / out), size=8, per_class=2, seed=3)
    for split in ('train', 'val'):
        folders = sorted(glob.glob(str(tmp_path / 'a' / split / '*')))
        assert [osp.basename(f) for f in folders] == names
        for folder in folders:
            files = sorted(glob.glob(osp.join(folder, '*.jpg')))
            assert [osp.basename(f) for f in files] == ['000.jpg', '001.jpg']
            for f in files:
                assert Image.open(f).size == (8, 8)
                twin = f.replace(osp.join(str(tmp_path), 'a'),
                                 osp.join(str(tmp_path), 'b'))
                assert open(f, 'rb').read() == open(twin, 'rb').read()
