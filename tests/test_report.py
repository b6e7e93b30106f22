"""Report data model (numpy statistics), run facts, GT frame events and the `posetrack report` CLI.

Inputs are small PoseTrack 2018 files with hand-computable values (tests/report_samples.py); the
browser side is in test_report_browser.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest

from posetrack.eval.posetrack import frame_events
from posetrack.io.video import VideoWriter
from posetrack.report import (
    NoticeRecorder, load_tracked_video, read_run_facts, report_data, track_stats, write_run_facts,
)
from tests.cli_runner import cli_runner
from tests.report_samples import VIDEO, gt_and_prediction, person, video_file


def test_track_statistics_exact(tmp_path):
    # track 7: frames 0, 1, 2 and (re-linked after a gap) 4; x moves 0, 2, 6 px: acceleration 2 px/frame^2
    # track 3: box jumps 10 px (< its 40 px size) then 90 px (> 40): one suspected switch, at frame 2
    frames = [
        [person(7, 100, 200, 0.1, 0.8), person(3, 600, 10, 0.9, 0.5, bbox=[0, 0, 20, 40])],
        [person(7, 102, 200, 0.2, 0.6), person(3, 600, 10, 0.9, 0.5, bbox=[10, 0, 20, 40])],
        [person(7, 106, 200, 0.3, 0.7), person(3, 600, 10, 0.9, 0.5, bbox=[100, 0, 20, 40])],
        [],
        [person(7, 300, 300, 0.5, 0.9)],
    ]
    video = load_tracked_video(video_file(tmp_path / "v.json", frames))
    assert video.num_frames == 5 and video.offsets.tolist() == [0, 2, 4, 6, 6, 7]
    assert video.track_ids().tolist() == [3, 7]
    three, seven = track_stats(video)
    assert (seven.track_id, seven.frames, seven.first, seven.last) == (7, 4, 0, 4)
    assert seven.segments == [(0, 2), (4, 4)] and seven.switch_frames == []
    assert seven.mean_score == pytest.approx(0.75) and seven.mean_joint_score == pytest.approx(0.275)
    assert seven.jitter == pytest.approx(2.0)
    assert three.segments == [(0, 2)] and three.switch_frames == [2] and three.suspected_switches == 1
    assert three.jitter == 0.0 and three.mean_joint_score == pytest.approx(0.9)


def test_track_statistics_without_scores_or_triples(tmp_path):
    video = load_tracked_video(video_file(tmp_path / "v.json", [[person(1, 0, 0, None)], [], [person(1, 5, 0, None)]]))
    (one,) = track_stats(video)
    assert one.segments == [(0, 0), (2, 2)] and math.isnan(one.jitter) and math.isnan(one.mean_joint_score)


def test_duplicate_track_in_a_frame_is_an_error_naming_the_file(tmp_path):
    video_file(tmp_path / "out" / "posetrack" / "dup.json", [[person(4, 0, 0), person(4, 50, 50)]])
    with pytest.raises(ValueError, match=r"dup\.json: track 4 appears twice in frame 0"):
        report_data(tmp_path / "out", "dup")


def test_run_facts_written_atomically_and_read_back(tmp_path):
    from posetrack import __version__

    facts = {"input": "clip.mp4", "frames": 3, "fps": 25.0, "stage_ms": {"pose": 1.5}, "size": (2, 3)}
    path = write_run_facts(tmp_path, "clip", facts)
    assert path == tmp_path / "run" / "clip.json" and [p.name for p in path.parent.iterdir()] == ["clip.json"]
    assert read_run_facts(tmp_path, "clip") == {**facts, "size": [2, 3], "posetrack": __version__}
    assert read_run_facts(tmp_path, "other") is None
    (tmp_path / "run" / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run/bad\.json: not valid JSON"):
        read_run_facts(tmp_path, "bad")


def test_notice_recorder_keeps_info_lines_even_when_quiet():
    logger = logging.getLogger("posetrack")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with NoticeRecorder() as notices:
            logging.getLogger("posetrack.track.stages.flow").info("flow: OpenCV DIS at %.2fx", 0.5)
            logging.getLogger("posetrack.track.stages.detect").warning("detector: falling back")
            logging.getLogger("posetrack.x").debug("not a notice")
        assert logger.level == logging.WARNING and notices not in logger.handlers
    finally:
        logger.setLevel(before)
    assert notices.messages == ["INFO: flow: OpenCV DIS at 0.50x", "WARNING: detector: falling back"]


def test_frame_events_place_each_mot_error_on_its_frame(tmp_path):
    gt, pred = gt_and_prediction(tmp_path)
    events = frame_events(gt, pred)
    assert events["frame"].tolist() == [0, 1, 2, 3]
    assert events["misses"].tolist() == [0, 15, 0, 0]
    assert events["false_positives"].tolist() == [0, 0, 15, 0]
    assert events["switches"].tolist() == [0, 0, 0, 30]  # both people, 15 joints each


def test_report_data_with_ground_truth(tmp_path):
    gt, _ = gt_and_prediction(tmp_path)
    data = report_data(tmp_path / "out", VIDEO, gt.parent)
    g = data["gt"]
    assert g["marks"] == {"misses": [1], "false_positives": [2], "switches": [3]}
    assert g["frames_scored"] == 4
    # 8 GT joints per joint id, 7 matched before the one false positive (lowest score): AP 7/8
    assert g["ap"]["Total"] == pytest.approx(87.5) and g["per_joint"]["ap"]["nose"] == pytest.approx(87.5)
    # poseval leaves the last scored frame (3, the swap) out of MOT: 6 objects, 1 miss, 1 FP
    assert g["mota"]["Total"] == pytest.approx(100 * (1 - 2 / 6), abs=1e-3)
    assert g["per_joint"]["mota"]["left_wrist"] == pytest.approx(100 * (1 - 2 / 6), abs=1e-3)
    assert [t["id"] for t in data["tracks"]] == [0, 1]
    # no video, no run facts: the canvas spans the predicted joints (x up to 400 + 160, y up to 100 + 80)
    assert data["video"] == {"name": VIDEO, "src": None, "width": 561, "height": 181, "fps": 25.0, "frames": 5}


def test_video_source_prefers_playable_render_then_input(shared_data, tmp_path):
    out = tmp_path / "out"
    video_file(out / "posetrack" / "clip.json", [[person(0, 10, 10)]] * 2)
    demo = shared_data / "videos" / "demo.mp4"  # H.264, 960x540, 5 fps
    write_run_facts(out, "clip", {"input": str(demo), "fps": 5.0})
    (out / "render").mkdir()
    with VideoWriter(out / "render" / "clip.mp4", 5.0, codec="mpeg4") as w:  # MPEG-4 part 2: no browser plays it
        for _ in range(2):
            w.write(np.zeros((64, 96, 3), np.uint8))
    data = report_data(out, "clip")
    assert not Path(data["video"]["src"]).is_absolute()
    assert (out / "report" / data["video"]["src"]).resolve() == demo.resolve()
    assert (data["video"]["width"], data["video"]["height"], data["video"]["fps"]) == (960, 540, 5.0)
    with VideoWriter(out / "render" / "clip.mp4", 5.0, codec="libx264") as w:
        for _ in range(2):
            w.write(np.zeros((64, 96, 3), np.uint8))
    data = report_data(out, "clip")
    assert data["video"]["src"] == "../render/clip.mp4" and (data["video"]["width"], data["video"]["height"]) == (96, 64)


def test_tracker_save_writes_run_facts_and_report(posetrack18_sample, tmp_path):
    import posetrack

    gt_dir = posetrack18_sample / "annotations" / "val"
    people = json.loads((gt_dir / "012834_mpii_test.json").read_text())["annotations"]
    dets = [{"image_id": "000000.jpg", "bbox": a["bbox"], "score": 1.0 - 0.01 * i} for i, a in enumerate(people)]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    frames = posetrack18_sample / "images" / "val" / "012834_mpii_test"
    out = tmp_path / "out"
    tracker = posetrack.VideoTracker(weights="hrnet_w16_demo_128x96", detections=tmp_path / "dets.json",
                                     settings={"pose": {"flip_test": False, "mode": "fp32"}})
    with tracker:
        tracker.save(frames, out, report=True)
    facts = read_run_facts(out, "012834_mpii_test")
    assert facts["input"] == os.path.abspath(frames) and (facts["frames"], facts["width"], facts["height"]) == (1, 1920, 1080)
    names = [n.name for n in tracker.graph.nodes]
    assert list(facts["stages"]) == names and list(facts["stage_ms"]) == names and facts["seconds"] > 0
    pose = facts["stages"]["pose"]
    assert pose["stage"] == "PoseStage" and pose["params"]["flip_test"] is False and pose["params"]["mode"] == "fp32"
    assert facts["pose_weights"]["arch"] == "hrnet_w16" and facts["outputs"] == dataclasses.asdict(tracker.outputs)
    assert any("hrnet_w16_demo_128x96" in n for n in facts["notices"])  # logged while the models loaded
    assert (out / "report" / "012834_mpii_test.html").is_file()
    # the real ground truth of that frame: scored, and no MOTA (poseval leaves a video's last frame out)
    gt = report_data(out, "012834_mpii_test", gt_dir)["gt"]
    assert gt["frames_scored"] == 1 and gt["mota"]["Total"] is None and gt["ap"]["Total"] > 0


def test_cli_errors_name_the_folder_or_file_and_write_nothing(monkeypatch, capsys, tmp_path):
    run = cli_runner(monkeypatch, capsys, "report")
    rc, _, err = run("report", str(tmp_path / "nowhere"))
    assert rc == 2 and "not a posetrack track output folder (no posetrack/ inside)" in err and "nowhere" in err
    gt, _ = gt_and_prediction(tmp_path)
    rc, _, err = run("report", str(tmp_path / "out"), "--gt", str(tmp_path / "no_gt"))
    assert rc == 2 and "GT directory not found" in err
    rc, _, err = run("report", str(tmp_path / "out"), "--gt", str(tmp_path))
    assert rc == 2 and f"no ground truth for video '{VIDEO}'" in err and f"{VIDEO}.json not found" in err
    rc, out, _ = run("report", str(tmp_path / "out"), "--gt", str(gt.parent))
    assert rc == 0 and out.strip() == str(tmp_path / "out" / "report" / f"{VIDEO}.html")
    page = (tmp_path / "out" / "report" / f"{VIDEO}.html").read_text()
    assert "@@" not in page and "<script src" not in page and "http://" not in page and "https://" not in page
    # a bad file is reported by name; the other videos still get their page, and no temp file is left
    (tmp_path / "out" / "posetrack" / "broken.json").write_text('{"images": [{"id": 1}], "annotations": []}')
    rc, out, err = run("report", str(tmp_path / "out"))
    assert rc == 2 and "posetrack report: error: broken: " in err and "broken.json" in err
    assert sorted(p.name for p in (tmp_path / "out" / "report").iterdir()) == [f"{VIDEO}.html"]
