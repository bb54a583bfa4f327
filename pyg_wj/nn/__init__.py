"""Neural-network layers of :mod:`pyg_wj`."""
from pyg_wj.nn.conv import WJConv
from pyg_wj.nn.dense import DenseWJConv

__all__ = ['WJConv', 'DenseWJConv']
