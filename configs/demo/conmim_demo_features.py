# The ConMIM demo model for feature extraction only (mmpretrain's
# FeatureExtractor / get_model; docs/apis.md): the pre-training config plus
# the evaluation transform (short edge to 64 / 0.875, centre crop 64) as the
# test pipeline FeatureExtractor reads. ConMIM.extract_feat returns the
# teacher's features once it holds weights (a loaded checkpoint).
#   FeatureExtractor('conmim_demo_features',
#                    pretrained='work_dirs/conmim_demo/iter_300.pth')
# Not for training: a runner would require a test loop with this pipeline.
_base_ = './conmim_demo.py'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='data/demo/images',
                 with_label=False, pipeline=test_pipeline))
