"""associate: give each person of a frame a track id (FlowTrack's flow-based OKS greedy matching).

Per frame (see ``PoseTracker.update``):
1. move every live track's last pose into this frame with the optical flow;
2. OKS between the moved track poses and this frame's poses (``posetrack.pose.oks_matrix``);
3. greedy matching, highest similarity first, pairs below ``oks_threshold`` never match;
4. unmatched poses start new tracks (ids from this tracker's own allocator);
5. unmatched tracks stay alive ``max_lost`` frames (still moved by the flow) and are then dropped,
   or, with ``relink_frames`` > 0, kept that many more frames in a memory of lost tracks.

Re-linking (off by default: FlowTrack as published): a lost track in memory is predicted to move
on at its last velocity (the mean joint motion per frame while it was matched, smoothed); a pose
left unmatched by step 3 takes the id of a remembered track when both agree: place (its joint
centre within ``relink_distance`` person sizes of the prediction; person size = sqrt of the box
area) and pose (OKS of the two poses with their centres aligned >= ``relink_oks``), best shape
first. Only then do the remaining poses get new ids.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from posetrack.pose import oks_matrix
from posetrack.track.graph import Stage, with_overrides
from posetrack.track.stages.propagate import warp_keypoints
from posetrack.track.types import FlowField, Poses


@dataclass(frozen=True)
class AssociateParams:
    oks_threshold: float = 0.3  # lower: keeps ids through bigger motion, but swaps ids more often
    max_lost: int = 5  # frames a track survives unmatched (occlusions, missed detections)
    relink_frames: int = 0  # frames a lost track is remembered after max_lost, to give a returning person its id
    relink_oks: float = 0.5  # re-linking: min OKS of the poses with centres aligned (same body shape)
    relink_distance: float = 1.0  # re-linking: max person sizes between the predicted and the new centre

    def __post_init__(self):
        if not 0 <= self.oks_threshold <= 1:  # an OKS is in [0, 1]; also refuses NaN
            raise ValueError(f"oks_threshold must be in [0, 1], got {self.oks_threshold}")
        if self.max_lost < 0 or self.relink_frames < 0:
            raise ValueError(f"max_lost and relink_frames must be >= 0, got {self.max_lost}, {self.relink_frames}")
        if not 0 <= self.relink_oks <= 1 or self.relink_distance < 0:
            raise ValueError(f"relink_oks must be in [0, 1] and relink_distance >= 0, got {self.relink_oks}, "
                             f"{self.relink_distance}")


def greedy_match(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(T, N) similarities -> (row, col) pairs picked highest first, each row/col once, >= threshold.

    Ties are broken by lower row, then lower column (stable sort of the flattened matrix).
    """
    if similarity.size == 0:
        return []
    order = np.argsort(-similarity, axis=None, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for flat in order:
        r, c = divmod(int(flat), similarity.shape[1])
        if similarity[r, c] < threshold:
            break
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((r, c))
    return pairs


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> (N,) areas in px^2 (the OKS scale, as the official code's crop area)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def common_offsets(a: np.ndarray, b: np.ndarray, min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Poses (M, K, 3) and (N, K, 3) -> (M, N, 2) mean offset b - a over the joints both have
    (score > ``min_score``) and (M, N) how many those are; offset 0 where none."""
    both = (a[:, None, :, 2] > min_score) & (b[None, :, :, 2] > min_score)  # (M, N, K)
    diff = np.asarray(b, np.float64)[None, :, :, :2] - np.asarray(a, np.float64)[:, None, :, :2]
    n = both.sum(-1)
    return (diff * both[..., None]).sum(2) / np.maximum(n, 1)[..., None], n


def shape_similarity(a: np.ndarray, b: np.ndarray, areas_a: np.ndarray, areas_b: np.ndarray,
                     sigmas: np.ndarray | None = None, min_score: float = 0.0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, N) OKS over the joints two poses both have, after moving a onto b by their mean offset
    (body shape, place removed), that (M, N, 2) offset and (M, N) the number of common joints.
    OKS 0 with fewer than 2 common joints."""
    offset, n = common_offsets(a, b, min_score)
    shape = np.zeros(n.shape)
    for i, j in zip(*np.nonzero(n >= 2)):
        moved = np.array(a[i], np.float64)
        moved[:, :2] += offset[i, j]
        common = np.array(b[j], np.float64)
        common[:, 2] = (a[i, :, 2] > min_score) & (b[j, :, 2] > min_score)  # oks_matrix averages those > 0.5
        shape[i, j] = oks_matrix(moved[None], common[None], areas_a[i:i + 1], areas_b[j:j + 1], sigmas, 0.5)[0, 0]
    return shape, offset, n


def _centres(keypoints: np.ndarray, min_score: float = 0.0) -> np.ndarray:
    """(N, K, 3) -> (N, 2) mean of the joints scoring > ``min_score`` (0, 0 for a pose without any)."""
    w = keypoints[..., 2] > min_score
    return (keypoints[..., :2] * w[..., None]).sum(1) / np.maximum(w.sum(1), 1)[:, None]


VELOCITY_MEMORY = 0.5  # weight of the previous velocity when a match gives a new one (smooths jitter)
# joints scoring at most this do not shape re-linking's velocity, place and body shape: a network's
# answers for hidden joints are low-scoring guesses (measured: README, Re-linking)
RELINK_JOINT_SCORE = 0.5


class PoseTracker:
    """Online multi-person pose tracker; one instance per run, ``reset()`` per video.

    State per track: id, last keypoints (K, 3) in the current frame's coordinates,
    OKS area, frames since last matched, velocity (px/frame of the joint centre).
    Lost tracks past ``max_lost`` sit in the re-linking memory (same fields, plus frames
    spent there) for ``relink_frames`` frames. Ids count 0, 1, 2, ... per video.
    """

    def __init__(self, params: AssociateParams | None = None, sigmas: np.ndarray | None = None, **overrides):
        self.params = with_overrides(AssociateParams, params, overrides)
        self.sigmas = sigmas
        self.reset()

    def reset(self) -> None:
        self._ids = itertools.count()
        self._track_ids = np.zeros(0, np.int64)
        self._keypoints: np.ndarray | None = None  # (T, K, 3)
        self._areas = np.zeros(0)
        self._lost = np.zeros(0, np.int64)
        self._velocity = np.zeros((0, 2))
        self._sizes = np.zeros(0)  # largest sqrt(box area) seen: a partly hidden person's box is smaller
        self._memory: list[tuple[int, np.ndarray, float, np.ndarray, int]] = []  # id, keypoints, size, velocity, age

    @property
    def num_tracks(self) -> int:
        return len(self._track_ids)

    def update(self, poses: Poses, flow: FlowField | None = None) -> Poses:
        """Assign ids to this frame's ``poses``; ``flow`` moves the previous frame into this one."""
        # Step 1: bring the live tracks into this frame
        tracks = self._keypoints
        if tracks is not None and len(tracks):
            tracks = warp_keypoints(tracks, flow)
        # Step 2-3: flow-based OKS and greedy matching
        areas = box_areas(poses.boxes)
        ids = np.full(len(poses), -1, np.int64)
        matched_tracks: set[int] = set()
        velocity = np.zeros((len(poses), 2))
        sizes = np.sqrt(areas)
        known = np.zeros_like(poses.keypoints)  # where each pose's track last had its joints
        if tracks is not None and len(tracks) and len(poses):
            # in_vis_thre 0: joints a poses file leaves absent (score 0) do not count (a network scores all)
            sim = oks_matrix(tracks, poses.keypoints, self._areas, areas, self.sigmas, in_vis_thre=0.0)
            pairs = greedy_match(sim, self.params.oks_threshold)
            for t, p in pairs:
                ids[p] = self._track_ids[t]
                matched_tracks.add(t)
            if pairs:  # mean joint motion since the last frame, for re-linking's prediction
                t_idx, p_idx = (np.array(v, np.int64) for v in zip(*pairs))
                step = common_offsets(self._keypoints[t_idx], poses.keypoints[p_idx],
                                      RELINK_JOINT_SCORE)[0].diagonal().T
                velocity[p_idx] = VELOCITY_MEMORY * self._velocity[t_idx] + (1 - VELOCITY_MEMORY) * step
                known[p_idx] = _moved(self._keypoints[t_idx], step[:, None])  # hidden joints move with the body
                sizes[p_idx] = np.maximum(sizes[p_idx], self._sizes[t_idx])
        # Step 4: returning people take a remembered id (re-linking), the others new ones
        self._memory = [(i, _moved(kp, v), a, v, age + 1) for i, kp, a, v, age in self._memory
                        if age < self.params.relink_frames]
        for p, m in self._relink(poses, areas, ids):
            ids[p], known[p], sizes[p], velocity[p] = self._memory[m][:4]
            sizes[p] = max(sizes[p], self._memory[m][2])
        taken = set(ids.tolist())
        self._memory = [m for m in self._memory if m[0] not in taken]
        for p in np.flatnonzero(ids < 0):
            ids[p] = next(self._ids)
        # Step 5: keep unmatched tracks for max_lost frames, then (re-linking) in memory
        unmatched = [t for t in range(self.num_tracks) if t not in matched_tracks]
        old = [t for t in unmatched if self._lost[t] < self.params.max_lost]
        if self.params.relink_frames:
            self._memory += [(int(self._track_ids[t]), tracks[t], float(self._sizes[t]), self._velocity[t], 0)
                             for t in unmatched if self._lost[t] >= self.params.max_lost]
        k = poses.keypoints.shape[1] if len(poses) else (tracks.shape[1] if tracks is not None else 17)
        self._track_ids = np.concatenate([ids, self._track_ids[old]])
        # a joint the pose lacks (score 0) keeps the track's last known place, so that a person seen
        # in parts (behind an occluder) is still compared whole when re-linked
        current = np.where(poses.keypoints[..., 2:] > 0, poses.keypoints, known).reshape(-1, k, 3)
        self._keypoints = np.concatenate([current.astype(np.float32),
                                          tracks[old] if old else np.zeros((0, k, 3), np.float32)])
        self._areas = np.concatenate([areas, self._areas[old]])
        self._lost = np.concatenate([np.zeros(len(poses), np.int64), self._lost[old] + 1])
        self._velocity = np.concatenate([velocity, self._velocity[old]])
        self._sizes = np.concatenate([sizes, self._sizes[old]])
        return poses.with_ids(ids)

    def _relink(self, poses: Poses, areas: np.ndarray, ids: np.ndarray) -> list[tuple[int, int]]:
        """(pose, memory entry) pairs for the unmatched poses that place and shape tie to a lost track."""
        todo = np.flatnonzero(ids < 0)
        if not len(todo) or not self._memory:
            return []
        mem_kp = np.stack([m[1] for m in self._memory])
        size = np.array([m[2] for m in self._memory])
        new_kp = poses.keypoints[todo]
        shape, offset, common = shape_similarity(mem_kp, new_kp, size ** 2, areas[todo], self.sigmas,
                                                 RELINK_JOINT_SCORE)
        # no joint seen both before and now (in at one side, out at the other): compare centres
        gap = _centres(new_kp, RELINK_JOINT_SCORE)[None] - _centres(mem_kp, RELINK_JOINT_SCORE)[:, None]
        offset = np.where((common > 0)[..., None], offset, gap)
        near = np.linalg.norm(offset, axis=2) <= self.params.relink_distance * size[:, None]
        # with fewer than 2 common joints the body shape cannot be compared: place alone decides,
        # ranked below every pair whose shapes agree
        score = np.where(near, np.where(common >= 2, shape, self.params.relink_oks), -1.0)  # (memory, new)
        return [(int(todo[p]), m) for m, p in greedy_match(score, self.params.relink_oks)]


def _moved(keypoints: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Keypoints (..., K, 3) with ``offset`` (broadcast to (..., 2)) added to x, y; scores kept."""
    out = np.array(keypoints, np.float64, copy=True)
    out[..., :2] += offset
    return out


class AssociateStage(Stage):
    """Inputs ``poses`` (Poses), optional ``flow``; output ``tracks`` (Poses with track_ids)."""

    Params = AssociateParams
    inputs = ("poses",)
    optional_inputs = ("flow",)
    outputs = ("tracks",)
    output_types = {"tracks": Poses}
    recurrent = True

    def __init__(self, params: AssociateParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.tracker = PoseTracker(self.params)

    def reset(self) -> None:
        self.tracker.reset()

    def process(self, poses: Poses, flow: FlowField | None = None) -> dict:
        return {"tracks": self.tracker.update(poses, flow)}
