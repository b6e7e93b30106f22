"""pose_ahead: poses of the detector's boxes estimated ahead of tracking give the same tracks as
estimating every box inside the recurrent thread (real clip, fixed detections, the bundled demo model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posetrack.config import ConfigError
from posetrack.io.video import read_frames
from posetrack.models.weights import DEMO_WEIGHTS
from posetrack.track.graph import NodeConfig, PipelineConfig
from posetrack.track.pipeline import build_graph
from posetrack.track.stages.decode import FrameInput
from posetrack.track.stages.hog_detector import HOGPersonDetector
from posetrack.track.stages.pose import PoseStage

FRAMES = 10
NO_DETECTIONS = (3, 4, 7)  # frames whose boxes all come from propagation
POSE = {"weights": DEMO_WEIGHTS, "mode": "fp32", "flip_test": True}


@pytest.fixture(scope="module")
def clip(shared_data: Path):
    return [f.image for _, f in zip(range(FRAMES), read_frames(shared_data / "videos" / "vtest.avi"))]


@pytest.fixture(scope="module")
def detections_file(clip, tmp_path_factory) -> Path:
    """HOG's people of each frame as a COCO results file keyed by frame index; some frames left empty."""
    hog = HOGPersonDetector(score_threshold=1.0, min_height=864)
    entries = []
    for index, image in enumerate(clip):
        if index in NO_DETECTIONS:
            continue
        xywh, margins = hog(image)
        entries += [{"image_id": index, "category_id": 1, "bbox": [float(v) for v in box],
                     "score": float(1 / (1 + np.exp(-m)))} for box, m in zip(xywh, margins)]
    path = tmp_path_factory.mktemp("dets") / "dets.json"
    path.write_text(json.dumps(entries))
    return path


def _pipeline(detections: Path, ahead: bool) -> PipelineConfig:
    nodes = [NodeConfig("decode"), NodeConfig("detections_file", params={"path": str(detections)}),
             NodeConfig("flow", params={"method": "dis", "scale": 0.5}, batch_size=2)]
    if ahead:
        nodes.append(NodeConfig("pose_ahead", batch_size=4, max_in_flight=8))
    nodes += [NodeConfig("propagate", params={"enlarge": 0.15, "nms_threshold": 0.5, "min_score": 0.3}),
              NodeConfig("pose", params=dict(POSE)), NodeConfig("associate")]
    return PipelineConfig(nodes)


def _run(cfg: PipelineConfig, clip, monkeypatch) -> tuple[list, dict[str, int]]:
    estimated: dict[str, int] = {}
    real = PoseStage._estimate

    def counting(stage, frames):
        estimated[type(stage).__name__] = estimated.get(type(stage).__name__, 0) + sum(len(b) for _, b in frames)
        return real(stage, frames)

    monkeypatch.setattr(PoseStage, "_estimate", counting)
    with build_graph(cfg) as graph:
        tracks = [p.streams["tracks"] for p in graph.run(FrameInput(clip))]
    monkeypatch.setattr(PoseStage, "_estimate", real)
    return tracks, estimated


def test_pose_ahead_gives_the_tracks_of_the_recurrent_graph(clip, detections_file, monkeypatch):
    before, counts_before = _run(_pipeline(detections_file, ahead=False), clip, monkeypatch)
    after, counts_after = _run(_pipeline(detections_file, ahead=True), clip, monkeypatch)
    total = sum(len(t) for t in before)
    # both paths were used: the detections ahead, the propagated boxes that survived NMS inside
    assert counts_before == {"PoseStage": total}
    assert 0 < counts_after["PoseStage"] < total / 2 and counts_after["PoseAheadStage"] > total / 2
    assert len(before) == len(after) == FRAMES and total > 3 * FRAMES
    assert all(len(before[i]) for i in NO_DETECTIONS)  # people carried through by propagation
    for a, b in zip(before, after):
        assert a.track_ids.tolist() == b.track_ids.tolist()
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)


def test_pose_ahead_takes_the_pose_node_params(detections_file):
    graph = build_graph(_pipeline(detections_file, ahead=True), {"pose": {"flip_test": False}})
    ahead, pose = (next(n.stage for n in graph.nodes if n.name == name) for name in ("pose_ahead", "pose"))
    assert ahead.params == pose.params and ahead.params.flip_test is False and ahead.params.weights == DEMO_WEIGHTS
    cfg = _pipeline(detections_file, ahead=True)
    own = PipelineConfig([NodeConfig("pose_ahead", params={"flip_test": False}) if n.stage == "pose_ahead" else n
                          for n in cfg.nodes])
    with pytest.raises(ConfigError, match=r"nodes\[3\] \(pose_ahead\): takes the params of the 'pose' node"):
        build_graph(own)
    with pytest.raises(ConfigError, match="takes the params of the 'pose' node"):
        build_graph(cfg, {"pose_ahead": {"flip_test": False}})
    # a bad value is reported at the pose node, where it is set, although pose_ahead is built first
    with pytest.raises(ConfigError, match=r"nodes\[5\] \(pose\)\.params: bad inference mode 'fp33'"):
        build_graph(cfg, {"pose": {"mode": "fp33"}})
    alone = PipelineConfig([n for n in cfg.nodes if n.stage != "pose"])
    with pytest.raises(ConfigError, match="needs a 'pose' node to take its params from"):
        build_graph(alone)
