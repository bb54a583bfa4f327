"""Message-passing layers for arbitrary graphs."""
from pyg_wj.nn.conv.wj_conv import WJConv

__all__ = ['WJConv']
