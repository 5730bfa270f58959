"""Offline monitoring tools on ConMIM and A2MIM checkpoints: kNN, linear
probe, patch-similarity / CLS-attention / curve PNGs, bad inputs."""
import json
import os.path as osp
import runpy
import sys

import pytest
import torch
from PIL import Image

from benchmarks.photo_regions import build_photo_regions
from tests.fixtures.helpers import REPO_ROOT, run_tool

CONMIM = 'configs/demo/conmim_demo.py'
A2MIM = 'configs/demo/a2mim_demo.py'
IMAGES = [osp.join(REPO_ROOT, 'data/demo/images', name)
          for name in ('astronaut.jpg', 'coins.jpg')]


def run_main(tool, args, monkeypatch):
    """Run a tool's ``__main__`` in this process (faster than a
    subprocess; the CLI itself runs in test_knn_eval_cli)."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, 'argv', [tool] + [str(a) for a in args])
    runpy.run_path(osp.join(REPO_ROOT, tool), run_name='__main__')


@pytest.fixture(scope='module')
def regions(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('regions'))
    build_photo_regions(root, per_class=2)
    return root


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A ConMIM checkpoint whose teacher differs from its student, and an
    A2MIM (ResNet) checkpoint."""
    from mmconmim.evaluation.loading import build_model, load_config
    root = tmp_path_factory.mktemp('ckpt')
    model = build_model(load_config(osp.join(REPO_ROOT, CONMIM)))
    model.teacher.update_parameters(
        torch.nn.Sequential(model.backbone, model.neck))
    with torch.no_grad():  # a student that has moved on
        for p in model.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    conmim = str(root / 'conmim.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, conmim)
    model = build_model(load_config(osp.join(REPO_ROOT, A2MIM)))
    a2mim = str(root / 'a2mim.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, a2mim)
    return dict(conmim=conmim, a2mim=a2mim)


def png_size(path):
    assert osp.getsize(path) > 0
    with Image.open(path) as img:
        assert img.format == 'PNG'
        extrema = img.convert('L').getextrema()
        assert extrema[0] < extrema[1]  # not a blank canvas
        return img.size


def test_knn_eval_cli_and_linear_probe(checkpoints, regions, tmp_path):
    feats = str(tmp_path / 'feats.pth')
    out = str(tmp_path / 'knn.json')
    proc = run_tool([
        'tools/analysis_tools/knn_eval.py', CONMIM, checkpoints['conmim'],
        '--data', regions, '--num-workers', '0', '--k', '5',
        '--save-features', feats, '--out-json', out
    ])
    assert 'kNN (teacher, avg features, k=5' in proc.stdout
    result = json.load(open(out))
    assert result['source'] == 'teacher'
    assert result['num_train'] == result['num_val'] == 26
    assert result['num_classes'] == 13
    assert 0 <= result['top1'] <= result['top5'] <= 100
    saved = torch.load(feats, weights_only=True)
    assert saved['train_feats'].shape == (26, 128)
    assert saved['val_labels'].tolist() == sorted(saved['val_labels'])

    # the student is another network: other features
    out_s = str(tmp_path / 'knn_student.json')
    feats_s = str(tmp_path / 'feats_student.pth')
    run_tool([
        'tools/analysis_tools/knn_eval.py', CONMIM, checkpoints['conmim'],
        '--data', regions, '--num-workers', '0', '--source', 'student',
        '--save-features', feats_s, '--out-json', out_s
    ])
    assert json.load(open(out_s))['source'] == 'student'
    assert not torch.allclose(torch.load(feats_s)['train_feats'],
                              saved['train_feats'])

    proc = run_tool(['tools/analysis_tools/linear_probe.py', '--features',
                     feats, '--out-json', str(tmp_path / 'lin.json')])
    assert 'linear probe (teacher' in proc.stdout
    lin = json.load(open(tmp_path / 'lin.json'))
    assert 0 <= lin['top1'] <= lin['top5'] <= 100


def test_knn_eval_on_a2mim_and_random_init(checkpoints, regions, tmp_path,
                                           monkeypatch, capsys):
    out = tmp_path / 'a2mim.json'
    run_main('tools/analysis_tools/knn_eval.py', [
        A2MIM, checkpoints['a2mim'], '--train', f'{regions}/train', '--val',
        f'{regions}/val', '--num-workers', 0, '--out-json', out
    ], monkeypatch)
    result = json.load(open(out))
    assert result['source'] == 'student' and result['img_size'] == 224
    run_main('tools/analysis_tools/knn_eval.py', [
        CONMIM, 'none', '--data', regions, '--num-workers', 0, '--out-json',
        out
    ], monkeypatch)
    assert json.load(open(out))['source'] == 'student'
    run_main('tools/analysis_tools/linear_probe.py', [
        A2MIM, checkpoints['a2mim'], '--data', regions, '--num-workers', 0,
        '--img-size', 64
    ], monkeypatch)
    assert 'linear probe (student' in capsys.readouterr().out


def test_knn_eval_bad_inputs(checkpoints, regions, tmp_path, monkeypatch):
    with pytest.raises(KeyError, match='no teacher weights'):
        run_main('tools/analysis_tools/knn_eval.py', [
            A2MIM, checkpoints['a2mim'], '--data', regions, '--source',
            'teacher'
        ], monkeypatch)
    empty = tmp_path / 'empty'
    (empty / 'train' / 'a').mkdir(parents=True)
    (empty / 'val' / 'a').mkdir(parents=True)
    with pytest.raises(RuntimeError, match='no labelled images'):
        run_main('tools/analysis_tools/knn_eval.py',
                 [CONMIM, 'none', '--data', empty], monkeypatch)
    with pytest.raises(FileNotFoundError, match='not a folder'):
        run_main('tools/analysis_tools/knn_eval.py',
                 [CONMIM, 'none', '--data', tmp_path / 'missing'],
                 monkeypatch)
    # a checkpoint of another architecture
    with pytest.raises(ValueError, match='does not fit'):
        run_main('tools/analysis_tools/knn_eval.py', [
            CONMIM, checkpoints['conmim'], '--data', regions,
            '--cfg-options', 'model.backbone.arch.embed_dims=64',
            'model.backbone.arch.feedforward_channels=256',
            'model.neck.in_channels=64'
        ], monkeypatch)


def test_patch_similarity_png(checkpoints, tmp_path, monkeypatch):
    out = tmp_path / 'sim.png'
    run_main('tools/visualization/vis_patch_similarity.py', [
        CONMIM, checkpoints['conmim'], '--out', out, '--images', *IMAGES
    ], monkeypatch)
    assert png_size(out) == (300 * (1 + 3), 300 * 2)  # 3 default queries
    run_main('tools/visualization/vis_patch_similarity.py', [
        CONMIM, checkpoints['conmim'], '--out', out, '--num-images', 1,
        '--query', '0,7', '--embedding', 'projected'
    ], monkeypatch)
    assert png_size(out) == (300 * 2, 300)
    # a CNN: positions of the last feature map (128 px / 32 = 4x4)
    run_main('tools/visualization/vis_patch_similarity.py', [
        A2MIM, checkpoints['a2mim'], '--out', out, '--images', IMAGES[0],
        '--img-size', 128, '--query', '0,0', '3,3'
    ], monkeypatch)
    assert png_size(out) == (300 * 3, 300)
    with pytest.raises(ValueError, match='outside the 8x8 patch grid'):
        run_main('tools/visualization/vis_patch_similarity.py', [
            CONMIM, checkpoints['conmim'], '--out', out, '--images',
            IMAGES[0], '--query', '8,0'
        ], monkeypatch)
    with pytest.raises(ValueError, match='projector'):
        run_main('tools/visualization/vis_patch_similarity.py', [
            A2MIM, checkpoints['a2mim'], '--out', out, '--images', IMAGES[0],
            '--embedding', 'projected'
        ], monkeypatch)


def test_cls_attention_png(checkpoints, tmp_path, monkeypatch):
    out = tmp_path / 'attn.png'
    run_main('tools/visualization/vis_cls_attention.py', [
        CONMIM, checkpoints['conmim'], '--out', out, '--num-images', 3
    ], monkeypatch)
    assert png_size(out) == (900, 300 * 3)
    with pytest.raises(TypeError, match='no transformer layers'):
        run_main('tools/visualization/vis_cls_attention.py', [
            A2MIM, checkpoints['a2mim'], '--out', out, '--images', IMAGES[0]
        ], monkeypatch)


def test_curves_png(tmp_path, monkeypatch):
    vis = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    records = [dict(loss=4. - i / 10, lr=1e-3, step=i, iter=i)
               for i in range(1, 21)]
    records += [{'knn/top1': 10. + i, 'knn/top5': 40. + i, 'step': i}
                for i in (0, 10, 20)]
    (vis / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in records) + '\n')
    out = tmp_path / 'curves.png'
    run_main('tools/visualization/vis_curves.py',
             [tmp_path / 'work', '--out', out], monkeypatch)
    assert png_size(out) == (1200, 400)  # loss + kNN panels
    run_main('tools/visualization/vis_curves.py',
             [vis / 'scalars.json', '--out', out, '--metric-prefix', 'none'],
             monkeypatch)
    assert png_size(out) == (600, 400)  # loss only
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        run_main('tools/visualization/vis_curves.py', [tmp_path],
                 monkeypatch)
    with pytest.raises(KeyError, match='none of'):
        run_main('tools/visualization/vis_curves.py',
                 [tmp_path / 'work', '--loss-keys', 'loss_x'], monkeypatch)


def test_knn_eval_on_a_cim_enhancer(regions, tmp_path, monkeypatch):
    """CIM keeps the network being pre-trained under ``backbone``: the
    tools evaluate its enhancer (not the generator or the dVAE)."""
    from mmconmim.evaluation.loading import build_model, load_config
    cim_cfg = 'configs/demo/cim_demo.py'
    model = build_model(load_config(osp.join(REPO_ROOT, cim_cfg)))
    ckpt = str(tmp_path / 'cim.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    out = tmp_path / 'cim.json'
    run_main('tools/analysis_tools/knn_eval.py', [
        cim_cfg, ckpt, '--data', regions, '--num-workers', 0, '--k', 5,
        '--out-json', out
    ], monkeypatch)
    result = json.load(open(out))
    assert result['source'] == 'student'
    assert result['num_train'] == result['num_val'] == 26
    assert 0 <= result['top1'] <= result['top5'] <= 100


@pytest.fixture
def saved_figures(monkeypatch):
    """The matplotlib figures the tools save (to read their titles and
    colour bars; the PNG pixels cannot be read back as text)."""
    import matplotlib.figure
    figures = []
    savefig = matplotlib.figure.Figure.savefig

    def recording_savefig(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, 'savefig',
                        recording_savefig)
    return figures


def colour_bar_labels(fig):
    return [ax.get_ylabel() for ax in fig.axes
            if ax.get_label() == '<colorbar>']


def test_maps_name_the_checkpoint_and_have_colour_bars(
        checkpoints, tmp_path, monkeypatch, saved_figures):
    state = torch.load(checkpoints['conmim'], weights_only=True)
    ckpt = str(tmp_path / 'iter_7.pth')
    torch.save(dict(state_dict=state['state_dict'], meta=dict(iter=7)), ckpt)
    out = tmp_path / 'map.png'
    run_main('tools/visualization/vis_patch_similarity.py', [
        CONMIM, ckpt, '--out', out, '--images', IMAGES[0], '--query', '0,0',
        '3,3'
    ], monkeypatch)
    fig = saved_figures[-1]
    assert fig.get_suptitle() == \
        'iter_7.pth (iteration 7): teacher backbone patch embeddings'
    assert colour_bar_labels(fig) == ['cosine similarity'] * 2
    assert png_size(out) == (300 * 3, 300)

    run_main('tools/visualization/vis_cls_attention.py', [
        CONMIM, ckpt, '--out', out, '--num-images', 2
    ], monkeypatch)
    fig = saved_figures[-1]
    assert fig.get_suptitle() == \
        'iter_7.pth (iteration 7): teacher backbone, layer 4 of 4'
    assert colour_bar_labels(fig) == \
        ['attention weight'] * 2
    # the bar's range is the map's range, shared with the overlay
    heat, overlay = fig.axes[1].images[0], fig.axes[2].images[-1]
    assert heat.get_clim() == overlay.get_clim()
    assert heat.get_clim()[0] < heat.get_clim()[1]
    assert png_size(out) == (900, 600)

    # an export names its network and iteration; 'none' says so
    from mmconmim.checkpoint.info import checkpoint_label
    export = str(tmp_path / 'vit.pth')
    run_main('tools/model_converters/export_backbone.py', [ckpt, export],
             monkeypatch)
    assert checkpoint_label(export) == \
        'vit.pth (exported teacher, iteration 7)'
    assert checkpoint_label('none') == 'no checkpoint (random initialisation)'
    assert checkpoint_label(checkpoints['conmim']) == \
        'conmim.pth (iteration unknown)'


def test_curves_title_names_the_run(tmp_path, monkeypatch, saved_figures):
    vis = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text('\n'.join(
        json.dumps(dict(loss=1. / i, step=i)) for i in range(5, 31, 5)))
    run_main('tools/visualization/vis_curves.py',
             [tmp_path / 'work', '--out', tmp_path / 'c.png'], monkeypatch)
    assert saved_figures[-1].get_suptitle() == \
        f'{tmp_path / "work"}: 1 log(s), iterations 5-30'


def test_cim_corruption_reads_the_objective_from_the_checkpoint(
        tmp_path, monkeypatch, saved_figures, capsys):
    """The RESPIX demo config with a REVDET checkpoint draws REVDET (the
    checkpoint's config says so) instead of a random RESPIX head."""
    from mmengine.config import Config
    from mmconmim.evaluation.loading import build_model, load_config
    cim = 'configs/demo/cim_demo.py'
    cfg = load_config(osp.join(REPO_ROOT, cim),
                      {'model.objective': 'revdet'})
    model = build_model(cfg)
    ckpt = str(tmp_path / 'iter_2.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(iter=2, cfg=cfg.pretty_text)), ckpt)
    assert Config.fromstring(cfg.pretty_text, '.py').model.objective == \
        'revdet'
    out = tmp_path / 'cim.png'
    args = [cim, '--checkpoint', ckpt, '--out', out, '--num-images', 1]
    run_main('tools/visualization/vis_cim_corruption.py', args, monkeypatch)
    assert "using objective='revdet' from the checkpoint's config" in \
        capsys.readouterr().out
    assert saved_figures[-1].get_suptitle() == \
        'iter_2.pth (iteration 2): objective revdet'
    assert png_size(out) == (1200, 200)

    # an explicit contradicting objective is refused
    with pytest.raises(SystemExit, match='contradicts'):
        run_main('tools/visualization/vis_cim_corruption.py',
                 args + ['--cfg-options', 'model.objective=respix'],
                 monkeypatch)
    # without a stored config the strict load refuses the other head
    bare = str(tmp_path / 'bare.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), bare)
    with pytest.raises(SystemExit, match='does not fit the model'):
        run_main('tools/visualization/vis_cim_corruption.py',
                 [cim, '--checkpoint', bare, '--out', out], monkeypatch)
