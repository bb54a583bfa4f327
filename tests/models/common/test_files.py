import os

import pytest

from models.common.files import (
    atomic_write,
    remove_stale_temporaries,
    write_text_atomic,
)


def test_remove_stale_temporaries_only_takes_the_targets_leftovers(tmp_path):
    target = atomic_write(tmp_path / 'last.pt', b'complete')
    leftovers = [tmp_path / '.last.pt.k3j9.tmp', tmp_path / '.last.pt.x.tmp']
    others = [tmp_path / '.best.pt.k3j9.tmp', tmp_path / '.last.pt.bak',
              tmp_path / 'last.pt.k3j9.tmp']
    for path in leftovers + others:
        path.write_bytes(b'partial')
    assert remove_stale_temporaries(target) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in others)
    assert target.read_bytes() == b'complete'


def test_atomic_write_cleans_up_on_error(tmp_path, monkeypatch):
    target = tmp_path / 'keep.png'
    target.write_bytes(b'old')

    def fail(src, dst):
        raise OSError('replace failed')
    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError):
        atomic_write(target, b'new contents')
    assert target.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['keep.png']


def test_write_text_atomic_keeps_old_file_on_error(tmp_path):
    path = tmp_path / 'x.md'
    write_text_atomic(path, 'old')

    class Boom:
        def __str__(self):
            raise RuntimeError('boom')

    with pytest.raises(TypeError):
        write_text_atomic(path, Boom())  # not a str: write fails
    assert path.read_text() == 'old'
    assert [p.name for p in tmp_path.iterdir()] == ['x.md']
