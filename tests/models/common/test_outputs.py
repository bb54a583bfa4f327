"""Output-path rules: table-driven bad outputs, each refused with one line
naming the option, and never a file touched."""
import os
import re

import pytest

from models.common.files import RunDirectoryLock
from models.common.outputs import (
    OutputRefused,
    check_output,
    check_output_directory,
    check_outputs,
)


@pytest.fixture
def place(tmp_path):
    """An input, a file in the way, a directory, links to both, a hard
    link to the input, and a run directory with a symlinked subdirectory:
    a dict of their paths, with ``tmp`` the directory itself."""
    (tmp_path / 'ckpt.pt').write_bytes(b'weights')
    (tmp_path / 'a_file').write_text('not a directory')
    (tmp_path / 'a_dir').mkdir()
    (tmp_path / 'link.onnx').symlink_to(tmp_path / 'ckpt.pt')
    os.link(tmp_path / 'ckpt.pt', tmp_path / 'hard.onnx')
    (tmp_path / 'ckpt_link.pt').symlink_to(tmp_path / 'ckpt.pt')
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'eval').symlink_to(tmp_path / 'a_dir')
    names = ['ckpt.pt', 'a_file', 'a_dir', 'link.onnx', 'hard.onnx',
             'ckpt_link.pt', 'run']
    return {'tmp': tmp_path, **{n.split('.')[0]: tmp_path / n
                                for n in names}}


CASES = [
    ('wrong suffix', '{tmp}/model.pt', {},
     ValueError, r"^--out .*model.pt: the file name must end in \.onnx; "
     r"give a name such as model\.onnx$"),
    ('a directory', '{a_dir}', {}, IsADirectoryError,
     r'^--out .*a_dir is a directory; give a file name ending in \.onnx$'),
    ('a symbolic link', '{link}', {}, OutputRefused,
     r'^--out .*link.onnx is a symbolic link \(to .*ckpt.pt\); refusing '
     r'to write through or over it'),
    ('a character device', '/dev/null', {}, OutputRefused,
     r'^--out /dev/null is not a regular file'),
    ('under a file', '{a_file}/model.onnx', {}, NotADirectoryError,
     r'^--out .*a_file/model.onnx: .*a_file is an existing file, not a '
     r'directory$'),
    ('deep under a file', '{a_file}/x/model.onnx', {}, NotADirectoryError,
     r'a_file is a file, so .*a_file/x cannot be created under it$'),
    ('a missing parent, not to be created', '{tmp}/none/model.onnx',
     {'create_parents': False}, FileNotFoundError,
     r'^--out .*model.onnx: directory .*none does not exist; create it '
     r'first or give another --out$'),
    ('the input itself', '{ckpt}', {'suffixes': ('.pt', )}, OutputRefused,
     r'^--out .*ckpt.pt is the same file as --checkpoint .*ckpt.pt; '
     r'writing it would destroy the input: give another --out$'),
    ('a hard link to the input', '{hard}', {}, OutputRefused,
     r'hard.onnx is the same file as --checkpoint'),
    ('the target of a symlinked input', '{ckpt}',
     {'suffixes': ('.pt', ), 'inputs': {'--checkpoint': '{ckpt_link}'}},
     OutputRefused, r'ckpt.pt is the same file as --checkpoint '
     r'.*ckpt_link.pt'),
    ('an existing file, not allowed', '{hard}',
     {'allow_existing': False, 'inputs': {}}, FileExistsError,
     r'^--out .*hard.onnx already exists; refusing to overwrite it: '
     r'remove it or give another --out$'),
    ('through a link inside the run directory', '{run}/eval/m.onnx',
     {'run_directory': '{run}'}, OutputRefused,
     r'^--out .*m.onnx: .*run/eval inside the run directory .*run is a '
     r'symbolic link \(to .*a_dir\); refusing to follow it'),
    ('outside its run directory', '{tmp}/m.onnx',
     {'run_directory': '{run}'}, ValueError,
     r'm.onnx is not inside the run directory'),
]


def _fill(value, place):
    if isinstance(value, str):
        return value.format(**place)
    if isinstance(value, dict):
        return {k: _fill(v, place) for k, v in value.items()}
    return value


