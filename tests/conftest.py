"""Fixtures shared across the suite: a run directory that another process
holds locked."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HOLDER = '''
import sys
from models.common.files import RunDirectoryLock
with RunDirectoryLock(sys.argv[1]):
    print('locked', flush=True)
    sys.stdin.read()
'''


@pytest.fixture
def held_run(tmp_path):
    """A run directory that a child process holds locked until the end of
    the test (it waits on its stdin, so nothing depends on timing)."""
    run = tmp_path / 'run'
    proc = subprocess.Popen(
        [sys.executable, '-c', HOLDER, str(run)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.readline() == 'locked\n'
    yield run, proc.pid
    proc.stdin.close()
    proc.wait(timeout=60)
