"""Bad inputs and faults found by an audit (issue 15): each is refused with a message naming the
file or field, a non-zero exit code and no partial or temporary file left behind."""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_runner import cli_runner
from posetrack.io.image import read_image_rgb
from test_track_cli import w8  # noqa: F401 - the random-weight HRNet-W8 checkpoint fixture

ROOT = Path(__file__).resolve().parents[1]
COCO_CONFIG = str(ROOT / "configs" / "coco" / "hrnet_w32_256x192.yaml")
SMALL = ["--set", "model.width=8", "data.input_size=[64,64]", "data.heatmap_size=[16,16]"]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def posetrack_cmd(*argv, cap_bytes: int | None = None, fsize: int | None = None, **kw) -> subprocess.Popen:
    """``python -m posetrack ARGV`` (or ``python -c CODE ARGV`` with ``code=``) in a child process,
    optionally under a data-segment cap (RLIMIT_DATA: heap and anonymous maps, not the shared
    libraries torch maps) or a file-size cap (RLIMIT_FSIZE, with SIGXFSZ ignored so that writes
    fail with EFBIG as on a full disk)."""
    code = kw.pop("code", None)

    def limits() -> None:
        if cap_bytes is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (cap_bytes, cap_bytes))
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    run = ["-c", code] if code else ["-m", "posetrack"]
    return subprocess.Popen([sys.executable, *run, *map(str, argv)], cwd=ROOT, env=env,
                            preexec_fn=limits, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture
def mp4(posetrack18_sample) -> Path:
    """A real 5-frame 1280x720 mpeg4 clip."""
    return posetrack18_sample / "videos" / "000001_mpiinew_test" / "000001_mpiinew_test.mp4"


# ---- 1. YAML alias bomb --------------------------------------------------------------------------

def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" YAML value: 9 ** levels strings from a few hundred bytes."""
    names = "abcdefghijklmnop"[:levels]
    parts = ["&a [" + ", ".join(["lol"] * 9) + "]"]
    parts += [f"&{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip(names, names[1:])]
    return "[" + ", ".join(parts) + "]"


def test_yaml_alias_bomb_is_refused_in_files_and_set_under_a_memory_cap(tmp_path, mp4):
    bomb = alias_bomb()
    assert len(bomb) < 500  # 9**9 = 387 million strings once expanded
    config = tmp_path / "bomb_config.yaml"
    config.write_text(f"train:\n  batch_size: {bomb}\n")
    pipeline = tmp_path / "bomb_pipeline.yaml"
    pipeline.write_text("nodes:\n  - stage: decode\n  - stage: detect\n  - stage: pose\n"
                        f"    params:\n      flip_test: {bomb}\n  - stage: associate\n")
    cases = {
        "config file": (["train", "--config", config, "--out", tmp_path / "t1"], "bomb_config.yaml"),
        "train --set": (["train", "--config", COCO_CONFIG, "--out", tmp_path / "t2", "--set",
                         f"train.batch_size={bomb}"], "train.batch_size"),
        "pipeline file": (["track", mp4, "--out", tmp_path / "k1", "--pipeline", pipeline], "bomb_pipeline.yaml"),
        "track --set": (["track", mp4, "--out", tmp_path / "k2", "--set", f"pose.flip_test={bomb}"],
                        "pose.flip_test"),
    }
    # one child runs the four commands through posetrack's main (one torch import), 3 GiB at most
    driver = ("import contextlib, io, json, sys\nfrom posetrack.cli import main\nout = []\n"
              "for argv in json.loads(sys.argv[1]):\n    err = io.StringIO()\n"
              "    with contextlib.redirect_stderr(err):\n        out.append([main(argv), err.getvalue()])\n"
              "print(json.dumps(out))\n")
    argvs = [[str(a) for a in argv] for argv, _ in cases.values()]
    proc = posetrack_cmd(json.dumps(argvs), code=driver, cap_bytes=3 << 30)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    for (name, (_, named)), (rc, err) in zip(cases.items(), json.loads(stdout.splitlines()[-1])):
        assert rc == 2, (name, err[-2000:])
        assert named in err and "YAML aliases (*a) are not allowed" in err, (name, err)
        assert "Traceback" not in err and len(err) < 2000, name
    assert not any(files_under(tmp_path / d) for d in ("t1", "t2", "k1", "k2"))


def test_long_offending_values_are_cut_in_messages(monkeypatch, capsys, tmp_path):
    run = cli_runner(monkeypatch, capsys, "train")
    huge = "x" * 100_000
    rc, _, err = run("train", "--config", COCO_CONFIG, "--out", str(tmp_path / "run"),
                     "--set", f"train.batch_size={huge}")
    assert rc == 2 and "train.batch_size: expected an integer, got 'xxxx" in err
    assert len(err) < 300
    rc, _, err = run("train", "--config", COCO_CONFIG, "--out", str(tmp_path / "run"),
                     "--set", "train.flip_pairs=[" + ", ".join(["[1, 2]"] * 5_000) + "]")
    assert rc == 2 and "unknown key(s) in 'train': flip_pairs" in err and len(err) < 1000
    assert not (tmp_path / "run").exists()


# ---- 2. truncated JPEG ---------------------------------------------------------------------------

def test_truncated_jpeg_in_a_frame_folder_is_skipped_by_name(posetrack18_sample, tmp_path, caplog):
    from posetrack.io.video import read_frames

    frames = tmp_path / "clip"
    frames.mkdir()
    src = sorted((posetrack18_sample / "videos" / "000001_mpiinew_test").glob("*.jpg"))[:3]
    for f in src:
        shutil.copy(f, frames / f.name)
    (frames / src[1].name).write_bytes(src[1].read_bytes()[:3000])
    with caplog.at_level(logging.WARNING):
        got = list(read_frames(frames))
    assert [f.name for f in got] == [src[0].name, src[2].name]
    assert [f.pts for f in got] == [0.0, 2 / 25]  # the skipped frame keeps its time slot
    assert f"{frames / src[1].name} (truncated JPEG" in caplog.text


def test_truncated_jpeg_stops_test_and_train_naming_the_file(monkeypatch, capsys, tmp_path, coco_sample, w8):
    images = tmp_path / "images"
    shutil.copytree(coco_sample, images)
    cut = images / "000000040083.jpg"
    cut.write_bytes(cut.read_bytes()[:3000])
    run = cli_runner(monkeypatch, capsys, "test", "train")
    out = tmp_path / "test_out"
    rc, _, err = run("test", "--config", COCO_CONFIG, "--weights", str(w8), "--ann", str(coco_sample / "test_coco.json"),
                     "--images", str(images), "--gt-boxes", "--out", str(out), "--workers", "1", *SMALL)
    assert rc == 2 and f"{cut} (truncated JPEG" in err
    assert files_under(out) == []
    train = tmp_path / "train_out"
    rc, _, err = run("train", "--config", COCO_CONFIG, "--out", str(train), "--no-progress", *SMALL,
                     "--set", f"train.train_set={{format: coco, ann: {coco_sample / 'test_coco.json'}, images: {images}}}",
                     "train.val_set=null", "train.batch_size=16", "train.workers=1", "train.epochs=1")
    assert rc == 2 and f"{cut} (truncated JPEG" in err and "Traceback" not in err, err  # read in a worker process
    assert not (train / "checkpoint.pth").exists() and not [p for p in files_under(train) if ".tmp" in p]


# ---- 4. validate ---------------------------------------------------------------------------------

@pytest.fixture
def gt_dir(posetrack18_sample) -> Path:
    return posetrack18_sample / "annotations" / "val"


def predictions(gt_dir: Path, folder: Path) -> Path:
    """GT files as predictions (keypoint scores added), which validate accepts."""
    folder.mkdir()
    for gt in gt_dir.glob("*.json"):
        data = json.loads(gt.read_text())
        for ann in data["annotations"]:
            ann["scores"] = [0.9] * 17
        (folder / gt.name).write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("case", ["unmatched image_id", "string keypoint", "extra video"])
def test_validate_reports_what_evaluation_would_silently_drop(monkeypatch, capsys, tmp_path, gt_dir, case):
    pred = predictions(gt_dir, tmp_path / "pred")
    run = cli_runner(monkeypatch, capsys, "validate")
    assert run("validate", str(pred), "--gt", str(gt_dir))[:2] == (0, "no problems found\n")
    target = pred / "009473_mpii_test.json"
    data = json.loads(target.read_text())
    if case == "unmatched image_id":
        data["annotations"][1]["image_id"] = 12345
        expected = f"{target}: annotation 1: image_id 12345 matches no image of the file"
    elif case == "string keypoint":
        data["annotations"][1]["keypoints"][0] = "12"
        expected = (f"{target}: frame 0 (images/val/009473_mpii_test/000000.jpg): person 1: "
                    "field 'keypoints' must hold finite numbers only, got '12'")
    else:
        target = pred / "000001_mpiinew_test.json"
        expected = f"{target}: no GT video of this name in {gt_dir}"
    target.write_text(json.dumps(data))
    rc, out, _ = run("validate", str(pred), "--gt", str(gt_dir))
    assert rc == 1 and expected in out and "1 problem(s) found" in out


# ---- 5. tracebacks -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["test --weights", "export --weights", "track --weights", "train --init",
                                     "train --resume"])
