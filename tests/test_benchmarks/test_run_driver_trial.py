"""``benchmarks.common.run_driver_trial``, the one wrapper of issue 25's
driver that every trial script uses: the trial's settings join the parsed
(recorded) args, its module is attached before the optimizer is built, and
the driver's own functions come back afterwards, also after an error."""
import pytest
import torch

from benchmarks import conmim_small_scale as driver
from benchmarks.common import run_driver_trial


def fake_main(calls):
    """Stands in for ``driver.main``: parses, then builds an optimizer for
    a small model, as ``driver.run`` does."""
    def main(argv=None):
        args = driver.parse_args(argv)
        model = torch.nn.Linear(2, 2)
        calls.append((args, model, driver.build_optim(model, args)))
        return 'done'
    return main


def test_recorded_args_and_the_attached_module(monkeypatch):
    calls, attached = [], []
    monkeypatch.setattr(driver, 'main', fake_main(calls))
    monkeypatch.setattr(driver, 'build_optim',
                        lambda model, args: sorted(
                            n for n, _ in model.named_parameters()))
    parse, build_optim = driver.parse_args, driver.build_optim

    def attach(model):
        model.extra = torch.nn.Linear(2, 1)
        attached.append(model)
        return model

    out = run_driver_trial(['--data', 'x', '--iters', '7'],
                           dict(predictor_hidden=16), attach)
    assert out == 'done'
    (args, model, optim_params), = calls
    assert args.predictor_hidden == 16 and args.iters == 7
    assert attached == [model]
    # the optimizer was built after the module was attached
    assert optim_params == ['bias', 'extra.bias', 'extra.weight', 'weight']
    assert driver.parse_args is parse and driver.build_optim is build_optim

    calls.clear()
    run_driver_trial(['--data', 'x'], dict(target_layers=2))
    (args, model, optim_params), = calls
    assert args.target_layers == 2 and not hasattr(args, 'predictor_hidden')
    assert optim_params == ['bias', 'weight']  # nothing attached


def test_driver_functions_restored_after_an_error(monkeypatch):
    def failing_main(argv=None):
        driver.parse_args(argv)
        raise RuntimeError('run failed')

    monkeypatch.setattr(driver, 'main', failing_main)
    parse, build_optim = driver.parse_args, driver.build_optim
    with pytest.raises(RuntimeError, match='run failed'):
        run_driver_trial(['--data', 'x'], dict(decoder_depth=1),
                         lambda model: model)
    assert driver.parse_args is parse and driver.build_optim is build_optim
