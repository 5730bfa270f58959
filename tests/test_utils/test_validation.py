"""mmconmim.utils.validation: the shared argument checks, and the modules
that use them refusing bad config values with a message that names the
class, the field and the value."""
import re

import numpy as np
import pytest
import torch

import mmconmim  # noqa: F401 (registers the modules)
from mmconmim.utils.validation import (check_choice, check_int,
                                       check_number, check_positive)

INF, NAN = float('inf'), float('nan')


# ---------------------------------------------------------------------------
# check_int
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('value,ok', [(2, True), (3, True), (1, False),
                                      (-5, False), (10**12, True)])
def test_check_int_lower_bound_is_inclusive(value, ok):
    if ok:
        assert check_int('Owner', 'n', value, min=2) == value
    else:
        with pytest.raises(ValueError):
            check_int('Owner', 'n', value, min=2)


def test_check_int_upper_bound_is_inclusive():
    assert check_int('Owner', 'n', 5, min=0, max=5) == 5
    with pytest.raises(ValueError) as err:
        check_int('Owner', 'n', 6, min=0, max=5)
    assert str(err.value) == 'Owner: n must be an integer in [0, 5], got 6'


def test_check_int_message_names_owner_field_value_and_fix():
    with pytest.raises(ValueError) as err:
        check_int('Owner', 'window_size', 1, min=2, fix='set loss.window')
    assert str(err.value) == ('Owner: window_size must be an integer >= 2 '
                              '(set loss.window), got 1')
    with pytest.raises(ValueError) as err:
        check_int('Owner', 'n', 0, min=1)
    assert str(err.value) == 'Owner: n must be a positive integer, got 0'
    with pytest.raises(ValueError) as err:
        check_int(None, 'k', 0, min=1)
    assert str(err.value) == 'k must be a positive integer, got 0'


@pytest.mark.parametrize('value', [2.0, '3', None, [3], INF, NAN])
def test_check_int_refuses_non_integers(value):
    with pytest.raises(ValueError) as err:
        check_int('Owner', 'n', value, min=1)
    assert repr(value) in str(err.value)


def test_check_int_bools_are_refused_unless_allowed():
    for value in (True, False):
        with pytest.raises(ValueError, match=re.escape(f'got {value!r}')):
            check_int('Owner', 'n', value)
    assert check_int('Owner', 'n', True, min=0, bool_ok=True) == 1
    # bool_ok keeps the bounds: False is 0
    with pytest.raises(ValueError):
        check_int('Owner', 'n', False, min=1, bool_ok=True)


def test_check_int_accepts_numpy_integers_as_int():
    value = check_int('Owner', 'n', np.int64(7), min=1)
    assert value == 7 and type(value) is int


def test_check_int_type_error_only_for_the_type():
    with pytest.raises(TypeError, match='Owner: n must be an integer, got'):
        check_int('Owner', 'n', 'x', type_error=TypeError)
    with pytest.raises(ValueError):  # out of range stays a ValueError
        check_int('Owner', 'n', 0, min=1, type_error=TypeError)


# ---------------------------------------------------------------------------
# check_number / check_positive
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('low_open,high_open,value,ok', [
    (False, False, 0., True), (False, False, 1., True),
    (True, False, 0., False), (True, False, 1., True),
    (False, True, 1., False), (False, True, 0., True),
    (True, True, 0.5, True), (True, True, -1e-9, False),
    (True, True, 1 + 1e-9, False), (False, False, NAN, False),
    (False, False, INF, False), (False, False, -INF, False),
])
def test_check_number_interval_boundaries(low_open, high_open, value, ok):
    kwargs = dict(low=0, high=1, low_open=low_open, high_open=high_open)
    if ok:
        assert check_number('Owner', 'x', value, **kwargs) == value
    else:
        with pytest.raises(ValueError):
            check_number('Owner', 'x', value, **kwargs)


@pytest.mark.parametrize('low_open,high_open,text', [
    (False, False, '[0, 1]'), (True, False, '(0, 1]'),
    (False, True, '[0, 1)'), (True, True, '(0, 1)')])
def test_check_number_writes_the_interval(low_open, high_open, text):
    with pytest.raises(ValueError) as err:
        check_number('Owner', 'ratio', 2.5, low=0, high=1,
                     low_open=low_open, high_open=high_open)
    assert str(err.value) == f'Owner: ratio must be in {text}, got 2.5'


