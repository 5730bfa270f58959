"""The plot of a recorded paper-setting run (benchmarks/conmim_paper_setting.py
--plot): drawn from the JSON a run writes, without re-running anything."""
import json
import math
import os.path as osp
import subprocess
import sys

from PIL import Image

from benchmarks import conmim_paper_setting as bench

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def recorded_run(abs_pos_emb=False):
    args = dict(img_size=32, patch_size=8, embed_dims=64, num_layers=4,
                batch_size=32, lr=2e-3, iters=200, seed=0, log_interval=50,
                abs_pos_emb=abs_pos_emb)
    records = [dict(iter=it, loss_running=3.0 - it / 400.,
                    masked_distance_ratio=it / 1000.)
               for it in range(0, 200, 50)]
    return dict(args=args, num_patches=16, num_masked=12,
                log_num_masked=math.log(12), log_num_patches=math.log(16),
                first_iter_running_loss_below_log_masked=None,
                records=records)


def test_plot_curve_writes_a_png(tmp_path):
    out = tmp_path / 'curve.png'
    bench.plot_curve(recorded_run(), str(out))
    with Image.open(out) as img:
        assert img.format == 'PNG'
        assert img.size == (800, 650)  # figsize (8, 6.5) at 100 dpi


def test_plot_flag_draws_next_to_the_json_without_training(tmp_path):
    path = tmp_path / 'run.json'
    path.write_text(json.dumps(recorded_run(abs_pos_emb=True)))
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'benchmarks',
                                  'conmim_paper_setting.py'),
         '--plot', str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'run.png').is_file()
    assert 'it ' not in proc.stdout  # no training iteration was logged
