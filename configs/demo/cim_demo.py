# CIM demo: pre-trains a tiny ViT enhancer on the bundled photographs
# (data/demo/images) on a laptop CPU in a few minutes, with a tiny RANDOM
# DALL-E dVAE (no weights needed; its golden tokens and renderings are
# meaningless, so this shows the mechanics, not the representation).
#   python tools/train.py configs/demo/cim_demo.py                  # RESPIX
#   python tools/train.py configs/demo/cim_demo.py \
#       --cfg-options model.objective=revdet                        # REVDET
# Same algorithm, views, masking, heads and losses as the full recipes; only
# the sizes are small: view A 128 px (16-px patches, 8x8 grid), view B 64 px
# (8x8 tokens), 24 of 64 tokens masked; enhancer ViT 128 wide x 4 layers;
# generator 128 wide x 2 layers; dVAE n_hid 64, vocab 512, 1 block per group.
#
# One switch differs: the generator has an absolute position embedding. With
# only the shared relative position bias (zero at init) every mask token
# starts with the same input and attention, so all masked positions predict
# the same distribution until the bias has learned positions -- longer than
# a CPU demo runs. The full configs keep BEiT's setting.
_base_ = [
    '../_base_/models/cim_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs256_cim-224.py',
    '../_base_/schedules/cim_adamw_coslr-300e.py',
    './_base_/demo_runtime.py',
]

img_size = 128
tokenizer_size = 64
patch_size = 16
embed_dims = 128
vocab_size = 512

model = dict(
    objective='respix',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=embed_dims * 4),
        img_size=img_size,
        patch_size=patch_size,
        drop_path_rate=0.),
    generator=dict(
        vocab_size=vocab_size,
        backbone=dict(
            arch=dict(
                _delete_=True,
                embed_dims=embed_dims,
                num_layers=2,
                num_heads=4,
                feedforward_channels=embed_dims * 4),
            img_size=img_size,
            patch_size=patch_size,
            use_abs_pos_emb=True)),
    tokenizer=dict(
        image_size=tokenizer_size,
        encoder=dict(n_hid=64, n_blk_per_group=1, vocab_size=vocab_size),
        decoder=dict(
            n_init=8, n_hid=64, n_blk_per_group=1, vocab_size=vocab_size),
        encoder_checkpoint=None,
        decoder_checkpoint=None,
        allow_random_weights=True),
    respix_head=dict(in_channels=embed_dims, upscale=patch_size),
    revdet_head=dict(in_channels=embed_dims))

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(
        type='ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCropAndInterpolationWithTwoPic',
        size=img_size,
        second_size=tokenizer_size,
        interpolation='bicubic',
        second_interpolation='lanczos',
        scale=(0.2, 1.0)),
    dict(
        type='BlockMaskGenerator',
        input_size=tokenizer_size // 8,
        num_masking_patches=24,
        min_num_patches=4),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/demo/images',
        with_label=False,
        pipeline=train_pipeline))

max_iters = 200
warmup_iters = 20
# fp32 on CPU; the constructor still keeps the frozen dVAE out.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=16)
