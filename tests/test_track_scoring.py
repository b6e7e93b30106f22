"""Tracking that scores (issue 13): submission thresholds and the eval sweep, tracking a poses file,
One-Euro smoothing, detector keyframes, re-linking. Real annotated people from the PoseTrack18
sample; expected values computed by hand."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_runner import cli_runner
from posetrack.config import ConfigError
from posetrack.eval.posetrack import evaluate, sweep_kpt_thr
from posetrack.io.posetrack_json import read_video
from posetrack.track.graph import Graph, Node
from posetrack.track.outputs import OutputParams, OutputPaths, VideoResults
from posetrack.track.pipeline import build_graph, load_pipeline, output_params, with_poses_file
from posetrack.track.stages.associate import AssociateParams, PoseTracker
from posetrack.track.stages.decode import DecodeStage
from posetrack.track.stages.detect import DetectParams, DetectStage
from posetrack.track.stages.detections_file import DetectionsFileStage
from posetrack.track.stages.poses_file import PosesFileStage
from posetrack.track.stages.propagate import keypoint_boxes
from posetrack.track.stages.smooth import SmoothParams, SmoothStage
from posetrack.track.types import Poses
from test_eval_posetrack import gt_people, load_real, make_gt

LEFT_ELBOW = 7  # PoseTrack-2018 slot


def _write(out: Path, video: str, frames: list[Poses], thresholds: OutputParams = OutputParams()) -> Path:
    paths = OutputPaths.for_video(out, video, render=False)
    with VideoResults(paths, "2018", "posetrack18", thresholds=thresholds) as results:
        for t, poses in enumerate(frames):
            results.add(t, f"{video}/{t:06d}.jpg", None, poses)
    return paths.posetrack


def _gt_as_poses(gt: dict, guess_score: float) -> list[Poses]:
    """Each GT frame as tracked poses (ids kept, joint score 0.9); person A (track 0) also gets a
    guess at its unannotated left elbow, 800 px away from everybody, scoring ``guess_score``."""
    frames = []
    for people in gt_people(gt):
        kps = []
        for tid, kp in people:
            k = kp.copy()
            k[:, 2] = np.where(np.all(kp == 0, axis=1), 0.0, 0.9)
            if tid == 0:
                assert not k[LEFT_ELBOW].any()  # premise: A's left elbow is not annotated
                k[LEFT_ELBOW] = (kp[~np.all(kp == 0, axis=1), 0].max() + 800, 300, guess_score)
            kps.append(k)
        kps = np.array(kps, np.float32)
        frames.append(Poses(kps, np.full(len(kps), 0.9, np.float32), keypoint_boxes(kps, 0.15, 0.0),
                            np.array([tid for tid, _ in people])))
    return frames


def test_joint_below_kpt_thr_is_written_absent_and_mota_rises_by_hand_computed_amount(tmp_path, posetrack18_sample):
    video = "009473_mpii_test"
    gt = make_gt(load_real(posetrack18_sample, video), 4, regions=False)
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / f"{video}.json").write_text(json.dumps(gt))
    frames = _gt_as_poses(gt, guess_score=0.2)
    _write(tmp_path / "all", video, frames)
    kept = _write(tmp_path / "thr", video, frames, OutputParams(kpt_thr=0.3))
    a = next(p for p in read_video(kept)[0].people if p.track_id == 0)
    assert not a.present[LEFT_ELBOW] and a.present.sum() == 14  # the guess is written absent, the rest kept
    coco = json.loads((tmp_path / "thr" / "coco" / f"{video}.json").read_text())
    assert coco[0]["keypoints"][3 * 7 + 2] == 0.2  # COCO results keep every joint (COCO slot 7 = left elbow)
    every = evaluate(tmp_path / "gt", tmp_path / "all" / "posetrack")
    thresholded = evaluate(tmp_path / "gt", tmp_path / "thr" / "posetrack")
    # MOT over frames 0-2: left elbow has 3 GT objects (B's) and, unthresholded, A's 3 far guesses
    # as false positives: MOTA 1 - 3/3 = 0 there, 100 elsewhere; thresholded 100 everywhere
    assert every["per_joint"]["mota"]["left_elbow"] == 0.0
    assert every["mota"]["Total"] == pytest.approx(14 * 100 / 15, abs=1e-12)
    assert thresholded["mota"]["Total"] == 100.0
    assert thresholded["mota"]["Total"] - every["mota"]["Total"] == pytest.approx(100 / 15, abs=1e-12)
    # the sweep scores the unthresholded folder as if written with each threshold
    sweep = sweep_kpt_thr(tmp_path / "gt", tmp_path / "all" / "posetrack", [0.1, 0.3])
    assert [e["kpt_thr"] for e in sweep] == [0.1, 0.3]
    assert sweep[0]["mota"] == every["mota"]
    for key in ("ap", "mota", "motp", "precision", "recall"):
        assert sweep[1][key] == thresholded[key], key


def test_person_below_person_thr_is_not_written_and_thresholds_are_checked(tmp_path):
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, 5:, :2], kp[:, 5:, 2] = 100.0, 0.9
    poses = Poses(kp, np.array([0.9, 0.2], np.float32), np.array([[0, 0, 10, 10]] * 2, np.float32), np.array([0, 1]))
    path = _write(tmp_path, "clip", [poses], OutputParams(person_thr=0.5))
    assert [p.track_id for p in read_video(path)[0].people] == [0]
    assert len(json.loads((tmp_path / "coco" / "clip.json").read_text())) == 2
    with pytest.raises(ValueError, match="kpt_thr must be in"):
        OutputParams(kpt_thr=1.5)
    cfg = load_pipeline()
    assert output_params(cfg, {"outputs": {"kpt_thr": 0.25}}).kpt_thr == 0.25
    with pytest.raises(ConfigError, match="outputs: person_thr must be in"):
        build_graph(cfg, {"outputs": {"person_thr": -0.1}})
    with pytest.raises(ConfigError, match="unknown key.*kpt"):
        build_graph(cfg, {"outputs": {"kpt": 0.1}})


def test_eval_cli_sweep_row_and_json(tmp_path, posetrack18_sample, monkeypatch, capsys):
    video = "009473_mpii_test"
    gt = make_gt(load_real(posetrack18_sample, video), 4, regions=False)
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / f"{video}.json").write_text(json.dumps(gt))
    _write(tmp_path / "all", video, _gt_as_poses(gt, guess_score=0.2))
    run = cli_runner(monkeypatch, capsys, "eval")
    rc, out, _ = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "all" / "posetrack"),
                     "--kpt-thr", "0.1,0.3", "--out", str(tmp_path / "m.json"), "--workers", "1")
    assert rc == 0
    rows = out.split("Keypoint threshold sweep")[1].splitlines()[2:4]
    assert [r.split()[0] for r in rows] == ["0.10", "0.30"] and rows[1].split()[-3] == "100.0"
    sweep = json.loads((tmp_path / "m.json").read_text())["sweep"]
    assert [(e["kpt_thr"], e["mota"]["Total"]) for e in sweep] == [(0.1, pytest.approx(14 * 100 / 15)), (0.3, 100.0)]
    rc, _, err = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path), "--kpt-thr", "0.2,x")
    assert rc == 2 and "numbers in [0, 1]" in err
    rc, _, err = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path), "--kpt-thr", "0.2",
                     "--metrics", "hota")
    assert rc == 2 and "--kpt-thr sweeps AP and MOTA: add map,mota to --metrics" in err


def _crowd_sequence(tmp_path: Path, posetrack18_sample: Path) -> tuple[Path, Path, Path]:
    """The 11 annotated people of 012834 (a crowd) over 6 frames of their real frame panned 2 px per
    frame: (GT folder, frame folder, poses file of the GT poses without ids, shuffled per frame)."""
    video = "012834_mpii_test"
    gt = make_gt(load_real(posetrack18_sample, video), 6)
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / f"{video}.json").write_text(json.dumps(gt))
    image = np.asarray(Image.open(posetrack18_sample / "images/val" / video / "000000.jpg").convert("RGB"))
    (tmp_path / video).mkdir()
    entries, rng = [], np.random.default_rng(0)
    for t, people in enumerate(gt_people(gt)):
        Image.fromarray(np.roll(image, 2 * t, axis=1)).save(tmp_path / video / f"{t:06d}.jpg", quality=95)
        for n in rng.permutation(len(people)):
            entries.append({"image_id": f"{video}/{t:06d}.jpg", "category_id": 1, "score": 1.0,
                            "keypoints": people[n][1].ravel().tolist()})  # v 1 for annotated joints: score 1
    (tmp_path / "poses.json").write_text(json.dumps(entries))
    return tmp_path / "gt", tmp_path / video, tmp_path / "poses.json"


def test_poses_file_with_ground_truth_poses_of_a_real_sequence_gives_mota_100(tmp_path, posetrack18_sample):
    gt_dir, frames, poses = _crowd_sequence(tmp_path, posetrack18_sample)
    cfg = with_poses_file(load_pipeline(), str(poses))
    settings = {"poses_file": {"keypoints": "posetrack18"}, "flow": {"method": "dis"}}
    graph = build_graph(cfg, settings)
    assert [n.name for n in graph.nodes] == ["decode", "poses_file", "flow", "associate", "smooth"]
    paths = OutputPaths.for_video(tmp_path / "out", frames.name, render=False)
    with graph, VideoResults(paths, "2018", "posetrack18", thresholds=output_params(cfg, settings)) as results, \
            contextlib.closing(graph.run(frames)) as packets:
        for p in packets:
            results.add(p.index, p.streams["name"], None, p.streams["tracks"])
    r = evaluate(gt_dir, tmp_path / "out" / "posetrack")
    assert r["mota"]["Total"] == 100.0 and r["ap"]["Total"] == 100.0
    assert sum(r["counts"]["num_switches"].values()) == 0


def test_poses_file_names_the_bad_entry(tmp_path):
    bad = tmp_path / "poses.json"
    bad.write_text(json.dumps([{"image_id": 0, "keypoints": [1.0] * 50, "score": 1.0}]))
    with pytest.raises(ValueError, match=r"poses.json: entry 0 is not .*51"):
        PosesFileStage(path=str(bad)).open()


def _track(stage: SmoothStage, xs: list[float], ts: list[float], ids: list[int] | None = None) -> list[float]:
    """x of joint 0 after smoothing a one-person track at ``xs`` (all joints there, y = 0), box 100 x 100."""
    out = []
    for n, (x, t) in enumerate(zip(xs, ts)):
        kp = np.zeros((1, 17, 3), np.float32)
        kp[..., 0], kp[..., 2] = x, 1.0
        tid = np.array([0 if ids is None else ids[n]])
        res = stage.process(Poses(kp, np.ones(1, np.float32), np.array([[0, 0, 100, 100]], np.float32), tid), t)
        out.append(float(res["smoothed"].keypoints[0, 0, 0]))
        assert res["smoothed"].keypoints[0, 0, 1] == 0.0  # a still coordinate stays put
    return out


def test_one_euro_step_and_ramp_equal_hand_computed_values():
    dt = 0.04  # 25 fps
    # alpha(1 Hz, 0.04 s) = 1 / (1 + 1 / (2 pi 0.04)) = 0.20084864...; step 0 -> 10, beta 0: 10 (1 - (1 - alpha)^n)
    step = _track(SmoothStage(enabled=True, min_cutoff=1.0, beta=0.0, d_cutoff=1.0), [0, 10, 10, 10, 10],
                  [n * dt for n in range(5)])
    assert step == pytest.approx([0.0, 2.008486426648368, 3.6135710806936627, 4.896276660611801,
                                  5.921352565864771], rel=1e-6)
    # ramp 100 px/s, beta 1 per person size (100 px) per s: frame 1: dx = 100, dx_hat = 20.085,
    # cutoff 1.20085 Hz, alpha 0.23183, x_hat = 0.92735; and so on
    ramp = _track(SmoothStage(enabled=True, min_cutoff=1.0, beta=1.0, d_cutoff=1.0), [4.0 * n for n in range(5)],
                  [n * dt for n in range(5)])
    assert ramp == pytest.approx([0.0, 0.9273459785444598, 2.878311414363658, 5.794796065398191,
                                  9.436625256321802], rel=1e-6)
    # times come from pts: frames 0.08 s apart filter as one step of 0.08 s (alpha 1 / (1 + 1 / (2 pi 0.08)))
    slow = _track(SmoothStage(enabled=True, beta=0.0), [0, 10], [0.0, 0.08])
    assert slow[1] == pytest.approx(10 / (1 + 1 / (2 * math.pi * 0.08)), rel=1e-6)
    # a track that was absent in the previous frame restarts (re-linked): output = input
    assert _track(SmoothStage(enabled=True, beta=0.0), [0, 10, 50, 50], [0, dt, 2 * dt, 3 * dt], [0, 0, 1, 0])[3] == 50
    assert _track(SmoothStage(), [0, 10], [0, dt]) == [0, 10]  # off by default
    # a joint absent (0, 0, score 0) passes through and restarts where it comes back
    stage, box = SmoothStage(enabled=True, beta=0.0), np.array([[0, 0, 100, 100]], np.float32)
    for t, (x, score) in enumerate([(10.0, 1.0), (0.0, 0.0), (50.0, 1.0), (60.0, 1.0)]):
        kp = np.full((1, 17, 3), 1.0, np.float32)
        kp[0, 0] = (x, 0.0, score)
        got = stage.process(Poses(kp, np.ones(1, np.float32), box, np.array([0])), t * dt)["smoothed"].keypoints
        assert got[0, 0, 0] == pytest.approx([10.0, 0.0, 50.0, 50 + 10 * 0.20084864266483682][t], rel=1e-6)
    with pytest.raises(ValueError, match="min_cutoff"):
        SmoothParams(min_cutoff=0)


class _RecordingHOG:
    def __init__(self):
        self.images = []

    def __call__(self, image):
        self.images.append(image)
        return np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([2.0])


def test_detect_interval_runs_the_detector_on_frames_0_n_2n(posetrack18_sample):
    frames = posetrack18_sample / "videos" / "000001_mpiinew_test"  # 10 real frames
    detect = DetectStage(backend="hog", interval=3)
    graph = Graph([Node("decode", DecodeStage()), Node("detect", detect, max_in_flight=8, batch_size=4)])
    recorder = _RecordingHOG()
    with graph:
        detect.hog = recorder
        packets = list(graph.run(frames))
    images = [p.streams["image"] for p in packets]
    assert len(images) == 10
    ran = [next(i for i, im in enumerate(images) if im is seen) for seen in recorder.images]
    assert ran == [0, 3, 6, 9]
    assert [len(p.streams["detections"]) for p in packets] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    dets = DetectionsFileStage(path=str(posetrack18_sample / "annotations" / "test_posetrack18_human_detections.json"),
                               interval=2)
    dets.open()
    image = np.zeros((1080, 1920, 3), np.uint8)
    got = [dets.process(i, "009473_mpii_test/000000.jpg", image) for i in range(4)]
    assert [len(g["detections"]) for g in got] == [78, 0, 78, 0]
    assert [g["keyframe"] for g in got] == [True, False, True, False]
    assert [p.streams["keyframe"] for p in packets] == [i % 3 == 0 for i in range(10)]
    with pytest.raises(ValueError, match="interval must be >= 1"):
        DetectParams(interval=0)


def _person(real: dict, n: int, offset: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Real annotated person n as (17, 3) joints scored 1 (absent joints 0, 0, 0) moved by ``offset``, its box."""
    kp = np.array(real["annotations"][n]["keypoints"], np.float32).reshape(17, 3)
    present = ~np.all(kp == 0, axis=1)
    kp[present, :2] += offset
    kp[:, 2] = present
    return kp, keypoint_boxes(kp[None], 0.15, 0.0)[0]


