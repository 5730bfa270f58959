# The ConMIM demo with online k-NN monitoring (docs/monitoring.md).
# KNNEvalHook classifies the val crops of photo-regions-13 by weighted kNN
# (DINO: cosine, k=20, T=0.07) against its train crops, on mean-pooled patch
# tokens of the EMA teacher, at iteration 0 and every 100 iterations, and
# logs knn/top1 and knn/top5. Build the collection first (a few seconds):
#   python benchmarks/photo_regions.py work_dirs/photo_regions
# Plot loss and kNN afterwards:
#   python tools/visualization/vis_curves.py work_dirs/conmim_demo_knn
_base_ = './conmim_demo.py'

knn_data = 'work_dirs/photo_regions'
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(
        type='KNNEvalHook',
        train_data=knn_data + '/train',
        val_data=knn_data + '/val',
        interval=100,
        k=20,
        temperature=0.07,
        source='auto',  # the ConMIM teacher
        pool='avg',  # mean of the last layer's patch tokens
        eval_before_train=True,
        batch_size=64,
        num_workers=0),
    # last, so that custom_hooks.1 stays the kNN hook for --cfg-options
    dict(type='TorchRNGStateHook'),
]
