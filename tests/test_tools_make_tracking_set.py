"""tools/make_tracking_set.py: a tracking set whose ground truth follows what the frames show."""

from __future__ import annotations

import json

import numpy as np

from posetrack.io.posetrack_json import read_video
from tools.make_tracking_set import VIDEO, render, smoothing_error


def test_set_has_exact_ground_truth_and_matching_poses_files(tmp_path, posetrack18_sample):
    summary = render(tmp_path, frames=60, seed=0, jitter=4.0, sample=posetrack18_sample)
    assert len(list((tmp_path / "frames" / VIDEO).glob("*.jpg"))) == 60
    gt = read_video(tmp_path / "gt" / f"{VIDEO}.json")
    assert len(gt) == 60 and sum(len(f.people) for f in gt) == summary["gt_people"]
    assert summary["occlusions"] and max(summary["occlusions"]) >= 10  # people hidden and seen again
    exact = json.loads((tmp_path / "poses_exact.json").read_text())
    jitter = json.loads((tmp_path / "poses_jitter.json").read_text())
    assert len(exact) == len(jitter) == summary["gt_people"]
    by_frame = {}
    for e in exact:
        by_frame.setdefault(e["image_id"], []).append(np.array(e["keypoints"]).reshape(17, 3))
    for t, frame in enumerate(gt):
        poses = by_frame.get(f"{VIDEO}/{t:06d}.jpg", [])
        truth = sorted(p.keypoints[p.present, :2].round(3).tolist() for p in frame.people)
        given = sorted(k[k[:, 2] > 0, :2].round(3).tolist() for k in poses)
        assert given == truth, t  # the exact poses are the GT joints, ids removed
    noisy = json.loads((tmp_path / "poses_noisy.json").read_text())
    scores = np.array([e["keypoints"][2::3] for e in noisy])
    assert scores[scores > 0].min() < 0.1 and 0.9 < scores.max() <= 1.0  # low-scoring guesses, confident joints
    raw, smoothed = smoothing_error(tmp_path), smoothing_error(tmp_path, min_cutoff=1.0, beta=10.0)
    assert 4.0 < raw["all"] < 6.0 and smoothed["all"] < 0.9 * raw["all"]  # 4 px jitter per coordinate, less after
