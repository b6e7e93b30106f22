"""posetrack.VideoTracker: the README example, in-memory frames = the same frames as a video, fresh ids
per call, bad input as PosetrackError naming it, and `posetrack track` writing the same bytes as before."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

import posetrack
import posetrack.errors
import posetrack.tracker
from posetrack.io.video import read_video

ROOT = Path(__file__).resolve().parents[1]
# boxes of demo.mp4 as COCO results by frame index: what HOGPersonDetector() found there (22 boxes)
DETS = ROOT / "tests" / "data" / "demo_detections.json"
FAST = {"flow": {"method": "dis"}, "pose": {"flip_test": False, "mode": "fp32"}}


@pytest.fixture(scope="module")
def demo(shared_data) -> Path:
    return shared_data / "videos" / "demo.mp4"


@pytest.fixture(scope="module")
def tracker():
    with posetrack.VideoTracker(weights="hrnet_w16_demo_128x96", detections=DETS, settings=FAST) as t:
        yield t


def python_api_example() -> str:
    section = (ROOT / "README.md").read_text().split("## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_docstring_examples_run(monkeypatch):
    import doctest

    monkeypatch.chdir(ROOT)  # the examples use the checkout's tests/data and ../shared/data
    for module in (posetrack.errors, posetrack.tracker):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_package_exports():
    assert {"VideoTracker", "TrackedFrame", "Poses", "PosetrackError", "__version__"} <= set(posetrack.__all__)
    assert all(hasattr(posetrack, name) for name in posetrack.__all__)
    from posetrack.config import ConfigError
    from posetrack.track.graph import GraphError

    assert issubclass(ConfigError, posetrack.PosetrackError) and issubclass(ConfigError, ValueError)
    assert issubclass(GraphError, posetrack.PosetrackError) and issubclass(GraphError, RuntimeError)


def test_readme_python_api_example_runs(shared_data, tmp_path, monkeypatch, capsys):
    # the example's relative paths, as from the checkout: ./tests/data and ../shared/data
    checkout = tmp_path / "checkout"
    (checkout / "tests").mkdir(parents=True)
    (checkout / "tests" / "data").symlink_to(ROOT / "tests" / "data")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    monkeypatch.chdir(checkout)
    exec(compile(python_api_example(), "README.md (Python API)", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "0 0.0 demo/000000.jpg (5, 17, 3) [0 1 2 3 4]"
    assert len(lines) == 6 and lines[4].startswith("4 0.8 demo/000004.jpg ")
    assert lines[5] == "runs/api_demo/posetrack/demo.json runs/api_demo/coco/demo.json runs/api_demo/render/demo.mp4"
    written = sorted(str(p.relative_to(checkout / "runs")) for p in (checkout / "runs").rglob("*") if p.is_file())
    assert written == ["api_demo/coco/demo.json", "api_demo/posetrack/demo.json", "api_demo/render/demo.mp4",
                       "api_demo/run/demo.json"]
    assert len(list(read_video(checkout / "runs" / "api_demo" / "render" / "demo.mp4"))) == 5


def test_frame_list_tracks_as_the_video_and_every_call_starts_fresh_ids(tracker, demo):
    video = list(tracker.track(demo))
    again = list(tracker.track(demo))
    clip = [f.image for f in read_video(demo)]
    frames = list(tracker.track(clip, fps=5))
    assert [f.name for f in video] == [f"demo/{i:06d}.jpg" for i in range(5)]
    assert [f.name for f in frames] == [f"frames/{i:06d}.jpg" for i in range(5)]
    np.testing.assert_allclose([f.pts for f in frames], [f.pts for f in video], atol=1e-9)
    assert video[0].poses.track_ids.tolist() == [0, 1, 2, 3, 4]
    for other in (again, frames):
        for a, b in zip(video, other, strict=True):
            assert a.poses.track_ids.tolist() == b.poses.track_ids.tolist()
            assert np.array_equal(a.poses.keypoints, b.poses.keypoints)
            assert np.array_equal(a.poses.boxes, b.poses.boxes)
    assert max(int(f.poses.track_ids.max()) for f in video) > 4  # ids do go on within a call
    first = next(iter(tracker.track(demo)))  # a run left early (its generator dropped) ends its threads
    assert first.poses.track_ids.tolist() == [0, 1, 2, 3, 4]
    assert len(list(tracker.track(demo))) == 5


def test_save_of_frames_named_as_the_video_writes_the_same_bytes(tracker, demo, tmp_path):
    a = tracker.save(demo, tmp_path / "video")
    b = tracker.save(np.stack([f.image for f in read_video(demo)]), tmp_path / "frames", fps=5, name="demo")
    assert a.render is None and a.posetrack == tmp_path / "video" / "posetrack" / "demo.json"
    assert a.posetrack.read_bytes() == b.posetrack.read_bytes() and a.coco.read_bytes() == b.coco.read_bytes()


def test_bad_inputs_raise_posetrack_error_naming_them(tracker, shared_data, tmp_path):
    Error = posetrack.PosetrackError
    with pytest.raises(posetrack.InputNotFoundError, match="input not found: .*nothing.mp4"):
        tracker.track(tmp_path / "nothing.mp4")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(Error, match="not a video file nor a frame folder .*empty_dir"):
        tracker.track(tmp_path / "empty_dir")
    with pytest.raises(Error, match="input must be a video file, a frame folder or an iterable .* got int"):
        tracker.track(3)
    with pytest.raises(Error, match=r"frames 'frames': an array of frames must be \(T, H, W, 3\) uint8, got shape \(4, 5, 3\)"):
        tracker.track(np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(Error, match="fps= is the time base .* the video .*demo.mp4 has its own timestamps"):
        tracker.track(shared_data / "videos" / "demo.mp4", fps=10)
    with pytest.raises(Error, match="fps must be a positive number, got 0"):
        tracker.track([np.zeros((8, 8, 3), np.uint8)], fps=0)
    with pytest.raises(Error, match=r"frames 'cam': frame 1 is not an \(H, W, 3\) uint8 RGB array \(got \(8, 8, 3\) float32\)"):
        list(tracker.track([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)], name="cam"))
    with pytest.raises(Error, match="frames 'frames': .*no frames"):
        list(tracker.track(iter([])))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((shared_data / "videos" / "demo.mp4").read_bytes()[:20_000])
    with pytest.raises(Error, match=f"^{re.escape(str(truncated))}: stage 'decode' failed"):
        tracker.save(truncated, tmp_path / "out", render=True)
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []  # no partial or temporary file
    with pytest.raises(Error, match="fmt must be '2018' or '2017', got '2019'"):
        tracker.save(truncated, tmp_path / "out", fmt="2019")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(Error, match="cannot write to output folder .*a_file/out"):
        tracker.save([np.zeros((8, 8, 3), np.uint8)], blocker / "out")


def test_bad_settings_weights_and_files_are_posetrack_errors(tmp_path):
    with pytest.raises(posetrack.PosetrackError, match="pose.*no_such_param"):
        posetrack.VideoTracker(settings={"pose": {"no_such_param": 1}})
    with pytest.raises(posetrack.PosetrackError, match=r"stage\(s\) \['posee'\]"):
        posetrack.VideoTracker(settings={"posee": {"flip_test": False}})
    with pytest.raises(posetrack.InputError, match=r"settings must be \{STAGE: \{PARAM: VALUE\}\}, got \{'pose': 3\}"):
        posetrack.VideoTracker(settings={"pose": 3})
    with pytest.raises(posetrack.InputNotFoundError, match="detections file not found: .*nope.json"):
        posetrack.VideoTracker(detections=tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(posetrack.InputError, match="bad.json: not valid JSON"):
        posetrack.VideoTracker(detections=tmp_path / "bad.json").open()
    tracker = posetrack.VideoTracker(weights=tmp_path / "missing.pth", detections=DETS)
    with pytest.raises(posetrack.InputNotFoundError, match="pose weights not found: .*missing.pth"):
        tracker.track([np.zeros((8, 8, 3), np.uint8)])
    assert isinstance(posetrack.InputNotFoundError("x"), FileNotFoundError)


def sha256_under(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# The default pipeline of cb4dc3b (the reference's a) without its comments: the test checks the move onto
# VideoTracker, not later changes of pipelines/flowtrack.yaml (a node added there regroups the crops of a
# forward pass, which moves scores in the 7th digit).
FLOWTRACK_CB4DC3B = """
output_in_flight: 4
nodes:
  - {stage: decode, params: {fps: 25.0}}
  - {stage: detect, max_in_flight: 8, batch_size: 4, params: {backend: auto, score_threshold: 0.5}}
  - {stage: flow, max_in_flight: 4, batch_size: 2, params: {method: auto, scale: 0.5}}
  - {stage: propagate, max_in_flight: 4, params: {enlarge: 0.15, nms_threshold: 0.5, min_score: 0.3}}
  - {stage: pose, params: {flip_test: true, mode: fp32}}
  - {stage: associate, params: {oks_threshold: 0.3, max_lost: 5}}
