"""BlazePose teacher: the 33 -> 17 landmark mapping, crops, and labels on real COCO images.

The tests that run BlazePose need the optional ``mediapipe`` package (numpy < 2, so it lives
in its own environment); run them with that environment's Python from the repository root:
``/work/teacher-venv/bin/python -m pytest tests/test_teacher.py``. Elsewhere they are skipped.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from posetrack.pose.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINTS
from posetrack.pose.oks import oks_matrix
from tools.teacher.blazepose import (
    BLAZEPOSE_TO_COCO,
    BlazePoseTeacher,
    TeacherUnavailableError,
    crop_region,
    crop_with_padding,
    landmarks_to_coco,
)

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(
    not HAS_MEDIAPIPE, reason="mediapipe (optional teacher extra, numpy<2) is not installed in this environment"
)


def test_landmarks_to_coco_picks_and_places_the_mapped_landmarks():
    i = np.arange(33, dtype=np.float64)
    landmarks = np.stack([i / 100, 1 - i / 100, -i, i / 33], 1)  # x, y (crop-normalised), z, visibility
    region = np.array([100, 50, 300, 450])  # 200 x 400 px crop
    kpts = landmarks_to_coco(landmarks, region)
    src = np.array(BLAZEPOSE_TO_COCO, np.float64)
    assert kpts.shape == (17, 3) and kpts.dtype == np.float32
    np.testing.assert_allclose(kpts[:, 0], 100 + src / 100 * 200, atol=1e-4)
    np.testing.assert_allclose(kpts[:, 1], 50 + (1 - src / 100) * 400, atol=1e-4)
    np.testing.assert_allclose(kpts[:, 2], src / 33, atol=1e-6)
    assert BLAZEPOSE_TO_COCO[:5] == (0, 2, 5, 7, 8)  # face points: nose, eye centres, ears
    with pytest.raises(ValueError, match=r"\(33, 4\)"):
        landmarks_to_coco(landmarks[:, :3], region)


def test_crop_region_enlarges_about_the_centre():
    np.testing.assert_array_equal(crop_region(np.array([10, 20, 40, 80]), 1.25), [5, 10, 55, 110])
    np.testing.assert_array_equal(crop_region(np.array([10.5, 20, 40, 80]), 1.0), [10, 20, 51, 100])
    with pytest.raises(ValueError, match="no area"):
        crop_region(np.array([0, 0, 0, 10]))


def test_crop_with_padding_fills_outside_with_black():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    out = crop_with_padding(image, np.array([-2, 3, 4, 8]))  # 6 wide, 5 high, leaves left and bottom
    assert out.shape == (5, 6, 3)
    np.testing.assert_array_equal(out[:2, 2:], image[3:5, 0:4])
    assert not out[:, :2].any() and not out[2:].any()


@pytest.mark.skipif(HAS_MEDIAPIPE, reason="mediapipe is installed here")
def test_missing_mediapipe_is_a_clear_error():
    with pytest.raises(TeacherUnavailableError, match=r"mediapipe==0\.10\.21"):
        BlazePoseTeacher()


@needs_mediapipe
def test_mapping_matches_the_installed_pose_landmark_enum():
    import mediapipe as mp

    for k, name in enumerate(COCO_KEYPOINTS):
        assert mp.solutions.pose.PoseLandmark[name.upper()].value == BLAZEPOSE_TO_COCO[k], name


@pytest.fixture(scope="module")
def coco_people(coco_sample):
    """Teacher poses for the COCO sample people with >= 10 labelled keypoints, and their GT."""
    from posetrack.io.image import read_image_rgb

    data = json.loads((coco_sample / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    people = [a for a in data["annotations"] if a["num_keypoints"] >= 10]
    assert len(people) == 12
    poses = []
    with BlazePoseTeacher() as teacher:
        for ann in people:
            kpts, found = teacher(read_image_rgb(coco_sample / files[ann["image_id"]]), np.array([ann["bbox"]]))
            assert found[0], ann["id"]
            poses.append(kpts[0])
    gt = np.array([a["keypoints"] for a in people], np.float64).reshape(-1, 17, 3)
    areas = np.array([a["area"] for a in people])
    return {a["id"]: i for i, a in enumerate(people)}, np.stack(poses), gt, areas


def _oks(pred: np.ndarray, gt: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """COCO OKS of each pred against its own GT (labelled GT joints only)."""
    return np.array([oks_matrix(p[None], g[None], [a], [a], in_vis_thre=0)[0, 0] for p, g, a in zip(pred, gt, areas)])


@needs_mediapipe
def test_teacher_on_coco_crops_agrees_with_ground_truth(coco_people):
    ids, pred, gt, areas = coco_people
    oks = _oks(pred, gt, areas)
    # Measured with mediapipe 0.10.21: 0.93 on the lone skier of image 785, median 0.80,
    # lowest 0.37 (a partly hidden person in the crowd of image 197388).
    assert oks[ids[442619]] > 0.85
    assert np.median(oks) > 0.7
    assert (oks > 0.5).sum() >= 9
    assert np.all((pred[..., 2] >= 0) & (pred[..., 2] <= 1))


@needs_mediapipe
def test_teacher_left_and_right_are_the_persons_own_sides(coco_people):
    _, pred, gt, areas = coco_people
    swap = np.arange(17)
    for left, right in COCO_FLIP_PAIRS:
        swap[[left, right]] = right, left
    # A mirrored mapping would fit every one of these people worse.
    assert np.all(_oks(pred, gt, areas) > _oks(pred[:, swap], gt, areas) + 0.1)


@needs_mediapipe
def test_pseudo_labels_of_the_coco_sample_load_as_a_training_set(coco_sample, tmp_path):
    from posetrack.data.datasets.coco import load_coco
    from tools.make_pseudo_labels import main

    assert main(["--out", str(tmp_path), "--data", str(coco_sample.parent), "--sources", "coco_sample"]) == 0
    train = json.loads((tmp_path / "annotations" / "person_keypoints_train.json").read_text())
    index = json.loads((tmp_path / "crops_index.json").read_text())
    assert len(train["images"]) == 4 and len(index) == 14  # every non-crowd GT box is a candidate
    kept = [p for p in index if p["kept"]]
    assert len(train["annotations"]) == len(kept) >= 8
    assert {p["reason"] for p in index if p["file_name"] == "coco_sample/000002.jpg" and p["bbox"][3] < 40} == {
        "box 32 px high < 40"}
    for ann in train["annotations"]:
        kpts = np.array(ann["keypoints"]).reshape(17, 3)
        assert set(kpts[:, 2]) <= {0, 2} and ann["num_keypoints"] == (kpts[:, 2] == 2).sum() >= 8
        assert not kpts[kpts[:, 2] == 0, :2].any()
    records = load_coco(tmp_path / "annotations" / "person_keypoints_train.json", tmp_path / "images", aspect_ratio=0.75)
    assert len(records) == len(kept)
    assert (tmp_path / "images" / "coco_sample" / "000000.jpg").read_bytes() == (coco_sample / "000000000785.jpg").read_bytes()


def _standing_pose(x0: float, y0: float, height: float) -> np.ndarray:
    """A hand-made upright COCO pose, head at (x0, y0), ``height`` px to the ankles, all visible."""
    rel = np.array([(0, 0), (-.03, -.02), (.03, -.02), (-.06, 0), (.06, 0), (-.12, .15), (.12, .15), (-.15, .32),
                    (.15, .32), (-.16, .47), (.16, .47), (-.08, .52), (.08, .52), (-.08, .76), (.08, .76),
                    (-.08, 1.0), (.08, 1.0)])
    return np.concatenate([np.array([x0, y0]) + rel * height, np.ones((17, 1))], 1).astype(np.float32)


def test_filter_rule_on_hand_made_poses():
    from tools.make_pseudo_labels import Rules, accept

    rules = Rules()
    box = np.array([100, 50, 60, 200], np.float32)  # x, y, w, h
    region = crop_region(box, 1.25)
    pose = _standing_pose(130, 60, 180)
    visible, reason = accept(pose, box, region, 640, 480, rules)
    assert reason == "" and visible.all()

    face_only = pose.copy()
    face_only[5:, 2] = 0.3
    face_only[5:8, 2] = 0.9  # 5 face + 3 body points visible
    assert accept(face_only, box, region, 640, 480, rules)[1] == "8 visible keypoints (3 body) < 8 (6)"

    beside = _standing_pose(200, 60, 180)  # the teacher followed a neighbour to the right
    assert accept(beside, box, crop_region(box, 3.0), 640, 480, rules)[1].startswith("keypoints centred outside")

    fragment = _standing_pose(130, 100, 80)  # 80 px (82 with the eyes) in a 200 px box
    assert accept(fragment, box, region, 640, 480, rules)[1] == "keypoints span 82 px < 0.5 x box height 200"

    clipped, _ = accept(pose, box, region, 640, 190, rules)  # frame 190 px high: knees, ankles leave it
    np.testing.assert_array_equal(np.flatnonzero(~clipped), [13, 14, 15, 16])

    assert accept(pose, np.array([100, 50, 10, 39]), region, 640, 480, rules)[1] == "box 39 px high < 40"
    assert accept(None, box, region, 640, 480, rules)[1] == "no pose found"


def test_coco_annotation_keeps_only_accepted_keypoints():
    from tools.make_pseudo_labels import coco_annotation

    raw = _standing_pose(130, 60, 180)
    raw[:, 2] = np.linspace(0.2, 1.0, 17)
    visible = raw[:, 2] >= 0.5
    person = {"bbox": [100.0, 50.0, 60.0, 200.0], "box_source": "hog", "visible": visible.astype(int).tolist(),
              "teacher_keypoints": raw.reshape(-1).tolist(), "crop_region": [92, 25, 168, 275]}
    ann = coco_annotation(person, image_id=7, ann_id=3)
    kpts = np.array(ann["keypoints"]).reshape(17, 3)
    assert (ann["id"], ann["image_id"], ann["area"], ann["num_keypoints"]) == (3, 7, 12000.0, visible.sum())
    np.testing.assert_array_equal(kpts[:, 2], np.where(visible, 2, 0))
    np.testing.assert_allclose(kpts[visible, :2], raw[visible, :2], atol=0.01)
    assert not kpts[~visible, :2].any()
    assert ann["score"] == pytest.approx(raw[visible, 2].mean(), abs=1e-4)
    np.testing.assert_allclose(ann["keypoint_scores"], raw[:, 2], atol=1e-3)


HELDOUT = Path(__file__).parent / "data" / "teacher_heldout_vtest.json"


def test_heldout_fixture_is_held_out_and_well_formed():
    data = json.loads(HELDOUT.read_text())
    assert len(data["images"]) == 6 and len(data["annotations"]) == 31
    assert all(im["video"] == "videos/vtest.avi" and im["frame_index"] >= 600 for im in data["images"])
    assert all(im["split"] == "val" for im in data["images"])
    for ann in data["annotations"]:
        kpts = np.array(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == (kpts[:, 2] == 2).sum() >= 8
        assert (kpts[5:, 2] == 2).sum() >= 6


@needs_mediapipe
def test_teacher_reproduces_the_heldout_labels(shared_data):
    """The stored labels are what the teacher says on those frames (same decoder, same model)."""
    import itertools

    from posetrack.io.video import read_video

    data = json.loads(HELDOUT.read_text())
    wanted = {im["frame_index"]: im["id"] for im in data["images"]}
    frames = {f.index: f.image for f in itertools.islice(read_video(shared_data / "videos" / "vtest.avi"), max(wanted) + 1)
              if f.index in wanted}
    with BlazePoseTeacher() as teacher:
        for index, image_id in wanted.items():
            anns = [a for a in data["annotations"] if a["image_id"] == image_id]
            for ann in anns:
                # The stored crop region, not one re-derived from the rounded bbox: a crop 1 px
                # off moves BlazePose's points on these ~80 px people by up to ~4 px.
                pred = teacher.pose_in_region(frames[index], np.array(ann["crop_region"]))
                assert pred is not None, ann["id"]
                stored = np.array(ann["keypoints"]).reshape(17, 3)
                kept = stored[:, 2] == 2
                np.testing.assert_allclose(pred[kept, :2], stored[kept, :2], atol=0.5)
                np.testing.assert_allclose(pred[:, 2], ann["keypoint_scores"], atol=0.01)