def test_check_number_one_sided_bounds_and_infinity():
    # without finite=True an unbounded side admits infinity ...
    assert check_number('Owner', 'w', INF, low=0) == INF
    with pytest.raises(ValueError) as err:
        check_number('Owner', 'w', -0.5, low=0)
    assert str(err.value) == 'Owner: w must be >= 0, got -0.5'
    # ... and finite=True refuses it
    with pytest.raises(ValueError) as err:
        check_number('Owner', 'w', INF, low=0, finite=True)
    assert str(err.value) == 'Owner: w must be >= 0 and finite, got inf'
    with pytest.raises(ValueError):
        check_number('Owner', 'w', NAN, low=0)  # NaN fails every bound
    assert check_number('Owner', 'w', -3, high=-3) == -3
    with pytest.raises(ValueError, match='w must be <= -3, got -2'):
        check_number('Owner', 'w', -2, high=-3)


def test_check_number_noun_and_bools():
    with pytest.raises(ValueError) as err:
        check_number('EMA', 'momentum', 1.5, low=0, high=1, noun='a number')
    assert str(err.value) == ('EMA: momentum must be a number in [0, 1], '
                              'got 1.5')
    with pytest.raises(ValueError, match='got True'):
        check_number('Owner', 'x', True, low=0)
    assert check_number('Owner', 'x', True, low=0, bool_ok=True) is True


@pytest.mark.parametrize('value', ['0.5', None, [0.5], torch.ones(2)])
def test_check_number_refuses_non_numbers_with_a_value_error(value):
    with pytest.raises(ValueError, match='Owner: x must be in'):
        check_number('Owner', 'x', value, low=0, high=1)


def test_check_number_accepts_numpy_reals():
    assert check_number('Owner', 'x', np.float32(0.25), low=0, high=1) == \
        np.float32(0.25)


@pytest.mark.parametrize('value,finite,ok', [
    (1e-12, False, True), (0., False, False), (-1., False, False),
    (INF, False, True), (INF, True, False), (NAN, False, False),
    (NAN, True, False), (3, True, True)])
def test_check_positive(value, finite, ok):
    if ok:
        assert check_positive('Owner', 't', value, finite=finite) == value
    else:
        with pytest.raises(ValueError):
            check_positive('Owner', 't', value, finite=finite)


def test_check_positive_message_with_fix():
    with pytest.raises(ValueError) as err:
        check_positive('Loss', 'temperature', 0., finite=True,
                       fix='e.g. 0.1')
    assert str(err.value) == ('Loss: temperature must be > 0 and finite '
                              '(e.g. 0.1), got 0.0')


# ---------------------------------------------------------------------------
# check_choice
# ---------------------------------------------------------------------------
def test_check_choice_two_and_more_choices():
    assert check_choice('Owner', 'mode', 'a', ('a', 'b')) == 'a'
    with pytest.raises(ValueError) as err:
        check_choice('Owner', 'mode', 'c', ('a', 'b'))
    assert str(err.value) == "Owner: mode must be 'a' or 'b', got 'c'"
    with pytest.raises(ValueError) as err:
        check_choice('Owner', 'mode', 'd', ['a', 'b', 'c'])
    assert str(err.value) == ("Owner: mode must be one of ('a', 'b', 'c'), "
                              "got 'd'")


def test_check_choice_mapping_keys_unhashables_and_error_type():
    assert check_choice(None, 'dtype', 'f16', {'f16': 1, 'bf16': 2}) == 'f16'
    with pytest.raises(ValueError, match=r"dtype must be 'f16' or 'bf16'"):
        check_choice(None, 'dtype', 1, {'f16': 1, 'bf16': 2})  # a value
    with pytest.raises(ValueError, match=r"got \['a'\]"):
        check_choice('Owner', 'mode', ['a'], {'a', 'b'})  # unhashable
    with pytest.raises(KeyError):
        check_choice('Owner', 'mode', 'x', ('a', 'b'), error=KeyError)


# ---------------------------------------------------------------------------
# The package's modules refuse bad values through these helpers
# ---------------------------------------------------------------------------
def _build(type_name, **kwargs):
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(type=type_name, **kwargs))


