"""Neural-network layers of :mod:`pyg_wj`."""
from pyg_wj.nn.conv import WJConv
from pyg_wj.nn.dense import DenseWJConv
from pyg_wj.nn.fused_linear import FusedLinear

__all__ = ['WJConv', 'DenseWJConv', 'FusedLinear']