"""


def test_cli_outputs_are_byte_identical_to_before(shared_data, tmp_path, capsys):
    """The files `posetrack track` wrote before it ran on VideoTracker (tests/data/track_cli_reference.json)."""
    from posetrack.cli import main

    (tmp_path / "flowtrack.yaml").write_text(FLOWTRACK_CB4DC3B)
    reference = json.loads((ROOT / "tests" / "data" / "track_cli_reference.json").read_text())["sha256"]
    boxes = [{"image_id": i, "category_id": 1, "bbox": [560, 200, 120, 330], "score": 0.9} for i in range(10)]
    boxes += [{"image_id": i, "category_id": 1, "bbox": [840 + 4 * i, 260, 110, 300], "score": 0.8} for i in range(10)]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "out"
    demo = shared_data / "videos" / "demo.mp4"
    common = ["--weights", "hrnet_w16_demo_128x96", "--set", "pose.mode=fp32"]  # fp32: the default of then
    assert main(["track", str(demo), "--out", str(out / "a"), "--detections", str(DETS), "--flow", "dis",
                 "--render", "--pipeline", str(tmp_path / "flowtrack.yaml"), *common]) == 0
    frames = shared_data / "posetrack18_sample" / "videos" / "000001_mpiinew_test"
    assert main(["track", str(frames), "--out", str(out / "b"), "--detections", str(tmp_path / "boxes.json"),
                 "--format", "2017", "--pipeline", str(ROOT / "pipelines" / "detect_only.yaml"), *common,
                 "--set", "pose.flip_test=false", "associate.oks_threshold=0"]) == 0
    written = sha256_under(out)
    assert sorted(k for k in written if "/run/" in k) == ["a/run/demo.json", "b/run/000001_mpiinew_test.json"]
    assert {k: v for k, v in written.items() if "/run/" not in k} == reference  # run facts hold timings
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (f"{demo}: 5 frames -> {out}/a/render/demo.mp4, {out}/a/coco/demo.json, "
                          f"{out}/a/posetrack/demo.json")
    assert re.fullmatch(r"1/1 input\(s\), 5 frames in [\d.]+ s \([\d.]+ FPS\)", printed[1])
    assert re.fullmatch(r"per-stage ms/frame: decode [\d.]+, detect [\d.]+, flow [\d.]+, .*", printed[2])