def _transform(type_name, **kwargs):
    from mmpretrain.registry import TRANSFORMS
    return TRANSFORMS.build(dict(type=type_name, **kwargs))


def _hook(type_name, **kwargs):
    from mmengine.registry import HOOKS
    from mmengine.registry import init_default_scope
    init_default_scope('mmconmim')
    return HOOKS.build(dict(type=type_name, **kwargs))


def _cim(**kwargs):
    # the constructor checks its own arguments before building anything
    from mmconmim.models.selfsup.cim import CIM
    return CIM(backbone=dict(), generator=dict(), tokenizer=dict(),
               respix_head=dict(), revdet_head=dict(), **kwargs)


def _tiny_conmim(momentum):
    return _build(
        'ConMIM',
        backbone=dict(type='ConMIMViT',
                      arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                feedforward_channels=64),
                      img_size=16, patch_size=8, out_type='raw'),
        neck=dict(type='NonLinearNeck', in_channels=32, hid_channels=32,
                  out_channels=16, with_avg_pool=False),
        head=dict(type='MIMHead', loss=dict(type='DenoisingContrastLoss')),
        momentum=momentum)


def _a2mim_resnet(**kwargs):
    return _build('A2MIMResNet', depth=18, stem_channels=8, base_channels=8,
                  **kwargs)


def _knn(**kwargs):
    from mmconmim.evaluation.knn import knn_class_scores
    feats = torch.eye(4)
    return knn_class_scores(feats, torch.tensor([0, 1, 0, 1]), feats,
                            **kwargs)


