"""``posetrack test`` end to end on the real COCO sample with a narrow random HRNet.

Checks the pipeline and the output formats, not accuracy (no trained weights here).
"""

import json
import os
from pathlib import Path

import pytest
import torch

from posetrack.cli import main
from posetrack.eval.coco import STATS_NAMES
from posetrack.models import build_model

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "coco" / "hrnet_w32_256x192.yaml")
NARROW = ["--set", "model.width=8"]
# A small input keeps the CPU time of the suite low (HRNet needs multiples of 32); the
# crop/decode geometry is the same code at any size.
SMALL_INPUT = ["--set", "data.input_size=[64,64]", "--set", "data.heatmap_size=[16,16]"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A width-8 HRNet saved as the official .pth files are: a bare state dict."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "pose_hrnet_w8_256x192.pth"
    torch.save(build_model("hrnet_w8").state_dict(), path)
    return path


def _run(args, capsys):
    rc = main(["test", "--config", CONFIG, *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _check_results(path, expected_images):
    results = json.loads(path.read_text())
    for r in results:
        assert set(r) == {"image_id", "category_id", "keypoints", "score", "center", "scale"}
        assert r["category_id"] == 1 and r["image_id"] in expected_images
        assert len(r["keypoints"]) == 51 and all(isinstance(v, float) for v in r["keypoints"])
        assert len(r["center"]) == 2 and len(r["scale"]) == 2 and r["score"] >= 0
    return results


def test_gt_boxes_end_to_end(tmp_path, coco_sample, checkpoint, capsys):
    rc, out, err = _run(["--weights", str(checkpoint), "--ann", str(coco_sample / "test_coco.json"),
                         "--images", str(coco_sample), "--gt-boxes", "--out", str(tmp_path), *NARROW], capsys)
    assert rc == 0, err
    results = _check_results(tmp_path / "keypoints_test_coco_results.json", {785, 40083, 196141, 197388})
    # 12 GT people with keypoints; OKS-NMS at 0.9 may merge some, every image keeps >= 1
    assert 4 <= len(results) <= 12
    assert {r["image_id"] for r in results} == {785, 40083, 196141, 197388}
    stats = json.loads((tmp_path / "keypoints_test_coco_stats.json").read_text())
    assert list(stats) == list(STATS_NAMES) and all(-1 <= v <= 1 for v in stats.values())
    assert out.count("Average Precision") == 5 and out.count("Average Recall") == 5
    assert "| AP | AP .5 |" in out
    assert "images" in err  # the progress bar
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp.json")]


def test_detection_boxes_end_to_end(tmp_path, coco_sample, checkpoint, capsys):
    # oks_thre 1.0 keeps every pose (OKS <= 1): one result per detection box
    outputs = {}
    for workers in ("0", "2"):
        rc, out, err = _run(["--weights", str(checkpoint), "--ann", str(coco_sample / "test_coco.json"),
                             "--images", str(coco_sample),
                             "--det-json", str(coco_sample / "test_coco_det_AP_H_56.json"),
                             "--out", str(tmp_path / workers), "--no-flip", "--batch-size", "64", "--workers", workers,
                             "--set", "test.oks_thre=1.0", *NARROW, *SMALL_INPUT], capsys)
        assert rc == 0, err
        outputs[workers] = (tmp_path / workers / "keypoints_test_coco_results.json").read_text()
    results = _check_results(tmp_path / "2" / "keypoints_test_coco_results.json", {785, 40083, 196141, 197388})
    assert len(results) == 118
    assert outputs["2"] == outputs["0"]  # reader threads change nothing, to the last digit and the order
    assert json.loads((tmp_path / "2" / "keypoints_test_coco_stats.json").read_text()).keys() == set(STATS_NAMES)
    assert "Average Precision" in out


def test_workers_must_be_a_whole_number(coco_sample, checkpoint, capsys):
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit) as exit_:
            _run(["--weights", str(checkpoint), "--ann", str(coco_sample / "test_coco.json"),
                  "--images", str(coco_sample), "--gt-boxes", "--workers", bad], capsys)
        assert exit_.value.code == 2
        assert f"--workers: expected a whole number >= 0, got '{bad}'" in capsys.readouterr().err


def _bad(args, capsys, coco_sample, checkpoint, ann=None, images=None, boxes=("--gt-boxes",), extra=NARROW):
    rc, out, err = _run(["--weights", str(checkpoint), "--ann", str(ann or coco_sample / "test_coco.json"),
                         "--images", str(images or coco_sample), *boxes, *extra, *args], capsys)
    assert rc == 2
    assert "Traceback" not in err
    return err


def test_missing_image(tmp_path, coco_sample, checkpoint, capsys):
    err = _bad(["--out", str(tmp_path / "o")], capsys, coco_sample, checkpoint, images=tmp_path)
    assert "image(s)" in err and "000000000785.jpg" in err
    assert not (tmp_path / "o").exists()


def test_corrupt_image(tmp_path, coco_sample, checkpoint, capsys):
    for name in ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg"):
        (tmp_path / name).symlink_to(coco_sample / name)
    (tmp_path / "000000197388.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg " * 10)
    # the last image fails in a reader thread; the error still reaches the user as one line
    err = _bad(["--out", str(tmp_path / "o"), *SMALL_INPUT, "--no-flip", "--workers", "2"], capsys, coco_sample,
               checkpoint, images=tmp_path)
    assert "cannot decode image" in err and "000000197388.jpg" in err
    assert not (tmp_path / "o" / "keypoints_test_coco_results.json").exists()


def test_malformed_annotation_json(tmp_path, coco_sample, checkpoint, capsys):
    ann = tmp_path / "person_keypoints_val2017.json"
    ann.write_text('{"images": [{"id": 1,')
    err = _bad([], capsys, coco_sample, checkpoint, ann=ann)
    assert str(ann) in err and "not valid JSON" in err


def test_empty_detections_file(tmp_path, coco_sample, checkpoint, capsys):
    dets = tmp_path / "dets.json"
    dets.write_text("[]")
    err = _bad([], capsys, coco_sample, checkpoint, boxes=("--det-json", str(dets)))
    assert str(dets) in err and "no detections" in err


def test_wrong_checkpoint(tmp_path, coco_sample, checkpoint, capsys):
    # a width-8 checkpoint for a width-16 model: the message names the mismatching keys
    err = _bad([], capsys, coco_sample, checkpoint, extra=["--set", "model.width=16"])
    assert "shape mismatches" in err and "checkpoint (8,) vs model (16,)" in err
    err = _bad([], capsys, coco_sample, "hrnet_w48_coco_384x288")  # pretrained name vs a W8 256x192 config
    assert "hrnet_w48 288x384" in err and "hrnet_w8 192x256" in err
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    err = _bad([], capsys, coco_sample, garbage)
    assert str(garbage) in err


def test_config_errors(coco_sample, checkpoint, capsys):
    err = _bad(["--set", "data.heatmap_size=[10,10]"], capsys, coco_sample, checkpoint)
    assert "heatmap_size" in err
    err = _bad(["--set", "test.flip=false"], capsys, coco_sample, checkpoint)
    assert "unknown key" in err and "flip" in err
