"""mmconmim.apis: load_backbone, and the one teacher/student rule shared by
the model, exports, loaders and tools (issue 13 section 3, issue 15.1)."""
import glob
import os.path as osp
import re
import runpy
import sys

import pytest
import torch

from tests.fixtures.helpers import REPO_ROOT, run_tool, write_images

CONMIM = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')
A2MIM = osp.join(REPO_ROOT, 'configs/demo/a2mim_demo.py')


def inputs(size=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, size, size, generator=gen)


@torch.no_grad()
def tokens(backbone, x):
    return backbone(x, mask=None)[-1]


def one_batch(size=64, grid=8, seed=0):
    """Two views and a half-masked patch grid for the demo ConMIM."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    views = [torch.randn(2, 3, size, size, generator=gen) for _ in range(2)]
    samples = []
    for _ in range(2):
        sample = DataSample()
        sample.set_mask((torch.rand(grid, grid, generator=gen) < 0.5))
        samples.append(sample)
    return views, samples


@pytest.fixture(scope='module')
def conmim(tmp_path_factory):
    """A demo ConMIM whose teacher was updated once and whose student has
    moved on since (so teacher and student differ), its training
    checkpoint and three exports written by export_backbone.py."""
    from mmconmim.evaluation.loading import build_model, load_config
    root = tmp_path_factory.mktemp('apis')
    cfg = load_config(CONMIM)
    model = build_model(cfg)
    model.train()
    model.loss(*one_batch())  # the teacher's first update copies the student
    model.eval()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = str(root / 'iter_1.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'iter': 1, 'cfg': cfg.pretty_text}}, ckpt)
    exports = {name: str(root / f'{name}.pth')
               for name in ('teacher', 'student', 'bare')}
    tool = 'tools/model_converters/export_backbone.py'
    run_tool([tool, ckpt, exports['teacher']])  # the CLI itself, once
    argv = sys.argv
    try:
        for name, flag in (('student', '--student'), ('bare', '--no-prefix')):
            sys.argv = [tool, ckpt, exports[name], flag]
            runpy.run_path(osp.join(REPO_ROOT, tool), run_name='__main__')
    finally:
        sys.argv = argv
    return dict(model=model.eval(), ckpt=ckpt, exports=exports, root=root)


def knn_folders(tmp_path):
    """Two classes of two images per split, for knn_eval.py."""
    data = tmp_path / 'knn'
    for split in ('train', 'val'):
        for c in range(2):
            write_images(str(data / split / f'class_{c}'), num=2, size=72,
                         seed=10 * c + (split == 'val'))
    return data


def test_the_rule_table():
    """networks.choose against the table of docs/apis.md."""
    from mmconmim.apis.networks import choose
    expected = {
        # (request, has_teacher, teacher_ready): network or error
        ('auto', True, True): 'teacher',
        ('auto', True, False): 'student',
        ('auto', False, True): 'student',
        ('teacher', True, True): 'teacher',
        ('teacher', True, False): 'student',
        ('teacher', False, True): ValueError,
        ('student', True, True): 'student',
        ('student', False, True): 'student',
    }
    for (request, has, ready), want in expected.items():
        if want is ValueError:
            with pytest.raises(ValueError, match='no momentum teacher'):
                choose(request, has, ready)
        else:
            assert choose(request, has, ready) == want, (request, has, ready)
    with pytest.raises(ValueError, match='must be one of'):
        choose('ema', True)


def test_teacher_accessors_match_the_state_dict_prefixes(conmim):
    from mmconmim.models import ConMIM
    model = conmim['model']
    state = model.state_dict()
    for module, prefix in (
            (model.teacher_backbone, ConMIM.TEACHER_BACKBONE_PREFIX),
            (model.teacher_projector, ConMIM.TEACHER_PROJECTOR_PREFIX)):
        own = {prefix + k for k in module.state_dict()}
        assert own == {k for k in state if k.startswith(prefix)}
    assert model.teacher_backbone is not model.backbone
    assert model.teacher_projector is not model.neck
    assert model.teacher_updated
    # the rule (which models import, so it cannot import them) names the
    # same layout
    from mmconmim.checkpoint import networks
    assert networks.teacher_prefixes() == (ConMIM.TEACHER_BACKBONE_PREFIX,
                                           ConMIM.TEACHER_PROJECTOR_PREFIX)


def test_only_conmim_names_the_teacher_attribute():
    """Renaming ConMIM's ``teacher`` attribute must break the model and the
    rule only: nothing else in the package or the tools reaches into it."""
    pattern = re.compile(r"\.teacher\b(?!_)|['\"]teacher\.")
    allowed = (osp.join(REPO_ROOT, 'mmconmim/models/selfsup/conmim.py'),
               osp.join(REPO_ROOT, 'mmconmim/checkpoint/networks.py'))
    offenders = []
    for path in glob.glob(osp.join(REPO_ROOT, 'mmconmim/**/*.py'),
                          recursive=True) + \
            glob.glob(osp.join(REPO_ROOT, 'tools/**/*.py'),
                      recursive=True) + \
            glob.glob(osp.join(REPO_ROOT, 'benchmarks/**/*.py'),
                      recursive=True):
        if path in allowed:
            continue
        for i, line in enumerate(open(path, encoding='utf-8'), 1):
            if pattern.search(line.split('#')[0]):
                offenders.append(f'{osp.relpath(path, REPO_ROOT)}:{i}')
    assert offenders == []


def test_load_backbone_from_a_training_checkpoint(conmim):
    from mmconmim.apis import load_backbone
    model, x = conmim['model'], inputs()
    teacher = load_backbone(conmim['ckpt'], CONMIM)
    assert teacher.source == teacher.network == 'teacher'
    assert not teacher.training
    assert torch.allclose(tokens(teacher, x),
                          tokens(model.teacher_backbone, x), atol=1e-6)
    student = load_backbone(conmim['ckpt'], CONMIM, source='student')
    assert student.network == 'student'
    assert torch.allclose(tokens(student, x), tokens(model.backbone, x),
                          atol=1e-6)
    assert not torch.allclose(tokens(student, x), tokens(teacher, x),
                              atol=1e-3)


def test_load_backbone_from_exports(conmim):
    from mmconmim.apis import load_backbone
    model, x = conmim['model'], inputs(seed=1)
    for name in ('teacher', 'bare'):
        backbone = load_backbone(conmim['exports'][name], CONMIM)
        assert backbone.network == 'teacher', name
        assert torch.allclose(tokens(backbone, x),
                              tokens(model.teacher_backbone, x), atol=1e-6)
    student = load_backbone(conmim['exports']['student'], CONMIM)
    assert student.network == 'student'
    assert torch.allclose(tokens(student, x), tokens(model.backbone, x),
                          atol=1e-6)
    with pytest.raises(KeyError, match='exported teacher backbone'):
        load_backbone(conmim['exports']['teacher'], CONMIM,
                      source='student')
    # a model dict or a backbone dict instead of a config file
    from mmengine.config import Config
    cfg = Config.fromfile(CONMIM)
    for given in (cfg.model, cfg.model.backbone):
        backbone = load_backbone(conmim['exports']['teacher'], given)
        assert torch.allclose(tokens(backbone, x),
                              tokens(model.teacher_backbone, x), atol=1e-6)


def test_load_backbone_refuses_what_does_not_fit(conmim, tmp_path,
                                                 monkeypatch):
    from mmconmim.apis import load_backbone
    monkeypatch.delenv('MMCONMIM_TRUST_CHECKPOINTS', raising=False)
    with pytest.raises(PermissionError, match='MMCONMIM_TRUST_CHECKPOINTS'):
        load_backbone(conmim['ckpt'])
    monkeypatch.setenv('MMCONMIM_TRUST_CHECKPOINTS', '1')
    trusted = load_backbone(conmim['ckpt'])  # the config stored inside
    x = inputs(seed=2)
    assert torch.allclose(tokens(trusted, x),
                          tokens(conmim['model'].teacher_backbone, x),
                          atol=1e-6)
    from mmengine.config import Config
    narrow = Config.fromfile(CONMIM).model.backbone
    narrow.arch.embed_dims = 64
    narrow.arch.feedforward_channels = 256
    with pytest.raises(ValueError, match='does not fit'):
        load_backbone(conmim['ckpt'], narrow)
    deeper = Config.fromfile(CONMIM).model.backbone
    deeper.arch.num_layers = 5
    with pytest.raises(KeyError, match='weights missing'):
        load_backbone(conmim['ckpt'], deeper)
    with pytest.raises(FileNotFoundError):
        load_backbone(str(tmp_path / 'nope.pth'), CONMIM)
    # one network only: an A2MIM checkpoint has no teacher
    from mmconmim.evaluation.loading import build_model, load_config
    a2mim = build_model(load_config(A2MIM))
    path = str(tmp_path / 'a2mim.pth')
    torch.save({'state_dict': a2mim.state_dict(), 'meta': {}}, path)
    with pytest.raises(KeyError, match='no teacher weights'):
        load_backbone(path, A2MIM, source='teacher')
    backbone = load_backbone(path, A2MIM)
    assert backbone.network == 'student'
    x = inputs(size=128)
    with torch.no_grad():
        assert torch.allclose(backbone(x)[-1], a2mim.backbone(x)[-1],
                              atol=1e-6)


def test_extract_feat_follows_the_rule(conmim):
    """ConMIM.extract_feat (what mmpretrain's get_model / FeatureExtractor
    call) gives the teacher's features once it holds weights, the
    student's while a freshly built teacher was never updated."""
    from mmengine.runner import load_checkpoint

    from mmconmim.evaluation.loading import build_model, load_config
    x = inputs(seed=3)
    fresh = build_model(load_config(CONMIM))
    assert not fresh.teacher_updated
    with torch.no_grad():
        assert torch.equal(fresh.extract_feat(x)[-1], tokens(fresh.backbone,
                                                             x))
    load_checkpoint(fresh, conmim['ckpt'], map_location='cpu')
    assert fresh.teacher_updated
    with torch.no_grad():
        assert torch.allclose(fresh.extract_feat(x)[-1],
                              tokens(conmim['model'].teacher_backbone, x),
                              atol=1e-6)


