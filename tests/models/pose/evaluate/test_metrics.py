import math

import numpy as np
import pytest
import torch

from models.pose.evaluate import metrics as M


def _pose(seed=0, batch=()):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=300.0, size=batch + (17, 3))


def _rotation(seed):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# ---------------------------------------------------------------- MPJPE


def test_mpjpe_hand_computed():
    target = np.zeros((2, 2, 3))
    pred = np.zeros((2, 2, 3))
    pred[0, 0] = [3.0, 4.0, 0.0]  # 5
    pred[0, 1] = [0.0, 0.0, 1.0]  # 1  -> sample 0: 3
    pred[1, 1] = [0.0, 6.0, 8.0]  # 10 -> sample 1: 5
    np.testing.assert_allclose(M.mpjpe(pred, target), [3.0, 5.0])
    assert M.mpjpe(pred, target, reduction='mean') == pytest.approx(4.0)
    np.testing.assert_allclose(M.joint_errors(pred, target),
                               [[5.0, 1.0], [0.0, 10.0]])


def test_mpjpe_torch_keeps_type_and_gradient():
    pred = torch.tensor(_pose(1), dtype=torch.float32, requires_grad=True)
    target = torch.tensor(_pose(2), dtype=torch.float32)
    err = M.mpjpe(pred, target, reduction='mean')
    assert isinstance(err, torch.Tensor) and err.dtype == torch.float32
    err.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert float(err.detach()) == pytest.approx(
        M.mpjpe(_pose(1), _pose(2), reduction='mean'), rel=1e-5)


def test_mixed_numpy_and_torch_give_torch():
    out = M.mpjpe(torch.zeros(4, 17, 3), np.ones((4, 17, 3)))
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.full((4,), math.sqrt(3.0)))


@pytest.mark.parametrize('fn', [M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.pck,
                                M.auc])
def test_shape_mismatch_is_a_clear_error(fn):
    with pytest.raises(ValueError, match=r"'target' must have the shape"):
        fn(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match=r"\[\.\.\., J, 3\]"):
        fn(np.zeros((17,)), np.zeros((17,)))


def test_bad_reduction():
    with pytest.raises(ValueError, match='reduction'):
        M.mpjpe(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)), reduction='sum')


# ------------------------------------------------------------ alignments


def test_p_mpjpe_removes_rotation_translation_scale():
    target = _pose(3, (4,))
    rots = np.stack([_rotation(s) for s in range(4)])
    pred = 1.7 * np.einsum('bjc,bcd->bjd', target, rots) + [50., -20., 900.]
    assert M.mpjpe(pred, target).min() > 100  # far apart before aligning
    np.testing.assert_allclose(M.p_mpjpe(pred, target), 0.0, atol=1e-8)
    np.testing.assert_allclose(M.procrustes_align(pred, target), target,
                               atol=1e-8)


def test_p_mpjpe_torch_float32_batched():
    target = torch.tensor(_pose(4, (3, 5)), dtype=torch.float32)
    rot = torch.tensor(_rotation(7), dtype=torch.float32)
    pred = 0.5 * target @ rot + 10.0
    err = M.p_mpjpe(pred, target)
    assert err.shape == (3, 5) and err.dtype == torch.float32
    assert float(err.max()) < 1e-2  # mm, float32 SVD


def test_p_mpjpe_never_reflects():
    target = _pose(5)
    mirrored = target * [-1.0, 1.0, 1.0]
    # A reflection would fit exactly; a rotation cannot.
    assert M.p_mpjpe(mirrored, target) > 10.0
    aligned = M.procrustes_align(mirrored, target)
    centred = aligned - aligned.mean(0)
    # the alignment is a proper similarity: no handedness change
    assert np.linalg.det(np.linalg.lstsq(mirrored - mirrored.mean(0),
                                         centred, rcond=None)[0]) > 0


def test_p_mpjpe_is_at_most_mpjpe_and_handles_zero_pred():
    target, pred = _pose(6, (8,)), _pose(7, (8,))
    assert (M.p_mpjpe(pred, target) <= M.mpjpe(pred, target) + 1e-9).all()
    zero = M.p_mpjpe(np.zeros((17, 3)), target[0])
    assert np.isfinite(zero)


def test_n_mpjpe_scaled_pose_is_zero():
    target = _pose(8, (3,))
    pred = target * np.array([0.5, 2.0, 3.0])[:, None, None]
    np.testing.assert_allclose(M.n_mpjpe(pred, target), 0.0, atol=1e-9)
    # a rotation is not forgiven
    rotated = target @ _rotation(1)
    assert (M.n_mpjpe(rotated, target) > 1.0).all()


def test_n_mpjpe_optimal_scale_hand_computed():
    target = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    pred = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    # s = <p,t>/<p,p> = 3/2; aligned = [[1.5,0,0],[0,1.5,0]]; errors .5,.5
    np.testing.assert_allclose(M.scale_align(pred, target), 1.5 * pred)
    assert M.n_mpjpe(pred, target) == pytest.approx(0.5)


# ------------------------------------------------------------ PCK / AUC


def _offset(dist_mm, joints=17):
    target = np.zeros((1, joints, 3))
    pred = target.copy()
    pred[..., 0] = dist_mm
    return pred, target


def test_pck_all_none_and_boundary():
    assert M.pck(*_offset(0.0)) == 100.0
    assert M.pck(*_offset(149.9), reduction='mean') == 100.0
    assert M.pck(*_offset(150.0), reduction='mean') == 0.0  # strict <
    assert M.pck(*_offset(400.0), reduction='mean') == 0.0
    pred, target = _offset(0.0, joints=4)
    pred[0, :1, 0] = 200.0  # 1 of 4 joints wrong
    assert M.pck(pred, target) == pytest.approx(75.0)
    per_sample = M.pck(np.stack([pred[0], target[0]]),
                       np.stack([target[0], target[0]]), reduction='none')
    np.testing.assert_allclose(per_sample, [75.0, 100.0])


def test_pck_units_metres():
    pred, target = _offset(0.1)  # 100 mm
    assert M.pck(pred, target, units='m') == 100.0
    assert M.pck(pred, target, threshold_mm=50, units='m') == 0.0
    with pytest.raises(ValueError, match='units'):
        M.pck(pred, target, units='cm')


def test_auc_hand_computed():
    # thresholds 0, 5, ..., 150: PCK is 0 at 0 mm, 100 from 5 mm on
    assert M.auc(*_offset(0.0), reduction='mean') == pytest.approx(
        100 * 30 / 31)
    assert M.auc(*_offset(1000.0), reduction='mean') == 0.0
    # an error of 72 mm is counted from the 75 mm threshold: 16 of 31
    assert M.auc(*_offset(72.0), reduction='mean') == pytest.approx(
        100 * 16 / 31)
    # exactly on a threshold: not yet counted there (strict <)
    assert M.auc(*_offset(75.0), reduction='mean') == pytest.approx(
        100 * 15 / 31)
    with pytest.raises(ValueError, match='thresholds_mm'):
        M.auc(*_offset(0.0), thresholds_mm=[])
