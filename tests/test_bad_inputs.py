"""Table-driven bad-input corpus across the layer, the data converters, the
loader, the CLI and checkpoint loading: every case must end in ONE readable
error naming what was wrong, and must not leave a partial output file."""
import json
import os
import pathlib
import re
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.pose.__main__ import main as cli
from pyg_wj import DenseWJConv, WJConv

sys.path.insert(0, str(pathlib.Path(__file__).parent / 'models' / 'pose'))
from conftest import make_prepared  # noqa: E402

from models.pose.data.format import save_prepared  # noqa: E402

EDGES = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])

LAYER_CASES = [
    ('x of rank 1', lambda: WJConv(4, 2)(torch.randn(4), torch.randn(4),
                                         EDGES),
     ValueError, r"'x' must have shape .* got shape \[4\]"),
    ('x wrong channels', lambda: WJConv(4, 2)(torch.randn(3, 5),
                                              torch.randn(3, 5), EDGES),
     ValueError, r"'x' must have 4 channels"),
    ('integer x', lambda: WJConv(4, 2)(torch.ones(3, 4, dtype=torch.int32),
                                       torch.randn(3, 4), EDGES),
     TypeError, 'floating-point'),
    ('x_0 leading shape', lambda: WJConv(4, 2)(torch.randn(2, 3, 4),
                                               torch.randn(3, 3, 4), EDGES),
     ValueError, r"'x_0' must have the same leading shape"),
    ('x_0 dtype', lambda: WJConv(4, 2)(torch.randn(3, 4),
                                       torch.randn(3, 4).double(), EDGES),
     TypeError, "'x_0' has dtype torch.float64"),
    ('negative edge index', lambda: WJConv(4, 2)(
        torch.randn(3, 4), torch.randn(3, 4), torch.tensor([[0, -2], [1, 0]])),
     ValueError, r"\[-2, 1\]"),
    ('edge index out of range', lambda: WJConv(4, 2)(
        torch.randn(3, 4), torch.randn(3, 4), torch.tensor([[0, 3], [1, 0]])),
     ValueError, 'the input has 3 nodes'),
    ('float edge index', lambda: WJConv(4, 2)(
        torch.randn(3, 4), torch.randn(3, 4), EDGES.float()),
     TypeError, "'edge_index' must be an integer"),
    ('edge index [3, E]', lambda: WJConv(4, 2)(
        torch.randn(3, 4), torch.randn(3, 4), torch.zeros(3, 4).long()),
     ValueError, r"\[2, num_edges\]"),
    ('edge weight length', lambda: WJConv(4, 2)(
        torch.randn(3, 4), torch.randn(3, 4), EDGES, torch.ones(5)),
     ValueError, r"'edge_weight' must have shape \[4\]"),
    ('node omega on another graph size', lambda: WJConv(4, 2, num_nodes=5)(
        torch.randn(3, 4), torch.randn(3, 4), EDGES),
     ValueError, 'num_nodes=5'),
    ('empty graph for a 17-node layer', lambda: WJConv(
        4, 2, num_nodes=17, modulation=True)(torch.randn(0, 4),
                                             torch.randn(0, 4), EDGES[:, :0]),
     ValueError, "num_nodes=17"),
    ('dense adj of wrong size', lambda: DenseWJConv(4, 2)(
        torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.ones(4, 4)),
     ValueError, r"'adj' must have shape \[3, 3\]"),
    ('alpha out of range', lambda: WJConv(4, 2, alpha=1.5),
     ValueError, r"'alpha' must lie in \[0, 1\]"),
]


@pytest.mark.parametrize('name, call, exc, match', LAYER_CASES,
                         ids=[c[0] for c in LAYER_CASES])