def test_text_file_as_weights_names_the_file(monkeypatch, capsys, tmp_path, coco_sample, mp4, command):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    run = cli_runner(monkeypatch, capsys, command.split()[0])
    out = tmp_path / "out"
    argv = {
        "test --weights": ["test", "--config", COCO_CONFIG, "--weights", text, "--ann", coco_sample / "test_coco.json",
                           "--images", coco_sample, "--gt-boxes", "--out", out, *SMALL],
        "export --weights": ["export", "hrnet_w8", "--weights", text, "--out", out / "m.onnx"],
        "track --weights": ["track", mp4, "--out", out, "--weights", text, "--model", "hrnet_w8", "--detector", "hog"],
        "train --init": ["train", "--config", COCO_CONFIG, "--out", out, "--init", text, *SMALL,
                         "--set", f"train.train_set={{format: coco, ann: {coco_sample / 'test_coco.json'}, "
                                  f"images: {coco_sample}}}", "train.val_set=null", "train.workers=0"],
        "train --resume": ["train", "--config", COCO_CONFIG, "--out", out, "--resume", text, *SMALL,
                           "--set", f"train.train_set={{format: coco, ann: {coco_sample / 'test_coco.json'}, "
                                    f"images: {coco_sample}}}", "train.val_set=null", "train.workers=0"],
    }[command]
    rc, _, err = run(*map(str, argv))
    assert rc == 2 and f"{text}: not a readable PyTorch checkpoint" in err and "Traceback" not in err, err
    assert files_under(out) == []


