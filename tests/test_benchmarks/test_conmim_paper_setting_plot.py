"""The plot of a recorded paper-setting run (benchmarks/conmim_paper_setting.py
--plot): drawn from the JSON a run writes, without re-running anything."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
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


def test_running_intra_image_and_first_below_by_hand():
    records = [dict(iter=it, loss_intra_image=v) for it, v in
               zip((0, 25, 50, 75), (3.0, 2.0, 2.6, 2.2))]
    # means of the last two logged values: 3.0, 2.5, 2.3, 2.4
    running = bench.running_intra_image(records, window=2)
    assert [round(v, 6) for v in running] == [3.0, 2.5, 2.3, 2.4]
    assert bench.first_below(records, 2, bound=2.45) == 50
    # window 1: the first single logged batch below the bound
    assert bench.first_below(records, 1, bound=2.1) == 25
    assert bench.first_below(records, 2, bound=2.0) is None


def test_run_label_names_every_change_and_nothing_for_the_paper():
    assert bench.run_label(dict(negatives='image', layer_scale=0.1,
                                proj_layers=3, weight_init='paper')) == ''
    label = bench.run_label(dict(negatives='batch', mask_pos_scale=0.2,
                                 weight_init='mmpretrain', layer_scale=1.0,
                                 proj_layers=2, rel_pos_init_std=0.02))
    assert label == ('negatives=batch, mask-token pos. code x0.2, '
                     'mmpretrain init, layer scale 1.0, 2-layer projector, '
                     'rel-pos table init std 0.02')


def test_plot_of_several_runs_needs_and_writes_plot_out(tmp_path):
    paths = []
    for seed in (0, 1):
        run = recorded_run()
        run['args']['seed'] = seed
        for r in run['records']:
            r['loss_intra_image'] = r['loss_running']
        paths.append(tmp_path / f'run{seed}.json')
        paths[-1].write_text(json.dumps(run))
    script = osp.join(REPO_ROOT, 'benchmarks', 'conmim_paper_setting.py')
    proc = subprocess.run([sys.executable, script, '--plot', *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and '--plot-out' in proc.stderr
    out = tmp_path / 'both.png'
    proc = subprocess.run([sys.executable, script, '--plot', *map(str, paths),
                           '--plot-out', str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        # 9 x (5 + a legend of 0.45 + 0.3 x 2 runs) inches at 100 dpi
        assert img.size == (900, 605)


def test_runs_recorded_before_the_intra_image_column_read_their_loss():
    # run D's records: the intra-image dictionary, 'loss' of the logged batch
    records = [dict(iter=0, loss=3.0), dict(iter=50, loss=2.0)]
    assert bench.running_intra_image(records, window=2) == [3.0, 2.5]


def test_plot_of_several_runs_refuses_a_batch_run_without_the_column(
        tmp_path):
    runs = []
    for negatives in ('image', 'batch'):
        run = recorded_run()
        run['args']['negatives'] = negatives
        for r in run['records']:
            r['loss'] = r['loss_running']
        runs.append(run)
    with pytest.raises(SystemExit, match='old_batch.*re-run'):
        bench.plot_runs(runs, ['old_image', 'old_batch'],
                        str(tmp_path / 'x.png'), window_iters=100)
    assert not (tmp_path / 'x.png').exists()
