"""Three ways of counting a model's arithmetic, kept apart on purpose.

1. :func:`fvcore_count`: fvcore's ``FlopCountAnalysis`` with a handle for
   *every* operator the traced models use. fvcore's built-in handles are
   replaced where they are wrong or lump things together (fvcore 0.1.5,
   see ``docs/benchmarks.rst``: a broadcast ``matmul([N, N], [B, N, F])``
   is counted as if ``B`` were 1, and norms are mixed in with the GEMMs).
   Multiply-accumulates (MACs) and
   element-wise operations are returned as separate totals, and an
   operator without a handle is an error, never a silent zero.
2. :func:`analytic_macs_model` / :func:`analytic_macs_wj_layer`: the same
   MACs from the configuration's shapes alone, with no tracing. The tests
   require (1) == (2) exactly, which checks both the handles and our
   understanding of the model.
3. :func:`paper_convention_macs`: what a ``thop``-style counter reports.
   Such a counter hooks ``nn.Module`` leaves and knows rules only for some
   module types; anything done with raw ``torch.matmul`` on ``Parameter``
   objects (how the authors wrote their WJ layer) is invisible to it. The
   paper's FLOPs are 2 x this number (``docs/faithfulness.rst``).

MAC convention: one MAC = one multiply and one add of a product into a sum;
``A[m, k] @ B[k, n]`` is ``m * k * n`` MACs whatever the kernel does.
"""
import math
import warnings
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.utils import coalesce

#: The WJ layer of the paper (eq. 6, no self-loops), the configuration
#: :func:`analytic_macs_wj_layer` describes and the layer benchmarks time;
#: the general-graph default differs.
EQ6 = dict(parametrization='paper', add_self_loops=False)

MAC = 'mac'
ELEMENTWISE = 'elementwise'
FREE = 'free'

# --------------------------------------------------------------------------
# fvcore handles
# --------------------------------------------------------------------------


def _shape(value) -> Optional[List[int]]:
    """Static shape of a traced value, or ``None`` (non-tensor, unknown)."""
    try:
        t = value.type()
    except Exception:
        return None
    if not isinstance(t, torch._C.TensorType):
        return None
    sizes = t.sizes()
    return None if sizes is None else list(sizes)


def _numel(value) -> int:
    shape = _shape(value)
    return 0 if shape is None else math.prod(shape)


def _constant(value) -> Any:
    """Python value of a traced constant input (``None`` if not constant)."""
    node = value.node()
    if node.kind() == 'prim::Constant':
        return value.toIValue()
    return None


def _counter(kind: str, op: str, n: int) -> Counter:
    # keys are "<category>:<op>" so both totals and a per-op breakdown can
    # be read back from FlopCountAnalysis.by_operator()
    return Counter({f'{kind}:{op}': int(n)})


def _matmul_handle(op: str) -> Callable:
    """MACs of ``matmul``/``mm``/``bmm`` with broadcasting: the number of
    output elements times the contracted size. fvcore's own handle counts
    ``prod(a.shape) * b.shape[-1]``, which drops the broadcast batch of
    ``b`` (the ``A_hat @ h`` product of every graph layer)."""
    def handle(inputs, outputs):
        a, b = _shape(inputs[0]), _shape(inputs[1])
        out = _shape(outputs[0])
        if a is None or b is None or out is None:
            raise ValueError(f'{op}: shapes unknown in the trace')
        k = a[-1]
        if len(b) >= 2 and b[-2] != k:
            raise ValueError(f'{op}: inner sizes differ, {a} x {b}')
        return _counter(MAC, op, math.prod(out) * k)
    return handle


def _addmm_handle(inputs, outputs):
    """``addmm(bias, a, b)``: the GEMM's MACs; the bias add is counted
    under element-wise operations by the caller's breakdown."""
    a, b = _shape(inputs[1]), _shape(inputs[2])
    macs = a[0] * a[1] * b[1]
    c = _counter(MAC, 'addmm', macs)
    c.update(_counter(ELEMENTWISE, 'addmm.bias', a[0] * b[1]))
    return c


def _linear_handle(inputs, outputs):
    """``linear(x, W[out, in], b)``: ``numel(x) * out`` MACs, plus one
    element-wise add per output element when there is a bias."""
    x, w = _shape(inputs[0]), _shape(inputs[1])
    c = _counter(MAC, 'linear', math.prod(x) * w[0])
    if _shape(inputs[2]) is not None:  # bias is a tensor, not None
        c.update(_counter(ELEMENTWISE, 'linear.bias', _numel(outputs[0])))
    return c