def test_loaders_and_knn_eval_report_the_exported_network(
        conmim, tmp_path, monkeypatch, capsys):
    """An export made with the defaults holds the teacher; the offline
    tools load it as the teacher and say so (they said 'student')."""
    from mmconmim.evaluation.loading import load_model
    x = inputs(seed=4)
    for name, network in (('teacher', 'teacher'), ('student', 'student')):
        model, backbone, source, _ = load_model(CONMIM,
                                                conmim['exports'][name])
        assert source == network
        want = conmim['model'].teacher_backbone if network == 'teacher' \
            else conmim['model'].backbone
        assert torch.allclose(tokens(backbone, x), tokens(want, x),
                              atol=1e-6)
    with pytest.raises(KeyError, match='exported student backbone'):
        load_model(CONMIM, conmim['exports']['student'], 'teacher')

    data = knn_folders(tmp_path)
    tool = 'tools/analysis_tools/knn_eval.py'
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, 'argv', [
        tool, CONMIM, conmim['exports']['teacher'], '--data', str(data),
        '--num-workers', '0', '--k', '2'])
    runpy.run_path(osp.join(REPO_ROOT, tool), run_name='__main__')
    assert 'kNN (teacher, avg features' in capsys.readouterr().out


def test_vis_patch_similarity_projector_comes_from_the_resolver(conmim):
    from mmconmim.apis import select_projector
    model = conmim['model']
    assert select_projector(model, 'auto') == (model.teacher_projector,
                                               'teacher')
    assert select_projector(model, 'student') == (model.neck, 'student')
    from mmconmim.evaluation.loading import build_model, load_config
    with pytest.raises(ValueError, match='projector'):
        select_projector(build_model(load_config(A2MIM)), 'auto')


