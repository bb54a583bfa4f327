"""Imports point one way (docs/layout.rst).

Between the three top-level parts: benchmarks -> models -> pyg_wj. Inside
the pose model, between its rooms: ``data`` <- ``nn`` <- the jobs
(``evaluate``, ``deploy``, ``infer``, ``train``, ``viz``) <- ``cli``, with
``models.common`` (plumbing) below everything.
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {'pyg_wj': ('models', 'benchmarks'), 'models': ('benchmarks', )}

#: room -> the rooms it may import (besides itself). ``models.common`` is
#: the room 'common'; every other room is a package of ``models.pose``.
ALLOWED = {
    'common': set(),
    'data': {'common'},
    'nn': {'common', 'data'},
    'viz': {'common', 'data'},
    'deploy': {'common', 'data', 'nn'},
    'evaluate': {'common', 'data', 'nn', 'deploy', 'viz'},
    'infer': {'common', 'data', 'nn', 'deploy', 'viz'},
    'train': {'common', 'data', 'nn', 'evaluate', 'viz'},
    # the entry points: any room
    'cli': {'common', 'data', 'nn', 'viz', 'deploy', 'evaluate', 'infer',
            'train'},
}
#: ``python -m models.pose`` dispatches to a cli module by name; it needs
#: the plumbing and the errors it turns into one ``error:`` line
ALLOWED['__main__'] = {'common', 'train'}


def _imports(path: Path):
    """(dotted module, line) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ''
            if module in ('models', 'models.pose'):  # from models import x
                for alias in node.names:
                    yield f'{module}.{alias.name}', node.lineno
            else:
                yield module, node.lineno


def _room(module: str):
    """The room a dotted module belongs to, or ``None`` outside models."""
    parts = module.split('.')
    if parts[0] != 'models' or len(parts) < 2:
        return None
    if parts[1] == 'common':
        return 'common'
    if parts[1] == 'pose' and len(parts) > 2:
        return parts[2]
    return None


def _room_of_file(path: Path):
    rel = path.relative_to(REPO).with_suffix('')
    return _room('.'.join(rel.parts))


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_no_import_against_the_direction(package):
    files = sorted((REPO / package).rglob('*.py'))
    assert files
    wrong = [f'{path.relative_to(REPO)}:{line} imports {name}'
             for path in files
             for name, line in _imports(path)
             if name.split('.')[0] in FORBIDDEN[package]]
    assert wrong == []


def test_every_room_of_the_pose_model_is_known():
    rooms = {p.name for p in (REPO / 'models' / 'pose').iterdir()
             if (p / '__init__.py').exists()}
    assert rooms == set(ALLOWED) - {'common', '__main__'}


def test_rooms_import_only_the_rooms_below_them():
    files = sorted((REPO / 'models').rglob('*.py'))
    wrong = []
    for path in files:
        room = _room_of_file(path)
        if room is None:
            continue
        for name, line in _imports(path):
            target = _room(name)
            if target is not None and target != room \
                    and target not in ALLOWED[room]:
                wrong.append(f'{path.relative_to(REPO)}:{line} ({room}) '
                             f'imports {name} ({target})')
    assert wrong == []


def test_the_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\nfrom benchmarks import model\n'
                   'from models.pose import train\n')
    found = list(_imports(bad))
    assert ('benchmarks', 2) in found
    assert ('models.pose.train', 3) in found
    assert _room('models.pose.train') == 'train'
    assert _room('models.common.files') == 'common'
    assert 'train' not in ALLOWED['nn']
