import fcntl
import os
import tempfile

import pytest

from models.common.files import (
    LOCK_NAME,
    OutputRefused,
    RunDirectoryBusy,
    RunDirectoryLock,
    atomic_write,
    remove_stale_temporaries,
    run_directory_holder,
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


def test_atomic_write_refuses_a_symlink_target_and_leaves_both_alone(
        tmp_path):
    elsewhere = tmp_path / 'elsewhere.pt'
    elsewhere.write_bytes(b'precious')
    link = tmp_path / 'last.pt'
    link.symlink_to(elsewhere)
    with pytest.raises(OutputRefused, match=r'last.pt: it is a symbolic '
                       r'link \(to .*elsewhere.pt\); refusing to replace it'):
        atomic_write(link, b'new')
    assert link.is_symlink() and elsewhere.read_bytes() == b'precious'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['elsewhere.pt',
                                                           'last.pt']


def test_atomic_write_removes_stale_temporaries_of_its_target(tmp_path):
    stale = tmp_path / '.out.npz.k3j9.tmp'  # a killed writer's: unlocked
    other = tmp_path / '.best.pt.k3j9.tmp'
    stale.write_bytes(b'partial')
    other.write_bytes(b'partial')
    atomic_write(tmp_path / 'out.npz', b'complete')
    assert not stale.exists() and other.exists()


def test_a_live_writers_temporary_is_never_removed(tmp_path):
    live = tmp_path / '.out.npz.live.tmp'
    live.write_bytes(b'in flight')
    # a second open file description: flock conflicts with it as it would
    # with another process's
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        atomic_write(tmp_path / 'out.npz', b'complete')
        assert remove_stale_temporaries(tmp_path / 'out.npz') == []
        assert live.read_bytes() == b'in flight'
    finally:
        os.close(fd)
    assert remove_stale_temporaries(tmp_path / 'out.npz') == [live]


def test_a_temporary_deleted_before_its_lock_is_replaced(tmp_path,
                                                         monkeypatch):
    real = tempfile.mkstemp
    calls = []

    def raced(*args, **kwargs):  # a cleaner wins the first time
        fd, name = real(*args, **kwargs)
        calls.append(name)
        if len(calls) == 1:
            os.unlink(name)
        return fd, name
    monkeypatch.setattr(tempfile, 'mkstemp', raced)
    atomic_write(tmp_path / 'out.npz', b'complete')
    assert len(calls) == 2
    assert (tmp_path / 'out.npz').read_bytes() == b'complete'
    assert [p.name for p in tmp_path.iterdir()] == ['out.npz']


def test_a_symlinked_lock_file_is_not_followed(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    run = tmp_path / 'run'
    run.mkdir()
    (run / LOCK_NAME).symlink_to(victim)
    with pytest.raises(OutputRefused, match=r'\.lock is a symbolic link; '
                       r'refusing to follow it'):
        with RunDirectoryLock(run):
            pass
    assert victim.read_text() == 'keep me'


def test_run_directory_holder_names_the_other_process(held_run, tmp_path):
    run, pid = held_run
    before = (run / LOCK_NAME).read_bytes()
    assert run_directory_holder(run) == str(pid)
    assert (run / LOCK_NAME).read_bytes() == before  # holder undisturbed
    with pytest.raises(RunDirectoryBusy, match=f'process {pid} holds'):
        with RunDirectoryLock(run):
            pass
    assert run_directory_holder(tmp_path) is None  # no lock file


def test_run_directory_holder_ignores_this_process(tmp_path):
    run = tmp_path / 'run'
    with RunDirectoryLock(run):
        assert run_directory_holder(run) is None
    assert run_directory_holder(run) is None  # released
