"""Sliding windows: edge padding, targets, selection, flips, DDP shards."""
import numpy as np
import pytest
import torch

from models.pose.data.loader import PoseWindows


def test_windows_edge_padding_and_targets(prepared):
    windows = PoseWindows(prepared, frames=5, subjects=['S1'])
    assert len(windows) == 30 * 4  # 30 frames x 4 cameras
    idx = windows.window_indices(np.array([0, 1, 29, 30]))
    np.testing.assert_array_equal(idx[0], [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(idx[1], [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(idx[2], [27, 28, 29, 29, 29])
    np.testing.assert_array_equal(idx[3], [30, 30, 30, 31, 32])  # camera 2
    inputs, targets = windows.get_batch([0, 2])
    assert inputs.shape == (2, 5, 17, 2) and targets.shape == (2, 17, 3)
    assert inputs.dtype == np.float32
    np.testing.assert_array_equal(targets[:, 0], 0)  # root-relative
    # the target is the centre frame: camera-frame depth is positive
    assert (targets[:, 1:, 2] + 5 > 0).all()


def test_windows_stride_subjects_and_16_joints(prepared):
    full = PoseWindows(prepared, subjects=['S1', 'S5'])
    strided = PoseWindows(prepared, subjects=['S1', 'S5'], stride=3)
    assert len(full) == (30 + 25) * 4
    assert len(strided) == (10 + 9) * 4
    w16 = PoseWindows(prepared, joints=16, subjects=['S9'])
    x16, y16 = w16.get_batch([0])
    x17, y17 = PoseWindows(prepared, subjects=['S9']).get_batch([0])
    np.testing.assert_array_equal(y16[0], np.delete(y17[0], 9, axis=0))
    assert set(w16.actions) == {'Walking 2'}
    with pytest.raises(ValueError, match="no sequence of subjects"):
        PoseWindows(prepared, subjects=['S7'])
    with pytest.raises(ValueError, match="2D source 'cpn'"):
        PoseWindows(prepared, source='cpn')


def test_ddp_shards_cover_the_global_batch(prepared):
    windows = PoseWindows(prepared, frames=3)
    one = list(windows.iterate_batches(8, seed=1, epoch=2,
                                       flip_augment=True))
    shards = [list(windows.iterate_batches(8, seed=1, epoch=2,
                                           flip_augment=True, rank=r,
                                           world_size=2)) for r in range(2)]
    for b, (x, y) in enumerate(one):
        x0, y0 = shards[0][b]
        x1, y1 = shards[1][b]
        torch.testing.assert_close(x[0::2], x0)
        torch.testing.assert_close(x[1::2], x1)
        torch.testing.assert_close(y[1::2], y1)
    again = list(windows.iterate_batches(8, seed=1, epoch=2,
                                         flip_augment=True))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(one, again))
    other = next(windows.iterate_batches(8, seed=1, epoch=3))
    assert not torch.equal(other[0], one[0][0])
