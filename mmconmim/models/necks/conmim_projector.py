"""ConMIM's token-wise projector with the official initialisation.

Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023
(arXiv:2205.09616), Sec. 4: every token (CLS included) goes through
Linear(D->4096) - BN - ReLU - Linear(4096->4096) - BN - ReLU -
Linear(4096->256) - BN(affine=False), no Linear biases. This is mmpretrain's
``NonLinearNeck`` (``num_layers=3, with_bias=False, with_last_bn_affine=False,
with_avg_pool=False``, same state-dict keys ``fc0/bn0/...``), except for the
initialisation: the official code builds the projector inside the BEiT model
and runs BEiT's ``_init_weights`` over it, so every Linear weight is drawn
from a normal distribution with std 0.02 truncated at +-std (+-0.02, BEiT's
``trunc_normal_`` wrapper) and biases are 0; BatchNorms keep weight 1 and
bias 0. ``NonLinearNeck`` leaves PyTorch's default Linear init,
U(+-1/sqrt(fan_in)): std 0.021 for the first layer at D = 768, against 0.011
for the truncated normal (std 0.02 truncated at +-1 sigma has std 0.0108).
"""
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.necks import NonLinearNeck
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_positive


@MODELS.register_module()
class ConMIMProjector(NonLinearNeck):
    """``NonLinearNeck`` initialised as the official ConMIM projector.

    Takes the arguments of mmpretrain's ``NonLinearNeck`` plus
    ``init_std`` (std of the truncated normal, truncated at +-std;
    official 0.02).
    """

    def __init__(self, *args, init_std: float = 0.02, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_positive('ConMIMProjector', 'init_std', init_std, bool_ok=True)
        self.init_std = init_std

    def init_weights(self) -> None:
        super().init_weights()  # BatchNorms: weight 1, bias 0
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return
        std = self.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=std, a=-std, b=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