def _einsum_handle(inputs, outputs):
    """Exact MACs of an einsum evaluated pairwise, left to right (what
    torch does without opt_einsum): a pairwise contraction costs the
    product of the sizes of every index letter in either operand."""
    equation = _constant(inputs[0])
    operand_list = inputs[1].node()
    if equation is None or operand_list.kind() != 'prim::ListConstruct':
        raise ValueError('einsum: equation or operands not static')
    shapes = [_shape(v) for v in operand_list.inputs()]
    lhs, _, rhs = equation.replace(' ', '').partition('->')
    terms = lhs.split(',')
    if '...' in equation:
        raise ValueError('einsum with ellipsis is not supported')
    sizes: Dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for letter, size in zip(term, shape):
            sizes[letter] = size
    if len(terms) == 1:  # a sum or transpose: element-wise work
        return _counter(ELEMENTWISE, 'einsum', math.prod(shapes[0]))
    macs, current = 0, terms[0]
    for i, term in enumerate(terms[1:], start=1):
        letters = set(current) | set(term)
        macs += math.prod(sizes[c] for c in letters)
        keep = set(rhs).union(*map(set, terms[i + 1:]))
        current = ''.join(c for c in sorted(letters) if c in keep)
    return _counter(MAC, 'einsum', macs)


def _sparse_mm_handle(nnz_hint: Optional[int]) -> Callable:
    """``_sparse_mm(A, X)``: ``nnz(A) * X.shape[-1]`` MACs.

    A traced sparse tensor carries no ``nnz``, so it is read from the
    ``sparse_coo_tensor``/``sparse_csr_tensor`` node that built ``A``
    (its values input has shape ``[nnz]``), walking back through casts and
    layout changes. ``nnz_hint`` is used only when the matrix was a
    constant of the trace (a cached graph)."""
    passthrough = {'aten::to', 'aten::to_sparse_csr', 'aten::to_sparse',
                   'aten::coalesce', 'aten::_coalesced_', 'aten::detach',
                   'aten::to_sparse_csc', 'aten::clone'}

    def nnz_of(value) -> Optional[int]:
        for _ in range(16):
            node = value.node()
            kind = node.kind()
            if kind == 'aten::sparse_coo_tensor':
                return _shape(list(node.inputs())[1])[0]
            if kind == 'aten::sparse_csr_tensor':
                return _shape(list(node.inputs())[2])[0]
            if kind not in passthrough:
                return None
            value = list(node.inputs())[0]
        return None

    def handle(inputs, outputs):
        nnz = nnz_of(inputs[0])
        if nnz is None:
            nnz = nnz_hint
        if nnz is None:
            raise ValueError('_sparse_mm: cannot find nnz in the trace; '
                             'pass nnz_hint')
        cols = _shape(outputs[0])[-1]
        return _counter(MAC, 'sparse_mm', nnz * cols)
    return handle


def _elementwise(op: str, per_element: int = 1,
                 use_input: bool = False) -> Callable:
    """One (or ``per_element``) operation per output element; reductions
    and scatters count their input elements instead (``use_input``)."""
    def handle(inputs, outputs):
        n = _numel(inputs[0] if use_input else outputs[0])
        return _counter(ELEMENTWISE, op, per_element * n)
    return handle


def _scatter_handle(inputs, outputs):
    # scatter_add_(self, dim, index, src): one add per source element
    return _counter(ELEMENTWISE, 'scatter_add', _numel(inputs[3]))


def _dropout_handle(inputs, outputs):
    """Dropout is the identity in eval mode (``train`` input False) and one
    multiply per element in training."""
    train = _constant(inputs[2])
    n = 0 if train is False else _numel(outputs[0])
    return _counter(ELEMENTWISE, 'dropout', n)


def _layer_norm_handle(inputs, outputs):
    """Per element: mean and variance accumulation (2), subtract-multiply
    normalisation (2), and the affine multiply-add (1) when present; the
    same 5/4 per element as fvcore's norm rule."""
    affine = _shape(inputs[2]) is not None
    return _counter(ELEMENTWISE, 'layer_norm',
                    (5 if affine else 4) * _numel(inputs[0]))


