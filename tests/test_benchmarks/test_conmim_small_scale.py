"""The teacher-view knob of the issue-25 driver
(benchmarks/conmim_small_scale.py --teacher-aug): the default is the
teacher view of every recorded trial; 'none' gives the teacher the
student's view."""
import random

import numpy as np
import pytest
import torch

from benchmarks import conmim_small_scale as driver
from benchmarks.conmim_small_scale_report import setting_of
from tests.fixtures.helpers import write_images


def jitter_of(ops):
    apply, gray = ops
    return apply['transforms'][0], apply['prob'], gray['prob']


def test_default_teacher_view_is_byols_jitter_and_grayscale():
    assert driver.parse_args(['--data', 'x']).teacher_aug == 'strong'
    jitter, p_jitter, p_gray = jitter_of(driver.teacher_photometric())
    assert (jitter['brightness'], jitter['contrast'], jitter['saturation'],
            jitter['hue']) == (0.4, 0.4, 0.2, 0.1)
    assert (p_jitter, p_gray) == (0.8, 0.2)
    simclr, _, _ = jitter_of(driver.teacher_photometric('simclr'))
    assert (simclr['brightness'], simclr['saturation']) == (0.8, 0.8)
    assert driver.teacher_photometric('none') == []


def test_luma_teacher_view_keeps_each_pixels_strongest_channel():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import TRANSFORMS
    init_default_scope('mmpretrain')
    (apply, ) = driver.teacher_photometric('luma')  # no grayscale op
    jitter = apply['transforms'][0]
    assert (jitter['brightness'], jitter['contrast'], jitter['saturation'],
            jitter['hue'], apply['prob']) == (0.4, 0.4, 0., 0., 0.8)
    # brightness and contrast scale each pixel's channel differences by a
    # positive factor (>= 0.6 x 0.6): the strongest channel stays the
    # strongest (values kept away from 0 and 255, where clipping would tie)
    transform = TRANSFORMS.build(jitter)
    rng = np.random.default_rng(0)
    img = rng.integers(90, 151, (16, 16, 3)).astype(np.uint8)
    top = np.sort(img.astype(int), axis=-1)
    clear = top[..., 2] - top[..., 1] >= 10
    assert clear.sum() > 50
    random.seed(0)
    np.random.seed(0)
    for _ in range(10):
        out = transform(dict(img=img.copy()))['img']
        assert not np.array_equal(out, img)
        assert (out.argmax(-1) == img.argmax(-1))[clear].all()


@pytest.mark.parametrize('aug', ['none', 'strong'])
def test_teacher_views(aug, tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    write_images(str(tmp_path / 'train' / 'a'), num=4, size=40)
    args = driver.parse_args([
        '--data', str(tmp_path), '--iters', '1', '--batch-size', '4',
        '--img-size', '32', '--patch-size', '8', '--unit-size', '16',
        '--teacher-aug', aug])
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    student, teacher = next(iter(driver.build_loader(args)))['inputs']
    label = setting_of(vars(args))
    if aug == 'none':  # the same crop and flip, no photometric op
        assert torch.equal(student, teacher)
        assert 'teacher_aug=none' in label
    else:  # with p = 0.8 / 0.2 per image, seeded: some image is changed
        assert not torch.equal(student, teacher)
        assert 'teacher_aug' not in label  # the default is not named


def test_table_names_a_momentum_that_does_not_anneal_to_one():
    # the paper's cosine to m = 1 (end_momentum 0) is the default and unnamed
    assert 'end_momentum' not in setting_of(dict(end_momentum=0.))
    assert 'end_momentum=0.004' in setting_of(dict(end_momentum=0.004))
    args = driver.parse_args(['--data', 'x', '--end-momentum', '0.004'])
    assert args.end_momentum == 0.004


def test_recipe_teacher_view_is_the_compare_tools():
    from mmconmim.compare import configs
    from tests.test_compare.conftest import TINY_SETTINGS
    tiny = dict(TINY_SETTINGS, img_size=64)
    row = configs.method_config('conmim', tiny, '/nonexistent/run')
    multiview = next(step for step in row.train_dataloader.dataset.pipeline
                     if step['type'] == 'MultiView')
    # the compare row's teacher view at 64 px, blur scaled by the tool
    assert driver.teacher_photometric('recipe', 64) == \
        multiview['transforms'][1]
    # = the trials' default view followed by BYOL's blur and solarize,
    # the blur's sigma 0.1-2 px of a 224-px crop scaled to 64 px
    ops = driver.teacher_photometric('recipe', 64)
    assert ops[:2] == driver.teacher_photometric('strong')
    assert [op['type'] for op in ops[2:]] == ['GaussianBlur', 'Solarize']
    assert [op['prob'] for op in ops[2:]] == [0.1, 0.2]
    assert ops[2]['magnitude_range'] == pytest.approx((0.1 * 64 / 224,
                                                       2.0 * 64 / 224))
    assert driver.teacher_photometric('strong+blur', 32)[2][
        'magnitude_range'] == pytest.approx((0.1 / 7, 2.0 / 7))


def test_clip_zero_measures_the_norm_and_clips_nothing():
    grads = [torch.tensor([3., 4.]), torch.tensor([12.])]  # norm 13
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    assert driver.clip_gradients(params, 0.) == pytest.approx(13.)
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads))
    assert driver.clip_gradients(params, 6.5) == pytest.approx(13.)
    for p, g in zip(params, grads):  # scaled by 6.5 / 13
        torch.testing.assert_close(p.grad, g / 2, rtol=1e-5, atol=1e-6)
    assert 'clip=0.0' in setting_of(vars(driver.parse_args(
        ['--data', 'x', '--clip', '0'])))


