# The 1x recipe trained 3x longer: 36 epochs, steps at epochs 27 and 33.
_base_ = './mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py'

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