def _batch_norm_handle(inputs, outputs):
    """In eval mode BatchNorm is a per-channel scale and shift (2 per
    element with affine, else 1: the running statistics are constants); in
    training it also accumulates statistics (as layer norm)."""
    affine = _shape(inputs[1]) is not None
    training = _constant(inputs[5])
    per = (5 if affine else 4) if training else (2 if affine else 1)
    return _counter(ELEMENTWISE, 'batch_norm', per * _numel(inputs[0]))


def _free(op: str) -> Callable:
    def handle(inputs, outputs):
        return _counter(FREE, op, 0)
    return handle


#: Ops that do arithmetic element by element (one op per output element).
ELEMENTWISE_OPS = (
    'add', 'add_', 'sub', 'sub_', 'rsub', 'mul', 'mul_', 'div', 'div_',
    'addcmul', 'addcmul_', 'addcdiv', 'neg', 'pow', 'pow_', 'sqrt', 'rsqrt',
    'exp',
    'log', 'gelu', 'relu', 'relu_', 'sigmoid', 'tanh', 'clamp', 'clamp_',
    'clamp_min', 'isinf', 'isnan', 'logical_not', 'logical_not_', 'eq', 'ne',
    'gt', 'ge', 'lt', 'le', '__and__', 'bitwise_not', 'abs', 'where',
    'floor', 'floor_divide', 'remainder', 'softmax', 'lerp',
)
#: Reductions: one op per input element.
REDUCTION_OPS = ('sum', 'mean', 'cumsum', 'max', 'min', 'amax', 'norm')
#: Ops that create, view, copy, index, sort or cast data without arithmetic.
FREE_OPS = (
    'view', 'reshape', 'flatten', 'expand', 'expand_as', 'split',
    'split_with_sizes', 'chunk', 'unbind', 'narrow', 'select', 'slice',
    'squeeze', 'unsqueeze', 'unsqueeze_', 't', 'transpose', 'permute',
    'movedim', 'contiguous', 'clone', 'copy_', 'detach', 'to', 'type_as',
    'Int', 'ScalarImplicit', 'size', 'numel', 'dim', 'empty', 'empty_like',
    'new_empty', 'new_zeros', 'new_full', 'new_ones', 'zeros', 'zeros_like',
    'ones', 'ones_like', 'full', 'full_like', 'arange', 'eye', 'cat',
    'stack',
    'index', 'index_select', 'gather', 'index_put_', 'masked_fill',
    'masked_fill_', 'fill_', 'zero_', 'flip', 'roll', 'sort', 'argsort',
    'unique_consecutive', 'nonzero', 'diagonal', 'diag', 'tril', 'triu',
    'sparse_coo_tensor', 'sparse_csr_tensor', 'to_sparse_csr', 'to_sparse',
    'coalesce', '_coalesced_', 'constant_pad_nd', 'repeat',
    'repeat_interleave', 'broadcast_to', 'as_strided', 'alias', 'lift_fresh',
    'resolve_conj', 'resolve_neg', 'dropout_', 'feature_dropout',
)


def op_handles(nnz_hint: Optional[int] = None) -> Dict[str, Callable]:
    """Every handle we register, keyed by ``aten::`` op name."""
    handles: Dict[str, Callable] = {
        'aten::matmul': _matmul_handle('matmul'),
        'aten::mm': _matmul_handle('mm'),
        'aten::bmm': _matmul_handle('bmm'),
        'aten::addmm': _addmm_handle,
        'aten::linear': _linear_handle,
        'aten::einsum': _einsum_handle,
        'aten::_sparse_mm': _sparse_mm_handle(nnz_hint),
        # pyg_wj.utils.csr_matmul (WJConv's CSR product when x requires a
        # gradient), traced as its autograd Function: same MACs
        'prim::PythonOp.CSRProduct': _sparse_mm_handle(nnz_hint),
        'aten::layer_norm': _layer_norm_handle,
        'aten::batch_norm': _batch_norm_handle,
        'aten::dropout': _dropout_handle,
        'aten::scatter_add_': _scatter_handle,
        'aten::scatter_add': _scatter_handle,
    }
    for op in ELEMENTWISE_OPS:
        handles[f'aten::{op}'] = _elementwise(op)
    for op in REDUCTION_OPS:
        handles[f'aten::{op}'] = _elementwise(op, use_input=True)
    for op in FREE_OPS:
        handles.setdefault(f'aten::{op}', _free(op))
    return handles


