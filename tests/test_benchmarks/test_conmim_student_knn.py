"""The issue-25 driver's student measurement (benchmarks/conmim_small_scale.py
``evaluate``): the student's kNN is read from the student backbone on
unmasked images, so it equals the teacher's while the teacher is a copy of
the student (iteration 0), and it follows the student alone after that."""
import torch

from benchmarks import conmim_small_scale as driver
from tests.fixtures.conmim_driver import TRIAL_ARGS, build_driver_model


def labelled_images(n, seed):
    """``n`` uint8 32-px images of 4 classes, each class a base colour plus
    noise (so that the kNN has something to find)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat(n // 4)
    base = torch.randint(0, 256, (4, 3, 1, 1), generator=g).float()
    noise = torch.randint(-40, 41, (n, 3, 32, 32), generator=g).float()
    images = (base[labels] + noise).clamp(0, 255).to(torch.uint8)
    return images, labels


def test_student_knn_equals_the_teachers_copy_and_then_follows_the_student():
    model = build_driver_model(TRIAL_ARGS)
    model.teacher_backbone.load_state_dict(model.backbone.state_dict())
    sets = [labelled_images(24, 0), labelled_images(8, 1)]
    rec = driver.evaluate(model, sets, full=False)
    assert rec['knn_student'] == rec['knn_avg']
    for ours, theirs in zip(rec['_pooled_student'], rec['_pooled']):
        torch.testing.assert_close(ours, theirs)
    # change the student only: the teacher's features stay, the student's
    # move (so they are not read from the teacher)
    with torch.no_grad():
        model.backbone.patch_embed.projection.weight.mul_(-3.)
    moved = driver.evaluate(model, sets, full=False)
    torch.testing.assert_close(moved['_pooled'][0], rec['_pooled'][0])
    assert not torch.allclose(moved['_pooled_student'][0],
                              rec['_pooled_student'][0])
    assert model.backbone.training  # evaluation restores the train mode
