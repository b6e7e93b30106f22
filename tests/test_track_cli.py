"""`posetrack track` end to end: a narrow random HRNet, boxes from ground truth, real frames and videos."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from posetrack.cli import CLIError, track
from posetrack.errors import PosetrackError
from posetrack.io.posetrack_json import read_video as read_posetrack
from posetrack.io.video import read_video


@pytest.fixture(scope="module")
def w8(tmp_path_factory) -> Path:
    """An official-format checkpoint of a width-8 HRNet with random weights."""
    from posetrack.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "hrnet_w8_random.pth"
    torch.save(build_model("hrnet_w8").state_dict(), path)
    return path


def run_track(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    track.add_arguments(parser)
    return track.run(parser.parse_args([str(a) for a in argv]))


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_track_frame_folder_with_ground_truth_boxes(posetrack18_sample, w8, tmp_path):
    gt = json.loads((posetrack18_sample / "annotations" / "val" / "012834_mpii_test.json").read_text())
    people = [a for a in gt["annotations"]]
    # GT boxes as detections of frame "000000.jpg", distinct scores so the NMS order is the GT order
    dets = [{"image_id": "000000.jpg", "bbox": a["bbox"], "score": 1.0 - 0.01 * i, "category_id": 1}
            for i, a in enumerate(people)]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    frames = posetrack18_sample / "images" / "val" / "012834_mpii_test"
    out = tmp_path / "out"
    assert run_track(frames, "--out", out, "--weights", w8, "--model", "hrnet_w8", "--kpt-thr", "0",
                     "--detections", tmp_path / "dets.json", "--set", "pose.flip_test=false") == 0
    assert files_under(out) == ["coco/012834_mpii_test.json", "posetrack/012834_mpii_test.json",
                                "run/012834_mpii_test.json"]
    (frame,) = read_posetrack(out / "posetrack" / "012834_mpii_test.json")
    assert frame.file_name == "images/val/012834_mpii_test/000000.jpg" and frame.image_id == 10128340000
    assert [p.track_id for p in frame.people] == list(range(11))
    coco = json.loads((out / "coco" / "012834_mpii_test.json").read_text())
    # boxes reaching outside the 1920x1080 frame are clipped to it (one GT box starts at y = -54.6)
    clipped = [[max(x, 0), max(y, 0), min(x + w, 1920) - max(x, 0), min(y + h, 1080) - max(y, 0)]
               for x, y, w, h in (a["bbox"] for a in people)]
    np.testing.assert_allclose([c["bbox"] for c in coco], clipped, atol=0.01)
    assert all(len(c["keypoints"]) == 51 and c["image_id"] == 10128340000 for c in coco)
    # PoseTrack slots: ears are written as absent, head_bottom/top derived from the COCO joints
    assert all(not p.present[3] and not p.present[4] for p in frame.people)
    # our own COCO output (PoseTrack image ids) fed back as --detections gives the same boxes
    again = tmp_path / "again"
    assert run_track(frames, "--out", again, "--weights", w8, "--model", "hrnet_w8",
                     "--detections", out / "coco" / "012834_mpii_test.json", "--set", "pose.flip_test=false") == 0
    redo = json.loads((again / "coco" / "012834_mpii_test.json").read_text())
    assert sorted(c["bbox"] for c in redo) == sorted(c["bbox"] for c in coco) and len(redo) == 11


def test_track_video_render_2017_and_resume(posetrack18_sample, w8, tmp_path, capsys):
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    dets = [{"image_id": i, "bbox": [560, 200, 120, 330], "score": 0.9} for i in range(5)]
    dets += [{"image_id": i, "bbox": [840 + 4 * i, 260, 110, 300], "score": 0.8} for i in range(5)]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    args = [video, "--out", out, "--weights", w8, "--model", "hrnet_w8", "--detections", tmp_path / "dets.json",
            "--render", "--format", "2017", "--flow", "dis", "--set", "pose.flip_test=false", "--kpt-thr", "0",
            "--set", "associate.oks_threshold=0"]  # random-weight poses (low scores): always link, write all
    assert run_track(*args) == 0
    assert files_under(out) == ["coco/000001_mpiinew_test.json", "posetrack/000001_mpiinew_test.json",
                                "render/000001_mpiinew_test.mp4", "run/000001_mpiinew_test.json"]
    annolist = json.loads((out / "posetrack" / "000001_mpiinew_test.json").read_text())["annolist"]
    assert len(annolist) == 5 and all(len(f["annorect"]) == 2 for f in annolist)
    assert [sorted(r["track_id"][0] for r in f["annorect"]) for f in annolist] == [[0, 1]] * 5
    rendered = list(read_video(out / "render" / "000001_mpiinew_test.mp4"))
    assert len(rendered) == 5 and rendered[0].image.shape == (720, 1280, 3)
    stamp = (out / "posetrack" / "000001_mpiinew_test.json").stat().st_mtime_ns
    capsys.readouterr()
    assert run_track(*args, "--resume") == 0
    assert "skipping 1 finished" in capsys.readouterr().err
    assert (out / "posetrack" / "000001_mpiinew_test.json").stat().st_mtime_ns == stamp
    # a finished input tracked without --report gets its report on a --resume --report, still untracked
    assert run_track(*args, "--resume", "--report") == 0
    assert "report/000001_mpiinew_test.html" in capsys.readouterr().out
    assert (out / "report" / "000001_mpiinew_test.html").stat().st_size > 0
    assert (out / "posetrack" / "000001_mpiinew_test.json").stat().st_mtime_ns == stamp


def test_no_people_gives_valid_empty_output(posetrack18_sample, w8, tmp_path):
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out"
    assert run_track(video, "--out", out, "--weights", w8, "--model", "hrnet_w8",
                     "--detections", tmp_path / "none.json") == 0
    data = json.loads((out / "posetrack" / "000001_mpiinew_test.json").read_text())
    assert len(data["images"]) == 5 and data["annotations"] == []
    assert json.loads((out / "coco" / "000001_mpiinew_test.json").read_text()) == []


def test_bad_videos_fail_alone_and_leave_nothing_behind(shared_data, w8, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.mp4").write_bytes(b"")
    (inputs / "truncated.mp4").write_bytes((shared_data / "videos" / "demo.mp4").read_bytes()[:50_000])
    shutil.copy(shared_data / "posetrack18_sample" / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4",
                inputs / "good.mp4")
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out"
    code = run_track(inputs, "--out", out, "--weights", w8, "--model", "hrnet_w8",
                     "--detections", tmp_path / "none.json", "--render")
    err = capsys.readouterr().err
    assert code == 2
    assert "empty.mp4" in err and "empty (0 bytes)" in err and "truncated.mp4" in err
    assert files_under(out) == ["coco/good.json", "posetrack/good.json", "render/good.mp4", "run/good.json"]


def test_missing_weights_and_bad_paths_are_clear_errors_without_outputs(posetrack18_sample, tmp_path):
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="pose weights not found: .*missing.pth"):
        run_track(video, "--out", out, "--weights", tmp_path / "missing.pth", "--detections", tmp_path / "none.json")
    assert files_under(out) == []
    with pytest.raises(CLIError, match="input not found: .*nothing.mp4"):
        run_track(tmp_path / "nothing.mp4", "--out", out)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(PosetrackError, match="cannot write to output folder .*a_file/out"):
        run_track(video, "--out", blocker / "out")
    with pytest.raises(CLIError, match="detections file not found"):
        run_track(video, "--out", out, "--detections", tmp_path / "nope.json")
    # several inputs: frame-index ids would give every video the same boxes
    (tmp_path / "by_index.json").write_text(json.dumps([{"image_id": 0, "bbox": [1, 2, 3, 4]}]))
    frames = posetrack18_sample / "images" / "val" / "012834_mpii_test"
    with pytest.raises(ValueError, match="by_index.json: with several inputs every image_id must name its video"):
        run_track(video, frames, "--out", out, "--detections", tmp_path / "by_index.json")
    assert files_under(out) == []


def test_device_flag_overrides_the_pipeline_only_when_given(tmp_path):
    from posetrack.cli import bench_track

    (tmp_path / "dets.json").write_text("[]")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("nodes:\n  - stage: decode\n  - stage: detect\n"
                        "  - {stage: pose, streams: {boxes: detections}, params: {device: 'cuda:1'}}\n"
                        "  - stage: associate\n")
    for module, base in ((track, [str(tmp_path), "--out", str(tmp_path)]), (bench_track, [str(tmp_path)])):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        for extra, device in (([], "cuda:1"), (["--device", "cpu"], "cpu")):
            args = parser.parse_args([*base, "--pipeline", str(pipeline), *extra])
            graph = track.make_tracker(args, track.parse_settings(args)).graph
            stages = {n.name: n.stage for n in graph.nodes}
            assert (stages["detect"].params.device, stages["pose"].params.device) == ("cpu", device)
        args = parser.parse_args([*base, "--detections", str(tmp_path / "dets.json"), "--detector-weights", "x.pth"])
        with pytest.raises(CLIError, match="--detections replaces the detector"):
            track.make_tracker(args, track.parse_settings(args))


def test_bench_track_runs_with_detections(posetrack18_sample, w8, tmp_path, capsys):
    from posetrack.cli import main

    (tmp_path / "none.json").write_text("[]")
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    assert main(["bench", "track", str(video), "--weights", str(w8), "--model", "hrnet_w8", "--frames", "2",
                 "--detections", str(tmp_path / "none.json"), "--flow", "dis", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 2 and report["device"] == "cpu" and report["people_per_frame"] == 0


def test_torchrun_shards_inputs_by_rank(posetrack18_sample, w8, tmp_path):
    import socket
    import subprocess
    import sys

    inputs = tmp_path / "in"
    inputs.mkdir()
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    for name in ("a", "b", "c"):
        shutil.copy(video, inputs / f"{name}.mp4")
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out"
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
           "-m", "posetrack", "track", str(inputs), "--out", str(out), "--weights", str(w8), "--model", "hrnet_w8",
           "--detections", str(tmp_path / "none.json"), "--flow", "dis"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[rank 0/2] 2/2 input(s)" in proc.stdout and "[rank 1/2] 1/1 input(s)" in proc.stdout
    assert files_under(out / "posetrack") == ["a.json", "b.json", "c.json"]


def test_a_failing_rank_still_reaches_the_final_barrier(posetrack18_sample, tmp_path, monkeypatch):
    video = posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"
    left = []
    monkeypatch.setattr(track, "distributed_shard", lambda items, device: (items, 1, 2, device))
    monkeypatch.setattr(track, "leave_process_group", lambda: left.append(True))
    (tmp_path / "none.json").write_text("[]")
    with pytest.raises(FileNotFoundError, match="pose weights not found"):
        run_track(video, "--out", tmp_path / "out", "--weights", tmp_path / "missing.pth", "--flow", "dis",
                  "--detections", tmp_path / "none.json")
    assert left == [True]  # otherwise the other ranks would wait in dist.barrier() forever