def test_integer_keypoint_too_big_for_a_float(monkeypatch, capsys, tmp_path, gt_dir):
    pred = predictions(gt_dir, tmp_path / "pred")
    target = pred / "009473_mpii_test.json"
    text = target.read_text()
    data = json.loads(text)
    data["annotations"][0]["keypoints"][0] = 10 ** 400  # json writes every digit
    target.write_text(json.dumps(data))
    run = cli_runner(monkeypatch, capsys, "eval", "validate")
    where = f"{target}: frame 0 (images/val/009473_mpii_test/000000.jpg): person 0: field 'keypoints'"
    rc, _, err = run("eval", "--gt", str(gt_dir), "--pred", str(pred), "--workers", "1", "--out",
                     str(tmp_path / "metrics.json"))
    assert rc == 2 and where in err and "Traceback" not in err
    assert not (tmp_path / "metrics.json").exists()
    rc, out, _ = run("validate", str(pred), "--gt", str(gt_dir))
    assert rc == 1 and "person 0: field 'keypoints' must hold finite numbers only, got 1000000" in out


def test_training_annotation_file_that_is_a_list(monkeypatch, capsys, tmp_path, coco_sample):
    ann = tmp_path / "list.json"
    ann.write_text("[]")
    run = cli_runner(monkeypatch, capsys, "train")
    rc, _, err = run("train", "--config", COCO_CONFIG, "--out", str(tmp_path / "run"), *SMALL,
                     "--set", f"train.train_set={{format: coco, ann: {ann}, images: {coco_sample}}}",
                     "train.val_set=null")
    assert rc == 2 and f"{ann}: top level must be an object with 'images', 'annotations'" in err
    assert not (tmp_path / "run").exists()


