# A2MIM ViT-L/16, 800 epochs on ImageNet-1K, total batch 2048
# (8 GPUs x 128, gradients accumulated over 2 iterations), fp32.
# Paper (A2MIM README table): 86.1 top-1 (86.0 in the A2MIM configs README)
# after the 150-epoch fine-tune
# (benchmarks/vit-large-p16_a2mim-pre_8xb64-accu2-coslr-150e_in1k.py;
# SimMIM 85.6 after 100 epochs). Not measured here.
# Recipe: the reference config (openmixup vit_large_l0_sz224_8xb128_accu2_
# step_ep800.py): the ViT-B recipe with arch 'large' (1024 wide, 24 layers)
# and a 1024 -> 16^2 * 3 decoder; lr 4e-4, clip 5, step x0.1 at epoch 700,
# L1 + 0.1 x focal frequency loss.
_base_ = './a2mim_vit-base-p16_8xb128-accu2-steplr-800e_in1k.py'

model = dict(backbone=dict(arch='large'), neck=dict(in_channels=1024))
