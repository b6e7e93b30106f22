"""smooth: One-Euro filter per track and joint (Casiez et al., CHI 2012), after ``associate``.

Per coordinate, with ``dt`` the time since the previous frame (from ``pts``, so variable frame
rate works) and ``alpha(fc) = 1 / (1 + 1 / (2 pi fc dt))``::

    dx     = (x - x_prev) / dt                          (x_prev: last filtered value)
    dx_hat = alpha(d_cutoff) dx + (1 - alpha(d_cutoff)) dx_hat_prev
    fc     = min_cutoff + beta |dx_hat| / scale
    x_hat  = alpha(fc) x + (1 - alpha(fc)) x_prev

``scale`` is the person's size (square root of its box area), so ``beta`` is in cutoff Hz per
person-size per second and does not depend on the video resolution (mmpose's and mmdeploy's
filters use pixels per frame). A track's filter starts afresh (output = input) when the id is
new or was absent in the previous frame (re-linked, or matched again after being lost), so a
returning person is never dragged from where they were last seen; so does a joint that was
absent (score 0, as a poses file writes hidden joints), which passes through while absent. Joint
scores, person scores and boxes pass through unchanged. ``enabled: false`` (the default: FlowTrack as published)
passes the tracks through untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posetrack.track.graph import Stage
from posetrack.track.stages.associate import box_areas
from posetrack.track.types import Poses


@dataclass(frozen=True)
class SmoothParams:
    enabled: bool = False  # --smooth
    min_cutoff: float = 1.0  # Hz at rest: lower = less jitter when still, more lag
    beta: float = 10.0  # cutoff Hz added per person-size/s of speed: higher = less lag on fast motion
    d_cutoff: float = 1.0  # Hz of the speed estimate's own low-pass

    def __post_init__(self):
        if self.min_cutoff <= 0 or self.d_cutoff <= 0:
            raise ValueError(f"min_cutoff and d_cutoff must be > 0 Hz, got {self.min_cutoff}, {self.d_cutoff}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """One-Euro's alpha for a cutoff frequency (Hz) and a time step (s)."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


class OneEuroFilter:
    """One-Euro state of one track: (K, 2) filtered joints, their speed estimate and which joints
    were present (score > 0) last time; a joint that was absent starts afresh when it comes back."""

    def __init__(self, params: SmoothParams, xy: np.ndarray, t: float, present: np.ndarray):
        self.params, self.t = params, t
        self.x = np.asarray(xy, np.float64).copy()
        self.dx = np.zeros_like(self.x)
        self.present = np.asarray(present, bool)

    def __call__(self, xy: np.ndarray, t: float, scale: float, present: np.ndarray) -> np.ndarray:
        """The filtered (K, 2) joints at time ``t`` (s) for raw ``xy``; ``scale``: person size in px;
        absent joints (``present`` False, e.g. a poses file's 0, 0, 0) pass through as they are."""
        p, dt = self.params, t - self.t
        xy = np.asarray(xy, np.float64)
        if dt <= 0:  # a repeated timestamp carries no motion: keep the estimate
            return np.where(present[:, None], self.x, xy)
        back = present & ~self.present
        self.x[back], self.dx[back] = xy[back], 0.0
        self.present = np.asarray(present, bool)
        a_d = smoothing_factor(p.d_cutoff, dt)
        self.dx = a_d * (xy - self.x) / dt + (1 - a_d) * self.dx
        a = smoothing_factor(p.min_cutoff + p.beta * np.abs(self.dx) / max(scale, 1e-6), dt)
        self.x = a * xy + (1 - a) * self.x
        self.t = t
        return np.where(present[:, None], self.x, xy)


class SmoothStage(Stage):
    """Inputs ``tracks`` (Poses with track_ids) and ``pts``; output ``smoothed`` (same people, joints
    filtered). In a pipeline file the associate node writes ``tracks`` under another stream name
    and this node hands ``smoothed`` on as ``tracks`` (see ``pipelines/flowtrack.yaml``)."""

    Params = SmoothParams
    inputs = ("tracks", "pts")
    outputs = ("smoothed",)
    output_types = {"smoothed": Poses}
    recurrent = True  # per-track state, frames in order

    def __init__(self, params: SmoothParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.filters: dict[int, OneEuroFilter] = {}

    def reset(self) -> None:
        self.filters = {}

    def process(self, tracks: Poses, pts: float) -> dict:
        if not self.params.enabled or tracks.track_ids is None:
            return {"smoothed": tracks}
        keypoints = np.array(tracks.keypoints, np.float32, copy=True)
        scales = np.sqrt(box_areas(tracks.boxes))
        filters = {}  # only ids of this frame survive: a gap restarts the filter
        for n, tid in enumerate(tracks.track_ids.tolist()):
            f = self.filters.get(tid)
            present = keypoints[n, :, 2] > 0
            if f is None:
                f = OneEuroFilter(self.params, keypoints[n, :, :2], pts, present)
            else:
                keypoints[n, :, :2] = f(keypoints[n, :, :2], pts, float(scales[n]), present)
            filters[tid] = f
        self.filters = filters
        return {"smoothed": Poses(keypoints, tracks.scores, tracks.boxes, tracks.track_ids)}