# ---- 7. SIGTERM and stale temporary files -------------------------------------------------------

def wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError
        time.sleep(0.05)


def test_sigterm_during_track_cleans_up_and_kill_9_leftovers_go_on_the_next_run(tmp_path, shared_data, mp4, w8,
                                                                                  monkeypatch, capsys):
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": i, "bbox": [300, 150, 60, 150], "score": 0.9}
                                                    for i in range(800)]))
    video = shared_data / "videos" / "vtest.avi"  # 795 frames: still running when the signal comes
    outs = {"term": tmp_path / "term", "kill": tmp_path / "kill"}
    args = ["--weights", w8, "--model", "hrnet_w8", "--detections", tmp_path / "dets.json", "--flow", "dis",
            "--set", "pose.flip_test=false", "pose.mode=fp32"]  # fp32: no start-up probe of the fastest mode
    temps = {k: lambda out=out: [p for p in files_under(out) if ".tmp" in p] for k, out in outs.items()}
    procs = {k: posetrack_cmd("track", video, "--out", out, *args) for k, out in outs.items()}  # side by side
    for k, proc in procs.items():
        wait_for(lambda: temps[k]() or proc.poll() is not None)
    procs["term"].send_signal(signal.SIGTERM)
    procs["kill"].kill()  # SIGKILL: nothing can clean up
    _, err = procs["term"].communicate(timeout=60)
    procs["kill"].communicate(timeout=60)
    assert procs["term"].returncode == 143 and "posetrack: terminated (SIGTERM)" in err and "Traceback" not in err
    assert files_under(outs["term"]) == []
    assert sorted(Path(p).parent.name for p in temps["kill"]()) == ["coco", "posetrack"]
    run = cli_runner(monkeypatch, capsys, "track")
    rc, _, err = run(*map(str, ["track", mp4, "--out", outs["kill"], *args, "--resume"]))
    assert rc == 0, err
    assert files_under(outs["kill"]) == ["coco/000001_mpiinew_test.json", "posetrack/000001_mpiinew_test.json",
                                         "run/000001_mpiinew_test.json"]


def test_stale_checkpoint_temp_goes_and_a_live_writers_stays(tmp_path):
    from posetrack.train.checkpoint import save_checkpoint

    holder = ("import sys, time\nfrom posetrack.io.atomic import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'x' * 1000)\n    print('ready', flush=True)\n    time.sleep(60)\n")
    procs = [subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / name)], stdout=subprocess.PIPE, text=True)
             for name in ("checkpoint.pth", "live.json")]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    procs[0].kill()  # as kill -9 during a checkpoint save
    procs[0].wait()
    save_checkpoint(tmp_path / "checkpoint.pth", {"epoch": 1})
    names = sorted(p.name for p in tmp_path.iterdir())
    procs[1].kill()
    procs[1].wait()
    assert names[0].startswith(".live.json.") and names[1:] == ["checkpoint.pth"]


# ---- 8. messages that name the file --------------------------------------------------------------

@pytest.mark.parametrize("case", ["deeply nested", "UTF-16"])
def test_unparseable_prediction_files_are_named(monkeypatch, capsys, tmp_path, gt_dir, case):
    pred = predictions(gt_dir, tmp_path / "pred")
    target = pred / "009473_mpii_test.json"
    if case == "deeply nested":
        target.write_text("[" * 100_000 + "]" * 100_000)
        expected = f"{target}: not usable JSON: nested too deeply"
    else:
        target.write_bytes(target.read_text().encode("utf-16"))
        expected = f"{target}: UTF-16/UTF-32 text; JSON input must be UTF-8"
    run = cli_runner(monkeypatch, capsys, "eval", "validate")
    rc, _, err = run("eval", "--gt", str(gt_dir), "--pred", str(pred), "--workers", "1")
    assert rc == 2 and expected in err
    rc, out, _ = run("validate", str(pred), "--gt", str(gt_dir))
    assert rc == 1 and expected in out


