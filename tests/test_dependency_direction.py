"""Imports point one way: benchmarks -> models -> pyg_wj (docs/layout.rst).
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {'pyg_wj': ('models', 'benchmarks'), 'models': ('benchmarks', )}


def _imported_packages(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split('.')[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield (node.module or '').split('.')[0], node.lineno


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_no_import_against_the_direction(package):
    files = sorted((REPO / package).rglob('*.py'))
    assert files
    wrong = [f'{path.relative_to(REPO)}:{line} imports {name}'
             for path in files
             for name, line in _imported_packages(path)
             if name in FORBIDDEN[package]]
    assert wrong == []


def test_the_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\nfrom benchmarks import model\n')
    assert ('benchmarks', 2) in list(_imported_packages(bad))