def _frame(people: list[tuple[np.ndarray, np.ndarray]]) -> Poses:
    if not people:
        return Poses.empty()
    return Poses(np.stack([p[0] for p in people]), np.ones(len(people), np.float32), np.stack([p[1] for p in people]))


def test_relinking_keeps_the_id_of_a_person_hidden_30_frames_and_steals_none(posetrack18_sample):
    """Person B of 009473 walks right 4 px per frame, is hidden in frames 20-49 (30 frames) and comes
    back where constant velocity puts them; person 3 of 012834 appears 2000 px away meanwhile."""
    walker = load_real(posetrack18_sample, "009473_mpii_test")
    other = load_real(posetrack18_sample, "012834_mpii_test")

    def run(params: AssociateParams) -> list[list[int]]:
        tracker = PoseTracker(params)
        ids = []
        for t in range(70):
            people = [] if 20 <= t < 50 else [_person(walker, 1, (4.0 * t, 0.0))]
            if t >= 35:  # a different person, 2000 px to the right of the walker's path
                people.append(_person(other, 3, (2000.0 + 2.0 * t, 0.0)))
            ids.append(tracker.update(_frame(people)).track_ids.tolist())
        return ids

    ids = run(AssociateParams(max_lost=5, relink_frames=30))
    assert all(frame[0] == 0 for t, frame in enumerate(ids) if not 20 <= t < 50)  # the walker keeps id 0
    assert {frame[-1] for frame in ids[35:]} == {1}  # the newcomer gets a new id, and keeps it
    plain = run(AssociateParams(max_lost=5))  # FlowTrack as published: the walker comes back as someone new
    assert plain[50][0] == 2 and plain[19][0] == 0
    with pytest.raises(ValueError, match="relink_frames"):
        AssociateParams(relink_frames=-1)