def _snapshot(root):
    return {str(p): (p.is_symlink(), p.read_bytes() if p.is_file() and
                     not p.is_symlink() else None)
            for p in sorted(root.rglob('*'))}


@pytest.mark.parametrize('name, path, kwargs, exc, match', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_outputs(name, path, kwargs, exc, match, place):
    options = {'suffixes': ('.onnx', ),
               'inputs': {'--checkpoint': '{ckpt}', '--data': None},
               **kwargs}
    before = _snapshot(place['tmp'])
    with pytest.raises(exc) as info:
        check_output(_fill(path, place), **_fill(options, place))
    message = str(info.value)
    assert '\n' not in message
    assert re.search(match, message), message
    assert _snapshot(place['tmp']) == before


def test_good_outputs_pass(place):
    assert check_output(place['tmp'] / 'new' / 'M.ONNX',
                        suffixes=('.onnx', )) == place['tmp'] / 'new/M.ONNX'
    assert check_output(str(place['hard']), inputs={}) == place['hard']
    assert check_output(place['run'] / 'best.pt',
                        run_directory=place['run'])
    with RunDirectoryLock(place['run']):  # our own lock is no obstacle
        check_output(place['run'] / 'best.pt')


def test_an_unwritable_directory(place, monkeypatch):
    # os.access is what the check asks; denied here so that the case runs
    # as root too (chmod does not stop root)
    locked = place['tmp'] / 'ro'
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, 'access', lambda p, mode: False
                        if os.fspath(p) == os.fspath(locked)
                        else real(p, mode))
    with pytest.raises(PermissionError, match=r'^--out .*ro/x/m.onnx: '
                       r'directory .*ro is not writable; choose a '
                       r'directory you can write to$'):
        check_output(locked / 'x' / 'm.onnx')
    assert not (locked / 'x').exists()


def test_a_file_in_another_processes_run_directory(held_run):
    run, pid = held_run
    for path in (run / 'best.pt', run / 'eval' / 'metrics.json'):
        with pytest.raises(OutputRefused, match=(
                rf'^--out {re.escape(str(path))} is inside .*run, a run '
                rf'directory in use by another run \(process {pid} holds '
                rf'.*run/\.lock\); wait for it to end')):
            check_output(path)
    with pytest.raises(OutputRefused, match=f'process {pid} holds'):
        check_output_directory(run / 'bench')


def test_check_outputs_refuses_before_writing_anything(place):
    out = place['tmp'] / 'poses.npz'
    # the second output is bad: the first is refused unwritten too (a
    # directory under a file is refused to root as well)
    with pytest.raises(NotADirectoryError, match=r'^--animation .*a_file/'):
        check_outputs({'--output': (out, ('.npz', )),
                       '--animation': (place['a_file'] / 'a.gif',
                                       ('.gif', ))})
    assert not out.exists()
    with pytest.raises(ValueError, match=r'^--animation .*poses.npz is the '
                       r'same file as --output .*poses.npz; give them '
                       r'different names$'):
        check_outputs({'--output': (out, ('.npz', )),
                       '--animation': (out, ('.npz', ))})
    checked = check_outputs({'--output': (out, ('.npz', )),
                             '--animation': (None, ('.gif', ))},
                            inputs={'input': place['ckpt']})
    assert checked == {'--output': out}


DIRECTORY_CASES = [
    ('an existing file', '{a_file}', NotADirectoryError,
     r'^--out .*a_file: .*a_file is an existing file, not a directory$'),
    ('under a file', '{a_file}/results', NotADirectoryError,
     r'a_file is a file, so .*a_file/results cannot be created under it$'),
]


@pytest.mark.parametrize('name, path, exc, match', DIRECTORY_CASES,
                         ids=[c[0] for c in DIRECTORY_CASES])
def test_bad_output_directories(name, path, exc, match, place):
    with pytest.raises(exc, match=match):
        check_output_directory(_fill(path, place))


def test_good_output_directories(place):
    assert check_output_directory(place['a_dir']) == place['a_dir']
    assert check_output_directory(str(place['tmp'] / 'x' / 'y')) == \
        place['tmp'] / 'x' / 'y'