@pytest.mark.parametrize('aug,kept', [('strong+blur', 'GaussianBlur'),
                                      ('strong+solarize', 'Solarize')])
def test_one_of_the_recipes_two_extra_ops(aug, kept):
    recipe = driver.teacher_photometric('recipe')
    assert driver.teacher_photometric(aug) == recipe[:2] + [
        op for op in recipe[2:] if op['type'] == kept]


def test_teacher_blur_scales_to_the_crop_unless_asked_not_to():
    def blur(*flags):
        args = driver.parse_args(['--data', 'x', '--img-size', '32',
                                  '--teacher-aug', 'strong+blur', *flags])
        (op, ) = [o for o in driver.teacher_view(args)
                  if o['type'] == 'GaussianBlur']
        return op['magnitude_range'], setting_of(vars(args))

    sigma, label = blur()
    assert sigma == pytest.approx((0.1 * 32 / 224, 2.0 * 32 / 224))
    assert 'blur sigma crop' in label
    sigma, label = blur('--teacher-blur', '224px')
    assert sigma == pytest.approx((0.1, 2.0))
    assert 'blur sigma 224px' in label
    # records written before the flag ran the published sigmas
    assert 'blur sigma 224px' in setting_of(dict(teacher_aug='recipe'))
    assert 'blur sigma' not in setting_of(dict(teacher_aug='strong'))


def test_small_data_config_uses_the_measured_teacher_view():
    """The small-data recipe trains with the view of the driver's trials
    (no blur, no solarize: section 16); everything else in its pipeline is
    the demo's."""
    from mmengine.config import Config
    small = Config.fromfile('configs/conmim/conmim_vit-small-p8_1xb32-'
                            'smalldata-coslr-750i_64px.py').to_dict()
    demo = Config.fromfile('configs/demo/conmim_demo.py').to_dict()
    ours = small['train_dataloader']['dataset']['pipeline']
    theirs = demo['train_dataloader']['dataset']['pipeline']
    assert [s['type'] for s in ours] == [s['type'] for s in theirs]
    for step, demo_step in zip(ours, theirs):
        if step['type'] == 'MultiView':
            assert step['transforms'] == [[], driver.teacher_photometric()]
            assert demo_step['transforms'][1] == driver.teacher_photometric(
                'recipe')
        else:
            assert step == demo_step


def test_a_negative_clip_is_refused(tmp_path):
    with pytest.raises(SystemExit, match='--clip -1.0 must be >= 0'):
        driver.main(['--data', str(tmp_path), '--clip', '-1'])
