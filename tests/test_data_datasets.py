"""Dataset readers on the real sample files: exact records, skip rules, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posetrack.data.datasets import load_coco, load_mpii, load_posetrack
from posetrack.data.datasets.posetrack import POSETRACK17_TO_18, keypoint_box
from posetrack.data.records import DatasetError


@pytest.fixture(scope="module")
def coco_json(coco_sample: Path) -> dict:
    return json.loads((coco_sample / "test_coco.json").read_text())


def _write(tmp_path: Path, data, name: str = "ann.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_coco_records_exact(coco_sample):
    recs = load_coco(coco_sample / "test_coco.json", coco_sample, aspect_ratio=192 / 256)
    # 14 annotations, 2 without keypoints (ids 1202706, 508900): 12 training people
    assert len(recs) == 12
    assert [r.image_id for r in recs].count(197388) == 5
    r = recs[0]  # id 442619, bbox [280.79, 44.73, 218.7, 346.68] on 640x425
    # clean bbox -> w = 217.7, h = 345.68 (official "- 1"), padded to 3:4, x1.25
    np.testing.assert_allclose(r.center, [280.79 + 217.7 / 2, 44.73 + 345.68 / 2])
    np.testing.assert_allclose(r.box_size, [345.68 * 0.75 * 1.25, 345.68 * 1.25])
    assert r.joints.shape == (17, 3) and r.joints[0].tolist() == [367.0, 81.0, 1.0]
    assert r.image == coco_sample / "000000000785.jpg" and r.area == pytest.approx(27789.11055)


def test_coco_skips_crowd_invisible_and_outside_boxes(tmp_path, coco_sample, coco_json):
    data = json.loads(json.dumps(coco_json))
    anns = data["annotations"]
    anns[0]["iscrowd"] = 1  # crowd region: skipped
    anns[1]["keypoints"] = [v if i % 3 != 2 else 0 for i, v in enumerate(anns[1]["keypoints"])]  # all v=0
    anns[2]["bbox"] = [700.0, 500.0, 50.0, 50.0]  # outside the 500x333 image: dropped (official clean bbox)
    recs = load_coco(_write(tmp_path, data), coco_sample, aspect_ratio=0.75)
    assert len(recs) == 12 - 3
    assert {r.image_id for r in recs} >= {196141, 197388}
    assert all(r.joints[:, 2].sum() > 0 for r in recs)


def test_coco_missing_image_names_the_file(tmp_path, coco_sample, coco_json):
    data = json.loads(json.dumps(coco_json))
    data["images"][1]["file_name"] = "nope_000000040083.jpg"
    with pytest.raises(DatasetError, match=r"nope_000000040083\.jpg"):
        load_coco(_write(tmp_path, data), coco_sample, aspect_ratio=0.75)


def test_coco_malformed_files(tmp_path, coco_sample, coco_json):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(DatasetError, match="bad.json: not valid JSON"):
        load_coco(bad, coco_sample, aspect_ratio=0.75)
    data = json.loads(json.dumps(coco_json))
    del data["annotations"][4]["bbox"]
    with pytest.raises(DatasetError, match=r"ann.json: annotation 460541: missing field 'bbox'"):
        load_coco(_write(tmp_path, data), coco_sample, aspect_ratio=0.75)


def test_posetrack18_box_is_keypoint_box_extended_15_percent(posetrack18_sample):
    """The PoseTrack 18 GT 'bbox' is exactly the keypoint box grown 15 % per side:
    our box (paper section 4.2) must reproduce it for every unclipped person."""
    data = json.loads((posetrack18_sample / "annotations/test_posetrack18_val.json").read_text())
    images = {i["id"]: i for i in data["images"]}
    checked = 0
    for ann in data["annotations"]:
        joints = np.asarray(ann["keypoints"], float).reshape(17, 3)
        img = images[ann["image_id"]]
        box = keypoint_box(joints, img["width"], img["height"])
        x, y, w, h = ann["bbox"]
        if x >= 0 and y >= 0 and x + w <= img["width"] - 1 and y + h <= img["height"] - 1:
            np.testing.assert_allclose(box, [x, y, w - 1, h - 1], atol=1e-6)  # clean box: official "- 1"
            checked += 1
    assert checked >= 10


def test_posetrack18_folder_equals_combined_file(posetrack18_sample):
    per_video = load_posetrack(posetrack18_sample / "annotations/val", posetrack18_sample, aspect_ratio=0.75)
    combined = load_posetrack(posetrack18_sample / "annotations/test_posetrack18_val.json", posetrack18_sample,
                              aspect_ratio=0.75)
    assert len(per_video) == len(combined) == 14
    key = lambda r: (r.video_id, r.track_id)  # noqa: E731
    for a, b in zip(sorted(per_video, key=key), sorted(combined, key=key)):
        assert (a.image, a.video_id, a.frame_id, a.track_id, a.image_id) == (b.image, b.video_id, 0, b.track_id, b.image_id)
        np.testing.assert_array_equal(a.joints, b.joints)
        np.testing.assert_array_equal(a.center, b.center)
    assert sorted({r.video_id for r in per_video}) == ["003418_mpii_test", "009473_mpii_test", "012834_mpii_test"]
    assert sorted(r.track_id for r in per_video if r.video_id == "012834_mpii_test") == list(range(11))


def _to_posetrack17(data18: dict) -> dict:
    """The 2018 sample rewritten as a 2017 ``annolist`` file (MATLAB-style 1-element lists)."""
    slot_to_id = {slot: pid for pid, slot in POSETRACK17_TO_18.items()}
    frames = []
    for img in data18["images"]:
        rects = []
        for ann in (a for a in data18["annotations"] if a["image_id"] == img["id"]):
            kp = np.asarray(ann["keypoints"], float).reshape(17, 3)
            points = [{"id": [slot_to_id[s]], "x": [kp[s, 0]], "y": [kp[s, 1]], "is_visible": [int(kp[s, 2])]}
                      for s in slot_to_id if kp[s, 2] > 0]
            rects.append({"x1": [0], "y1": [0], "x2": [1], "y2": [1], "track_id": [ann["track_id"]],
                          "annopoints": [{"point": points}]})
        frames.append({"image": [{"name": img["file_name"]}], "imgnum": [1], "is_labeled": [1], "annorect": rects})
    return {"annolist": frames}


def test_posetrack17_annolist_maps_to_2018_slots(tmp_path, posetrack18_sample):
    src = posetrack18_sample / "annotations/test_posetrack18_val.json"
    ann17 = _write(tmp_path, _to_posetrack17(json.loads(src.read_text())), "val17.json")
    recs17 = load_posetrack(ann17, posetrack18_sample, aspect_ratio=0.75)
    recs18 = load_posetrack(src, posetrack18_sample, aspect_ratio=0.75)
    assert len(recs17) == len(recs18) == 14
    for a, b in zip(recs17, recs18):
        np.testing.assert_array_equal(a.joints, b.joints)  # ears absent in both
        np.testing.assert_allclose(a.box_size, b.box_size)
        assert (a.video_id, a.track_id) == (b.video_id, b.track_id)
    assert len({r.image_id for r in recs17}) == 3  # one id per frame


def test_posetrack17_missing_image(tmp_path):
    ann = {"annolist": [{"image": [{"name": "images/x/000001.jpg"}], "annorect": [{"annopoints": []}]}]}
    with pytest.raises(DatasetError, match=r"annolist\[0\]: image missing or unreadable: .*images/x/000001\.jpg"):
        load_posetrack(_write(tmp_path, ann), tmp_path, aspect_ratio=0.75)


def test_mpii_official_center_scale_adjustment(tmp_path, coco_sample):
    entry = {"image": "000000000785.jpg", "center": [300.0, 200.0], "scale": 1.2,
             "joints": [[10.0 + i, 20.0 + i] for i in range(16)], "joints_vis": [1] * 15 + [0]}
    (rec,) = load_mpii(_write(tmp_path, [entry, {**entry, "joints_vis": [0] * 16}]), coco_sample)
    # official mpii.py: c[1] += 15 * s; s *= 1.25; then 1-based -> 0-based
    np.testing.assert_allclose(rec.center, [299.0, 200.0 + 18.0 - 1.0])
    np.testing.assert_allclose(rec.box_size, [1.2 * 1.25 * 200] * 2)
    assert rec.joints[3].tolist() == [12.0, 22.0, 1.0] and rec.joints[15, 2] == 0
    with pytest.raises(DatasetError, match=r"entry \[0\]: missing field 'scale'"):
        load_mpii(_write(tmp_path, [{k: v for k, v in entry.items() if k != "scale"}]), coco_sample)
