"""Table-driven bad-input corpus across the layer, the data converters, the
loader, the CLI and checkpoint loading: every case must end in ONE readable
error naming what was wrong, and must not leave a partial output file."""
import json
import os
import pathlib
import re
import shutil
import struct
import sys
import zipfile

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
from models.pose.deploy.export import export_bytes  # noqa: E402
from models.pose.nn.checkpoint import (  # noqa: E402
    load_for_inference,
    state_digest,
)
from models.pose.nn.config import ModelConfig, preset_config  # noqa: E402
from models.pose.nn.model import MLPGraphWJ  # noqa: E402
from models.pose.train.loop import TrainConfig, train  # noqa: E402

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
    (tmp_path / 'bom.json').write_bytes(b'\xef\xbb\xbf' + json.dumps(
        {'image_size': [1000, 1000], 'keypoints': [[[500, 500]] * 17] * 5}
    ).encode())  # a valid file, with a UTF-8 byte-order mark
    out['kpbom'] = tmp_path / 'bom.json'
    (tmp_path / 'deep.json').write_text('[' * 100000 + ']' * 100000)
    out['kpdeep'] = tmp_path / 'deep.json'
    (tmp_path / 'a_dir').mkdir()
    out['dir'] = tmp_path / 'a_dir'
    _special_and_hostile_files(tmp_path, out)
    (tmp_path / 'a_file').write_text('not a directory')
    out['file'] = tmp_path / 'a_file'

    resolution = arrays['camera_resolution']
    variant('res0', camera_resolution=np.where(
        np.arange(resolution.size).reshape(resolution.shape) == 3, 0,
        resolution).astype(np.int32))
    variant('resneg', camera_resolution=-resolution)
    variant('rot0', camera_R=np.zeros_like(arrays['camera_R']))
    variant('mirror', camera_R=-arrays['camera_R'])  # det -1
    focal = arrays['camera_intrinsics'].copy()
    focal[0, 0, 0] = 0
    variant('focal0', camera_intrinsics=focal)

    def meta_variant(name, change):
        m = json.loads(str(arrays['meta']))
        m = change(m) or m
        variant(name, meta=np.array(m if isinstance(m, str)
                                    else json.dumps(m)))

    meta_variant('overlap', lambda m: m.update(
        train_subjects=['S1', 'S5', 'S9']))
    meta_variant('fps_str', lambda m: m.update(fps='50'))
    meta_variant('seq_dict', lambda m: m.update(sequences={'a': 1}))
    meta_variant('meta_list', lambda m: [m])
    meta_variant('meta_deep', lambda m: '[' * 100000 + ']' * 100000)
    meta_variant('subjects_str', lambda m: m.update(train_subjects='S1'))
    meta_variant('length_str', lambda m: m['sequences'][0].update(
        length='30'))
    meta_variant('absent_subject', lambda m: m.update(
        train_subjects=['S1', 'S5', 'S7']))
    other = make_prepared(seed=1)
    save_prepared(tmp_path / 'other.npz', other)
    out['other'] = tmp_path / 'other.npz'
    out['tmp'] = tmp_path
    return out


def _keypoint_json(tmp_path, out, name, text):
    (tmp_path / f'{name}.json').write_text(text)
    out[name] = tmp_path / f'{name}.json'


def _special_and_hostile_files(tmp_path, out):
    """A FIFO, a VideoPose3D-like 3D file and hostile keypoint files."""
    os.mkfifo(tmp_path / 'a_fifo')  # would block whoever opens it
    out['fifo'] = tmp_path / 'a_fifo'
    np.savez(tmp_path / 'h36m_3d.npz', positions_3d=np.array(
        {'S1': {'Walk': np.zeros((5, 32, 3))}}, dtype=object))
    out['h36m_3d'] = tmp_path / 'h36m_3d.npz'
    _keypoint_files(tmp_path, out)


def _keypoint_files(tmp_path, out):
    """Hostile keypoint files: JSON values that are not numbers, numbers
    beyond any image or a float, complex arrays, an empty file."""
    def doc(first, size='[1000, 1000]'):
        return ('{"image_size": %s, "keypoints": [[[%s, 1]%s]]}'
                % (size, first, ', [1, 1]' * 16))

    _keypoint_json(tmp_path, out, 'kp_bigint', doc('1' + '0' * 400))
    _keypoint_json(tmp_path, out, 'kp_huge', doc('5e302'))
    _keypoint_json(tmp_path, out, 'kp_bool', doc('true'))
    _keypoint_json(tmp_path, out, 'kp_string', doc('"500"'))
    _keypoint_json(tmp_path, out, 'kp_null', doc('null'))
    _keypoint_json(tmp_path, out, 'kp_size_bigint',
                   doc('1', '[1%s, 1000]' % ('0' * 400)))
    _keypoint_json(tmp_path, out, 'kp_empty', '')
    np.savez(tmp_path / 'kp_complex.npz',
             keypoints=np.full((5, 17, 2), 500 + 1j),
             image_size=np.array([1000, 1000]))
    out['kp_complex'] = tmp_path / 'kp_complex.npz'


