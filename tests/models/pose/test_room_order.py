"""The rooms of models/pose import one way:
data <- nn <- {evaluate, deploy, infer, train, viz} <- cli, where evaluate
may also import deploy (the ``--onnx`` predictor) and viz, infer deploy and
viz, and train evaluate. Lazy imports inside functions count too."""
import ast
from pathlib import Path

import pytest

POSE = Path(__file__).resolve().parents[3] / 'models' / 'pose'
ROOMS = ('data', 'nn', 'evaluate', 'deploy', 'infer', 'train', 'viz', 'cli')
BELOW = {
    'data': set(),
    'nn': {'data'},
    'deploy': {'data', 'nn'},
    'viz': {'data', 'nn'},
    'evaluate': {'data', 'nn', 'deploy', 'viz'},
    'infer': {'data', 'nn', 'deploy', 'viz'},
    'train': {'data', 'nn', 'evaluate'},
    'cli': set(ROOMS) - {'cli'},
}


def _rooms_imported(path: Path):
    """``(room, line)`` of every ``models.pose.<room>`` import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [(node.module or '', node.lineno)]
            if node.module == 'models.pose':
                names = [(f'models.pose.{a.name}', node.lineno)
                         for a in node.names]
        else:
            continue
        for name, line in names:
            parts = name.split('.')
            if parts[:2] == ['models', 'pose'] and len(parts) > 2:
                yield parts[2], line


@pytest.mark.parametrize('room', ROOMS)
def test_room_imports_only_the_rooms_below_it(room):
    files = sorted((POSE / room).rglob('*.py'))
    assert files
    wrong = [f'{path.relative_to(POSE)}:{line} imports {other}'
             for path in files for other, line in _rooms_imported(path)
             if other != room and other in ROOMS
             and other not in BELOW[room]]
    assert wrong == []


def test_the_check_sees_an_import_against_the_order(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('def f():\n    from models.pose.infer import lift\n'
                   'from models.pose import cli\n')
    assert sorted(_rooms_imported(bad)) == [('cli', 3), ('infer', 2)]
