"""Weighted kNN (DINO) against hand-computed answers and a naive loop."""
import math

import pytest
import torch

from mmconmim.evaluation.features import gather_features, pool_features
from mmconmim.evaluation.knn import (knn_class_scores, knn_classify,
                                     topk_accuracy)


def naive_knn(train, train_labels, test, num_classes, k, temperature):
    """Per-sample loops in plain Python floats."""
    def normalise(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    train = [normalise(v) for v in train.tolist()]
    rankings = []
    for q in test.tolist():
        q = normalise(q)
        sims = sorted(((sum(a * b for a, b in zip(q, t)), j)
                       for j, t in enumerate(train)), reverse=True)[:k]
        votes = [0.] * num_classes
        for sim, j in sims:
            votes[int(train_labels[j])] += math.exp(sim / temperature)
        rankings.append((votes, sorted(range(num_classes),
                                       key=lambda c: (-votes[c], c))))
    return rankings


def angles(*degrees, radius=1.):
    return torch.tensor([[radius * math.cos(math.radians(d)),
                          radius * math.sin(math.radians(d))]
                         for d in degrees])


def test_hand_made_set_known_answers():
    # class 0 near 0 deg, class 1 near 90 deg, class 2 near 180 deg; the
    # norms differ, which the cosine similarity must ignore.
    train = torch.cat([angles(-10, 0, 10), angles(80, 90, 100, radius=3.),
                       angles(170, 180, 190, radius=.5)])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    test = angles(5, 95, 175, 50)
    test_labels = torch.tensor([0, 1, 2, 1])
    # k=3: the first three are unambiguous. 50 deg: neighbours 10 (cos 40),
    # 80 (cos 30), 90 (cos 40) -> 2 votes for class 1 vs 1 for class 0.
    scores = knn_class_scores(train, labels, test, 3, k=3, temperature=0.07)
    assert scores.argmax(1).tolist() == [0, 1, 2, 1]
    w30, w40 = (math.exp(math.cos(math.radians(d)) / 0.07) for d in (30, 40))
    assert scores[3, 1].item() == pytest.approx(w30 + w40, rel=1e-5)
    assert scores[3, 0].item() == pytest.approx(w40, rel=1e-5)
    assert scores[3, 2].item() == 0
    metrics = knn_classify(train, labels, test, test_labels, k=3)
    assert metrics == {'top1': 100., 'top5': 100.}
    # label 0 for the 50-deg point: wrong at top-1, right at top-2
    result = topk_accuracy(scores, torch.tensor([0, 1, 2, 0]), topk=(1, 2))
    assert result == {'top1': 75., 'top2': 100.}


def test_temperature_weighting_beats_majority():
    # One very close neighbour of class 0, two farther ones of class 1.
    train = angles(1, 40, -40)
    labels = torch.tensor([0, 1, 1])
    test = angles(0)
    # low T: the close neighbour dominates (exp(1/T) vs 2 exp(cos40/T))
    assert knn_class_scores(train, labels, test, 2, k=3,
                            temperature=0.07).argmax().item() == 0
    # high T: weights ~ equal, the majority wins
    assert knn_class_scores(train, labels, test, 2, k=3,
                            temperature=100.).argmax().item() == 1
    # k=1 only sees the closest one
    assert knn_class_scores(train, labels, test, 2, k=1,
                            temperature=100.).argmax().item() == 0


@pytest.mark.parametrize('k,temperature', [(1, 0.07), (5, 0.07), (20, 0.5),
                                           (50, 0.07)])
def test_matches_naive_loop(k, temperature):
    gen = torch.Generator().manual_seed(k)
    num_classes = 6
    centres = torch.randn(num_classes, 8, generator=gen)
    train_labels = torch.arange(40) % num_classes
    train = centres[train_labels] + 0.8 * torch.randn(40, 8, generator=gen)
    test_labels = torch.randint(0, num_classes, (25, ), generator=gen)
    test = centres[test_labels] + 0.8 * torch.randn(25, 8, generator=gen)

    scores = knn_class_scores(train, train_labels, test, num_classes, k=k,
                              temperature=temperature, chunk_size=7)
    naive = naive_knn(train, train_labels, test, num_classes, min(k, 40),
                      temperature)
    top1 = top5 = 0
    for row, (votes, ranking), label in zip(scores, naive,
                                            test_labels.tolist()):
        assert row.tolist() == pytest.approx(votes, rel=1e-4)
        top1 += ranking[0] == label
        top5 += label in ranking[:5]
    metrics = knn_classify(train, train_labels, test, test_labels,
                           num_classes, k=k, temperature=temperature)
    assert metrics['top1'] == pytest.approx(100. * top1 / 25)
    assert metrics['top5'] == pytest.approx(100. * top5 / 25)
    assert 0 < metrics['top1'] < 100  # the set is not trivially separable


def test_ties_go_to_the_smaller_class_and_topk_is_clipped():
    scores = torch.tensor([[1., 3., 3.], [0., 0., 0.]])
    assert topk_accuracy(scores, torch.tensor([1, 0]), (1, )) == {
        'top1': 100.}
    assert topk_accuracy(scores, torch.tensor([2, 2]), (1, 5)) == {
        'top1': 0., 'top5': 100.}


def test_bad_inputs():
    feats, labels = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match='channels'):
        knn_class_scores(feats, labels, torch.randn(2, 5))
    with pytest.raises(ValueError, match='labels'):
        knn_class_scores(feats, labels[:3], feats)
    with pytest.raises(ValueError, match='empty'):
        knn_class_scores(torch.zeros(0, 3), torch.zeros(0).long(), feats)
    with pytest.raises(ValueError, match='temperature'):
        knn_class_scores(feats, labels, feats, temperature=0)
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        knn_class_scores(feats, torch.tensor([0, 1, 2, 1]), feats, 2)


