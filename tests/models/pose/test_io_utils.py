from models.pose.io_utils import atomic_write, remove_stale_temporaries


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
