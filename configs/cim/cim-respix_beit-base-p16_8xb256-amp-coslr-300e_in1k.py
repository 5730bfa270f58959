# CIM (RESPIX) with a ViT-B/16 enhancer, 300 epochs on ImageNet-1K, total
# batch 2048 (8 x 256), mixed precision.
# Enhancer: a BEiT-style ViT-B/16 (BEiTViT: shared relative position bias,
# layer scale 0.1) -- ours; the paper names a vanilla ViT-B/16
# (cim-respix_vit-base-p16_8xb256-amp-coslr-300e_in1k.py). The paper's 83.3
# is for the vanilla enhancer; no number exists for this one. Fine-tune
# config: benchmarks/beit-base-p16_cim-pre_8xb128-coslr-100e_in1k.py.
# Not measured here.
# The recipe is BEiT's (see the schedule); every knob and its default is
# listed in the _base_ model file.
# Sources: paper = 300 epochs on ImageNet-1K, the top-1 above, the vanilla
# enhancer; BEiT defaults = optimiser, schedule, clip, layer scale, drop path,
# block masking (75 patches), the two views; lambda 1 = ours;
# generator size/input, resize and RESPIX window = ours (table in
# docs/cim.md).
_base_ = [
    '../_base_/models/cim_beit-base-p16.py',
    '../_base_/datasets/imagenet_bs256_cim-224.py',
    '../_base_/schedules/cim_adamw_coslr-300e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    objective='respix',
    # the dataset's views decide the pixel spaces (view A, dVAE view B)
    data_preprocessor={{_base_.data_preprocessor}})
