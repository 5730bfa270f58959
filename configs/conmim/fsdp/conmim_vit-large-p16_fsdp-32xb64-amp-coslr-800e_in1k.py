# ConMIM ViT-L/16, 800 epochs: the recipe of
# conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k.py on mmengine's
# FlexibleRunner with FSDPStrategy and activation checkpointing, for GPUs on
# which the DDP run does not fit at 64 images per GPU (see docs/scale.md).
#   bash tools/dist_train.sh THIS_CONFIG 8      (needs CUDA + NCCL)
#
# What changes, and why:
# * backbone with_cp=True: each transformer layer is recomputed in backward;
#   activations, the largest part of the memory at batch 64, drop to one
#   layer's worth plus the layer inputs, for one extra student forward.
# * FSDP (FULL_SHARD) over the student: its parameters, gradients and AdamW
#   states are sharded across the GPUs and gathered for the step. The whole
#   student is one FSDP unit: the EMA teacher pairs its parameters with the
#   student's by name, and nested FSDP units would rename them.
# * the EMA teacher stays out of FSDP, replicated on every GPU
#   (ReplicatedModulesFSDP, mmconmim/engine/fsdp.py): it is updated in place
#   inside the forward, which FSDP would undo when it re-shards.
# * fp16 autocast with the sharded loss scaler, and gradient clipping by the
#   norm over all shards (use_fsdp=True); parameters stay fp32 as under DDP.
# * weight decay by parameter name: FSDP gives the optimizer constructor
#   flattened 1-D shards, so the recipe's "no decay on 1-D parameters"
#   (flat_decay_mult=0) would turn decay off everywhere. The keys below name
#   exactly the 1-D parameters of the ConMIM student and projector
#   (tests/test_engine/test_scale.py checks the two rules agree).
# * checkpoints are full state dicts gathered on rank 0 (CPU-offloaded), in
#   the format of the DDP runs, so export/fine-tuning tools read them.
_base_ = ['../conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k.py']

model = dict(backbone=dict(with_cp=True))

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        type='ReplicatedModulesFSDP',
        replicated=['teacher'],
        sharding_strategy='FULL_SHARD',
        use_orig_params=True,
        # every rank starts from rank 0's initialisation, as under DDP
        sync_module_states=True),
    state_dict_cfg=dict(
        state_dict_type='FULL_STATE_DICT',
        state_dict_config=dict(
            type='FullStateDictConfig', offload_to_cpu=True, rank0_only=True),
        optim_state_dict_config=dict(
            type='FullOptimStateDictConfig', offload_to_cpu=True,
            rank0_only=True)))

optim_wrapper = dict(
    use_fsdp=True,
    paramwise_cfg=dict(
        _delete_=True,
        custom_keys={
            # Linear/Conv/LayerNorm/BatchNorm biases
            '.bias': dict(decay_mult=0.),
            '.q_bias': dict(decay_mult=0.),
            '.v_bias': dict(decay_mult=0.),
            '.gamma_1': dict(decay_mult=0.),  # layer scale
            '.gamma_2': dict(decay_mult=0.),
            # LayerNorms of every layer and the final one
            '.ln1.weight': dict(decay_mult=0.),
            '.ln2.weight': dict(decay_mult=0.),
            'neck.bn0.weight': dict(decay_mult=0.),
            'neck.bn1.weight': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
        }))
