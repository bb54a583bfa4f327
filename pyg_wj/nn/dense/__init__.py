"""Layers for small fixed graphs given as a dense adjacency."""
from pyg_wj.nn.dense.dense_wj_conv import DenseWJConv

__all__ = ['DenseWJConv']
