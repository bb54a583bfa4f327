from typing import Optional

from torch import Tensor
from torch.nn import Linear

from pyg_wj.utils.linear import ACTIVATIONS, linear


class FusedLinear(Linear):
    r"""``torch.nn.Linear`` followed by an optional activation,
    :math:`\sigma(\mathbf{x}\mathbf{W}^{\top} + \mathbf{b})`, run by
    :func:`pyg_wj.utils.linear`: in CPU inference one oneDNN GEMM with the
    bias and the activation in its epilogue, everywhere else ``F.linear``
    followed by the activation.

    It has the parameters (and ``state_dict``) of ``nn.Linear``, and is one,
    so module hooks and counters treat it as such.

    Args:
        in_features (int): Size of each input sample.
        out_features (int): Size of each output sample.
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        activation (str, optional): :obj:`None`, :obj:`"gelu"` (exact) or
            :obj:`"relu"`. (default: :obj:`None`)
        onednn (bool, optional): Allow oneDNN's kernel in CPU inference;
            :obj:`False` always runs ``F.linear`` (also settable later as
            the attribute :obj:`onednn`). (default: :obj:`True`)

    Shapes:
        - **input:** :math:`(*, F_{in})`
        - **output:** :math:`(*, F_{out})`
    """

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True, activation: Optional[str] = None,
                 onednn: bool = True):
        if activation not in ACTIVATIONS:
            raise ValueError(f"'activation' must be one of {ACTIVATIONS}, "
                             f"got {activation!r}")
        super().__init__(in_features, out_features, bias=bias)
        self.activation = activation
        self.onednn = onednn

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias, self.activation,
                      onednn=self.onednn)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        if self.activation is not None:
            extra += f', activation={self.activation!r}'
        if not self.onednn:
            extra += ', onednn=False'
        return extra
