"""The real OpenMMLab stack is installed: compiled mmcv ops, mmdet, mmseg."""
import importlib

import pytest
import torch


def test_mmcv_nms_runs_compiled_cpu_op():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [0., 0., 10., 10.5], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # IoU(0,1) = 81/119 = 0.68, IoU(0,2) = 100/105 = 0.95, box 3 disjoint.
    dets, keep = nms(boxes, scores, iou_threshold=0.7)
    assert keep.tolist() == [0, 1, 3]
    assert torch.equal(dets[:, 4], scores[[0, 1, 3]])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 3]


def test_mmcv_roi_align_matches_hand_computed_bilinear_averages():
    from mmcv.ops import RoIAlign
    # f(y, x) = x + 10 y is linear, so every bilinear sample equals f at the
    # sample point and each bin's average is f at the mean sample point.
    ys, xs = torch.meshgrid(torch.arange(6.), torch.arange(6.), indexing='ij')
    feat = (xs + 10 * ys)[None, None]
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    op = RoIAlign(output_size=2, spatial_scale=1., sampling_ratio=2,
                  aligned=True)
    out = op(feat, rois)
    # aligned=True shifts the box by -0.5 px: [-0.5, 3.5]; bin 0 samples at
    # -0.5+0.5=0 and -0.5+1.5=1 (mean 0.5), bin 1 at 2 and 3 (mean 2.5).
    expected = torch.tensor([[0.5 + 5., 2.5 + 5.], [0.5 + 25., 2.5 + 25.]])
    torch.testing.assert_close(out[0, 0], expected)


@pytest.mark.parametrize('name',
                         ['mmpretrain.models', 'mmseg.models', 'mmdet.models'])
def test_downstream_model_packages_import(name):
    importlib.import_module(name)


def test_mmcv_is_the_full_build():
    import mmcv
    from mmcv.ops import get_compiling_cuda_version  # noqa: F401
    assert mmcv.__version__ == '2.1.0'
    assert importlib.util.find_spec('mmcv._ext') is not None
