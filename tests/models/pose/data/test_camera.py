"""Human3.6M cameras: calibration, world <-> camera, projection, screen
coordinates."""
import numpy as np

from models.pose.data.camera import (
    camera_to_world,
    load_h36m_cameras,
    normalize_screen,
    project_to_pixels,
    quaternion_to_matrix,
    unnormalize_screen,
    world_to_camera,
)


def test_camera_round_trip_and_principal_point():
    cam = load_h36m_cameras()['S9'][2]
    pts = np.random.default_rng(0).normal(0, 1, (10, 3))
    back = camera_to_world(world_to_camera(pts, cam.R, cam.t), cam.R, cam.t)
    np.testing.assert_allclose(back, pts, atol=1e-12)
    # the camera centre maps to the origin of the camera frame
    np.testing.assert_allclose(world_to_camera(cam.t, cam.R, cam.t), 0,
                               atol=1e-12)
    on_axis = np.array([[0.0, 0.0, 4.0]])
    np.testing.assert_allclose(project_to_pixels(on_axis, cam.intrinsics),
                               cam.intrinsics[None, 2:4])
    px = np.array([[0.0, 0.0], [1000.0, 1002.0], [512.0, 300.0]])
    norm = normalize_screen(px, 1000, 1002)
    np.testing.assert_allclose(norm[0], [-1, -1.002])
    np.testing.assert_allclose(unnormalize_screen(norm, 1000, 1002), px)


def test_cameras_of_every_public_subject_are_rotations():
    cams = load_h36m_cameras()
    assert sorted(cams) == sorted(['S1', 'S5', 'S6', 'S7', 'S8', 'S9',
                                   'S11'])
    for subject in cams.values():
        for cam in subject:
            np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3),
                                       atol=1e-6)
            assert 3.0 < np.linalg.norm(cam.t) < 8.0  # metres, not mm


def test_quaternion_to_matrix_is_scalar_first_and_batched():
    # (w, x, y, z) = (cos a/2, 0, 0, sin a/2) turns by a about z
    a = 0.3
    np.testing.assert_allclose(
        quaternion_to_matrix([np.cos(a / 2), 0, 0, np.sin(a / 2)]),
        [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]],
        atol=1e-12)
    # a batch [..., 4] gives exactly the one-by-one matrices (the camera
    # loader's former single-quaternion use), and scale does not matter
    q = np.random.default_rng(0).normal(size=(2, 3, 4))
    batch = quaternion_to_matrix(q)
    assert batch.shape == (2, 3, 3, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(batch[i, j],
                                          quaternion_to_matrix(q[i, j]))
    np.testing.assert_allclose(quaternion_to_matrix(5 * q), batch,
                               atol=1e-12)
    np.testing.assert_allclose(batch @ np.swapaxes(batch, -1, -2),
                               np.broadcast_to(np.eye(3), batch.shape),
                               atol=1e-12)