# (builder, error type, owner, field, bad value)
BAD_ARGS = [
    (lambda v: _cim(objective=v), ValueError, 'CIM', 'objective', 'mae'),
    (lambda v: _cim(enhancer_loss_weight=v), ValueError, 'CIM',
     'enhancer_loss_weight', -1.),
    (lambda v: _cim(enhancer_loss_weight=v), ValueError, 'CIM',
     'enhancer_loss_weight', NAN),
    (lambda v: _cim(generator_input=v), ValueError, 'CIM', 'generator_input',
     'view_c'),
    (lambda v: _cim(resize_mode=v), ValueError, 'CIM', 'resize_mode',
     'lanczos'),
    (_tiny_conmim, ValueError, 'ForeachCosineEMA', 'momentum', 1.5),
    (_tiny_conmim, ValueError, 'ForeachCosineEMA', 'momentum', 'x'),
    (lambda v: _build('ConMIMCNN', backbone=dict(), neck=dict(), head=dict(),
                      mask_unit=v), ValueError, 'ConMIMCNN', 'mask_unit', 0),
    (lambda v: _build('ConMIMCNN', backbone=dict(), neck=dict(), head=dict(),
                      mask_unit=v), ValueError, 'ConMIMCNN', 'mask_unit',
     True),
    (lambda v: _a2mim_resnet(mask_layer=v), TypeError, 'A2MIMResNet',
     'mask_layer', 2.0),
    (lambda v: _a2mim_resnet(mask_layer=3, mask_gamma_init=v), ValueError,
     'A2MIMResNet', 'mask_gamma_init', -0.1),
    (lambda v: _build('A2MIMLinearDecoder', in_channels=8, encoder_stride=4,
                      init_std=v), ValueError, 'A2MIMLinearDecoder',
     'init_std', 0.),
    (lambda v: _build('ConMIMProjector', in_channels=8, hid_channels=8,
                      out_channels=8, init_std=v), ValueError,
     'ConMIMProjector', 'init_std', -1.),
    (lambda v: _build('CIMResPixLoss', window_size=v), ValueError,
     'CIMResPixLoss', 'window_size', 1),
    (lambda v: _build('CIMResPixLoss', eps=v), ValueError, 'CIMResPixLoss',
     'eps', 0.),
    (lambda v: _build('CIMResPixLoss', loss_type=v), ValueError,
     'CIMResPixLoss', 'loss_type', 'huber'),
    (lambda v: _build('FocalFrequencyLoss', unmask_weight=v), ValueError,
     'FocalFrequencyLoss', 'unmask_weight', 1.5),
    (lambda v: _build('FocalFrequencyLoss', loss_weight=v), ValueError,
     'FocalFrequencyLoss', 'loss_weight', -1.),
    (lambda v: _build('MaskedPixelLoss', criterion=v), ValueError,
     'MaskedPixelLoss', 'criterion', 'L3'),
    (lambda v: _build('MaskedPixelLoss', criterion='FocalL1',
                      focal_alpha=v), ValueError, 'MaskedPixelLoss',
     'focal_alpha', 0.),
    (lambda v: _build('DenoisingContrastLoss', temperature=v), ValueError,
     'DenoisingContrastLoss', 'temperature', INF),
    (lambda v: _build('CIMGenerator', backbone=dict(), vocab_size=v),
     ValueError, 'CIMGenerator', 'vocab_size', 1),
    (lambda v: _build('CIMRevDetHead', in_channels=v), ValueError,
     'CIMRevDetHead', 'in_channels', 0),
    (lambda v: _build('CIMRevDetHead', in_channels=8, upsample_mode=v),
     ValueError, 'CIMRevDetHead', 'upsample_mode', 'linear'),
    (lambda v: _build('CIMResPixHead', in_channels=8, upscale=v), ValueError,
     'CIMResPixHead', 'upscale', 2.0),
    (lambda v: _build('PaletteTokenizer', levels=v), ValueError,
     'PaletteTokenizer', 'levels', 1),
    (lambda v: _build('DALLEDecoder', n_hid=v), ValueError, 'DALLEDecoder',
     'n_hid', 32),
    (lambda v: _transform('UnitMaskGenerator', mask_ratio=v), ValueError,
     'UnitMaskGenerator', 'mask_ratio', 1.0),
    (lambda v: _transform('UnitMaskGenerator', mask_patch_size=v),
     ValueError, 'UnitMaskGenerator', 'mask_patch_size', False),
    (lambda v: _transform('BlockMaskGenerator', input_size=8,
                          num_masking_patches=v), ValueError,
     'BlockMaskGenerator', 'num_masking_patches', 0),
    (lambda v: _transform('BlockMaskGenerator', input_size=8,
                          num_masking_patches=20, min_aspect=v), ValueError,
     'BlockMaskGenerator', 'min_aspect', 0.),
    (lambda v: _transform('RobustLoadImageFromFile', on_error=v), ValueError,
     'RobustLoadImageFromFile', 'on_error', 'ignore'),
    (lambda v: _hook('KNNEvalHook', interval=v), ValueError, 'KNNEvalHook',
     'interval', -1),
    (lambda v: _hook('KNNEvalHook', enable=False, k=v), ValueError,
     'KNNEvalHook', 'k', 0),
    (lambda v: _hook('KNNEvalHook', enable=False, temperature=v), ValueError,
     'KNNEvalHook', 'temperature', NAN),
    (lambda v: _hook('KNNEvalHook', enable=False, pool=v), ValueError,
     'KNNEvalHook', 'pool', 'max'),
    (lambda v: _hook('NonFiniteLossHook', interval=v), ValueError,
     'NonFiniteLossHook', 'interval', 0),
    (lambda v: _knn(k=v), ValueError, 'kNN', 'k', 0),
    (lambda v: _knn(temperature=v), ValueError, 'kNN', 'temperature', -0.1),
]


@pytest.mark.parametrize(
    'build,error,owner,field,value', BAD_ARGS,
    ids=[f'{owner}.{field}={value!r}' for _, _, owner, field, value
         in BAD_ARGS])
def test_modules_refuse_bad_values_naming_class_field_and_value(
        build, error, owner, field, value):
    with pytest.raises(error) as err:
        build(value)
    assert type(err.value) is error
    message = str(err.value)
    assert message.startswith(f'{owner}: {field} must be '), message
    assert message.endswith(f'got {value!r}'), message


@pytest.mark.parametrize('build,field', [
    (lambda v: _cim(enhancer_loss_weight=v), 'enhancer_loss_weight'),
    (lambda v: _build('FocalFrequencyLoss', unmask_weight=v),
     'unmask_weight'),
    (lambda v: _hook('KNNEvalHook', interval=v, enable=False), 'interval'),
])
def test_fields_that_accepted_true_before_still_accept_it(build, field):
    """These checks accepted ``True`` (an in-range 1) before the helpers;
    ``bool_ok=True`` keeps that: the build gets past the field (CIM then
    fails on its empty sub-configs, unrelated to the field)."""
    try:
        build(True)
    except (KeyError, TypeError, ValueError) as exc:
        assert field not in str(exc), exc
