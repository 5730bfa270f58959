# ImageNet-1K fine-tuning of an A2MIM ConvNeXt-S, 300 epochs at 224 px.
# Paper (A2MIM README table): 83.7 top-1 (300-epoch pre-training,
# a2mim_convnext-small_8xb256-amp-coslr-300e_in1k.py; SimMIM 83.2).
# Not measured here.
# The ConvNeXt-B fine-tune config with the reference's ConvNeXt-S changes
# (openmixup convnext_s_spark_ft_sz224_8xb256_cos_fp16_ep300.py): arch
# 'small' (768 channels at the head), drop path 0.4; batch 4096 (8 x 256,
# 2 accumulated), AdamW lr 4e-3, EMA 0.9999, fp16 as for ConvNeXt-B.
_base_ = './convnext-base_a2mim-pre_8xb256-accu2-coslr-300e_in1k.py'

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4),
    head=dict(in_channels=768))
