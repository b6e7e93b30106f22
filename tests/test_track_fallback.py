"""Offline fallback chain of `posetrack track`: no internet -> bundled demo pose weights + HOG detector.

No test here touches the network: ``offline`` makes every DNS lookup fail (as on a machine
without internet) and points the torch hub cache and $POSETRACK_WEIGHTS_DIR at empty folders.
The real demo weights are not needed: a random HRNet-W16 saved like them (fp16, official keys)
stands in at the bundled path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import cli_runner

from posetrack.models import weights as W
from posetrack.track.graph import Graph, Node, Stage
from posetrack.track.stages import AssociateStage, DecodeStage, DetectStage, FlowStage, PropagateStage
from posetrack.track.stages.pose import DEFAULT_WEIGHTS, default_pose_weights
from posetrack.track.types import Poses


@pytest.fixture()
def offline(tmp_path, monkeypatch) -> Path:
    """No DNS, empty hub cache and weights folder; returns the hub folder."""

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution (network off in tests)")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    (tmp_path / "weights_dir").mkdir()
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path / "weights_dir"))
    return hub


@pytest.fixture(scope="module")
def demo_standin(tmp_path_factory) -> Path:
    """A package folder holding a random HRNet-W16 at the demo record's bundled path (fp16, official keys)."""
    from posetrack.models import build_model

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("package")
    path = root / W.get_weights(W.DEMO_WEIGHTS).bundled
    path.parent.mkdir(parents=True)
    torch.save({k: v.half() for k, v in build_model("hrnet_w16").state_dict().items()}, path)
    return root


@pytest.fixture()
def bundled(demo_standin, monkeypatch) -> Path:
    monkeypatch.setattr(W, "_PACKAGE_DIR", demo_standin)
    # the stand-in is not the committed file: drop a pinned hash, if the record has one
    monkeypatch.setitem(W._REGISTRY, W.DEMO_WEIGHTS, dataclasses.replace(W.get_weights(W.DEMO_WEIGHTS), sha256=""))
    return demo_standin


@pytest.fixture()
def track_cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "track")


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_demo_record_is_bundled_hrnet_w16_128x96():
    rec = W.get_weights(W.DEMO_WEIGHTS)
    assert (rec.arch, rec.input_size, rec.num_joints, rec.url) == ("hrnet_w16", (96, 128), 17, "")
    assert rec.bundled_path() == Path(W.__file__).parent / "assets" / "hrnet_w16_demo_128x96.pth"
    choice = W.resolve_weights(W.DEMO_WEIGHTS)
    assert (choice.arch, choice.input_size, choice.keypoints, choice.num_joints) == ("hrnet_w16", (96, 128), "coco", 17)


def test_cached_official_weights_are_used_without_notice(offline, caplog):
    official = W.get_weights(DEFAULT_WEIGHTS)
    official.cache_path().parent.mkdir(parents=True)
    official.cache_path().write_bytes(b"cached")  # a cache hit is trusted, never re-hashed
    assert default_pose_weights() == DEFAULT_WEIGHTS
    assert warnings_of(caplog) == []


def test_offline_track_falls_back_to_demo_weights_and_hog(shared_data, offline, bundled, track_cli, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    # the stand-in's random joints all score below the pipeline's kpt_thr: write them all
    rc, stdout, stderr = track_cli("track", str(shared_data / "videos" / "demo.mp4"), "--out", str(out), "--render",
                                   "--kpt-thr", "0")
    assert rc == 0, stderr
    notices = warnings_of(caplog)
    assert len(notices) == 2, notices
    pose_notice, det_notice = sorted(notices, key=lambda m: not m.startswith("official weights"))
    assert pose_notice.startswith(f"official weights {DEFAULT_WEIGHTS} unavailable offline (")
    assert "using the bundled demo weights hrnet_w16_demo_128x96" in pose_notice
    assert "not for benchmarks" in pose_notice and "Temporary failure in name resolution" in pose_notice
    assert det_notice.startswith("detector: cannot download the Faster R-CNN weights")
    assert "falling back to OpenCV's HOG people detector" in det_notice and "misses sitting" in det_notice
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("pose: hrnet_w16 96x128 (coco joints)") for m in messages)  # the record's input size
    assert any(m.startswith("flow: OpenCV DIS") for m in messages)
    assert any(m.startswith("loaded ") and str(W.get_weights(W.DEMO_WEIGHTS).bundled_path()) in m for m in messages)
    data = json.loads((out / "posetrack" / "demo.json").read_text())
    assert len(data["images"]) == 5
    people = {a["image_id"] for a in data["annotations"]}
    assert len(people) == 5  # someone tracked in every frame
    assert (out / "render" / "demo.mp4").stat().st_size > 0
    assert "1/1 input(s), 5 frames" in stdout