def test_layer_bad_inputs(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.fixture
def files(tmp_path):
    data = tmp_path / 'data.npz'
    save_prepared(data, make_prepared())
    arrays = dict(np.load(data))
    out = {'data': data}

    def variant(name, **changes):
        path = tmp_path / f'{name}.npz'
        np.savez(path, **{**arrays, **changes})
        out[name] = path

    variant('nan', positions_3d=np.where(
        np.arange(arrays['positions_3d'].size).reshape(
            arrays['positions_3d'].shape) == 7, np.nan,
        arrays['positions_3d']).astype(np.float32))
    variant('inf2d', keypoints_2d__gt=np.full_like(arrays['keypoints_2d__gt'],
                                                   np.inf))
    variant('joints16', positions_3d=arrays['positions_3d'][:, :16])
    meta = json.loads(str(arrays['meta']))
    meta['version'] = 99
    variant('version', meta=np.array(json.dumps(meta)))
    (tmp_path / 'truncated.npz').write_bytes(data.read_bytes()[:300])
    out['truncated'] = tmp_path / 'truncated.npz'
    (tmp_path / 'random.npz').write_bytes(os.urandom(2048))
    out['random'] = tmp_path / 'random.npz'
    (tmp_path / 'random.pt').write_bytes(os.urandom(2048))
    out['random_ckpt'] = tmp_path / 'random.pt'
    np.savez(tmp_path / 'kp25.npz', keypoints=np.zeros((5, 25, 2)),
             image_size=np.array([1000, 1000]))
    out['kp25'] = tmp_path / 'kp25.npz'
    np.savez(tmp_path / 'kpnan.npz',
             keypoints=np.full((5, 17, 2), np.nan),
             image_size=np.array([1000, 1000]))
    out['kpnan'] = tmp_path / 'kpnan.npz'
    (tmp_path / 'kp.json').write_text(json.dumps(
        {'image_size': [1000, 1000], 'order': 'openpose',
         'keypoints': [[[1, 2]] * 17]}))
    out['kpjson'] = tmp_path / 'kp.json'
    out['tmp'] = tmp_path
    return out


CLI_CASES = [
    ('train on a missing file', ['train', '--preset', 'tiny', '--data',
                                 '{tmp}/missing.npz', '--out', '{tmp}/o'],
     'does not exist'),
    ('train on NaN 3D', ['train', '--preset', 'tiny', '--data', '{nan}',
                         '--out', '{tmp}/o'], 'NaN or inf'),
    ('train on inf 2D', ['train', '--preset', 'tiny', '--data', '{inf2d}',
                         '--out', '{tmp}/o'], 'NaN or inf'),
    ('train on 16-joint data', ['train', '--preset', 'tiny', '--data',
                                '{joints16}', '--out', '{tmp}/o'],
     r'expected \[75, 17, 3\]'),
    ('train on a newer format', ['train', '--preset', 'tiny', '--data',
                                 '{version}', '--out', '{tmp}/o'],
     'format version 99'),
    ('train on a truncated file', ['train', '--preset', 'tiny', '--data',
                                   '{truncated}', '--out', '{tmp}/o'],
     'not a readable'),
    ('train on random bytes', ['train', '--preset', 'tiny', '--data',
                               '{random}', '--out', '{tmp}/o'],
     'not a readable'),
    ('unknown 2D source', ['train', '--preset', 'tiny', '--data', '{data}',
                           '--source', 'cpn', '--out', '{tmp}/o'],
     "2D source 'cpn'"),
    ('unknown preset', ['train', '--preset', 'paper-t2', '--data', '{data}',
                        '--out', '{tmp}/o'], 'unknown preset'),
    ('evaluate a missing checkpoint', ['evaluate', '--checkpoint',
                                       '{tmp}/none.pt', '--data', '{data}',
                                       '--out', '{tmp}/o'],
     'does not exist'),
    ('evaluate random bytes', ['evaluate', '--checkpoint', '{random_ckpt}',
                               '--data', '{data}', '--out', '{tmp}/o'],
     'not a readable PyTorch file'),
    ('infer on 25 joints', ['infer', '{kp25}', '--checkpoint',
                            '{random_ckpt}', '-o', '{tmp}/out.npz'],
     '25'),
    ('infer on NaN keypoints', ['infer', '{kpnan}', '--checkpoint',
                                '{random_ckpt}', '-o', '{tmp}/out.npz'],
     'NaN|finite'),
    ('infer with an unknown order', ['infer', '{kpjson}', '--checkpoint',
                                     '{random_ckpt}', '-o',
                                     '{tmp}/out.npz'], 'openpose'),
    ('prepare-3dhp from a missing file', ['prepare-3dhp', '--data',
                                          '{tmp}/none.npz', '--out',
                                          '{tmp}/o/3dhp.npz'],
     'does not exist'),
    ('prepare-3dhp from a prepared file', ['prepare-3dhp', '--data',
                                           '{data}', '--out',
                                           '{tmp}/o/3dhp.npz'],
     "lacks the key 'pose2d'"),
    ('prepare-h36m from random bytes', ['prepare-h36m', '--data-3d',
                                        '{random}', '--data-2d', '{random}',
                                        '--out', '{tmp}/o/h36m.npz'],
     'not a readable|pickle|npz'),
]


@pytest.mark.filterwarnings('ignore:reading')
@pytest.mark.parametrize('name, argv, match', CLI_CASES,
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_inputs(name, argv, match, files, capsys):
    argv = [a.format(**files) for a in argv]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('error: ')
    assert re.search(match, err[-1]), err[-1]
    assert 'Traceback' not in '\n'.join(err)
    out = files['tmp'] / 'o'  # nothing partial written
    written = [p for p in out.rglob('*') if p.is_file()] if out.exists() \
        else []
    assert not [p for p in written if p.suffix in ('.npz', '.pt', '.tmp')]
    assert not (files['tmp'] / 'out.npz').exists()


def test_unwritable_output_directory(files, tmp_path, capsys):
    if os.geteuid() == 0:
        target = '/proc/pyg-wj-test/out'  # not writable even for root
    else:
        locked = tmp_path / 'locked'
        locked.mkdir()
        locked.chmod(0o500)
        target = str(locked / 'sub')
    code = cli(['prepare-demo', '--out', f'{target}/demo.npz'])
    assert code == 2
    assert 'error: ' in capsys.readouterr().err


graphs = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(-2, n + 1), st.integers(-2, n + 1)),
                 max_size=30),
        st.integers(1, 5), st.integers(1, 4),
        st.sampled_from(['node', 'channel', 'scalar', 'none']),
        st.booleans(), st.integers(0, 2)))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_random_graphs_give_a_result_or_a_clear_error(case):
    n, edges, f_in, f_out, omega, modulation, batch = case
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    shape = (batch, n, f_in) if batch else (n, f_in)
    x = torch.randn(shape)
    conv = WJConv(f_in, f_out, omega=omega, num_nodes=n,
                  modulation=modulation, dense_max_nodes=6)
    valid = bool(((edge_index >= 0) & (edge_index < n)).all())
    if not valid:
        with pytest.raises(ValueError, match="'edge_index' holds node"):
            conv(x, x, edge_index)
        return
    out = conv(x, x, edge_index)
    assert out.shape == shape[:-1] + (f_out, )
    assert torch.isfinite(out).all()
    dense = DenseWJConv(f_in, f_out, omega=omega, num_nodes=n,
                        modulation=modulation)
    dense.load_state_dict(conv.state_dict())
    adj = torch.zeros(n, n)
    if edge_index.numel():
        adj.index_put_((edge_index[1], edge_index[0]),
                       torch.ones(edge_index.size(1)), accumulate=True)
    torch.testing.assert_close(dense(x, x, adj), out, atol=1e-5, rtol=1e-5)
