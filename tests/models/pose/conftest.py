"""Shared fixtures: a small prepared data set built from the real Human3.6M
calibration and smooth synthetic joint tracks (fast, no download)."""
import numpy as np
import pytest

from models.pose.data.camera import (
    load_h36m_cameras,
    project_to_pixels,
    world_to_camera,
)
from models.pose.data.format import (
    PreparedPoses,
    assemble_prepared,
    make_meta,
    save_prepared,
)


def make_prepared(lengths=(30, 25, 20), subjects=('S1', 'S5', 'S9'),
                  seed=0) -> PreparedPoses:
    rng = np.random.default_rng(seed)
    cams = load_h36m_cameras()
    base = rng.normal(0, 0.25, (17, 3)) + [0, 0, 1.0]
    base[0] = [0, 0, 1.0]
    seqs, positions, views, keypoints = [], [], [], []
    start = 0
    for i, (n, s) in enumerate(zip(lengths, subjects)):
        phase = np.linspace(0, 2 * np.pi, n)[:, None, None]
        p = base + 0.1 * np.sin(phase + np.arange(17)[None, :, None])
        positions.append(p)
        views.append(cams[s])
        keypoints.append(np.stack([
            project_to_pixels(world_to_camera(p, x.R, x.t), x.intrinsics)
            for x in cams[s]]))
        seqs.append({'subject': s, 'action': f'Walking {i}', 'start': start,
                     'length': n})
        start += n
    train = [s for s in subjects if s != 'S9']
    return assemble_prepared(
        make_meta('test', 50.0, seqs, train, ['S9'], ['gt'],
                  {'generator': 'tests'}),
        positions, views, {'gt': keypoints})


@pytest.fixture
def prepared():
    return make_prepared()


@pytest.fixture
def prepared_file(tmp_path, prepared):
    path = tmp_path / 'data.npz'
    save_prepared(path, prepared)
    return path
