"""Layout tables: the mapping to the H36M joints and its documentation."""
from pathlib import Path

import numpy as np
import pytest

from models.pose.data.skeleton import JOINT_NAMES_17, coco_to_h36m
from models.pose.infer.layouts import (
    LAYOUT_NAMES,
    TABLES,
    formula,
    to_h36m,
    weight_matrix,
)

DOCS = Path(__file__).resolve().parents[4] / 'docs' / 'data_formats.rst'
SYNTHESISED = ('pelvis', 'spine', 'thorax', 'neck_nose', 'head')


@pytest.mark.parametrize('layout', sorted(LAYOUT_NAMES))
def test_every_joint_is_an_affine_combination(layout):
    weights = weight_matrix(layout)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(4, len(LAYOUT_NAMES[layout]), 2))
    shifted, _ = to_h36m(kp + [30.0, -7.0], np.ones(kp.shape[:2]), layout)
    plain, _ = to_h36m(kp, np.ones(kp.shape[:2]), layout)
    np.testing.assert_allclose(shifted - plain, np.broadcast_to(
        [30.0, -7.0], plain.shape), atol=1e-12)


def test_coco_table_equals_the_existing_coco_mapping():
    kp = np.random.default_rng(1).normal(size=(3, 17, 2))
    mapped, _ = to_h36m(kp, np.ones((3, 17)), 'coco')
    np.testing.assert_allclose(mapped, coco_to_h36m(kp), atol=1e-12)


def test_synthesised_confidence_is_the_min_of_the_sources():
    conf = np.ones(25)
    names = LAYOUT_NAMES['body25']
    conf[names.index('neck')] = 0.2
    conf[names.index('mid_hip')] = 0.6
    _, mapped = to_h36m(np.zeros((25, 2)), conf, 'body25')
    by = dict(zip(JOINT_NAMES_17, mapped))
    assert by['pelvis'] == 0.6 and by['thorax'] == 0.2
    assert by['spine'] == 0.2 and by['right_knee'] == 1.0


def test_body25_and_halpe_use_their_own_centre_joints():
    for layout, source in (('body25', 'mid_hip'), ('halpe26', 'hip')):
        kp = np.zeros((len(LAYOUT_NAMES[layout]), 2))
        kp[LAYOUT_NAMES[layout].index(source)] = [5.0, 9.0]
        mapped, _ = to_h36m(kp, np.ones(len(kp)), layout)
        np.testing.assert_allclose(mapped[0], [5.0, 9.0])


def test_sixteen_joints_drop_neck_nose():
    kp = np.arange(66, dtype=float).reshape(33, 2)
    mapped, conf = to_h36m(kp, np.ones(33), 'mediapipe', joints=16)
    assert mapped.shape == (16, 2) and conf.shape == (16,)
    full, _ = to_h36m(kp, np.ones(33), 'mediapipe')
    np.testing.assert_allclose(mapped, np.delete(full, 9, axis=0))


@pytest.mark.parametrize('call, message', [
    (lambda: to_h36m(np.zeros((17, 2)), np.ones(17), 'body25'),
     'has 25 joints'),
    (lambda: to_h36m(np.zeros((17, 2)), np.ones(16), 'coco'),
     'confidence'),
    (lambda: to_h36m(np.zeros((17, 2)), np.ones(17), 'coco', joints=15),
     "'joints' must be 17 or 16"),
    (lambda: weight_matrix('body21'), "'layout' must be one of"),
])
def test_bad_calls(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_documented_table_is_the_code_table():
    text = DOCS.read_text()
    for layout in TABLES:
        if layout == 'h36m':
            continue
        for joint in SYNTHESISED:
            assert f'``{formula(layout, joint)}``' in text, (layout, joint)
        order = ', '.join(f'{i} {n}'
                          for i, n in enumerate(LAYOUT_NAMES[layout]))
        assert order in text, layout
