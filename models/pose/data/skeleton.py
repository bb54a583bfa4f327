"""The Human3.6M skeletons the pose model works on (17 and 16 joints).

The 16-joint skeleton drops joint 9 (neck/nose): it is the skeleton that
MPI-INF-3DHP evaluation and the paper's parameter counts use.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Tuple

import numpy as np
import torch

H36M_32_TO_17 = tuple(i for i in range(32) if i not in
                      (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30,
                       31))

JOINT_NAMES_17 = ('pelvis', 'right_hip', 'right_knee', 'right_ankle',
                  'left_hip', 'left_knee', 'left_ankle', 'spine', 'thorax',
                  'neck_nose', 'head', 'left_shoulder', 'left_elbow',
                  'left_wrist', 'right_shoulder', 'right_elbow',
                  'right_wrist')
PARENTS_17 = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT_17 = (4, 5, 6, 11, 12, 13)
RIGHT_17 = (1, 2, 3, 14, 15, 16)

#: COCO-17 keypoint order (as written by most 2D detectors).
COCO_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
              'left_shoulder', 'right_shoulder', 'left_elbow',
              'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
              'right_hip', 'left_knee', 'right_knee', 'left_ankle',
              'right_ankle')


@dataclass(frozen=True)
class Skeleton:
    """Joint names, parents and left/right lists of one skeleton."""
    names: Tuple[str, ...]
    parents: Tuple[int, ...]
    left: Tuple[int, ...]
    right: Tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def edges(self) -> np.ndarray:
        """Bones as ``[2, num_bones]`` (parent, child)."""
        return np.array([(p, c) for c, p in enumerate(self.parents) if p >= 0],
                        dtype=np.int64).T

    def edge_index(self) -> torch.Tensor:
        """Both directions of every bone, as a PyG ``edge_index``."""
        e = torch.from_numpy(self.edges)
        return torch.cat([e, e.flip(0)], dim=1)

    def adjacency(self) -> torch.Tensor:
        """Dense symmetric 0/1 ``[J, J]`` adjacency with no self-loops."""
        adj = torch.zeros(self.num_joints, self.num_joints)
        e = self.edge_index()
        adj[e[1], e[0]] = 1.0
        return adj

    @property
    def flip_permutation(self) -> Tuple[int, ...]:
        """Joint order after a horizontal flip (left and right swapped)."""
        perm = list(range(self.num_joints))
        for a, b in zip(self.left, self.right):
            perm[a], perm[b] = b, a
        return tuple(perm)


def _drop_joint(sk: Skeleton, joint: int) -> Skeleton:
    keep = [j for j in range(sk.num_joints) if j != joint]
    new = {old: i for i, old in enumerate(keep)}

    def parent(j: int) -> int:
        p = sk.parents[j]
        while p == joint:  # re-attach children of the dropped joint
            p = sk.parents[p]
        return new[p] if p >= 0 else -1

    return Skeleton(names=tuple(sk.names[j] for j in keep),
                    parents=tuple(parent(j) for j in keep),
                    left=tuple(new[j] for j in sk.left if j != joint),
                    right=tuple(new[j] for j in sk.right if j != joint))


H36M_17 = Skeleton(JOINT_NAMES_17, PARENTS_17, LEFT_17, RIGHT_17)
#: Joint 9 (neck/nose) removed; the head hangs from the thorax.
H36M_16 = _drop_joint(H36M_17, 9)
#: Indices of the 17-joint skeleton kept in the 16-joint one.
KEEP_16 = tuple(j for j in range(17) if j != 9)


@lru_cache(maxsize=None)
def get_skeleton(num_joints: int) -> Skeleton:
    """The 17- or 16-joint Human3.6M skeleton."""
    if num_joints == 17:
        return H36M_17
    if num_joints == 16:
        return H36M_16
    raise ValueError(f"'joints' must be 17 (Human3.6M) or 16 (no neck/nose, "
                     f"3DHP-compatible), got {num_joints}")


def select_joints(array: np.ndarray, num_joints: int) -> np.ndarray:
    """Reduce ``[..., 17, C]`` data to the 16-joint skeleton if asked."""
    if array.shape[-2] != 17:
        raise ValueError(f"expected 17 joints along axis -2, got shape "
                         f"{array.shape}")
    return array if num_joints == 17 else array[..., KEEP_16, :]


def coco_to_h36m(keypoints: np.ndarray) -> np.ndarray:
    """Map COCO-17 keypoints ``[..., 17, 2]`` to the H36M 17-joint order.

    Hips, knees, ankles, shoulders, elbows and wrists map one to one. The
    pelvis is the hip midpoint, the thorax the shoulder midpoint, the spine
    the midpoint of pelvis and thorax, neck/nose is COCO's nose and the head
    is the midpoint of the two eyes, lifted away from the nose by the
    nose-to-eye offset (an approximation: COCO has no head-top point).
    """
    if keypoints.shape[-2] != 17:
        raise ValueError(f"COCO keypoints must have 17 joints along axis -2, "
                         f"got shape {keypoints.shape}")
    k = {name: keypoints[..., i, :] for i, name in enumerate(COCO_NAMES)}
    pelvis = 0.5 * (k['left_hip'] + k['right_hip'])
    thorax = 0.5 * (k['left_shoulder'] + k['right_shoulder'])
    eyes = 0.5 * (k['left_eye'] + k['right_eye'])
    head = eyes + (eyes - k['nose'])
    out = [pelvis, k['right_hip'], k['right_knee'], k['right_ankle'],
           k['left_hip'], k['left_knee'], k['left_ankle'],
           0.5 * (pelvis + thorax), thorax, k['nose'], head,
           k['left_shoulder'], k['left_elbow'], k['left_wrist'],
           k['right_shoulder'], k['right_elbow'], k['right_wrist']]
    return np.stack(out, axis=-2)
