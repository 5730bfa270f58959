"""CIM.corrupt is the one corruption path of CIM.loss and CIM.visualize."""
import pytest
import torch
from mmpretrain.registry import MODELS

import mmconmim  # noqa: F401
from tests.fixtures.cim_tiny import (build_tiny_cim, preprocessed_batch,
                                     tiny_cim_cfg)


@pytest.mark.parametrize('objective', ['respix', 'revdet'])
def test_loss_and_visualize_see_the_corruption_of_corrupt(objective):
    torch.manual_seed(0)
    model = build_tiny_cim(objective=objective)
    inputs, samples = preprocessed_batch()
    mask = torch.stack([s.mask for s in samples]).bool()

    torch.manual_seed(5)
    corruption = model.corrupt(*inputs, mask)
    torch.manual_seed(5)
    losses = model(inputs, samples, mode='loss')
    torch.manual_seed(5)
    shown = model.visualize(inputs, samples)

    # The same RNG draws give the same sampled ids in all three.
    torch.testing.assert_close(shown['corrupted_ids'], corruption.ids)
    torch.testing.assert_close(losses['replaced_ratio'],
                               corruption.replaced.mean())
    golden = model.tokenizer.encode(inputs[1])
    torch.testing.assert_close(corruption.golden, golden)
    # Only masked positions may change; they were sampled, one per row.
    assert torch.equal(corruption.ids[~mask], golden[~mask])
    assert corruption.logits.shape == (int(mask.sum()),
                                       model.generator.vocab_size)
    torch.testing.assert_close(
        corruption.image, model.render(corruption.ids, inputs[0].shape[-2:]))
    # The generator loss is the cross-entropy of corrupt's logits.
    expected_gen = torch.nn.functional.cross_entropy(corruption.logits,
                                                     golden[mask])
    torch.testing.assert_close(losses['loss_gen'], expected_gen)
    head_inputs = model.head_inputs(inputs[0], corruption)
    if objective == 'respix':
        assert head_inputs[0] is inputs[0]
        assert head_inputs[1] is corruption.image
    else:
        torch.testing.assert_close(
            head_inputs[0], (corruption.ids != golden).float())


def test_cim_without_a_data_preprocessor_names_the_config():
    cfg = tiny_cim_cfg()
    del cfg['data_preprocessor']
    with pytest.raises(ValueError, match='imagenet_bs256_cim-224.py'):
        MODELS.build(cfg)
