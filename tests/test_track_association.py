"""Association on ground-truth poses with the ids removed recovers the ids (MOTA 100 with the PoseTrack evaluator).

The sample has one annotated frame per video, so a sequence is made from the 11-person
crowd frame of 012834_mpii_test: every person drifts with its own velocity, the
prediction keypoints get 2 px noise, and people come in shuffled order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from posetrack.eval.posetrack import evaluate
from posetrack.io.posetrack_json import FramePoses, PersonPose, PoseTrackWriter, read_video
from posetrack.track.stages.associate import PoseTracker
from posetrack.track.types import Poses

NUM_FRAMES = 12


def _sequence(gt0: FramePoses, rng: np.random.Generator) -> list[FramePoses]:
    velocity = rng.uniform(-6, 6, (len(gt0.people), 2))
    frames = []
    for t in range(NUM_FRAMES):
        name = f"images/val/012834_mpii_test/{t:06d}.jpg"
        people = []
        for i, p in enumerate(gt0.people):
            shift = velocity[i] * t
            kp = p.keypoints.copy()
            kp[p.present, :2] += shift
            people.append(dataclasses.replace(p, keypoints=kp, head_box=p.head_box + np.tile(shift, 2)))
        frames.append(FramePoses(name, 10128340000 + t, 10128340000 + t, people, True, "012834", NUM_FRAMES))
    return frames


def test_tracker_recovers_ground_truth_ids(posetrack18_sample, tmp_path):
    (gt0,) = read_video(posetrack18_sample / "annotations" / "val" / "012834_mpii_test.json")
    assert len(gt0.people) == 11
    rng = np.random.default_rng(0)
    gt_frames = _sequence(gt0, rng)
    tracker = PoseTracker(oks_threshold=0.3, max_lost=5)
    pred_frames, mapping = [], {}
    for frame in gt_frames:
        order = rng.permutation(len(frame.people))
        kpts = np.zeros((len(order), 17, 3), np.float32)
        for n, i in enumerate(order):
            p = frame.people[i]
            kpts[n, p.present, :2] = p.keypoints[p.present, :2] + rng.normal(0, 2, (p.present.sum(), 2))
            kpts[n, p.present, 2] = 0.9
        boxes = np.array([[k[k[:, 2] > 0, 0].min(), k[k[:, 2] > 0, 1].min(),
                           k[k[:, 2] > 0, 0].max(), k[k[:, 2] > 0, 1].max()] for k in kpts], np.float32)
        tracks = tracker.update(Poses(kpts, np.full(len(kpts), 0.9, np.float32), boxes))
        for n, i in enumerate(order):
            assert mapping.setdefault(int(tracks.track_ids[n]), frame.people[i].track_id) == frame.people[i].track_id
        people = [PersonPose(int(tracks.track_ids[n]), kpts[n]) for n in range(len(kpts))]
        pred_frames.append(dataclasses.replace(frame, people=people))
    assert len(mapping) == 11  # one predicted id per person, never switched

    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for folder, frames in ((gt_dir, gt_frames), (pred_dir, pred_frames)):
        folder.mkdir()
        with PoseTrackWriter(folder / "012834_mpii_test.json") as writer:
            for f in frames:
                writer.add(f)
    results = evaluate(gt_dir, pred_dir)
    assert results["mota"]["Total"] == 100.0
    assert sum(results["counts"]["num_switches"].values()) == 0