def test_nan_keypoint_in_a_training_annotation(monkeypatch, capsys, tmp_path, coco_sample):
    data = json.loads((coco_sample / "test_coco.json").read_text())
    data["annotations"][2]["keypoints"][3] = float("nan")
    ann = tmp_path / "nan.json"
    ann.write_text(json.dumps(data))  # json writes NaN, and reads it back
    run = cli_runner(monkeypatch, capsys, "train")
    rc, _, err = run("train", "--config", COCO_CONFIG, "--out", str(tmp_path / "run"), *SMALL,
                     "--set", f"train.train_set={{format: coco, ann: {ann}, images: {coco_sample}}}",
                     "train.val_set=null")
    ann_id = data["annotations"][2]["id"]
    assert rc == 2 and f"{ann}: annotations[2] (id {ann_id}): 'keypoints' must hold finite numbers" in err
    assert not (tmp_path / "run").exists()  # no tb/, no config.yaml


def test_disk_full_while_writing_json_names_the_file(tmp_path, gt_dir):
    pred = predictions(gt_dir, tmp_path / "pred")
    metrics = tmp_path / "metrics.json"
    proc = posetrack_cmd("eval", "--gt", gt_dir, "--pred", pred, "--workers", "1", "--out", metrics, fsize=512)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and f"cannot write {metrics}: File too large" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred"]


# ---- 10. cosmetic --------------------------------------------------------------------------------

def test_garbled_first_packet_warning_names_no_negative_frame(tmp_path, mp4, caplog):
    import av

    from posetrack.io.video import read_video

    with av.open(str(mp4)) as container:
        first = next(p for p in container.demux(container.streams.video[0]) if p.size)
        pos, size = first.pos, first.size
    data = bytearray(mp4.read_bytes())
    data[pos:pos + size] = bytes(size)
    garbled = tmp_path / "garbled.mp4"
    garbled.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert len(list(read_video(garbled))) == 4
    assert f"{garbled}: skipping undecodable packet before the first frame" in caplog.text
    assert "frame -1" not in caplog.text


# ---- 3. detections outside the image --------------------------------------------------------------

