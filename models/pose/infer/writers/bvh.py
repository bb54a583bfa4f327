"""BVH (Biovision hierarchy) export of a lifted sequence.

The skeleton is the model's (17 or 16 Human3.6M joints); every bone has
the *median* length of that bone over the sequence, because the lifted
poses are not rigid and a BVH skeleton must be. Joint rotations are
solved from the 3D positions so that forward kinematics puts every bone
along the lifted bone's direction:

* the rest pose (all rotations zero) points each bone along its mean
  direction over the sequence, so the rest pose is an average pose;
* a joint with one child turns by the smallest rotation that aims its
  bone (no twist is invented: the positions do not show it);
* a joint with several children (pelvis; thorax) takes the rotation that
  best fits all its bones (Kabsch), and each of its bones then hangs
  from a zero-length ``<joint>_to_<child>`` joint that aims it exactly;
  with one shared rotation the bones could not follow a non-rigid pose.

Coordinates: BVH's usual y up, centimetres: ``(x, -y, -z) * 100`` of the
camera frame (a rotation by 180 degrees about x, so still right-handed).
The root (pelvis) stays at the origin: the poses are root-relative.
Channels: ``Xposition Yposition Zposition`` on the root, then ``Zrotation
Xrotation Yrotation`` on every joint, i.e. a local rotation ``Rz Rx Ry``
(degrees). Leaves end in an ``End Site`` one fifth of their bone long,
a stub for viewers that draw bones to their end points.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from models.common.files import write_text_atomic
from models.pose.infer.resample import MODEL_FPS
from models.pose.infer.writers import PoseSequence

TO_BVH = np.array([100.0, -100.0, -100.0])  # camera metres -> y-up cm


@dataclass
class Node:
    """One BVH joint: an H36M joint, or a zero-length branch."""
    name: str
    parent: int  # node index, -1 for the root
    offset: np.ndarray  # [3] cm, in the parent's rest frame
    joint: Optional[int]  # H36M index (None for a branch)
    aims: List[int]  # H36M children whose bones this node's rotation aims
    end_site: Optional[np.ndarray] = None


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(norm > 1e-9, v / np.maximum(norm, 1e-300), fallback)


def _children(parents) -> List[List[int]]:
    kids: List[List[int]] = [[] for _ in parents]
    for c, p in enumerate(parents):
        if p >= 0:
            kids[p].append(c)
    return kids


def build_nodes(parents, names, lengths: np.ndarray, rest: np.ndarray
                ) -> List[Node]:
    """The BVH hierarchy, depth first (the order of the channels)."""
    kids = _children(parents)
    nodes: List[Node] = []

    def add(joint: int, parent: int, offset: np.ndarray) -> None:
        here = len(nodes)
        nodes.append(Node(names[joint], parent, offset, joint, kids[joint]))
        if not kids[joint]:
            nodes[here].end_site = 0.2 * lengths[joint] * rest[joint]
        elif len(kids[joint]) == 1:
            c = kids[joint][0]
            add(c, here, lengths[c] * rest[c])
        else:
            for c in kids[joint]:
                branch = len(nodes)
                nodes.append(Node(f'{names[joint]}_to_{names[c]}', here,
                                  np.zeros(3), None, [c]))
                add(c, branch, lengths[c] * rest[c])
    root = parents.index(-1)
    add(root, -1, np.zeros(3))
    return nodes


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[F, 3, 3]``: the smallest rotations taking unit ``a`` to ``b``."""
    v, c = np.cross(a, b), np.einsum('fi,fi->f', a, b)
    k = np.zeros(a.shape[:1] + (3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    k -= k.transpose(0, 2, 1)
    opposite = c < -1 + 1e-9
    r = np.eye(3) + k + k @ k / np.where(opposite, 1.0, 1 + c)[:, None,
                                                                None]
    if opposite.any():  # half a turn about any axis normal to a
        helper = np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
        u = _unit(np.cross(a, helper), np.array([0.0, 0, 1]))
        half = 2 * np.einsum('fi,fj->fij', u, u) - np.eye(3)
        r[opposite] = half[opposite]
    return r


def _kabsch(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[F, 3, 3]`` rotations best taking rest dirs ``[C, 3]`` to
    ``target`` ``[F, C, 3]`` (least squares)."""
    h = np.einsum('ci,fcj->fij', rest, target)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.transpose(0, 2, 1) @ u.transpose(0, 2, 1)))
    fix = np.ones(h.shape[:1] + (3,))
    fix[:, 2] = np.where(d == 0, 1.0, d)
    return vt.transpose(0, 2, 1) @ (fix[:, :, None] * u.transpose(0, 2, 1))


def euler_zxy(r: np.ndarray) -> np.ndarray:
    """``[F, 3, 3]`` -> ``[F, 3]`` degrees ``(z, x, y)`` with ``r = Rz(z)
    Rx(x) Ry(y)``; at x = +-90 degrees (gimbal lock) y is set to 0."""
    cos_x = np.hypot(r[:, 2, 0], r[:, 2, 2])  # atan2: exact near +-90
    x = np.arctan2(r[:, 2, 1], cos_x)
    z = np.arctan2(-r[:, 0, 1], r[:, 1, 1])
    y = np.arctan2(-r[:, 2, 0], r[:, 2, 2])
    lock = cos_x < 1e-12
    z = np.where(lock, np.arctan2(r[:, 1, 0], r[:, 0, 0]), z)
    y = np.where(lock, 0.0, y)
    return np.degrees(np.stack([z, x, y], axis=-1))


def solve_rotations(nodes: List[Node], points: np.ndarray, parents,
                    rest: np.ndarray) -> np.ndarray:
    """``[F, nodes, 3, 3]`` local rotations reproducing the bone
    directions of ``points`` ``[F, J, 3]`` (BVH coordinates)."""
    frames = len(points)
    glob = np.empty((frames, len(nodes), 3, 3))
    local = np.empty_like(glob)
    for n, node in enumerate(nodes):
        up = glob[:, node.parent] if node.parent >= 0 \
            else np.broadcast_to(np.eye(3), (frames, 3, 3))
        bones = [points[:, c] - points[:, parents[c]] for c in node.aims]
        if len(node.aims) > 1:
            glob[:, n] = _kabsch(rest[node.aims], np.stack(
                [_unit(b, rest[c]) for b, c in zip(bones, node.aims)], 1))
        elif node.aims:
            now = np.einsum('fij,j->fi', up, rest[node.aims[0]])
            glob[:, n] = _swing(now, _unit(bones[0], now)) @ up
        else:
            glob[:, n] = up
        local[:, n] = up.transpose(0, 2, 1) @ glob[:, n]
    return local


def _hierarchy_text(nodes: List[Node]) -> List[str]:
    lines, kids = ['HIERARCHY'], _children([n.parent for n in nodes])

    def emit(n: int, depth: int) -> None:
        pad, node = '  ' * depth, nodes[n]
        head = 'ROOT' if node.parent < 0 else 'JOINT'
        channels = ('6 Xposition Yposition Zposition ' if node.parent < 0
                    else '3 ') + 'Zrotation Xrotation Yrotation'
        lines.extend([f'{pad}{head} {node.name}', f'{pad}{{',
                      f'{pad}  OFFSET {_vec(node.offset)}',
                      f'{pad}  CHANNELS {channels}'])
        for child in kids[n]:
            emit(child, depth + 1)
        if node.end_site is not None:
            lines.extend([f'{pad}  End Site', f'{pad}  {{',
                          f'{pad}    OFFSET {_vec(node.end_site)}',
                          f'{pad}  }}'])
        lines.append(f'{pad}}}')
    emit(0, 0)
    return lines


def _vec(v: np.ndarray) -> str:
    return ' '.join(f'{x:.6f}' for x in v)


def rest_pose(points: np.ndarray, parents):
    """``(median bone lengths [J], mean unit bone directions [J, 3])``."""
    parent_of = np.array([max(p, 0) for p in parents])
    bones = points - points[:, parent_of]
    lengths = np.median(np.linalg.norm(bones, axis=-1), axis=0)
    up = np.array([0.0, 1.0, 0.0])
    mean = _unit(_unit(bones, np.zeros(3)).mean(axis=0), up)
    return lengths, mean


def write_bvh(path: Path, seq: PoseSequence) -> Path:
    """``seq`` as a BVH file at ``path`` (see the module docstring)."""
    points = np.asarray(seq.poses_3d, np.float64) * TO_BVH
    parents = list(seq.parents)
    lengths, rest = rest_pose(points, parents)
    nodes = build_nodes(parents, seq.joint_names, lengths, rest)
    angles = euler_zxy(solve_rotations(nodes, points, parents, rest)
                       .reshape(-1, 3, 3)).reshape(len(points), -1)
    root = points[:, parents.index(-1)]
    motion = np.concatenate([root, angles], axis=1)
    fps = seq.fps if seq.fps is not None else MODEL_FPS
    lines = _hierarchy_text(nodes) + [
        'MOTION', f'Frames: {len(points)}', f'Frame Time: {1 / fps:.8f}']
    lines += [' '.join(f'{x:.6f}' for x in row) for row in motion]
    return write_text_atomic(path, '\n'.join(lines) + '\n')