def test_propagated_boxes_keep_their_box_score_between_keyframes():
    from posetrack.track.stages.propagate import PropagateStage
    from posetrack.track.types import FlowField

    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = np.arange(17) * 5.0, np.arange(17) * 10.0, 0.9
    kp[0, 0, 2] = 0.1  # below rescoring's 0.2: not in the mean
    tracks = Poses(kp, np.array([0.45], np.float32), np.array([[0, 0, 80, 160]], np.float32), np.array([0]))
    flow = FlowField(np.zeros((20, 20, 2), np.float32), 0.1)
    stage = PropagateStage(min_score=0.3)
    score = {k: float(stage.process(np.zeros((0, 5), np.float32), flow, tracks, k)["boxes"][0, 4])
             for k in (None, True, False)}
    # person 0.45 = box x mean joint score above 0.2 (0.9): the box score was 0.5
    assert score == {None: pytest.approx(0.45), True: pytest.approx(0.45), False: pytest.approx(0.5)}


def test_track_cli_poses_thresholds_and_smooth(tmp_path, posetrack18_sample, monkeypatch, capsys):
    """`posetrack track --poses` with GT poses of the real crowd sequence: MOTA 100, no switch,
    with smoothing on; the flags reach the tracker as one settings entry each."""
    from posetrack.cli import track

    gt_dir, frames, poses = _crowd_sequence(tmp_path, posetrack18_sample)
    run = cli_runner(monkeypatch, capsys, "track")
    out = tmp_path / "out"
    rc, stdout, stderr = run("track", str(frames), "--out", str(out), "--poses", str(poses), "--smooth",
                             "--kpt-thr", "0.3", "--person-thr", "0.2",
                             "--set", "poses_file.keypoints=posetrack18", "flow.method=dis")
    assert rc == 0, stderr
    assert "poses_file" in stdout and "smooth" in stdout  # per-stage ms of the poses graph
    r = evaluate(gt_dir, out / "posetrack")
    assert r["mota"]["Total"] == 100.0 and sum(r["counts"]["num_switches"].values()) == 0
    args = argparse_args(track, [str(frames), "--out", str(out), "--kpt-thr", "0.3", "--person-thr", "0.2",
                                 "--smooth"])
    assert {k: v for k, v in track.parse_settings(args).items() if k in ("outputs", "smooth")} == \
        {"outputs": {"kpt_thr": 0.3, "person_thr": 0.2}, "smooth": {"enabled": True}}
    rc, _, stderr = run("track", str(frames), "--out", str(out), "--poses", str(poses), "--detections", str(poses))
    assert rc == 2 and "--poses replaces the detector" in stderr
    rc, _, stderr = run("track", str(frames), "--out", str(out), "--kpt-thr", "1.5")
    assert rc == 2 and "kpt_thr must be in [0, 1]" in stderr


def argparse_args(module, argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)
