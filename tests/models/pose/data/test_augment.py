"""Geometric augmentation: virtual cameras and re-proportioned bones."""
import dataclasses

import numpy as np
import pytest

from models.pose.data import augment as aug
from models.pose.data.camera import (
    load_h36m_cameras,
    normalize_screen,
    project_to_pixels,
    world_to_camera,
)
from models.pose.data.loader import PoseWindows
from models.pose.data.skeleton import H36M_17, LEFT_17, RIGHT_17

ALL = aug.GeometricAugment(probability=1.0, bone_scale=(0.8, 1.2))


def _world_windows(prepared, frames=5):
    windows = PoseWindows(prepared, frames=frames,
                          subjects=prepared.train_subjects)
    rows = np.arange(len(windows))
    src = windows.view_sources
    return windows, src.positions[src.world_row[
        windows.window_indices(rows)]].astype(np.float64)


def _bone_lengths(poses):
    parent, child = H36M_17.edges
    return np.linalg.norm(poses[..., child, :] - poses[..., parent, :],
                          axis=-1)


def test_project_to_pixels_takes_one_camera_per_row():
    cams = load_h36m_cameras()['S1']
    points = np.random.default_rng(0).normal(0, 0.5, (4, 6, 3)) + [0, 0, 5]
    rows = np.stack([c.intrinsics for c in cams])
    np.testing.assert_array_equal(
        project_to_pixels(points, rows[:, None]),
        np.stack([project_to_pixels(p, c.intrinsics)
                  for p, c in zip(points, cams)]))


def test_projections_of_the_augmented_3d_are_the_augmented_2d(prepared):
    windows, world = _world_windows(prepared)
    plan = aug.sample_plan(ALL, len(world), 5, np.random.default_rng(0))
    scaled = aug.scale_bones(world, plan.bones[:, None])
    R, centre = aug.virtual_cameras(scaled[:, 2, 0], plan)
    cam, intrinsics, size = aug.film(ALL, world, plan, own=None)
    inputs, targets = aug.network_arrays(cam, intrinsics, size, None, 17)
    assert cam[..., 2].min() > aug.MIN_DEPTH  # no window was backed off
    for i in range(0, len(world), 7):  # camera.py's one-camera functions
        points = world_to_camera(scaled[i], R[i], centre[i])
        np.testing.assert_allclose(points, cam[i], atol=1e-9)
        w, h = size[i]
        pixels = project_to_pixels(points, intrinsics[i])
        np.testing.assert_allclose(normalize_screen(pixels, w, h),
                                   inputs[i], atol=1e-6)
        np.testing.assert_allclose(targets[i], points[2] - points[2, 0],
                                   atol=1e-6)


def test_the_loader_hook_gives_the_plans_views(prepared):
    windows, _ = _world_windows(prepared)
    batches = list(windows.iterate_batches(32, seed=3, epoch=1,
                                           augment=ALL))
    order = np.random.default_rng([3, 1]).permutation(len(windows))
    for b, (inputs, targets) in enumerate(batches):
        rows = order[32 * b:32 * b + 32]
        expected = windows.get_batch(rows)
        aug.augment_batch(ALL, windows, rows, slice(None), expected,
                          np.random.default_rng([3, 1, 32 * b]))
        np.testing.assert_array_equal(inputs.numpy(), expected[0])
        np.testing.assert_array_equal(targets.numpy(), expected[1])
        real = windows.get_batch(rows)[0]
        assert np.abs(inputs.numpy() - real).max() > 0.01  # changed


def test_rotation_about_the_root_keeps_the_bone_lengths(prepared):
    options = dataclasses.replace(ALL, bone_scale=(1.0, 1.0))
    _, world = _world_windows(prepared)
    plan = aug.sample_plan(options, len(world), 5, np.random.default_rng(1))
    cam, *_ = aug.film(options, world, plan, own=None)
    np.testing.assert_allclose(_bone_lengths(cam), _bone_lengths(world),
                               atol=1e-9)