def _onnx_files(tmp, good, out):
    """Exports beside the good checkpoint: of another variant, of other
    weights of the same architecture, and damaged or absent files."""
    model, config = load_for_inference(good)
    data = export_bytes(model)
    gcn = MLPGraphWJ(ModelConfig.from_dict({**config, 'variant': 'gcn'}))
    with torch.no_grad():
        model.head.bias.add_(0.1)  # same architecture, other weights
    files = {'gcn_onnx': export_bytes(gcn.eval()),
             'stale_onnx': export_bytes(model),
             'truncated_onnx': data[:len(data) // 2], 'empty_onnx': b'',
             'random_onnx': np.random.default_rng(0).bytes(4096)}
    for name, content in files.items():
        out[name] = tmp / f'{name}.onnx'
        out[name].write_bytes(content)
    out['missing_onnx'] = tmp / 'missing.onnx'
    out['dir_onnx'] = tmp / 'a_dir.onnx'
    out['dir_onnx'].mkdir()


def _rewrite(src, dst, change):
    """A copy of checkpoint ``src`` with ``change`` applied and a correct
    digest: only the damage under test is left to find."""
    state = torch.load(src, weights_only=True)
    change(state)
    state['digest'] = state_digest(state)
    torch.save(state, dst)


def _flip_a_tensor_byte(src, dst):
    data = bytearray(pathlib.Path(src).read_bytes())
    with zipfile.ZipFile(src) as archive:
        info = max((i for i in archive.infolist() if '/data/' in i.filename),
                   key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack(
        '<HH', data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x10
    pathlib.Path(dst).write_bytes(data)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """One short tiny run (on the same data as ``files``) and damaged
    copies of its checkpoint."""
    tmp = tmp_path_factory.mktemp('ckpts')
    data = tmp / 'data.npz'
    save_prepared(data, make_prepared())
    run = tmp / 'run'
    train(preset_config('tiny'), TrainConfig(epochs=1, batch_size=16, seed=3,
                                             max_steps_per_epoch=2),
          data, run, progress=False)
    good = run / 'last.pt'
    out = {'run': run, 'good_ckpt': good}

    def variant(name, change):
        out[name] = tmp / f'{name}.pt'
        _rewrite(good, out[name], change)

    def set_weight(key, value):
        return lambda s: s['model'].__setitem__(key, value(s['model'][key]))

    variant('nan_ckpt', set_weight('head.weight',
                                   lambda w: w * float('nan')))
    variant('int_ckpt', set_weight('head.weight',
                                   lambda w: w.round().long()))
    variant('negvar_ckpt', set_weight('blocks.0.graph_mixing.bn1.running_var',
                                      lambda v: -v))
    variant('huge_ckpt', lambda s: s['model_config'].update(layers=10 ** 9))
    variant('shape_ckpt', set_weight('head.weight', lambda w: w[:, :-1]))
    variant('missing_ckpt', lambda s: s['model'].pop('head.bias'))
    variant('overflow_ckpt', set_weight('embedding.weight',
                                        lambda w: w.sign() * 3e38))
    variant('no_optimizer_ckpt', lambda s: s.pop('optimizer'))
    variant('epoch_str_ckpt', lambda s: s.update(epoch='1'))
    variant('bad_optimizer_ckpt', lambda s: s['optimizer'].update(
        param_groups=[]))
    out['flipped_ckpt'] = tmp / 'flipped.pt'
    _flip_a_tensor_byte(good, out['flipped_ckpt'])
    _onnx_files(tmp, good, out)
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
    # NaN marks a missing joint; a file with nothing seen is refused
    ('infer on NaN keypoints', ['infer', '{kpnan}', '--checkpoint',
                                '{good_ckpt}', '-o', '{tmp}/out.npz'],
     r'kpnan.npz: no person with a joint at confidence >= 0.3 in 5 '
     r'frame\(s\)'),
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

TRAIN = ['train', '--preset', 'tiny', '--data', '{data}', '--out', '{tmp}/o',
         '--no-progress']
RESUME = ['train', '--preset', 'tiny', '--data', '{data}', '--out',
          '{tmp}/r', '--batch-size', '16', '--no-progress', '--resume']


def _data(name):
    return ['train', '--preset', 'tiny', '--data', '{%s}' % name, '--out',
            '{tmp}/o', '--no-progress']


def _resume_from(ckpt):
    """--resume of the run in {tmp}/r after its last.pt became ``ckpt``."""
    return RESUME + ['--use-last', '{%s}' % ckpt]


def _evaluate(ckpt, *extra):
    return ['evaluate', '--checkpoint', '{%s}' % ckpt, '--data', '{data}',
            '--out', '{tmp}/o', '--no-pictures', *extra]


CLI_CASES += [
    # numeric flags: every value no run can use is an error, never a default
    ('--epochs 0', TRAIN + ['--epochs', '0'],
     r'--epochs \(epochs\) must be an integer >= 1, got 0'),
    ('--batch-size 0', TRAIN + ['--batch-size', '0'],
     r'--batch-size \(batch_size\) must be an integer >= 1, got 0'),
    ('--batch-size -8', TRAIN + ['--batch-size', '-8'], r'got -8'),
    ('--max-steps-per-epoch -1', TRAIN + ['--max-steps-per-epoch', '-1'],
     r'--max-steps-per-epoch .* >= 0, got -1'),
    ('--save-every-steps -1', TRAIN + ['--save-every-steps', '-1'],
     r'--save-every-steps .* got -1'),
    ('--stride 0', TRAIN + ['--stride', '0'], r'--stride .* got 0'),
    ('--seed -1', TRAIN + ['--seed', '-1'], r'--seed .* >= 0, got -1'),
    ('--lr 0', TRAIN + ['--lr', '0'], r'--lr \(lr\) must be a finite '
     r'number > 0, got 0.0'),
    ('--lr nan', TRAIN + ['--lr', 'nan'], r'--lr .* got nan'),
    ('--lambda 2', TRAIN + ['--lambda', '2'],
     r'--lambda \(lam\) must be a number in \[0, 1\], got 2.0'),
    ('--threads -1', TRAIN + ['--threads', '-1'],
     r'--threads must be >= 0 .* got -1'),
    ('--dropout 1.5', TRAIN + ['--dropout', '1.5'],
     r'--dropout must lie in \[0, 1\), got 1.5'),
    ('--ddp-timeout 0', TRAIN + ['--ddp-timeout', '0'],
     r'--ddp-timeout must be a positive number'),
    ('a batch larger than the training windows',
     TRAIN + ['--batch-size', '1000'],
     r'--batch-size 1000 is larger than the 220 training windows'),
    ('--resume with --overwrite', TRAIN + ['--resume', '--overwrite'],
     'contradict'),
    # run directories and OS errors
    ('--out naming a file', _data('data')[:-2] + ['{file}', '--no-progress'],
     r'--out .*a_file: .*a_file is an existing file, not a directory'),
    ('--out under a file', _data('data')[:-2] + ['{file}/run',
                                                  '--no-progress'],
     r'a_file is a file, so .*a_file/run cannot be created under it'),
    ('train into a finished run', RESUME[:-1],
     r'--out .*r is not empty \(it holds .*last.pt.*\); refusing to '
     r'overwrite it: give --resume .* --overwrite'),
    ('evaluate --out naming a file',
     _evaluate('good_ckpt')[:-2] + ['{file}', '--no-pictures'],
     r'--out .*a_file is an existing file'),
    ('evaluate a directory as the checkpoint', _evaluate('dir'),
     r'checkpoint .*a_dir is a directory, not a checkpoint file'),
    ('evaluate on a directory as the data',
     ['evaluate', '--checkpoint', '{good_ckpt}', '--data', '{dir}', '--out',
      '{tmp}/o', '--no-pictures'], r'a_dir: is a directory'),
    ('train on a directory as the data', _data('dir'),
     r'a_dir: is a directory'),
    # damaged checkpoints
    ('evaluate a checkpoint with one flipped byte', _evaluate('flipped_ckpt'),
     r'is corrupt: its content does not match the SHA-256 digest'),
    ('evaluate integer weights', _evaluate('int_ckpt'),
     r"tensor 'head.weight' has dtype torch.int64, expected torch.float32"),
    ('evaluate NaN weights', _evaluate('nan_ckpt'),
     r"'model.head.weight' holds NaN or inf"),
    ('evaluate a negative BatchNorm variance', _evaluate('negvar_ckpt'),
     r"running variance 'blocks.0.graph_mixing.bn1.running_var' has "
     r"negative entries"),
    ('evaluate a config asking for 10^9 layers', _evaluate('huge_ckpt'),
     r"'layers' is 1000000000, expected 1 to 64"),
    ('evaluate a tensor of the wrong shape', _evaluate('shape_ckpt'),
     r"tensor 'head.weight' has shape \[3, 31\], expected \[3, 32\]"),
    ('evaluate a checkpoint missing a tensor', _evaluate('missing_ckpt'),
     r"missing 'head.bias'"),
    ('evaluate weights whose activations overflow',
     _evaluate('overflow_ckpt'), r'produced NaN or inf for \d+ of 80 poses'),
    # resume
    ('resume on other data', RESUME[:4] + ['{other}'] + RESUME[5:],
     r'--resume: .*last.pt was trained on other data .* than --data '
     r'.*other.npz'),
    ('resume without the optimizer', _resume_from('no_optimizer_ckpt'),
     r"cannot be resumed: it lacks the key 'optimizer'"),
    ('resume with a string epoch', _resume_from('epoch_str_ckpt'),
     r"key 'epoch' is a str, expected int"),
    ('resume an optimizer of another model',
     _resume_from('bad_optimizer_ckpt'),
     r"key 'optimizer' does not fit this model"),
    ('resume NaN weights', _resume_from('nan_ckpt'),
     r"'model.head.weight' holds NaN or inf .* cannot be evaluated or "
     r"resumed"),
    ('resume a run with best.pt but no last.pt',
     _resume_from('good_ckpt') + ['--drop-last'],
     r'holds best.pt, log.csv but no last.pt to resume from'),
    # prepared data: camera geometry, meta schema, splits
    ('a resolution of 0', _data('res0'),
     r"'camera_resolution' \[0, 1\] is \[1000, 0\], expected a positive"),
    ('negative resolutions', _data('resneg'),
     r"'camera_resolution' \[0, 0\] is \[-1000, -1002\]"),
    ('all-zero rotations', _data('rot0'),
     r"'camera_R' \[0, 0\] is not a rotation"),
    ('mirrored rotations (det -1)', _data('mirror'),
     r"'camera_R' \[0, 0\] is not a rotation .* det -1"),
    ('a focal length of 0', _data('focal0'),
     r"'camera_intrinsics' \[0, 0\] has focal lengths \[0.0, "),
    ('train subjects = test subjects', _data('overlap'),
     r"subjects \['S9'\] are both training and test subjects"),
    ('meta fps a string', _data('fps_str'),
     r"meta 'fps' must be a positive number, got '50'"),
    ('meta sequences an object', _data('seq_dict'),
     r"meta 'sequences' must be a list, got a dict"),
    ('meta a list', _data('meta_list'),
     r"key 'meta' must be a JSON object, got a list"),
    ('meta nested 100000 deep', _data('meta_deep'),
     r"key 'meta' is JSON nested too deeply"),
    ('meta train_subjects a string', _data('subjects_str'),
     r"meta 'train_subjects' must be a list of strings, got 'S1'"),
    ('meta sequence length a string', _data('length_str'),
     r"meta sequence 0: 'length' must be an integer >= 1, got '30'"),
    ('meta naming an absent subject', _data('absent_subject'),
     r"meta 'train_subjects' names \['S7'\], which no sequence has"),
    # keypoint files
    ('infer on JSON nested 100000 deep', ['infer', '{kpdeep}',
                                          '--checkpoint', '{good_ckpt}', '-o',
                                          '{tmp}/out.npz'],
     'nested too deeply'),
    ('infer on a directory', ['infer', '{dir}', '--checkpoint',
                              '{good_ckpt}', '-o', '{tmp}/out.npz'],
     r"a_dir: a directory without \*_keypoints.json files; expected "
     r"OpenPose's --write_json directory"),
    ('infer with a directory as the checkpoint',
     ['infer', '{kpbom}', '--checkpoint', '{dir}', '-o', '{tmp}/out.npz'],
     r'checkpoint .*a_dir is a directory, not a checkpoint file'),
]


def _infer(keypoints, *extra, ckpt='good_ckpt'):
    return ['infer', '{%s}' % keypoints, '--checkpoint', '{%s}' % ckpt,
            '-o', '{tmp}/out.npz', *extra]


def _onnx(onnx):
    return _infer('kpbom', '--onnx', '{%s}' % onnx)


EXPORT = ['export', '--checkpoint', '{good_ckpt}', '--out', '{tmp}/o/m.onnx']
NOT_REGULAR = r'is a %s, not a regular file; expected a checkpoint file'
NOT_NUMBER = r"expected \[F, 17, 2\] pixel coordinates \(numbers\)"
NOT_ONNX = (r"is not a readable ONNX model \(truncated, empty or another "
            r"kind of file; ONNX Runtime: ")

CLI_CASES += [
    # --onnx: a file of another checkpoint, or no ONNX file at all
    ('infer --onnx of another variant', _onnx('gcn_onnx'),
     r"gcn_onnx.onnx was exported from another model than the checkpoint: "
     r"variant='gcn' \(the checkpoint's: 'wj'\); export the checkpoint "
     r"again"),
    ('evaluate --onnx of another variant',
     _evaluate('good_ckpt', '--onnx', '{gcn_onnx}'),
     r"variant='gcn' \(the checkpoint's: 'wj'\)"),
    ('infer --onnx of other weights', _onnx('stale_onnx'),
     r"stale_onnx.onnx was exported from other weights than the "
     r"checkpoint's \(weights SHA-256 [0-9a-f]{12}\.\.\. in the file"),
    ('evaluate --onnx of other weights',
     _evaluate('good_ckpt', '--onnx', '{stale_onnx}'),
     r"exported from other weights than the checkpoint's"),
    ('--onnx truncated', _onnx('truncated_onnx'), NOT_ONNX),
    ('--onnx empty', _onnx('empty_onnx'), NOT_ONNX),
    ('--onnx random bytes', _onnx('random_onnx'), NOT_ONNX),
    ('evaluate --onnx random bytes',
     _evaluate('good_ckpt', '--onnx', '{random_onnx}'), NOT_ONNX),
    ('--onnx missing', _onnx('missing_onnx'),
     r"--onnx .*missing.onnx does not exist; expected an .onnx file "
     r"written by 'python -m models.pose export'"),
    ('--onnx a directory', _onnx('dir_onnx'),
     r"--onnx .*a_dir.onnx is a directory, not a regular file"),
    # export --opset outside what the exporter writes
    ('export --opset 0', EXPORT + ['--opset', '0'],
     r"--opset 0: the installed exporter .* writes this model at opsets 13 "
     r"to \d+; give one in that range \(default 17\)"),
    ('export --opset 99', EXPORT + ['--opset', '99'], r"--opset 99: .*13 to"),
    ('export --opset -1', EXPORT + ['--opset', '-1'], r"--opset -1: .*13 to"),
    # devices the model cannot run on
    ('infer --device meta', _infer('kpbom', '--device', 'meta'),
     r"--device 'meta' is a device that cannot run the model; accepted "
     r"here: cpu"),
    ('infer --device cuda:7', _infer('kpbom', '--device', 'cuda:7'),
     r"--device 'cuda:7' is not available here; accepted here: cpu"),
    ('infer --device nonsense', _infer('kpbom', '--device', 'gpu0'),
     r"--device 'gpu0' is an unknown device; accepted here: cpu"),
    # checkpoints and data that are not regular files
    ('infer with /dev/zero as the checkpoint',
     ['infer', '{kpbom}', '--checkpoint', '/dev/zero', '-o',
      '{tmp}/out.npz'], NOT_REGULAR % 'character device'),
    ('evaluate a FIFO as the checkpoint', _evaluate('fifo'),
     NOT_REGULAR % r'named pipe \(FIFO\)'),
    ('export /dev/zero as the checkpoint',
     ['export', '--checkpoint', '/dev/zero', '--out', '{tmp}/o/m.onnx'],
     NOT_REGULAR % 'character device'),
    ('evaluate on /dev/zero as the data',
     ['evaluate', '--checkpoint', '{good_ckpt}', '--data', '/dev/zero',
      '--out', '{tmp}/o', '--no-pictures'],
     r"--data /dev/zero is a character device, not a regular file; "
     r"expected a prepared .npz"),
    ('evaluate --stride 0', _evaluate('good_ckpt', '--stride', '0'),
     r"--stride must be an integer >= 1 .*, got 0"),
    ('prepare-h36m with a prepared file as --data-3d',
     ['prepare-h36m', '--data-3d', '{data}', '--data-2d', '{data}',
      '--out', '{tmp}/o/h36m.npz'],
     r"--data-3d .*data.npz: 'positions_3d' is a float32 array of shape "
     r"\[75, 17, 3\], not a pickled dict; expected VideoPose3D's "
     r"data_3d_h36m.npz .* It looks like a prepared file"),
    ('prepare-h36m from a FIFO',
     ['prepare-h36m', '--data-3d', '{fifo}', '--data-2d', '{data}',
      '--out', '{tmp}/o/h36m.npz'],
     r"--data-3d .*a_fifo is not a regular file; expected VideoPose3D's"),
    ('prepare-h36m with a prepared file as --data-2d',
     ['prepare-h36m', '--data-3d', '{h36m_3d}', '--data-2d', '{data}',
      '--out', '{tmp}/o/h36m.npz'],
     r"--data-2d .*data.npz lacks the key 'positions_2d' .* It looks like a "
     r"prepared file"),
    ('prepare-h36m with a FIFO as --cameras',
     ['prepare-h36m', '--data-3d', '{h36m_3d}', '--data-2d', '{data}',
      '--out', '{tmp}/o/h36m.npz', '--cameras', '{fifo}'],
     r"--cameras .*a_fifo is a named pipe \(FIFO\), not a regular file; "
     r"expected h36m_cameras.json"),
    ('prepare-3dhp from /dev/zero',
     ['prepare-3dhp', '--data', '/dev/zero', '--out', '{tmp}/o/3dhp.npz'],
     r"--data /dev/zero is a character device, not a regular file; "
     r"expected the MPI-INF-3DHP test npz"),
    ('prepare-3dhp --image-size 0 0',
     ['prepare-3dhp', '--data', '{data}', '--out', '{tmp}/o/3dhp.npz',
      '--image-size', '0', '0'],
     r"--image-size must be two positive integers W H .*, got 0 0"),
    ('prepare-demo --noise-px -1',
     ['prepare-demo', '--out', '{tmp}/o/demo.npz', '--noise-px', '-1'],
     r"--noise-px must be a finite number >= 0 .*, got -1.0"),
    ('prepare-demo --noise-px nan',
     ['prepare-demo', '--out', '{tmp}/o/demo.npz', '--noise-px', 'nan'],
     r"--noise-px must be .*, got nan"),
    ('prepare-demo --seed -1',
     ['prepare-demo', '--out', '{tmp}/o/demo.npz', '--seed', '-1'],
     r"--seed must be an integer >= 0, got -1"),
    # keypoint files
    ('infer on a FIFO', _infer('fifo'),
     r"keypoint file .*a_fifo is a named pipe \(FIFO\), not a regular "
     r"file"),
    # the detector readers (models.pose.infer.formats) name the file and
    # the key; a JSON null is a missing joint, filled where the track has
    # it elsewhere (here, one frame: nothing to fill from)
    ('infer on an integer too large for a float', _infer('kp_bigint'),
     r"kp_bigint.json: 'keypoints', frame 0, joint 0 \(pelvis\), x: "
     r"'keypoints' holds an integer too large for a float \(401 digits\); "
     r"expected numbers within \+-1e\+06"),
    ('infer on coordinates near 1e302', _infer('kp_huge'),
     r"kp_huge.json: frame 0, joint 0 \(pelvis\): x, y, confidence = "
     r"\[5e\+302, 1.0\], 1.0; expected finite pixels within \+-1e\+06"),
    ('infer on true as a coordinate', _infer('kp_bool'),
     r"kp_bool.json: 'keypoints', frame 0, joint 0 \(pelvis\), x: "
     r"'keypoints' holds true/false; expected numbers"),
    ('infer on "500" as a coordinate', _infer('kp_string'),
     r"kp_string.json: 'keypoints', frame 0, joint 0 \(pelvis\), x: "
     r"'keypoints' holds text \(a JSON string\) \"500\"; expected numbers"),
    ('infer on null as a coordinate', _infer('kp_null'),
     r"track 0 \(frames 0-0\): joint\(s\) pelvis never reach confidence "
     r"0.3; expected each joint seen at least once"),
    ('infer on an image size too large for a float',
     _infer('kp_size_bigint'),
     r"kp_size_bigint.json: 'image_size', item \[0\]: the image size holds "
     r"an integer too large for a float \(401 digits\); expected numbers "
     r"within \+-1e\+06"),
    ('infer on an empty JSON file', _infer('kp_empty'),
     r"kp_empty.json: the file is empty; expected a JSON text"),
    ('infer on complex keypoints', _infer('kp_complex'),
     r"kp_complex.npz: 'keypoints': 'keypoints' holds complex numbers; "
     r"expected real numbers"),
]


@pytest.mark.filterwarnings('ignore:reading')
@pytest.mark.parametrize('name, argv, match', CLI_CASES,
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_inputs(name, argv, match, files, ckpts, capsys):
    names = {**files, **ckpts}
    argv = [a.format(**names) for a in argv]
    run = files['tmp'] / 'r'  # a finished short run, resumed by some cases
    shutil.copytree(ckpts['run'], run)
    if '--use-last' in argv:  # its last.pt replaced by a damaged one
        i = argv.index('--use-last')
        shutil.copyfile(argv[i + 1], run / 'last.pt')
        del argv[i:i + 2]
    if '--drop-last' in argv:
        argv.remove('--drop-last')
        (run / 'last.pt').unlink()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
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
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # a refused run leaves the old one as it was


def test_unwritable_output_directory(files, tmp_path, capsys):
    # A directory under a regular file cannot be created, by root either
    # (chmod does not stop root); the exact message rules out a pass for
    # another reason.
    blocker = tmp_path / 'blocker'
    blocker.write_text('x')
    target = blocker / 'sub' / 'demo.npz'
    code = cli(['prepare-demo', '--out', str(target)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'error: --out {target}: {blocker} is a file, so '
        f'{blocker / "sub"} cannot be created under it')


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


# Output paths (issue 24): an output is never an input, never inside a run
# directory another process holds, has the suffix of what is written, and
# is never reached through a symbolic link; a refusal leaves every file as
# it was. {run} is a run directory that another process holds ({pid}).
def _output_world(tmp, run, ckpt):
    """The files the OUTPUT_CASES point at."""
    shutil.copyfile(ckpt, tmp / 'model.pt')
    shutil.copyfile(ckpt, tmp / 'ckpt.onnx')  # a checkpoint, misnamed
    os.link(tmp / 'model.pt', tmp / 'hard.onnx')  # the same file
    save_prepared(tmp / 'data.npz', make_prepared())
    for name in ('d3.npz', 'd2.npz', 'd2b.npz'):
        (tmp / name).write_bytes(os.urandom(512))
    rng = np.random.default_rng(0)  # a readable 3DHP test npz
    np.savez(tmp / 'test3dhp.npz', pose2d=rng.uniform(0, 900, (8, 17, 2)),
             pose3d=rng.normal(0, 300, (8, 17, 3)) + [0, 0, 4000],
             image_size=np.array([1000, 1000]))
    (tmp / 'link.onnx').symlink_to(tmp / 'data.npz')
    shutil.copyfile(ckpt, run / 'last.pt')  # a training still running
    (run / 'log.csv').write_text('epoch,loss\n1,0.5\n')
    (tmp / 'ev').mkdir()
    (tmp / 'ev' / 'metrics.json').write_text('{"old": true}\n')
    (tmp / 'ev' / 'pose_worst.png').symlink_to(tmp / 'data.npz')
    (tmp / 'ev2').mkdir()
    (tmp / 'ev2' / 'metrics.json').symlink_to(tmp / 'data.npz')
    (tmp / 'kp.json').write_text(json.dumps(
        {'image_size': [1000, 1000], 'keypoints': [[[500, 400]] * 17] * 3}))
    os.link(tmp / 'model.pt', tmp / 'hard.npz')  # the checkpoint again
    (tmp / 'link.npz').symlink_to(tmp / 'data.npz')


def _tree(root):
    """Every entry under ``root``: its bytes, link target or 'dir'."""
    return {str(p.relative_to(root)): (
        ('link', os.readlink(p)) if p.is_symlink() else
        p.read_bytes() if p.is_file() else 'dir')
        for p in sorted(root.rglob('*'))}


_EXPORT = ['export', '--skip-parity', '--checkpoint']
_H36M = ['prepare-h36m', '--data-3d', '{tmp}/d3.npz', '--data-2d',
         '{tmp}/d2.npz', '{tmp}/d2b.npz', '--out']
_EVAL = ['evaluate', '--no-pictures', '--data', '{tmp}/data.npz',
         '--checkpoint']

_INFER = ['infer', '{tmp}/kp.json', '--checkpoint', '{tmp}/model.pt', '-o']
OUTPUT_CASES = [
    ('export --out the checkpoint itself',
     _EXPORT + ['{tmp}/ckpt.onnx', '--out', '{tmp}/ckpt.onnx'], '--out',
     r'ckpt.onnx is the same file as --checkpoint .*ckpt.onnx; writing it '
     r'would destroy the input: give another --out'),
    ('export --out a hard link to the checkpoint',
     _EXPORT + ['{tmp}/model.pt', '--out', '{tmp}/hard.onnx'], '--out',
     r'hard.onnx is the same file as --checkpoint .*model.pt'),
    ('export --out the checkpoint it reads',
     _EXPORT + ['{tmp}/model.pt', '--out', '{tmp}/model.pt'], '--out',
     r'model.pt: the file name must end in .onnx; give a name such as '
     r'model.onnx'),
    ('export --out the last.pt of a running training',
     _EXPORT + ['{tmp}/model.pt', '--out', '{run}/last.pt'], '--out',
     r'last.pt: the file name must end in .onnx'),
    ('export --out into a running training',
     _EXPORT + ['{tmp}/model.pt', '--out', '{run}/m.onnx'], '--out',
     r'm.onnx is inside .*run, a run directory in use by another run '
     r'\(process {pid} holds .*\.lock\)'),
    ('export --out a prepared data file',
     _EXPORT + ['{tmp}/model.pt', '--out', '{tmp}/data.npz'], '--out',
     r'data.npz: the file name must end in .onnx'),
    ('export --out a symbolic link',
     _EXPORT + ['{tmp}/model.pt', '--out', '{tmp}/link.onnx'], '--out',
     r'link.onnx is a symbolic link \(to .*data.npz\); refusing'),
    ('prepare-h36m --out its --data-3d', _H36M + ['{tmp}/d3.npz'], '--out',
     r'd3.npz is the same file as --data-3d .*d3.npz'),
    ('prepare-h36m --out its second --data-2d', _H36M + ['{tmp}/d2b.npz'],
     '--out', r'd2b.npz is the same file as --data-2d .*d2b.npz'),
    ('prepare-h36m --out a checkpoint', _H36M + ['{tmp}/model.pt'], '--out',
     r'must end in .npz; give a name such as model.npz'),
    ('prepare-3dhp --out its --data',
     ['prepare-3dhp', '--data', '{tmp}/test3dhp.npz', '--out',
      '{tmp}/test3dhp.npz'], '--out',
     r'test3dhp.npz is the same file as --data .*test3dhp.npz'),
    ('prepare-3dhp --out a checkpoint',
     ['prepare-3dhp', '--data', '{tmp}/test3dhp.npz', '--out',
      '{tmp}/model.pt'], '--out',
     r'model.pt: the file name must end in .npz'),
    ('prepare-demo --out a checkpoint',
     ['prepare-demo', '--out', '{tmp}/model.pt'], '--out',
     r'model.pt: the file name must end in .npz'),
    ('prepare-demo --out into a running training',
     ['prepare-demo', '--out', '{run}/demo.npz'], '--out',
     r'in use by another run \(process {pid} holds'),
    ('evaluate the last.pt of a running training (--out its directory)',
     _EVAL + ['{run}/last.pt'], '--out',
     r'--out .*run is inside .*run, a run directory in use by another run '
     r'\(process {pid} holds .*\.lock\); wait for it to end'),
    ('evaluate --out a running training',
     _EVAL + ['{tmp}/model.pt', '--out', '{run}'], '--out',
     r'in use by another run \(process {pid}'),
    ('evaluate --out whose metrics.json is a symbolic link',
     _EVAL + ['{tmp}/model.pt', '--out', '{tmp}/ev2'], '--out',
     r'ev2/metrics.json is a symbolic link'),
    ('infer -o a hard link to the checkpoint', _INFER + ['{tmp}/hard.npz'],
     '--output', r'hard.npz is the same file as --checkpoint .*model.pt'),
    ('infer -o into a running training', _INFER + ['{run}/poses.npz'],
     '--output', r'in use by another run \(process {pid} holds'),
    ('infer -o a symbolic link', _INFER + ['{tmp}/link.npz'], '--output',
     r'link.npz is a symbolic link \(to .*data.npz\); refusing'),
    ('evaluate --out whose picture is a symbolic link (checked before '
     'metrics.json is written)',
     _EVAL[:1] + _EVAL[2:] + ['{tmp}/model.pt', '--out', '{tmp}/ev'],
     '--out', r'ev/pose_worst.png is a symbolic link'),
]


@pytest.mark.parametrize('name, argv, argument, match', OUTPUT_CASES,
                         ids=[c[0] for c in OUTPUT_CASES])
def test_cli_refused_outputs(name, argv, argument, match, held_run, ckpts,
                             capsys):
    run, pid = held_run
    tmp = run.parent
    _output_world(tmp, run, ckpts['good_ckpt'])
    before = _tree(tmp)
    argv = [a.format(tmp=tmp, run=run) for a in argv]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith('error: ')]
    assert len(errors) == 1 and errors == err[-1:], err
    assert errors[0].startswith(f'error: {argument} '), errors[0]
    assert re.search(match.replace('{pid}', str(pid)), errors[0]), errors[0]
    assert _tree(tmp) == before  # nothing written, replaced or removed