def test_explicit_choices_never_fall_back(shared_data, offline, bundled, track_cli, tmp_path, caplog):
    video = str(shared_data / "videos" / "demo.mp4")
    out = tmp_path / "out"
    rc, _, stderr = track_cli("track", video, "--out", str(out), "--weights", DEFAULT_WEIGHTS, "--detector", "hog")
    assert rc == 2
    assert f"could not download {W.get_weights(DEFAULT_WEIGHTS).url}" in stderr and "--weights PATH" in stderr
    rc, _, stderr = track_cli("track", video, "--out", str(out), "--detector", "frcnn")
    assert rc == 2 and "cannot download the Faster R-CNN weights" in stderr and "--detector-weights" in stderr
    assert warnings_of(caplog) == []  # both fail at start-up, before any fallback
    (tmp_path / "none.json").write_text("[]")
    rc, _, stderr = track_cli("track", video, "--out", str(out), "--detections", str(tmp_path / "none.json"),
                              "--detector", "hog")
    assert rc == 2 and "--detections replaces the detector: drop --detector / --detector-weights" in stderr
    assert not any(out.rglob("*.json"))


def test_missing_bundled_weights_offline_is_a_clear_error(shared_data, offline, track_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(W, "_PACKAGE_DIR", tmp_path / "broken_install")
    out = tmp_path / "out"
    rc, _, stderr = track_cli("track", str(shared_data / "videos" / "demo.mp4"), "--out", str(out))
    assert rc == 2
    assert f"official weights {DEFAULT_WEIGHTS} unavailable offline" in stderr
    assert "bundled weights 'hrnet_w16_demo_128x96' are missing" in stderr and "reinstall posetrack" in stderr
    assert not any(out.rglob("*.json"))


def test_hog_backend_gives_xyxy_boxes_with_squashed_scores():
    stage = DetectStage(backend="hog")
    stage.hog = lambda image: (np.array([[10, 20, 30, 60], [0, 0, 8, 16]], np.float32), np.array([2.0, 0.0], np.float32))
    (res,) = stage.process_batch([{"image": np.zeros((4, 4, 3), np.uint8)}])
    np.testing.assert_allclose(res["detections"], [[10, 20, 40, 80, 1 / (1 + np.exp(-2.0))], [0, 0, 8, 16, 0.5]],
                               rtol=1e-6)
    assert res["detections"].dtype == np.float32


# COCO-17 joints of an upright person as (x, y) fractions of its box, pulled in from the box
# edges so that the propagate stage's 15 % enlargement gives back a box of the same size.
_UPRIGHT = np.array([(.5, 0), (.45, .02), (.55, .02), (.4, .05), (.6, .05), (.25, .2), (.75, .2), (.1, .35),
                     (.9, .35), (0, .5), (1, .5), (.35, .55), (.65, .55), (.3, .78), (.7, .78), (.3, 1), (.7, 1)],
                    np.float32)
_MARGIN = (1 - 1 / 1.15) / 2
_UPRIGHT = _MARGIN + _UPRIGHT * (1 - 2 * _MARGIN)


class _BoxPose(Stage):
    """Stand-in pose model: an upright skeleton filling each box, joint score 0.9, and the
    official rescoring (person score = box score x mean joint score), so a propagated box
    scores below a fresh detection of the same person and fades out when never re-detected."""

    inputs, outputs, recurrent = ("image", "boxes"), ("poses",), True

    def process(self, image, boxes):
        xy = boxes[:, None, :2] + _UPRIGHT[None] * (boxes[:, None, 2:4] - boxes[:, None, :2])
        keypoints = np.concatenate([xy, np.full((len(boxes), 17, 1), 0.9, np.float32)], 2)
        return {"poses": Poses(keypoints, boxes[:, 4] * 0.9, boxes[:, :4].copy())}


def test_flow_propagation_keeps_people_hog_misses(shared_data):
    """vtest.avi frames 0-9: HOG finds the 4 people of frame 0 in only some frames; the tracks keep all 4."""
    nodes = [Node("decode", DecodeStage()), Node("detect", DetectStage(backend="hog")),
             Node("flow", FlowStage(method="dis")), Node("propagate", PropagateStage(min_score=0.3)),
             Node("pose", _BoxPose()), Node("associate", AssociateStage())]
    hog, tracks = [], []
    with Graph(nodes) as graph, contextlib.closing(graph.run(shared_data / "videos" / "vtest.avi")) as packets:
        for packet in packets:
            hog.append(packet.streams["detections"])
            tracks.append(packet.streams["tracks"])
            if len(tracks) == 10:
                break
    assert [len(d) for d in hog] == [4, 4, 3, 4, 3, 4, 3, 3, 3, 3]
    assert all(sorted(t.track_ids.tolist()) == [0, 1, 2, 3] for t in tracks)
    # frame 4: HOG misses the walker of track 2; its propagated box lies between frames 3 and 5's detections
    def centre_x(boxes):
        return (boxes[:, 0] + boxes[:, 2]) / 2

    walker = [centre_x(t.boxes[t.track_ids == 2])[0] for t in tracks[3:6]]
    assert not np.any(np.abs(centre_x(hog[4]) - walker[1]) < 15)
    assert walker[2] < walker[1] < walker[0]
