"""Graph helpers shared by the WJ layers."""
from pyg_wj.utils.adjacency import (
                                    adjacency_diagonal,
                                    as_edge_index,
                                    csr_matmul,
                                    edge_index_to_csr,
                                    edge_index_to_dense,
                                    normalize_dense_adj,
                                    normalize_edge_index,
)
from pyg_wj.utils.linear import (
                                    linear,
                                    onednn_inference_available,
)

__all__ = ['as_edge_index', 'normalize_edge_index', 'edge_index_to_csr',
           'edge_index_to_dense', 'normalize_dense_adj', 'adjacency_diagonal',
           'csr_matmul', 'linear', 'onednn_inference_available']