def fvcore_count(module: nn.Module, inputs: Tuple[Any, ...],
                 nnz_hint: Optional[int] = None) -> Dict[str, Any]:
    """Trace ``module(*inputs)`` with fvcore and our handles.

    Returns ``{'macs', 'elementwise', 'by_op', 'unsupported'}``. fvcore's
    default ignore list is emptied so that an op we did not classify shows
    up in ``unsupported`` (and :func:`fvcore_count_strict` raises) instead
    of being skipped silently.
    """
    # optional (the bench extra), and the layer and model suites import
    # this module without needing it
    from fvcore.nn import FlopCountAnalysis

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings about constants
        analysis = FlopCountAnalysis(module, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings('none')
        analysis._ignored_ops = set()  # no silent skipping
        analysis.set_op_handle(**op_handles(nnz_hint))
        by_op = dict(analysis.by_operator())
        unsupported = dict(analysis.unsupported_ops())
    totals = Counter()
    for key, n in by_op.items():
        totals[key.split(':', 1)[0]] += int(n)
    return {'macs': totals[MAC], 'elementwise': totals[ELEMENTWISE],
            'by_op': {k: int(v) for k, v in sorted(by_op.items())},
            'unsupported': unsupported}


def fvcore_count_strict(module: nn.Module, inputs: Tuple[Any, ...],
                        nnz_hint: Optional[int] = None) -> Dict[str, Any]:
    """:func:`fvcore_count` that raises if any op had no handle."""
    result = fvcore_count(module, inputs, nnz_hint)
    if result['unsupported']:
        raise RuntimeError(f"ops without a counting handle: "
                           f"{result['unsupported']}")
    return result


# --------------------------------------------------------------------------
# analytic counts
# --------------------------------------------------------------------------

def analytic_macs_model(cfg) -> Dict[str, int]:
    """MACs of one pose (batch 1) of :class:`MLPGraphWJ`, from its config.

    ``J`` joints, ``T`` frames, ``F`` channels, ``R`` hidden width, ``L``
    blocks. Returns the parts and their ``'total'``:

    * embedding ``Linear(2T, F)`` on ``J`` joints: ``J 2T F``;
    * joint mixing per block: ``Linear(J, F)`` then ``Linear(F, J)`` on
      the ``F`` channel rows: ``2 J F^2``;
    * graph mixing per block, ``wj``: first WJ layer ``[W1|W2]`` ``J F 2R``,
      ``A_mod h2`` ``J^2 R``, ``X0 W3`` with ``X0 = E`` ``J F R``; second
      layer ``J R 2F + J^2 F + J R F`` (its ``X0 = E W3`` has ``R``
      channels). ``gcn``: ``J F R + J^2 R + J R F + J^2 F``; ``mixer``
      (channel MLP): ``J F R + J R F``;
    * head ``Linear(F, 3)``: ``3 J F``.
    """
    J, T, F, R, L = (cfg.joints, cfg.frames, cfg.channels, cfg.hidden,
                     cfg.layers)
    if cfg.variant == 'wj':
        if getattr(cfg, 'authors_diagonal', False):
            # the diagonal-only term is element-wise, not a matmul
            graph = (J * F * 2 * R + J * F * R) + (J * R * 2 * F + J * R * F)
        else:
            graph = (J * F * 2 * R + J * J * R + J * F * R) + \
                    (J * R * 2 * F + J * J * F + J * R * F)
    elif cfg.variant == 'gcn':
        graph = (J * F * R + J * J * R) + (J * R * F + J * J * F)
    elif cfg.variant == 'mixer':
        graph = J * F * R + J * R * F
    else:
        raise ValueError(f'unknown variant {cfg.variant!r}')
    parts = {
        'embedding': J * 2 * T * F,
        'joint_mixing': L * 2 * J * F * F,
        'graph_mixing': L * graph,
        'head': 3 * J * F,
    }
    parts['total'] = sum(parts.values())
    return parts


def analytic_train_macs_model(cfg) -> int:
    """MACs of one pose's forward + backward.

    Each GEMM's backward is two GEMMs of its size (input gradient and
    weight gradient), so 3x the forward, except the embedding, whose input
    (the 2D keypoints) needs no gradient.
    """
    parts = analytic_macs_model(cfg)
    return 3 * parts['total'] - parts['embedding']


def analytic_macs_wj_layer(batch: int, num_nodes: int, in_channels: int,
                           out_channels: int, x0_channels: int,
                           aggregation: str, nnz: Optional[int] = None,
                           modulation: bool = False) -> int:
    """MACs of one WJConv/DenseWJConv call on ``[batch, N, F_in]``.

    ``[W1|W2]``: ``B N F_in 2 F_out``; ``X0 W3``: ``B N F_0 F_out``;
    the Jacobi operator ``M = (1-alpha) A - I`` applied to ``x W2``:
    ``dense``: ``B N^2 F_out``; ``sparse``: ``B nnz F_out`` with ``nnz``
    the non-zeros of ``M`` (:func:`nnz_of_jacobi`), plus ``B N^2 F_out``
    for the dense modulation ``Q`` on the sparse path.
    """
    rows = batch * num_nodes
    macs = rows * in_channels * 2 * out_channels
    macs += rows * x0_channels * out_channels
    if aggregation == 'dense':
        macs += batch * num_nodes * num_nodes * out_channels
    elif aggregation == 'sparse':
        if nnz is None:
            raise ValueError("sparse aggregation needs 'nnz'")
        macs += batch * nnz * out_channels
        if modulation:
            macs += batch * num_nodes * num_nodes * out_channels
    else:
        raise ValueError(f'unknown aggregation {aggregation!r}')
    return macs


# --------------------------------------------------------------------------
# thop-style ("paper convention") counting
# --------------------------------------------------------------------------

def paper_convention_macs(model: nn.Module, inputs: Tuple[Any, ...],
                          opaque: Sequence[type] = ()) -> Dict[str, int]:
    """What a ``thop``-style counter reports for ``model(*inputs)``.

    Such a counter puts forward hooks on leaf modules and applies a rule
    per module type: ``nn.Linear`` counts ``in_features`` MACs per output
    element; ``nn.BatchNorm*``/``nn.LayerNorm`` count 2 operations per
    input element, doubled when the norm has an affine transform; activations
    and dropout count nothing, and so does anything without a rule.
    Modules in ``opaque`` are treated as leaves without a rule: the authors
    wrote their WJ layer with raw ``Parameter`` tensors and ``torch.matmul``,
    so a counter sees none of its work, while ours happens to hold its
    weights in ``nn.Linear`` sub-modules that it *would* see.

    Returns ``{'linear': ..., 'norm': ..., 'total': ...}``; the paper's
    FLOPs are ``2 * total``.
    """
    counts = Counter()
    handles = []

    def hidden(module: nn.Module) -> bool:
        return any(isinstance(m, tuple(opaque)) for m in ancestors[module])

    ancestors: Dict[nn.Module, List[nn.Module]] = {}

    def collect(module: nn.Module, chain: List[nn.Module]) -> None:
        ancestors[module] = chain
        for child in module.children():
            collect(child, chain + [module])

    collect(model, [])

    def linear_hook(module, args, output):
        if not hidden(module):
            counts['linear'] += module.in_features * output.numel()

    def norm_hook(module, args, output):
        if not hidden(module):
            n = 2 * args[0].numel()
            if getattr(module, 'affine', False) or \
                    getattr(module, 'elementwise_affine', False):
                n *= 2
            counts['norm'] += n

    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, norms):
            handles.append(module.register_forward_hook(norm_hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return {'linear': counts['linear'], 'norm': counts['norm'],
            'total': counts['linear'] + counts['norm']}


def nnz_of_jacobi(edge_index: Tensor, num_nodes: int,
                  symmetrize: bool = False) -> int:
    """Non-zeros of the operator ``M = (1 - alpha) A_hat - I`` that
    WJConv's sparse path multiplies with: the graph's distinct edges (both
    directions with ``symmetrize``) plus the diagonal, which merges with
    existing self-loops."""
    if symmetrize:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    loops = torch.arange(num_nodes).expand(2, -1)
    edge_index = torch.cat([edge_index, loops], dim=1)
    return coalesce(edge_index, num_nodes=num_nodes).size(1)


def human(n: Optional[float], unit: str = '') -> Optional[str]:
    """``29011968`` -> ``'29.01 M'``."""
    if n is None:
        return None
    for div, suffix in ((1e9, ' G'), (1e6, ' M'), (1e3, ' k')):
        if abs(n) >= div:
            return f'{n / div:.2f}{suffix}{unit}'
    return f'{n:.0f} {unit}'.rstrip()


__all__ = ['fvcore_count', 'fvcore_count_strict', 'analytic_macs_model',
           'analytic_train_macs_model', 'analytic_macs_wj_layer',
           'paper_convention_macs', 'nnz_of_jacobi', 'human', 'op_handles',
           'EQ6']
