"""Converters never overwrite their input (under any spelling of its path,
a symlink included, even with --force) nor an existing output without
--force (issue 12, section 4). The checkpoint is a tiny ConMIM model whose
tensors are all random, so that the converted weights can only come from
it."""
import hashlib
import os
import os.path as osp

import pytest
import torch

from mmconmim.checkpoint.official import mmpretrain_to_official
from tests.fixtures.conmim_tiny import random_tiny_checkpoint
from tests.fixtures.helpers import run_tool_main


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    pretrain = str(tmp_path_factory.mktemp('converters') / 'iter_7.pth')
    _, teacher = random_tiny_checkpoint(pretrain)
    return dict(pretrain=pretrain, teacher=teacher)


def digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


CONVERTERS = {
    'export_backbone': 'tools/model_converters/export_backbone.py',
    'conmim_official': 'tools/model_converters/conmim_official_to_mmconmim.py',
    'dalle': 'tools/model_converters/dalle_to_mmconmim.py',
}


@pytest.mark.parametrize('tool', sorted(CONVERTERS))
def test_converters_never_overwrite_their_input(checkpoint, tmp_path, tool):
    src = str(tmp_path / 'source.pth')
    with open(checkpoint['pretrain'], 'rb') as f, open(src, 'wb') as g:
        g.write(f.read())
    before = digest(src)
    dotted = osp.join(str(tmp_path), '.', 'source.pth')
    for out, extra in ((src, []), (src, ['--force']), (dotted, ['--force'])):
        with pytest.raises(SystemExit, match='over the input'):
            run_tool_main(CONVERTERS[tool], src, out, *extra)
    link = str(tmp_path / 'link.pth')
    os.symlink(src, link)
    with pytest.raises(SystemExit, match='over the input'):
        run_tool_main(CONVERTERS[tool], src, link, '--force')
    assert digest(src) == before


@pytest.mark.parametrize('tool,source', [('export_backbone', 'pretrain'),
                                         ('conmim_official', None)])
def test_converters_keep_an_existing_output_unless_forced(
        checkpoint, tmp_path, tool, source):
    if source is None:
        src = str(tmp_path / 'official.pth')
        official = mmpretrain_to_official(
            {'backbone.' + k: v for k, v in checkpoint['teacher'].items()})
        torch.save(dict(model=official), src)
    else:
        src = checkpoint[source]
    out = str(tmp_path / 'out.pth')
    with open(out, 'w') as f:
        f.write('an earlier result')
    with pytest.raises(SystemExit, match='already exists.*--force'):
        run_tool_main(CONVERTERS[tool], src, out)
    assert open(out).read() == 'an earlier result'
    run_tool_main(CONVERTERS[tool], src, out, '--force')
    weights = torch.load(out, weights_only=True)['state_dict']
    assert torch.equal(weights['backbone.layers.0.attn.qkv.weight'],
                       checkpoint['teacher']['layers.0.attn.qkv.weight'])


def test_dalle_converter_keeps_an_existing_output(tmp_path):
    src = str(tmp_path / 'encoder.pkl')
    with open(src, 'wb') as f:
        f.write(b'not read: the output check comes first')
    out = str(tmp_path / 'encoder.pth')
    with open(out, 'w') as f:
        f.write('an earlier result')
    with pytest.raises(SystemExit, match='already exists.*--force'):
        run_tool_main(CONVERTERS['dalle'], src, out)
    assert open(out).read() == 'an earlier result'