def test_one_tool_call_resolves_the_network_once(conmim, tmp_path,
                                                 monkeypatch, capsys):
    """knn_eval.py (load_model -> load_weights -> select_backbone ->
    extract_splits -> two feature passes) and load_backbone consult the
    teacher/student rule exactly once per call, for a training checkpoint,
    an export and a random initialisation alike (issue 26.4)."""
    from mmconmim.apis import load_backbone
    from mmconmim.checkpoint import networks
    calls = []
    rule = networks.choose

    def counting_rule(*args, **kwargs):
        calls.append(args)
        return rule(*args, **kwargs)

    monkeypatch.setattr(networks, 'choose', counting_rule)
    data = knn_folders(tmp_path)
    tool = 'tools/analysis_tools/knn_eval.py'
    monkeypatch.chdir(REPO_ROOT)
    for checkpoint, network in ((conmim['ckpt'], 'teacher'),
                                (conmim['exports']['student'], 'student'),
                                ('none', 'student')):
        calls.clear()
        monkeypatch.setattr(sys, 'argv', [
            tool, CONMIM, checkpoint, '--data', str(data),
            '--num-workers', '0', '--k', '2'])
        runpy.run_path(osp.join(REPO_ROOT, tool), run_name='__main__')
        assert f'kNN ({network}, avg features' in capsys.readouterr().out
        assert len(calls) == 1, (checkpoint, calls)
    calls.clear()
    assert load_backbone(conmim['ckpt'], CONMIM).network == 'teacher'
    assert len(calls) == 1, calls