def test_bone_scaling_is_left_right_symmetric_and_keeps_the_motion(
        prepared):
    _, world = _world_windows(prepared)
    plan = aug.sample_plan(ALL, len(world), 5, np.random.default_rng(2))
    scaled = aug.scale_bones(world, plan.bones[:, None])
    ratio = _bone_lengths(scaled) / _bone_lengths(world)  # bone k -> k - 1
    np.testing.assert_allclose(  # the same factor in every frame
        ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-9)
    for left, right in zip(LEFT_17, RIGHT_17):
        np.testing.assert_allclose(ratio[..., left - 1],
                                   ratio[..., right - 1], rtol=1e-9)
    assert 0.8 <= ratio.min() and ratio.max() <= 1.2
    assert ratio.std() > 0.05  # the bones do change, each its own way
    parent, child = H36M_17.edges

    def unit(p):
        return ((p[..., child, :] - p[..., parent, :])
                / _bone_lengths(p)[..., None])

    np.testing.assert_allclose(unit(scaled), unit(world), atol=1e-9)
    np.testing.assert_array_equal(scaled[..., 0, :], world[..., 0, :])


def _recovered(R, centre, root):
    """(yaw, distance, height, tilt, roll) of cameras, from R and centre."""
    offset = centre - root
    tilt = np.arcsin(-R[:, 2, 2])
    return (np.degrees(np.arctan2(offset[:, 1], offset[:, 0])),
            np.linalg.norm(offset[:, :2], axis=1), centre[:, 2],
            np.degrees(tilt),
            np.degrees(np.arcsin(R[:, 0, 2] / np.cos(tilt))))


def test_virtual_cameras_keep_to_the_real_cameras_ranges():
    n, options = 4000, aug.GeometricAugment()
    plan = aug.sample_plan(options, n, 1, np.random.default_rng(4))
    root = np.random.default_rng(5).normal(0, 1, (n, 3))
    R, centre = aug.virtual_cameras(root, plan)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2),
                               np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # the optical axis crosses the root's vertical: the root's camera x is
    # along the rolled horizon only, so unrolling puts it at x = 0
    along = np.einsum('nij,nj->ni', R, root - centre)
    unrolled_x = (np.cos(plan.roll) * along[:, 0]
                  + np.sin(plan.roll) * along[:, 1])
    np.testing.assert_allclose(unrolled_x, 0.0, atol=1e-9)
    values = dict(zip(('yaw_deg', 'distance_m', 'height_m', 'tilt_deg',
                       'roll_deg'), _recovered(R, centre, root)))
    for name, got in values.items():
        low, high = getattr(options, name)
        assert low - 1e-9 <= got.min() and got.max() <= high + 1e-9, name
        assert got.max() - got.min() > 0.9 * (high - low), name  # spread
    for column, name in enumerate(('focal_x_px', 'focal_y_px',
                                   'centre_x_px', 'centre_y_px')):
        low, high = getattr(options, name)
        got = plan.intrinsics[:, column]
        assert low <= got.min() and got.max() <= high, name
    real, sizes = aug.real_intrinsics()
    assert {tuple(r) for r in plan.intrinsics[:, 4:]} == {
        tuple(r) for r in real[:, 4:]}
    assert {tuple(s) for s in plan.resolution} == {tuple(s) for s in sizes}


def test_default_ranges_lie_within_the_shipped_calibration():
    options, rows = aug.GeometricAugment(), []
    for cams in load_h36m_cameras().values():
        for cam in cams:
            pose = _recovered(cam.R[None], cam.t[None], np.zeros((1, 3)))
            rows.append([v[0] for v in pose[1:]] + [*cam.intrinsics[:4]])
    real = np.array(rows, dtype=float)
    names = ('distance_m', 'height_m', 'tilt_deg', 'roll_deg', 'focal_x_px',
             'focal_y_px', 'centre_x_px', 'centre_y_px')
    for column, name in enumerate(names):
        low, high = getattr(options, name)
        assert real[:, column].min() <= low < high <= real[:, column].max()
        # rounded inwards, not narrowed
        assert high - low > 0.9 * np.ptp(real[:, column]), name


