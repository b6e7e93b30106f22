"""PoseTrack evaluation against hand-computed values.

The sample GT files hold one labeled frame per video (poseval's MOT part crashes on those), so
multi-frame videos are built from the real annotations: frame t repeats the real people shifted
2 px to the right per frame, same track ids. Base video: 009473_mpii_test, person A (track 0,
14 joints: no left elbow) and person B (track 1, all 15 joints). Their left ankles lie within
0.5 head sizes of each other, which exercises motmetrics' carried-over matches and the MOTP
RAW quirk with real numbers.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from posetrack.eval.posetrack import EvalOptions, evaluate, format_table
from posetrack.io.posetrack_json import PT17_JOINTS, FramePoses, PersonPose, PoseTrackWriter, convert_video_file

VIDEO = "009473_mpii_test"
SHIFT = 2.0  # px per frame
N_FRAMES = 4
J = {n: i for i, n in enumerate(PT17_JOINTS)}


def load_real(posetrack18_sample: Path, video: str) -> dict:
    return json.loads((posetrack18_sample / "annotations" / "val" / f"{video}.json").read_text())


def make_gt(real: dict, n_frames: int, regions: bool = True, empty: tuple[int, ...] = (), shift: float = SHIFT) -> dict:
    """A 2018 GT video: the real frame repeated, shifted ``shift`` px per frame; frames in ``empty`` have no people."""
    im0 = real["images"][0]
    video = im0["file_name"].split("/")[-2]
    images, anns = [], []
    for t in range(n_frames):
        im = copy.deepcopy(im0)
        im["file_name"] = f"images/val/{video}/{t:06d}.jpg"
        im["id"] = im["frame_id"] = im0["id"] + t
        im["is_labeled"] = t not in empty
        if regions:
            im["ignore_regions_x"] = [[x + shift * t for x in xs] for xs in im0["ignore_regions_x"]]
        else:
            im["ignore_regions_x"], im["ignore_regions_y"] = [], []
        images.append(im)
        if t in empty:
            continue
        for a in real["annotations"]:
            a = copy.deepcopy(a)
            kp = np.array(a["keypoints"], float).reshape(17, 3)
            kp[~np.all(kp == 0, axis=1), 0] += shift * t
            a["keypoints"] = kp.ravel().tolist()
            a["bbox_head"][0] += shift * t
            a["image_id"], a["id"] = im["id"], len(anns)
            anns.append(a)
    return {"images": images, "annotations": anns, "categories": real["categories"]}


def gt_people(gt: dict) -> list[list[tuple[int, np.ndarray]]]:
    """Per frame: (track id, (17, 3) x, y, v) of every GT person."""
    by_image = {im["id"]: [] for im in gt["images"]}
    for a in gt["annotations"]:
        by_image[a["image_id"]].append((a["track_id"], np.array(a["keypoints"], float).reshape(17, 3)))
    return [by_image[im["id"]] for im in gt["images"]]


def write_pred(path: Path, gt: dict, frames: list[list[tuple[int, np.ndarray, float]]]) -> None:
    """Predictions (track id, (17, 3) x, y, v, score) per frame, through the 2018 writer."""
    with PoseTrackWriter(path) as w:
        for im, people in zip(gt["images"], frames):
            persons = []
            for tid, kp, score in people:
                k = kp.copy()
                present = ~np.all(kp == 0, axis=1)
                k[:, 2] = np.where(present, score, 0.0)
                persons.append(PersonPose(tid, k, 1.0, present=present))
            w.add(FramePoses(im["file_name"], im["frame_id"], im["id"], persons))


def copy_predictions(gt: dict) -> list[list[tuple[int, np.ndarray, float]]]:
    """GT copied as predictions with distinct scores below 0.9."""
    out, n = [], 0
    for people in gt_people(gt):
        frame = []
        for tid, kp in people:
            frame.append((tid, kp, 0.5 + 0.001 * n))
            n += 1
        out.append(frame)
    return out


def write_gt(tmp_path: Path, gt: dict) -> Path:
    """tmp/gt/VIDEO.json and an empty tmp/pred; returns the prediction file path."""
    (tmp_path / "gt").mkdir(exist_ok=True)
    (tmp_path / "pred").mkdir(exist_ok=True)
    (tmp_path / "gt" / f"{VIDEO}.json").write_text(json.dumps(gt))
    return tmp_path / "pred" / f"{VIDEO}.json"


def run(tmp_path: Path, gt: dict, pred: list, options: EvalOptions = EvalOptions()) -> dict:
    write_pred(write_gt(tmp_path, gt), gt, pred)
    return evaluate(tmp_path / "gt", tmp_path / "pred", options)


@pytest.fixture(scope="module")
def real(posetrack18_sample: Path) -> dict:
    return load_real(posetrack18_sample, VIDEO)


@pytest.fixture(scope="module")
def ankle_cross(real: dict) -> float:
    """Sum of the two normalised cross distances between A's and B's left ankles (both <= 0.5)."""
    (a, b) = real["annotations"]
    la = 15  # 2018 slot of left_ankle
    ka, kb = (np.array(p["keypoints"], float).reshape(17, 3)[la, :2] for p in (a, b))
    d = math.hypot(*(ka - kb))
    ha, hb = (0.6 * math.hypot(p["bbox_head"][2], p["bbox_head"][3]) for p in (a, b))
    assert d / ha <= 0.5 and d / hb <= 0.5  # premise of the hand computations
    return d / ha + d / hb


def per_joint(results: dict, metric: str) -> dict[str, float]:
    return results["per_joint"][metric]


def expect(values: dict[str, float], default: float, **special: float) -> None:
    for name, v in values.items():
        assert v == pytest.approx(special.get(name, default), rel=1e-12, abs=1e-12), name


def total(default: float, **special: float) -> float:
    return (default * (15 - len(special)) + sum(special.values())) / 15


def test_gt_vs_gt_multi_frame_is_100_and_motp_has_raw_quirk(tmp_path, posetrack18_sample, ankle_cross):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    n_left_ankle = 0
    for video in ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test"):
        gt = make_gt(load_real(posetrack18_sample, video), 5)
        (gt_dir / f"{video}.json").write_text(json.dumps(gt))
        (pred_dir / f"{video}.json").write_text(json.dumps(gt))  # a GT copy: no scores, as poseval allows
        n_left_ankle += 4 * sum(a["keypoints"][15 * 3 + 2] > 0 for a in gt["annotations"][: len(gt["annotations"]) // 5])
    r = evaluate(gt_dir, pred_dir)
    for metric in ("ap", "mota", "precision", "recall"):
        assert r[metric] == {k: 100.0 for k in r[metric]}, metric
    # MOTP: only 009473's left ankles are within reach of each other; 4 scored frames each
    # add both cross distances (RAW rows) while every match has distance 0.
    expect(per_joint(r, "motp"), 100.0, left_ankle=100.0 * (1 - 4 * ankle_cross / n_left_ankle))
    fixed = evaluate(gt_dir, pred_dir, EvalOptions().without("motp_raw"))
    assert fixed["motp"]["Total"] == 100.0


def test_single_labeled_frame_videos_give_ap_and_no_mot(posetrack18_sample, caplog):
    ann = posetrack18_sample / "annotations" / "val"
    r = evaluate(ann, ann)
    assert r["ap"]["Total"] == 100.0 and r["num_frames"] == 3
    assert all(math.isnan(v) for v in r["mota"].values())
    assert "poseval crashes here" in caplog.text
    # with the last frame kept, the single frame is scored
    assert evaluate(ann, ann, EvalOptions().without("skip_last_frame"))["mota"]["Total"] == 100.0


def test_one_missed_person(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    pred[1] = [p for p in pred[1] if p[0] != 1]  # B missed in frame 1
    r = run(tmp_path, gt, pred)
    # AP = final recall (every prediction is a true positive): 7 of 8 joints, left elbow 3 of 4
    expect(per_joint(r, "ap"), 87.5, left_elbow=75.0)
    assert r["ap"]["Elbow"] == pytest.approx((87.5 + 75.0) / 2)
    assert r["ap"]["Total"] == pytest.approx(total(87.5, left_elbow=75.0))
    # MOT over frames 0-2 (last frame skipped): 6 objects, 1 miss; left elbow 3 objects, 1 miss
    expect(per_joint(r, "mota"), 100 * (1 - 1 / 6), left_elbow=100 * (1 - 1 / 3))
    expect(per_joint(r, "recall"), 100 * 5 / 6, left_elbow=100 * 2 / 3)
    expect(per_joint(r, "precision"), 100.0)
    assert r["counts"]["num_misses"]["nose"] == 1 and r["counts"]["num_objects"]["nose"] == 6


def test_one_false_positive_ranked_first(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    a_kp = gt_people(gt)[2][0][1].copy()
    a_kp[~np.all(a_kp == 0, axis=1), 0] += 800  # person A's pose, 800 px away from everybody
    pred[2].append((5, a_kp, 0.99))
    r = run(tmp_path, gt, pred)
    # a FP above 8 TPs: precision n/(n+1) at every recall step -> AP 8/9; left elbow: FP lacks it
    expect(per_joint(r, "ap"), 100 * 8 / 9, left_elbow=100.0)
    expect(per_joint(r, "mota"), 100 * (1 - 1 / 6), left_elbow=100.0)
    expect(per_joint(r, "precision"), 100 * 6 / 7, left_elbow=100.0)
    expect(per_joint(r, "recall"), 100.0)
    assert r["mota"]["Total"] == pytest.approx(total(100 * 5 / 6, left_elbow=100.0))


def test_false_positive_inside_ignore_region_is_dropped(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    a_kp = gt_people(gt)[2][0][1].copy()
    present = ~np.all(a_kp == 0, axis=1)
    a_kp[present, 0] += 800
    pred[2].append((5, a_kp, 0.99))
    x0, y0 = a_kp[present, :2].min(axis=0) - 5
    x1, y1 = a_kp[present, :2].max(axis=0) + 5
    gt["images"][2]["ignore_regions_x"] = [[x0, x1, x1, x0]]
    gt["images"][2]["ignore_regions_y"] = [[y0, y0, y1, y1]]
    r = run(tmp_path, gt, pred)
    for metric in ("ap", "mota", "precision", "recall"):
        assert r[metric]["Total"] == 100.0, metric


def test_ignore_region_removes_gt_and_predicted_joints(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    a_kp = gt_people(gt)[1][0][1]
    head = a_kp[[0, 1, 2], :2]  # A's nose, head_bottom, head_top in frame 1
    x0, y0 = head.min(axis=0) - 1
    x1, y1 = head.max(axis=0) + 1
    all_pts = np.concatenate([kp[~np.all(kp == 0, axis=1), :2] for _, kp in gt_people(gt)[1]])
    inside = (all_pts[:, 0] > x0) & (all_pts[:, 0] < x1) & (all_pts[:, 1] > y0) & (all_pts[:, 1] < y1)
    assert inside.sum() == 3  # premise: only A's three head joints
    gt["images"][1]["ignore_regions_x"] = [[x0, x1, x1, x0]]
    gt["images"][1]["ignore_regions_y"] = [[y0, y0, y1, y1]]
    r = run(tmp_path, gt, pred)
    assert r["ap"]["Total"] == 100.0 and r["mota"]["Total"] == 100.0
    for joint in ("nose", "head_bottom", "head_top"):
        assert r["counts"]["num_objects"][joint] == 5  # 6 minus the removed one
    assert r["counts"]["num_objects"]["left_hip"] == 6


def test_identity_switch(tmp_path, real, ankle_cross):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    for t in (2, 3):
        pred[t] = [(1 - tid, kp, s) for tid, kp, s in pred[t]]  # A and B swap ids from frame 2 on
    r = run(tmp_path, gt, pred)
    # frame 2: both people switch -> 2 switches in 6 objects (left elbow: B only, 1 in 3).
    # Left ankle: each GT's previous hypothesis is still within 0.5 head sizes (the other
    # person's ankle), so motmetrics keeps the old pairs: no switch, distances 0.394 + 0.441.
    expect(per_joint(r, "mota"), 100 * (1 - 2 / 6), left_ankle=100.0)
    expect(per_joint(r, "ap"), 100.0)
    assert r["counts"]["num_switches"]["left_ankle"] == 0
    # MOTP left ankle: 3 frames x RAW cross distances + the two carried matches; 6 detections
    expect(per_joint(r, "motp"), 100.0, left_ankle=100 * (1 - 4 * ankle_cross / 6))
    fixed = run(tmp_path, gt, pred, EvalOptions().without("motp_raw"))
    expect(per_joint(fixed, "motp"), 100.0, left_ankle=100 * (1 - ankle_cross / 6))
    # keeping the last frame adds 2 matched objects per joint and no new switch
    last = run(tmp_path, gt, pred, EvalOptions().without("skip_last_frame"))
    expect(per_joint(last, "mota"), 100 * (1 - 2 / 8), left_elbow=100 * (1 - 1 / 4), left_ankle=100.0)


def test_unlabeled_frames_do_not_count(tmp_path, real):
    gt = make_gt(real, 5, regions=False, empty=(1, 3))
    gt["images"][3]["is_labeled"] = True  # is_labeled is never read: no people = not counted
    pred = copy_predictions(gt)
    a_kp = gt_people(make_gt(real, 2, regions=False))[1][0][1]
    pred[1] = [(0, a_kp, 0.99), (7, a_kp + 300, 0.98)]  # would be FPs if the frame counted
    pred[3] = [(9, a_kp + 100, 0.97)]
    r = run(tmp_path, gt, pred)
    assert r["num_frames"] == 3
    for metric in ("ap", "mota", "precision", "recall"):
        assert r[metric]["Total"] == 100.0, metric


def test_empty_prediction_frame_dummy_quirk(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    pred[1] = []
    r = run(tmp_path, gt, pred)
    # AP: frame 1's GT joints stay in nGT -> recall 6/8 (left elbow 3/4) with precision 1
    expect(per_joint(r, "ap"), 75.0)
    # official: frame 1 adds one phantom object (missed) and one phantom FP per joint instead
    # of its real people: frames 0, 2 -> 4 objects + 1 phantom = 5, errors 2
    expect(per_joint(r, "mota"), 100 * (1 - 2 / 5), left_elbow=100 * (1 - 2 / 3))
    expect(per_joint(r, "precision"), 100 * 4 / 5, left_elbow=100 * 2 / 3)
    # fixed: frame 1's 2 real people are missed: 6 objects, 2 misses, no FP
    fixed = run(tmp_path, gt, pred, EvalOptions().without("empty_frame_dummy"))
    expect(per_joint(fixed, "mota"), 100 * (1 - 2 / 6), left_elbow=100 * (1 - 1 / 3))
    expect(per_joint(fixed, "precision"), 100.0)


def test_frames_paired_by_position_quirk(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False, shift=40.0)  # frames 0 and 3 lie 120 px apart
    pred = copy_predictions(gt)
    path = write_gt(tmp_path, gt)
    rev = copy.deepcopy(gt)
    rev["images"] = rev["images"][::-1]  # same frames, reversed list
    write_pred(path, rev, pred[::-1])
    official = evaluate(tmp_path / "gt", tmp_path / "pred")
    assert official["ap"]["Total"] < 100.0  # shifted poses meet the wrong frames
    fixed = evaluate(tmp_path / "gt", tmp_path / "pred", EvalOptions().without("pair_by_position"))
    assert fixed["ap"]["Total"] == 100.0 and fixed["mota"]["Total"] == 100.0


def test_2017_files_give_the_same_numbers(tmp_path, real):
    gt = make_gt(real, N_FRAMES)
    pred = copy_predictions(gt)
    pred[1] = [p for p in pred[1] if p[0] != 1]
    r18 = run(tmp_path, gt, pred)
    for sub in ("gt", "pred"):
        (tmp_path / f"{sub}17").mkdir()
        convert_video_file(tmp_path / sub / f"{VIDEO}.json", tmp_path / f"{sub}17" / f"{VIDEO}.json", "2017")
    r17 = evaluate(tmp_path / "gt17", tmp_path / "pred17")
    assert r17 == r18


def test_duplicate_track_ids_in_a_frame_fail(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    pred[2][1] = (0, pred[2][1][1], pred[2][1][2])  # both people get track id 0
    with pytest.raises(ValueError, match=r"009473_mpii_test.json: frame 2 .*duplicate track id"):
        run(tmp_path, gt, pred)


def test_missing_prediction_file_is_named(tmp_path, real):
    write_gt(tmp_path, make_gt(real, 2))
    with pytest.raises(FileNotFoundError, match="prediction file missing: .*009473_mpii_test.json"):
        evaluate(tmp_path / "gt", tmp_path / "pred")


def test_frame_count_mismatch_is_an_error(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    path = write_gt(tmp_path, gt)
    short = copy.deepcopy(gt)
    short["images"] = short["images"][:3]
    write_pred(path, short, pred[:3])
    with pytest.raises(ValueError, match="3 prediction frames but 4 GT frames"):
        evaluate(tmp_path / "gt", tmp_path / "pred")


def test_cli_prints_table_and_writes_json(tmp_path, real, capsys):
    from posetrack.cli import main

    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    pred[1] = [p for p in pred[1] if p[0] != 1]
    expected = run(tmp_path, gt, pred)
    out = tmp_path / "metrics.json"
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                 "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert format_table(expected) in printed
    assert "& 87.5 & 87.5 & 81.2 &" in printed  # Head, Shou, Elb columns of the AP row
    assert "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\" in printed  # poseval's headers
    saved = json.loads(out.read_text())
    groups = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]  # issue 4's JSON keys
    assert all(list(saved[m]) == groups for m in ("ap", "mota", "motp", "precision", "recall"))
    assert saved["ap"] == pytest.approx(expected["ap"])
    assert saved["mota"]["Total"] == pytest.approx(expected["mota"]["Total"])
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "nope")]) == 2
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--out", str(out),
                 "--fix", "empty-frame-dummy", "--fix", "last-frame"]) == 0
    options = json.loads(out.read_text())["options"]
    assert options == {"motp_raw": True, "empty_frame_dummy": False, "skip_last_frame": False,
                       "pair_by_position": True, "dir_order": True}
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--out", str(out),
                 "--fix-quirks"]) == 0
    assert not any(json.loads(out.read_text())["options"].values())


def test_workers_give_identical_results(tmp_path, posetrack18_sample):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    for video in ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test"):
        gt = make_gt(load_real(posetrack18_sample, video), 3)
        (gt_dir / f"{video}.json").write_text(json.dumps(gt))
        pred = copy_predictions(gt)
        pred[1] = pred[1][1:]
        write_pred(pred_dir / f"{video}.json", gt, pred)
    assert evaluate(gt_dir, pred_dir, workers=2) == evaluate(gt_dir, pred_dir, workers=1)


def test_malformed_prediction_in_a_scored_frame_names_file_frame_person_field(tmp_path, real):
    gt = make_gt(real, N_FRAMES, regions=False)
    pred = copy_predictions(gt)
    path = write_gt(tmp_path, gt)
    write_pred(path, gt, pred)
    data = json.loads(path.read_text())
    data["annotations"][3]["keypoints"][7] = None  # frame 1, person 1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"009473_mpii_test.json: frame 1 \(.*000001.jpg\): person 1: "
                                         r"field 'keypoints' must hold finite numbers"):
        evaluate(tmp_path / "gt", tmp_path / "pred")
