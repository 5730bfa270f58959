"""Section 17 of docs/conmim_small_scale.md
(benchmarks/conmim_student_export.py): a compare run's checkpoint scored as
the teacher and as the student by the tool's own evaluation. Checked on a
tiny ConMIM run dir whose teacher and student differ: each network's
scores equal those of that network's weights exported by hand, a
metrics.json that the teacher does not repeat is refused, and only ConMIM
run dirs with a checkpoint are read."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from benchmarks import conmim_student_export as script
from mmconmim.checkpoint.layout import (PRETRAIN_ONLY_KEYS,
                                        expand_shared_rel_pos_bias)
from mmconmim.compare import configs
from mmconmim.compare.evaluate import evaluate_backbone
from tests.test_compare.conftest import (
    TINY_SETTINGS as TINY, write_class_folders)


def hand_export(network, path):
    """One network's weights as an export: ``backbone.*`` keys without the
    mask token, the shared table copied into the layers."""
    weights = {'backbone.' + k: v for k, v in network.state_dict().items()
               if k.split('.')[-1] not in PRETRAIN_ONLY_KEYS}
    weights.update(expand_shared_rel_pos_bias(weights, 'backbone.'))
    torch.save(dict(state_dict=weights, meta=dict(source='student')), path)
    return path


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A compare work dir with one ConMIM run: config, checkpoint (teacher
    != student; last_checkpoint names another folder, as after a move),
    metrics.json with the teacher's scores; and the hand exports."""
    from mmconmim.registry import MODELS
    root = tmp_path_factory.mktemp('student_export')
    eval_data = write_class_folders(str(root / 'crops'))
    settings = dict(TINY, eval_data=dict(path=eval_data))
    work = root / 'cmp'
    run = work / 'conmim'
    os.makedirs(run)
    (work / 'random_init').mkdir()  # not a ConMIM run: never read
    (work / 'settings.json').write_text(json.dumps(settings))
    cfg = configs.method_config('conmim', settings, str(run), seed=0)
    configs.write_config(cfg, str(run / 'config.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model.to_dict())
    model.init_weights()
    with torch.no_grad():  # the EMA teacher: the student moved since
        for p in model.backbone.parameters():
            p.add_(0.3 * torch.randn_like(p))
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=2)),
               str(run / 'iter_2.pth'))
    (run / 'last_checkpoint').write_text('/elsewhere/conmim/iter_2.pth')
    backbone = configs.eval_backbone_cfg(cfg.model.backbone.to_dict(),
                                         settings['arch'])
    expected = {}
    for name, network in (('teacher', model.teacher_backbone),
                          ('student', model.backbone)):
        expected[name] = evaluate_backbone(
            hand_export(network, str(root / f'{name}.pth')), backbone,
            eval_data, 32, 3)
    (run / 'metrics.json').write_text(json.dumps(expected['teacher']))
    return dict(work=str(work), run=str(run), settings=settings,
                expected=expected, teacher=str(root / 'teacher.pth'),
                student=str(root / 'student.pth'))


def test_each_network_scores_as_its_own_weights(tiny_run, monkeypatch):
    from mmconmim.compare import evaluate
    scored = []  # the weights of each file the script scores

    def spy(file, *args, **kwargs):
        scored.append(torch.load(file, weights_only=False)['state_dict'])
        return evaluate_backbone(file, *args, **kwargs)

    monkeypatch.setattr(evaluate, 'evaluate_backbone', spy)
    (result, ) = script.main([tiny_run['work']])
    assert result['checkpoint'] == 'iter_2.pth'
    assert len(scored) == 2
    for name, weights in zip(('teacher', 'student'), scored):
        by_hand = torch.load(tiny_run[name], weights_only=False)['state_dict']
        assert weights.keys() == by_hand.keys()
        assert all(torch.equal(weights[k], by_hand[k]) for k in weights)
        for key, value in result[name].items():
            assert value == tiny_run['expected'][name][key], (name, key)
    # the two networks differ, so the check above tells them apart
    teacher, student = scored
    assert not torch.equal(teacher['backbone.patch_embed.projection.weight'],
                           student['backbone.patch_embed.projection.weight'])


def test_a_run_the_teacher_does_not_repeat_is_refused(tiny_run, tmp_path):
    metrics = osp.join(tiny_run['run'], 'metrics.json')
    with open(metrics) as f:
        good = f.read()
    wrong = dict(json.loads(good))
    wrong['knn_top1'] += 1.
    try:
        with open(metrics, 'w') as f:
            json.dump(wrong, f)
        with pytest.raises(RuntimeError, match='not the run the tool'):
            script.main([tiny_run['work']])
    finally:
        with open(metrics, 'w') as f:
            f.write(good)


def test_a_work_dir_without_conmim_runs_is_named(tmp_path):
    (tmp_path / 'settings.json').write_text('{}')
    (tmp_path / 'conmim').mkdir()  # no checkpoint kept
    with pytest.raises(SystemExit, match='no conmim'):
        script.main([str(tmp_path)])
