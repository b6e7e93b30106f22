"""PoseTrack 2017/2018 reading, writing, conversion and validation on the real PoseTrack18 sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from posetrack.io.posetrack_json import (
    PT17_JOINTS, PT18_TO_PT17, FramePoses, PersonPose, PoseTrackFormatError, PoseTrackWriter, VideoFile,
    coco_to_posetrack18, convert_video_file, posetrack_image_id, read_video, validate_predictions,
    video_frames, write_video_predictions,
)

VIDEO = "009473_mpii_test"


@pytest.fixture()
def gt_file(posetrack18_sample: Path) -> Path:
    return posetrack18_sample / "annotations" / "val" / f"{VIDEO}.json"


def test_read_2018_gt(gt_file):
    raw = json.loads(gt_file.read_text())
    (frame,) = read_video(gt_file)
    assert frame.file_name == "images/val/009473_mpii_test/000000.jpg"
    assert frame.frame_id == frame.image_id == 10094730000 and frame.is_labeled and frame.nframes == 101
    assert [len(r) for r in frame.ignore_regions] == [25, 21]
    assert frame.ignore_regions[0][0].tolist() == [1907, 228]
    a, b = frame.people
    assert (a.track_id, b.track_id) == (0, 1)
    kp = np.array(raw["annotations"][0]["keypoints"], float).reshape(17, 3)
    np.testing.assert_array_equal(a.keypoints[:, :2], kp[:, :2])
    assert np.isnan(a.keypoints[:, 2]).all()  # GT has "scores": []
    np.testing.assert_array_equal(a.present, kp[:, 2] > 0)
    assert not a.present[3] and not a.present[4] and not a.present[7]  # ears, left elbow
    x, y, w, h = raw["annotations"][0]["bbox_head"]
    assert a.head_box.tolist() == [x, y, x + w, y + h]


def test_slot_mapping_matches_the_spec():
    assert PT18_TO_PT17.tolist() == [13, 12, 14, -1, -1, 9, 8, 10, 7, 11, 6, 3, 2, 4, 1, 5, 0]
    assert PT17_JOINTS[12] == "head_bottom" and PT17_JOINTS[0] == "right_ankle"


def test_2018_to_2017_and_back_round_trip(gt_file, tmp_path):
    convert_video_file(gt_file, tmp_path / "a17.json", "2017")
    raw17 = json.loads((tmp_path / "a17.json").read_text())
    rect = raw17["annolist"][0]["annorect"][0]
    assert rect["track_id"] == [0] and len(rect["annopoints"][0]["point"]) == 14
    assert raw17["annolist"][0]["imgnum"] == [1] and len(raw17["annolist"][0]["ignore_regions"]) == 2
    convert_video_file(tmp_path / "a17.json", tmp_path / "b18.json", "2018")
    orig, back = read_video(gt_file), read_video(tmp_path / "b18.json")
    assert len(orig) == len(back) == 1
    for f0, f1 in zip(orig, back):
        assert (f0.file_name, f0.frame_id, f0.image_id) == (f1.file_name, f1.frame_id, f1.image_id)
        for r0, r1 in zip(f0.ignore_regions, f1.ignore_regions):
            np.testing.assert_array_equal(r0, r1)
        for p0, p1 in zip(f0.people, f1.people):
            assert p0.track_id == p1.track_id
            np.testing.assert_array_equal(p0.present, p1.present)
            np.testing.assert_array_equal(p0.keypoints[p0.present], p1.keypoints[p1.present])
            np.testing.assert_array_equal(p0.head_box, p1.head_box)
    raw18 = json.loads((tmp_path / "b18.json").read_text())
    assert raw18["annotations"][0]["scores"] == [] and raw18["categories"][0]["keypoints"][1] == "head_bottom"


def test_prediction_round_trip_keeps_scores_and_ids(tmp_path):
    frames = video_frames("012834_mpii_test", 3)
    rng = np.random.default_rng(0)
    for fr in frames:
        kp = np.concatenate([rng.uniform(1, 500, (17, 2)), rng.uniform(0.1, 1, (17, 1))], axis=1)
        kp[3:5] = 0
        fr.people = [PersonPose(7, kp, 0.8, bbox=np.array([1.0, 2.0, 30.0, 40.0]))]
    for fmt in ("2018", "2017"):
        path = tmp_path / f"p{fmt}.json"
        assert write_video_predictions(path, frames, fmt) == 3
        back = read_video(path)
        for f0, f1 in zip(frames, back):
            assert f1.file_name == f0.file_name
            (p0,), (p1,) = f0.people, f1.people
            assert p1.track_id == 7 and p1.score == 0.8
            np.testing.assert_array_equal(p1.present, p0.present)
            np.testing.assert_array_equal(p1.keypoints[p1.present], p0.keypoints[p0.present])
    assert frames[2].frame_id == frames[2].image_id == 10128340002


def test_writer_is_atomic_and_streams(tmp_path):
    path = tmp_path / "v.json"
    with pytest.raises(RuntimeError, match="boom"):
        with PoseTrackWriter(path) as w:
            w.add(FramePoses("images/val/000001_mpii_test/000000.jpg", 1, 1))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind
    with pytest.raises(ValueError, match=r"frame 0 .*person 0: track_id must be an integer in \[0, 10000\)"):
        write_video_predictions(path, [FramePoses("a/b.jpg", 0, 0, [PersonPose(10000, np.ones((17, 3)))])])
    assert not path.exists()


class _DiskFull:
    """File handle whose writes fail, as on a full disk."""

    def write(self, text):
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fmt", ["2018", "2017"])
def test_failed_closing_write_publishes_nothing(tmp_path, fmt):
    path = tmp_path / "v.json"
    with pytest.raises(OSError, match="No space left"):
        with PoseTrackWriter(path, fmt) as w:
            w.add(FramePoses("images/val/000001_mpii_test/000000.jpg", 1, 1))
            w._fh = _DiskFull()  # the closing write in __exit__ fails
    assert list(tmp_path.iterdir()) == []  # neither a truncated file nor a temporary


def test_coco_to_posetrack18_rule():
    coco = np.zeros((1, 17, 3))
    coco[0, 0] = [100, 50, 0.9]   # nose
    coco[0, 1] = [95, 45, 0.8]    # eyes: dropped
    coco[0, 3] = [90, 50, 0.7]    # ears: zeroed
    coco[0, 5] = [80, 100, 0.6]   # left shoulder
    coco[0, 6] = [120, 100, 0.7]  # right shoulder
    coco[0, 16] = [110, 300, 0.5]
    pt = coco_to_posetrack18(coco)[0]
    # S = (100, 100), N = (100, 50): head_bottom = S + 0.3 (N - S), head_top = N + 0.5 (N - S)
    np.testing.assert_allclose(pt[1], [100, 85, 0.6])
    np.testing.assert_allclose(pt[2], [100, 25, 0.6])
    assert pt[0].tolist() == [100, 50, 0.9] and pt[3].tolist() == [0, 0, 0] and pt[4].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(pt[5:], coco[0, 5:])
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        coco_to_posetrack18(np.zeros((17, 3)))


def test_image_ids():
    assert posetrack_image_id("images/val/012834_mpii_test/000007.jpg") == 10128340007
    assert posetrack_image_id("images/val/000001_mpiinew_test/000003.jpg") == 30000010003
    assert posetrack_image_id("images/val/myvideo/000003.jpg") is None
    assert posetrack_image_id("images/val/000001_mpii2_test/000003.jpg") is None


def _write(tmp_path: Path, obj, name: str = "bad.json") -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d.pop("categories"), r"bad.json: field 'categories'"),
    (lambda d: d["annotations"][1].update(keypoints=[1, 2, 3]), r"bad.json: frame 0 \(.*\): person 1: field 'keypoints' must hold 51"),
    (lambda d: d["annotations"][0].update(track_id="a"), r"bad.json: frame 0 .*person 0: field 'track_id' must be an integer"),
    (lambda d: d["annotations"][0].pop("track_id"), r"person 0: field 'track_id' missing"),
    (lambda d: d["annotations"][0].update(scores=[0.5] * 3), r"person 0: field 'scores' must hold 17"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(4, None), r"person 0: field 'keypoints' must hold finite numbers"),
    (lambda d: d["annotations"][0].update(scores=[0.5] * 16 + [None]), r"person 0: field 'scores' must hold finite numbers"),
    (lambda d: d["images"][0].pop("file_name"), r"bad.json: image 0: fields 'id' and 'file_name'"),
])
def test_malformed_2018_files_name_file_frame_and_field(tmp_path, gt_file, mutate, pattern):
    data = json.loads(gt_file.read_text())
    mutate(data)
    with pytest.raises(PoseTrackFormatError, match=pattern):
        read_video(_write(tmp_path, data))


def test_malformed_2017_and_json_errors(tmp_path, gt_file):
    with pytest.raises(PoseTrackFormatError, match="bad.json: not valid JSON"):
        read_video(_write(tmp_path, '{"annolist": ['))
    with pytest.raises(PoseTrackFormatError, match="neither a PoseTrack 2017"):
        read_video(_write(tmp_path, {"frames": []}))
    convert_video_file(gt_file, tmp_path / "ok17.json", "2017")
    data = json.loads((tmp_path / "ok17.json").read_text())
    data["annolist"][0]["annorect"][1]["annopoints"][0]["point"][2]["id"] = [15]
    with pytest.raises(PoseTrackFormatError, match=r"person 1: point 2: field 'id' must be a joint id 0..14"):
        read_video(_write(tmp_path, data))
    data["annolist"][0]["annorect"][1]["annopoints"][0]["point"][2]["id"] = [3]
    data["annolist"][0]["annorect"][0]["x1"] = 5
    with pytest.raises(PoseTrackFormatError, match=r"person 0: field 'x1' must be a one-element list"):
        read_video(_write(tmp_path, data))


def _pred_dir(tmp_path: Path, posetrack18_sample: Path) -> tuple[Path, Path]:
    """GT dir of the 3 sample videos and a valid prediction dir (GT copies with scores)."""
    gt_dir = posetrack18_sample / "annotations" / "val"
    pred = tmp_path / "pred"
    pred.mkdir()
    for p in sorted(gt_dir.glob("*.json")):
        frames = read_video(p)
        for fr in frames:
            for k, person in enumerate(fr.people):
                person.keypoints[:, 2] = np.where(person.present, 0.5 + 0.01 * k, 0.0)
        write_video_predictions(pred / p.name, frames)
    return gt_dir, pred


def test_validate_clean_predictions(tmp_path, posetrack18_sample, capsys):
    from posetrack.cli import main

    gt_dir, pred = _pred_dir(tmp_path, posetrack18_sample)
    assert validate_predictions(pred, gt_dir) == []
    assert main(["validate", str(pred), "--gt", str(gt_dir)]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_validate_reports_each_problem_with_file_frame_person(tmp_path, posetrack18_sample, capsys):
    from posetrack.cli import main

    gt_dir, pred = _pred_dir(tmp_path, posetrack18_sample)
    (pred / "003418_mpii_test.json").unlink()
    p = pred / "012834_mpii_test.json"
    data = json.loads(p.read_text())
    anns = data["annotations"]
    anns[1]["track_id"] = anns[0]["track_id"]           # duplicate in frame 0
    anns[2]["track_id"] = 2.5                           # not an integer
    anns[3]["scores"] = []                              # scores missing
    anns[4]["keypoints"][0] = 5000.0                    # nose outside the 1920x1080 image
    data["images"][0]["file_name"] = "images/val/012834_mpii_test/000001.jpg"
    p.write_text(json.dumps(data))
    problems = [str(x) for x in validate_predictions(pred, gt_dir)]
    f = str(p)
    frame = f"{f}: frame 0 (images/val/012834_mpii_test/000001.jpg)"
    assert problems == [
        f"{pred / '003418_mpii_test.json'}: missing (GT video 003418_mpii_test.json has no prediction file)",
        f"{frame}: file_name differs from GT frame 0 ('images/val/012834_mpii_test/000000.jpg')",
        f"{frame}: duplicate track id(s) [0] in one frame",
        f"{frame}: person 2: field 'track_id' must be an integer, got 2.5",
    ]
    anns[2]["track_id"] = 2
    p.write_text(json.dumps(data))
    problems = [str(x) for x in validate_predictions(pred, gt_dir)]
    assert f"{frame}: person 3: keypoint scores missing ('scores' in 2018, point 'score' in 2017); " \
           "poseval would use -9999" in problems
    assert f"{frame}: person 4: keypoints more than half an image outside the 1920x1080 frame: nose" in problems
    assert main(["validate", str(pred), "--gt", str(gt_dir)]) == 1
    out = capsys.readouterr().out
    assert "problem(s) found" in out and "duplicate track id(s) [0]" in out


def test_validate_frame_count_and_2017_duplicates(tmp_path, posetrack18_sample):
    gt_dir, pred = _pred_dir(tmp_path, posetrack18_sample)
    p = pred / "009473_mpii_test.json"
    convert_video_file(p, p, "2017")
    data = json.loads(p.read_text())
    pts = data["annolist"][0]["annorect"][1]["annopoints"][0]["point"]
    pts.append(dict(pts[0]))
    data["annolist"].append(data["annolist"][0])
    p.write_text(json.dumps(data))
    problems = [str(x) for x in validate_predictions(pred, gt_dir)]
    assert problems == [
        f"{p}: 2 frames, GT has 1 (poseval pairs frames by position)",
        f"{p}: frame 0 (images/val/009473_mpii_test/000000.jpg): person 1: joint id(s) [{pts[0]['id'][0]}] "
        "given more than once",
    ]


def test_gt_copy_in_other_folder_reads_identically(tmp_path, gt_file):
    shutil.copy(gt_file, tmp_path / gt_file.name)
    v = VideoFile(tmp_path / gt_file.name)
    assert v.format == "2018" and len(v) == 1 and v.num_people(0) == 2 and v.raw_track_ids(0) == [0, 1]


def test_frame_arrays_fast_path_equals_per_person_reading(posetrack18_sample):
    for p in sorted((posetrack18_sample / "annotations" / "val").glob("*.json")):
        v = VideoFile(p)
        fast, people = v.frame_arrays(0), v.frame(0).people
        np.testing.assert_array_equal(fast.keypoints, np.stack([x.keypoints for x in people]))
        np.testing.assert_array_equal(fast.present, np.stack([x.present for x in people]))
        np.testing.assert_array_equal(fast.head_box, np.stack([x.head_box for x in people]))
        assert fast.track_id.tolist() == [x.track_id for x in people]
        assert [len(r) for r in fast.ignore_regions] == [len(r) for r in v.frame(0).ignore_regions]
