"""The tree and its map agree, and the code keeps the house's size rules.

docs/layout.rst names every package as a literal path ending in ``/``
(``models/pose/nn/``); a package added or removed without its line in the
map, or a line left behind for a package that is gone, fails here.
"""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = ('pyg_wj', 'models', 'benchmarks', 'examples')
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 200


def _packages_in_tree():
    return {str(init.parent.relative_to(REPO)) + '/'
            for root in SOURCE_ROOTS
            for init in (REPO / root).rglob('__init__.py')}


def _packages_in_map(text: str):
    found = set(re.findall(r'``((?:pyg_wj|models|benchmarks)/(?:\w+/)*)``',
                           text))
    return {path for path in found
            if not path.startswith(('tests/', 'docs/'))}


def test_every_package_is_on_the_map_and_every_mapped_package_exists():
    tree = _packages_in_tree()
    mapped = _packages_in_map((REPO / 'docs' / 'layout.rst').read_text())
    assert len(tree) > 10  # the walk really saw the project
    assert sorted(tree - mapped) == [], 'packages missing from the map'
    assert sorted(mapped - tree) == [], 'the map names packages not there'


def test_the_map_check_reads_package_paths():
    text = 'see ``models/pose/nn/`` and ``pyg_wj/nn/conv/wj_conv.py``'
    assert _packages_in_map(text) == {'models/pose/nn/'}


def _oversized(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        size = node.end_lineno - node.lineno + 1 \
            if hasattr(node, 'end_lineno') else 0
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and size > MAX_FUNCTION_LINES:
            yield f'def {node.name} ({size} lines)', node.lineno
        elif isinstance(node, ast.ClassDef) and size > MAX_CLASS_LINES:
            yield f'class {node.name} ({size} lines)', node.lineno


def test_no_function_over_60_lines_and_no_class_over_200():
    files = [p for root in SOURCE_ROOTS for p in (REPO / root).rglob('*.py')]
    assert len(files) > 50
    found = [f'{path.relative_to(REPO)}:{line} {what}'
             for path in sorted(files) for what, line in _oversized(path)]
    assert found == []


def test_the_size_check_sees_a_long_function(tmp_path):
    body = '\n'.join('    x = 1' for _ in range(MAX_FUNCTION_LINES))
    path = tmp_path / 'long.py'
    path.write_text(f'def long():\n{body}\n\n\ndef short():\n    pass\n')
    assert [what for what, _ in _oversized(path)] == ['def long (61 lines)']