def test_the_seed_decides_and_ranks_share_the_draws(prepared):
    windows, _ = _world_windows(prepared)
    options = dataclasses.replace(ALL, probability=0.5, noise_px=2.0)

    def batches(seed, rank=0, world_size=1):
        return [x.numpy() for pair in windows.iterate_batches(
            16, seed=seed, augment=options, flip_augment=True, rank=rank,
            world_size=world_size) for x in pair]

    one, again, other = batches(0), batches(0), batches(1)
    for a, b in zip(one, again):
        np.testing.assert_array_equal(a, b)
    assert any(a.shape != b.shape or not np.array_equal(a, b)
               for a, b in zip(one, other))
    halves = batches(0, 0, 2), batches(0, 1, 2)
    for whole, first, second in zip(one, *halves):
        np.testing.assert_array_equal(whole[0::2], first)
        np.testing.assert_array_equal(whole[1::2], second)


def test_noise_follows_the_detector_model(prepared):
    _, world = _world_windows(prepared)
    options = dataclasses.replace(ALL, noise_px=2.0)
    plan = aug.sample_plan(options, len(world), 5, np.random.default_rng(6))
    views = aug.film(options, world, plan, own=None)
    clean = project_to_pixels(views[0], views[1][:, None, None])
    noisy, _ = aug.network_arrays(*views, plan.noise, 17)
    w = views[2][:, 0].astype(float)[:, None, None, None]
    error = np.linalg.norm((noisy - aug.network_arrays(
        *views, None, 17)[0]) * w / 2, axis=-1)
    assert plan.noise.shape == clean.shape
    assert 1.0 < np.median(error) < 10.0


def test_bones_only_films_with_the_windows_own_camera(prepared):
    windows, _ = _world_windows(prepared)
    options = aug.GeometricAugment(virtual_cameras=False, probability=1.0,
                                   bone_scale=(1.0, 1.0 + 1e-12))
    (inputs, targets), = windows.iterate_batches(len(windows),
                                                  shuffle=False,
                                                  augment=options)
    real_inputs, real_targets = windows.get_batch(np.arange(len(windows)))
    np.testing.assert_allclose(inputs.numpy(), real_inputs, atol=1e-5)
    np.testing.assert_allclose(targets.numpy(), real_targets, atol=1e-5)


def test_bad_options_and_camera_frame_data_are_refused(prepared):
    with pytest.raises(ValueError, match='changes nothing'):
        aug.GeometricAugment(virtual_cameras=False)
    with pytest.raises(ValueError, match="'tilt_deg' must be"):
        aug.GeometricAugment(tilt_deg=(16.0, 10.0))
    with pytest.raises(ValueError, match="'probability'"):
        aug.GeometricAugment(probability=0.0)
    with pytest.raises(ValueError, match='positive'):
        aug.GeometricAugment(bone_scale=(0.0, 1.0))
    prepared.camera_R[:] = np.eye(3)
    prepared.camera_t[:] = 0.0
    windows = PoseWindows(prepared, subjects=['S1'])
    with pytest.raises(ValueError, match='z-up world'):
        next(windows.iterate_batches(8, augment=ALL))


def test_chunks_and_the_16_joint_skeleton_give_the_same_views(
        prepared, monkeypatch):
    windows = PoseWindows(prepared, frames=5, joints=16,
                          subjects=prepared.train_subjects)
    options = dataclasses.replace(ALL, noise_px=2.0)

    def first_batch():
        return [x.numpy() for x in next(windows.iterate_batches(
            64, seed=2, augment=options))]

    whole = first_batch()
    monkeypatch.setattr(aug, 'CHUNK_FRAMES', 7)  # one window per chunk
    for a, b in zip(first_batch(), whole):
        np.testing.assert_array_equal(a, b)
    assert whole[0].shape == (64, 5, 16, 2) and whole[1].shape == (64, 16, 3)


def test_noise_px_of_reads_the_noisy_sources_provenance(prepared):
    prepared.meta['provenance'] = {'noise_px': 2.5}
    assert aug.noise_px_of(prepared, 'noisy') == 2.5
    assert aug.noise_px_of(prepared, 'gt') == 0.0