def test_pooling_of_backbone_outputs():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float).view(2, 5, 3)
    vit = torch.nn.Module()
    vit.num_extra_tokens = 1
    assert torch.equal(pool_features((tokens, ), vit, 'avg'),
                       tokens[:, 1:].mean(1))
    assert torch.equal(pool_features((tokens, ), vit, 'cls'), tokens[:, 0])
    fmap = torch.randn(2, 4, 3, 3)
    assert torch.allclose(pool_features((fmap, ), torch.nn.Module()),
                          fmap.flatten(2).mean(-1))
    with pytest.raises(ValueError, match='CLS'):
        pool_features((fmap, ), torch.nn.Module(), 'cls')
    vit.num_extra_tokens = 0
    with pytest.raises(ValueError, match='no CLS'):
        pool_features(tokens, vit, 'cls')


@pytest.mark.parametrize('out_type', ['cls_token', 'avg_featmap'])
def test_pooled_vit_output_is_read_as_tokens(out_type):
    """A ViT built to return one vector (MoCo v3's out_type='cls_token'):
    pool='avg' is the patch-token mean of the same network's raw output,
    not the CLS token it would return; pool='cls' its CLS token; the
    backbone's out_type is left as it was."""
    from mmpretrain.models import VisionTransformer

    from mmconmim.evaluation.features import backbone_forward
    arch = dict(embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64)
    torch.manual_seed(0)
    raw = VisionTransformer(arch=arch, img_size=32, patch_size=8,
                            out_type='raw')
    pooled = VisionTransformer(arch=arch, img_size=32, patch_size=8,
                               out_type=out_type)
    pooled.load_state_dict(raw.state_dict(), strict=False)  # + ln2
    raw.eval()
    pooled.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = raw(x)[-1]
        avg = pool_features(backbone_forward(pooled, x), pooled, 'avg')
        cls = pool_features(backbone_forward(pooled, x), pooled, 'cls')
    torch.testing.assert_close(avg, tokens[:, 1:].mean(1))
    torch.testing.assert_close(cls, tokens[:, 0])
    assert not torch.allclose(avg, cls)
    assert pooled.out_type == out_type


def test_gather_drops_sampler_padding_and_sorts():
    # what a distributed sampler's padded, interleaved shard looks like
    part = dict(feats=torch.arange(5.)[:, None], labels=torch.tensor(
        [2, 0, 1, 2, 2]), indices=torch.tensor([2, 0, 1, 2, 2]))
    out = gather_features(part)
    assert out['indices'].tolist() == [0, 1, 2]
    assert out['feats'][:, 0].tolist() == [1., 2., 0.]
    assert out['labels'].tolist() == [0, 1, 2]


def test_eval_loader_builds_under_another_librarys_scope(tmp_path):
    """After an mmseg model was built in the process (default scope 'mmseg',
    whose registries have no CustomDataset), the kNN loaders still build --
    with mmpretrain's datasets -- and the caller's scope is left as it was."""
    import numpy as np
    from mmengine.registry import DefaultScope
    from PIL import Image

    from mmconmim.evaluation.features import build_eval_dataloader
    for cls in ('a', 'b'):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(
                tmp_path / cls / f'{i}.png')
    with DefaultScope.overwrite_default_scope('mmseg'):
        loader = build_eval_dataloader(str(tmp_path), img_size=8,
                                       batch_size=4, num_workers=0)
        assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    assert type(loader.dataset).__name__ == 'CustomDataset'
    assert len(loader.dataset) == 4
    assert loader.dataset.metainfo['classes'] == ('a', 'b')
