"""pyg-wj: weighted-Jacobi graph propagation for PyTorch Geometric."""
from pyg_wj.nn import DenseWJConv, WJConv

__version__ = '0.1.0'

__all__ = ['WJConv', 'DenseWJConv', '__version__']
