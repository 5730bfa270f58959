"""The split-shift diagnosis of issue 25 (benchmarks/conmim_split_knn.py):
which images are memory and which are queries, the four scores on
features built so that each has a known value, and that importing the
script patches nothing (only running it does)."""
import torch

from benchmarks import conmim_small_scale as driver
from benchmarks import conmim_split_knn as split_knn


def test_memory_half_is_a_fixed_random_half_of_each_class():
    labels = torch.tensor([2, 0, 0, 1, 2, 0, 1, 2, 0] * 4)
    memory = split_knn.memory_half(labels)
    for c, n in ((0, 16), (1, 8), (2, 12)):
        assert int(memory[labels == c].sum()) == n // 2
    assert torch.equal(memory, split_knn.memory_half(labels))
    odd = torch.tensor([1, 1, 1, 1, 1, 1, 1])
    assert int(split_knn.memory_half(odd).sum()) == 4
    # not the file order: the images at even positions of a class are
    # not all memory (photo_regions alternates two quadrants)
    ranked = labels.sort(stable=True)
    assert not torch.equal(split_knn.memory_half(ranked.values),
                           torch.arange(36) % 2 == 0)


def one_hot_features(labels, shift, dims):
    """Image of class c -> the unit vector e_{(c + shift) % C} with a small
    per-image perturbation (no two features equal)."""
    num_classes = int(labels.max()) + 1
    feats = torch.nn.functional.one_hot((labels + shift) % num_classes,
                                        dims).float()
    g = torch.Generator().manual_seed(int(shift))
    return feats + 1e-3 * torch.rand(feats.shape, generator=g)


def test_split_scores_on_features_with_known_answers():
    labels = torch.arange(4).repeat_interleave(6)
    train = one_hot_features(labels, 0, 6)
    # val images of class c look like train images of class c + 1: each
    # split alone is perfectly separable, every cross query is wrong, and
    # the two splits hold the same four directions (no split signal)
    val = one_hot_features(labels, 1, 6)
    scores = split_knn.split_scores(train, labels, val, labels)
    assert scores['knn_within_train'] == 100.
    assert scores['knn_within_val'] == 100.
    assert scores['knn_cross'] == 0.
    assert abs(scores['split_probe'] - 50.) <= 100. / 24
    # the same classes in both splits, the val split marked by an extra
    # direction: cross kNN stays perfect and the split is fully readable
    marked = one_hot_features(labels, 0, 6) + 0.5 * torch.eye(6)[5]
    scores = split_knn.split_scores(train, labels, marked, labels)
    assert scores['knn_cross'] == 100.
    assert scores['split_probe'] == 100.


def evaluate_installed(rec):
    """The installed evaluation over a driver evaluation that returns
    ``rec``; the driver's own function is put back afterwards."""
    original = driver.evaluate
    driver.evaluate = lambda model, sets, full=True: dict(rec)
    try:
        split_knn.install()
        return driver.evaluate(None, None)
    finally:
        driver.evaluate = original


def test_importing_patches_nothing_and_install_adds_the_scores():
    # this module imported the script: the driver's own function is there
    assert driver.evaluate.__name__ == 'evaluate'
    labels = torch.arange(2).repeat_interleave(4)
    feats = one_hot_features(labels, 0, 3)
    rec = {'_pooled': (feats, labels, feats, labels)}
    out = evaluate_installed(rec)
    assert driver.evaluate.__name__ == 'evaluate'
    assert set(split_knn.KEYS) <= set(out)
    assert out['knn_within_train'] == 100.
    assert not any(k.endswith('_student') for k in out)
    # with the driver's student features: the same scores of those
    shifted = one_hot_features(labels, 1, 3)
    rec['_pooled_student'] = (feats, labels, shifted, labels)
    out = evaluate_installed(rec)
    expected = split_knn.split_scores(feats, labels, shifted, labels)
    assert {k: out[k + '_student'] for k in split_knn.KEYS} == expected
    assert out['knn_cross_student'] == 0.  # every val image looks shifted


def test_colour_features_by_hand():
    images = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    images[0] = 51  # every channel 0.2
    images[1, 0, 0] = 255  # channel 0: top row 1, bottom row 0
    images[1, 2] = 255  # channel 2: all 1
    feats = split_knn.colour_features(images)
    expected = torch.tensor([[.2, .2, .2, 0., 0., 0.],
                             [.5, 0., 1., .5, 0., 0.]])
    assert torch.allclose(feats, expected)
    hist = split_knn.colour_features(images, bins=2)[:, 6:]
    # (channel, bin) shares: values 0.2 -> bin 0, 1.0 -> bin 1 (the top)
    assert hist.tolist() == [[1., 0., 1., 0., 1., 0.],
                             [.5, .5, 1., 0., 0., 1.]]