def test_detections_outside_the_frame_are_clipped_dropped_and_counted(tmp_path, caplog):
    from posetrack.track.stages.detections_file import DetectionsFileStage

    dets = [{"image_id": 0, "bbox": [100, 50, 200, 300], "score": 0.9},     # inside: kept as it is
            {"image_id": 0, "bbox": [-20, 600, 100, 200], "score": 0.8},    # partly outside: clipped
            {"image_id": 0, "bbox": [5000, 100, 80, 200], "score": 0.7},    # right of a 960 px frame
            {"image_id": 0, "bbox": [1e30, 1e30, 1e30, 1e30], "score": 0.6},
            {"image_id": 1, "bbox": [10, 10, 50, 50], "score": 0.5}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    stage = DetectionsFileStage(path=str(path))
    stage.open()
    stage.reset()
    image = np.zeros((720, 960, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        first = stage.process(index=0, name="clip/000000.jpg", image=image)["detections"]
        second = stage.process(index=1, name="clip/000001.jpg", image=image)["detections"]
        stage.close()
    np.testing.assert_array_equal(first, np.array([[100, 50, 300, 350, 0.9], [0, 600, 80, 720, 0.8]], np.float32))
    np.testing.assert_array_equal(second, np.array([[10, 10, 60, 60, 0.5]], np.float32))
    assert f"clip: 3 of 5 boxes of {path} reach outside the frame: 1 clipped to it, 2 dropped" in caplog.text


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_non_finite_detection_names_the_detections_file_and_entry(monkeypatch, capsys, tmp_path, mp4, w8, bad):
    path = tmp_path / "dets.json"
    path.write_text('[{"image_id": 0, "bbox": [10, 10, 50, 50], "score": 0.9},\n'
                    f' {{"image_id": 1, "bbox": [10, {bad}, 50, 50], "score": 0.9}}]')
    run = cli_runner(monkeypatch, capsys, "track")
    out = tmp_path / "out"
    rc, _, err = run("track", str(mp4), "--out", str(out), "--weights", str(w8), "--model", "hrnet_w8",
                     "--detections", str(path))
    assert rc == 2 and f"{path}: entry 1: bbox and score must be finite numbers" in err, err
    assert files_under(out) == []


# ---- 6. odd frame sizes ---------------------------------------------------------------------------

def test_tiny_frames_get_flow(posetrack18_sample):
    from posetrack.track.stages.flow import FlowStage

    stage = FlowStage(method="dis")
    stage.open()
    stage.reset()
    frame = read_image_rgb(posetrack18_sample / "videos" / "000001_mpiinew_test" / "000000.jpg")[300:313, 600:617]
    assert frame.shape == (13, 17, 3)
    assert stage.process(image=frame)["flow"] is None
    flow = stage.process(image=np.roll(frame, 1, axis=1))["flow"]
    # DIS needs a side of >= 12 px: half of 17x13 has none, so this frame's flow runs at 12/17
    assert flow.vectors.shape == (9, 12, 2) and flow.scale == pytest.approx(12 / 17)
    assert np.isfinite(flow.vectors).all()


@pytest.mark.parametrize("height, width", [(40, 4000), (4000, 40), (5, 4000), (13, 17)])
def test_hog_work_is_bounded_and_never_below_one_window(monkeypatch, height, width):
    from posetrack.track.stages.hog_detector import HOGPersonDetector

    detector = HOGPersonDetector()
    seen = []
    real = detector._hog.detectMultiScale
    monkeypatch.setattr(detector, "_hog", type("Spy", (), {
        "detectMultiScale": lambda self, image, **kw: seen.append(image.shape) or real(image, **kw)})())
    boxes, scores = detector(np.zeros((height, width, 3), np.uint8))
    ((h, w, _),) = seen
    assert h >= 128 and w >= 64  # OpenCV's HOG crashes (signal 11) on images smaller than its window
    assert max(h, w) <= max(height, width, 3072)  # upscaling stops at a 3072 px long side
    assert len(boxes) == len(scores) == 0


# ---- 9. unchecked parameters -----------------------------------------------------------------------

@pytest.mark.parametrize("setting, message", [
    ("decode.fps=0", "nodes[0] (decode).params: fps must be > 0"),
    ("decode.fps=-5", "nodes[0] (decode).params: fps must be > 0"),
    ("associate.max_lost=-3", "(associate).params: max_lost and relink_frames must be >= 0"),
    ("associate.oks_threshold=2", "(associate).params: oks_threshold must be in [0, 1], got 2.0"),
    ("detect.score_threshold=nan", "nodes[1] (detect).params.score_threshold: expected a number, got NaN"),
])
def test_out_of_range_parameters_name_node_and_field(monkeypatch, capsys, tmp_path, mp4, setting, message):
    run = cli_runner(monkeypatch, capsys, "track")
    out = tmp_path / "out"
    rc, _, err = run("track", str(mp4), "--out", str(out), "--set", setting)
    assert rc == 2 and message in err, err
    assert files_under(out) == []


def test_feedback_wired_to_a_stream_of_another_type_fails_at_build(monkeypatch, capsys, tmp_path, mp4):
    pipeline = tmp_path / "wrong.yaml"
    pipeline.write_text((ROOT / "pipelines" / "flowtrack.yaml").read_text().replace(
        "params: {enlarge: 0.15", "streams: {tracks: boxes}\n    params: {enlarge: 0.15"))
    run = cli_runner(monkeypatch, capsys, "track")
    rc, _, err = run("track", str(mp4), "--out", str(tmp_path / "out"), "--pipeline", str(pipeline))
    assert rc == 2 and ("node 'propagate': port 'tracks' takes Poses but stream 'boxes' (from 'propagate') "
                        "carries ndarray") in err, err
