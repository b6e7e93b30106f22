"""PoseTrack21 keypoint HOTA: hand-computed cases, GT vs GT, the quirk switches, and agreement with the official kit.

Head boxes are 30 x 40 px (diagonal 50), so the head size is 0.6 x 50 = 30 px and a joint moved by
d x 30 px has similarity 1 - d / 0.5001.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cli_runner import cli_runner
from posetrack.eval.hota import ALPHAS, FIELDS, HOTA_JOINTS, HOTA_SLOTS, HotaOptions, evaluate_hota
from posetrack.io.posetrack_json import PT18_CATEGORY, PoseTrackFormatError, VideoFile, write_video_predictions

DATA = Path(__file__).parent / "data" / "hota_kit"
NAME = "000001_mpii_test.json"
HEAD = [100.0, 100.0, 30.0, 40.0]
COLS = HOTA_JOINTS + ("Total",)


def pose(dx: float = 0.0) -> np.ndarray:
    """(17, 3) PoseTrack18 slots far apart (> 1 head size), ears absent; x shifted by dx px."""
    kp = np.zeros((17, 3))
    kp[:, 0] = 200 + 40 * np.arange(17) + dx
    kp[:, 1] = 300 + 45 * np.arange(17)
    kp[:, 2] = 1
    kp[3:5] = 0
    return kp


def video(frames: list[list[tuple[int, np.ndarray]]], gt: bool, labeled: list[bool] | None = None) -> dict:
    """A PoseTrack21 file: frames[t] = [(track_id, (17, 3) keypoints), ...]."""
    images, anns = [], []
    for t, people in enumerate(frames):
        image_id = 10000010000 + t
        images.append({"id": image_id, "frame_id": image_id, "file_name": f"images/val/000001_mpii_test/{t:06d}.jpg",
                       "vid_id": "000001", "nframes": len(frames), "is_labeled": True if labeled is None else labeled[t],
                       "has_labeled_person": bool(people), "ignore_regions_x": [], "ignore_regions_y": []})
        for tid, kp in people:
            ann = {"id": len(anns), "image_id": image_id, "category_id": 1, "track_id": tid,
                   "keypoints": kp.ravel().tolist()}
            if gt:
                ann.update(bbox_head=HEAD, scores=[], person_id=100 + tid)
            else:
                ann["scores"] = np.where(kp[:, 2] > 0, 0.9, 0.0).tolist()
            anns.append(ann)
    return {"images": images, "annotations": anns, "categories": [PT18_CATEGORY]}


def write(tmp_path: Path, gt_frames, pred_frames, labeled=None) -> None:
    for sub, frames, is_gt in (("gt", gt_frames, True), ("pred", pred_frames, False)):
        (tmp_path / sub).mkdir(exist_ok=True)
        (tmp_path / sub / NAME).write_text(json.dumps(video(frames, is_gt, labeled)))


def score(tmp_path: Path, gt_frames, pred_frames, options: HotaOptions = HotaOptions(), labeled=None) -> dict:
    write(tmp_path, gt_frames, pred_frames, labeled)
    return evaluate_hota(tmp_path / "gt", tmp_path / "pred", options)


def mean_over_alphas(per_alpha) -> float:
    return 100.0 * float(np.mean(per_alpha))


# --------------------------------------------------------------------------- hand-computed

@pytest.mark.parametrize("d, n_alpha", [(0.1, 16), (0.25, 10), (0.45, 2), (0.6, 0)])
def test_one_joint_off_by_a_fraction_of_the_head_size(tmp_path, d, n_alpha):
    kp = pose()
    lw = list(HOTA_SLOTS).index(9)  # left_wrist slot -> HOTA column LW
    kp_pred = pose()
    kp_pred[9, 0] += d * 30.0
    r = score(tmp_path, [[(0, kp)]], [[(5, kp_pred)]])
    hit = np.arange(19) < n_alpha  # sim = 1 - d / 0.5001 passes alpha = 0.05 .. 0.05 n_alpha
    sim = max(0.0, 1 - d / 0.5001)
    assert r["HOTA"]["LW"] == pytest.approx(100 * n_alpha / 19, abs=1e-12)
    assert r["DetA"]["LW"] == r["AssA"]["LW"] == r["DetRe"]["LW"] == r["DetPr"]["LW"] == r["HOTA"]["LW"]
    assert r["LocA"]["LW"] == pytest.approx(mean_over_alphas(np.where(hit, sim, 1.0)), abs=1e-12)
    assert r["HOTA_TP"]["LW"] == pytest.approx(n_alpha / 19) and r["HOTA_FN"]["LW"] == pytest.approx(1 - n_alpha / 19)
    assert r["HOTA(0)"]["LW"] == (100.0 if n_alpha else 0.0)
    assert r["LocA(0)"]["LW"] == pytest.approx(100 * (sim if n_alpha else 1.0), abs=1e-12)
    for joint in set(HOTA_JOINTS) - {"LW"}:
        assert r["HOTA"][joint] == 100.0 and r["LocA"][joint] == 100.0
    assert lw == HOTA_JOINTS.index("LW")
    # Total: counts pooled over the joints, AssA the mean of the joints' AssA
    det_a = np.where(hit, 1.0, 14 / 16)
    ass_a = np.where(hit, 1.0, 14 / 15)
    assert r["DetA"]["Total"] == pytest.approx(mean_over_alphas(det_a), abs=1e-12)
    assert r["AssA"]["Total"] == pytest.approx(mean_over_alphas(ass_a), abs=1e-12)
    assert r["HOTA"]["Total"] == pytest.approx(mean_over_alphas(np.sqrt(det_a * ass_a)), abs=1e-12)
    assert r["HOTA_TP"]["Total"] == pytest.approx(14 + n_alpha / 19)
    assert r["Count"] == {"Dets": 1, "GT_Dets": 1, "IDs": 1, "GT_IDs": 1}


def test_id_switch_halfway(tmp_path):
    r = score(tmp_path, [[(0, pose())]] * 4, [[(1, pose())], [(1, pose())], [(2, pose())], [(2, pose())]])
    # per joint: TP 4; gt count 4, prediction ids 2 + 2 frames, 2 matches each
    for joint in COLS:
        assert r["DetA"][joint] == 100.0 and r["LocA"][joint] == 100.0
        assert r["AssA"][joint] == pytest.approx(100 * (4 / 4 + 4 / 4) / 4)  # sum M^2 / (gt + pr - M) / TP
        assert r["AssRe"][joint] == pytest.approx(50.0) and r["AssPr"][joint] == pytest.approx(100.0)
        assert r["FragA"][joint] == pytest.approx(50.0)
        assert r["HOTA"][joint] == pytest.approx(100 * math.sqrt(0.5))
    assert r["Count"]["IDs"] == 2


def test_switch_and_back_splits_fragments(tmp_path):
    r = score(tmp_path, [[(0, pose())]] * 4, [[(1, pose())], [(1, pose())], [(2, pose())], [(1, pose())]])
    ass_a = (9 / (4 + 3 - 3) + 1 / (4 + 1 - 1)) / 4  # id 1: 3 matches, id 2: 1
    frag_a = (2 ** 2 / 4 + 1 / 4 + 1 / 4) / 4  # fragments 1,1 | 2 | 1, each over its pair's union
    assert r["AssA"]["Nose"] == pytest.approx(100 * ass_a)
    assert r["FragA"]["Total"] == pytest.approx(100 * frag_a)
    assert r["FA-HOTA"]["RA"] == pytest.approx(100 * math.sqrt(math.sqrt(ass_a * frag_a)))


def test_missed_frame_counts_the_whole_sequence_unless_fixed(tmp_path):
    gt = [[(0, pose())]] * 4
    pred = [[(3, pose())], [(3, pose())], [], [(3, pose())]]
    kit = score(tmp_path, gt, pred)
    fixed = score(tmp_path, gt, pred, HotaOptions().without("empty_frame_sequence_fn"))
    ass_a = 9 / (4 + 3 - 3) / 3
    # the kit: the empty frame adds the sequence's 4 GT joints to FN; fixed: its own 1
    assert kit["HOTA_FN"]["Nose"] == 4.0 and fixed["HOTA_FN"]["Nose"] == 1.0
    assert kit["DetA"]["LK"] == pytest.approx(100 * 3 / 7) and fixed["DetA"]["LK"] == pytest.approx(75.0)
    assert kit["HOTA"]["Total"] == pytest.approx(100 * math.sqrt(3 / 7 * ass_a))
    assert fixed["HOTA"]["Total"] == pytest.approx(100 * math.sqrt(0.75 * ass_a))
    assert kit["options"] == {"empty_frame_sequence_fn": True, "pair_by_position": True, "joint_mean_total": True}


def test_false_person(tmp_path):
    far = pose(dx=1000)
    r = score(tmp_path, [[(0, pose())]], [[(1, pose()), (2, far)]])
    for joint in COLS:
        assert r["DetPr"][joint] == pytest.approx(50.0) and r["DetRe"][joint] == 100.0
        assert r["DetA"][joint] == pytest.approx(50.0) and r["AssA"][joint] == 100.0
        assert r["HOTA"][joint] == pytest.approx(100 * math.sqrt(0.5))
    assert r["HOTA_FP"]["Total"] == 15.0
    assert r["Count"] == {"Dets": 2, "GT_Dets": 1, "IDs": 2, "GT_IDs": 1}


def test_unlabeled_frames_are_left_out(tmp_path):
    r = score(tmp_path, [[(0, pose())], [(0, pose())]], [[(0, pose())], [(0, pose(dx=500))]], labeled=[True, False])
    assert r["HOTA"]["Total"] == 100.0 and r["num_frames"] == 1


def test_where_the_kit_crashes_the_natural_figures(tmp_path):
    # a labelled frame without GT people (the kit: TypeError): its predicted joints are false positives
    r = score(tmp_path, [[(0, pose())], []], [[(0, pose())], [(0, pose())]])
    assert r["HOTA_FP"]["Nose"] == 1.0 and r["DetA"]["Total"] == pytest.approx(50.0)
    # an ignore polygon that holds every GT person of the frame (the kit: IndexError); the prediction half in it
    gt = video([[(0, pose())]], True)
    gt["images"][0]["ignore_regions_x"] = [[150, 900, 900, 150]]
    gt["images"][0]["ignore_regions_y"] = [[250, 250, 1100, 1100]]
    (tmp_path / "gt" / NAME).write_text(json.dumps(gt))
    (tmp_path / "pred" / NAME).write_text(json.dumps(video([[(0, pose(dx=500))]], False)))
    r = evaluate_hota(tmp_path / "gt", tmp_path / "pred")
    inside = (200 + 40 * np.arange(17) + 500 < 900)[HOTA_SLOTS]  # the predicted joints left of x = 900 go
    assert [r["HOTA_FP"][j] for j in HOTA_JOINTS] == (~inside).astype(float).tolist()
    assert r["HOTA_TP"]["Total"] == 0.0 and r["HOTA_FN"]["Total"] == 0.0 and r["Count"]["GT_Dets"] == 0
    # a video without any prediction beside a perfect one (the kit: broadcast error): all its joints missed
    other = tmp_path / "two"
    other.mkdir()
    write(other, [[(0, pose())]], [[(0, pose())]])
    second = video([[(0, pose())]], True)
    (other / "gt" / "000002_mpii_test.json").write_text(json.dumps(second))
    (other / "pred" / "000002_mpii_test.json").write_text(json.dumps(video([[]], False)))
    r = evaluate_hota(other / "gt", other / "pred")
    assert r["DetA"]["Total"] == pytest.approx(50.0) and r["AssA"]["Total"] == 100.0
    assert r["HOTA"]["Head"] == pytest.approx(100 * math.sqrt(0.5)) and r["HOTA_FN"]["Total"] == 15.0


def test_frame_pairing_by_position_or_by_name(tmp_path):
    gt = [[(0, pose())], [(0, pose(dx=7))]]
    write(tmp_path, gt, gt)
    pred = json.loads((tmp_path / "pred" / NAME).read_text())
    pred["images"].reverse()
    (tmp_path / "pred" / NAME).write_text(json.dumps(pred))
    with pytest.raises(PoseTrackFormatError, match="frame 0: image id 10000010001 differs from GT frame 0"):
        evaluate_hota(tmp_path / "gt", tmp_path / "pred")  # the kit: AssertionError
    by_name = evaluate_hota(tmp_path / "gt", tmp_path / "pred", HotaOptions().without("pair_by_position"))
    assert by_name["HOTA"]["Total"] == 100.0


# --------------------------------------------------------------------------- real data, errors

def test_gt_against_itself_is_100_on_the_real_sample(posetrack18_sample):
    gt = posetrack18_sample / "annotations" / "val"
    kit = evaluate_hota(gt, gt)
    fixed = evaluate_hota(gt, gt, HotaOptions().without("joint_mean_total"))
    for field in ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr", "FragA", "HOTA(0)"):
        assert fixed[field] == {c: 100.0 for c in COLS}, field
        assert {c: kit[field][c] for c in HOTA_JOINTS} == {c: 100.0 for c in HOTA_JOINTS}, field
    # the kit's Total: video 003418 shows 10 of the 15 joints, its Total AssA is 10/15
    ass_a = (10 / 15 * 10 + 29 + 141) / (10 + 29 + 141)  # weighted by each video's TP (joints found)
    assert kit["AssA"]["Total"] == pytest.approx(100 * ass_a) and kit["HOTA"]["Total"] == pytest.approx(
        100 * math.sqrt(ass_a))
    assert kit["HOTA_FN"]["Total"] == 0.0 and kit["HOTA_FP"]["Total"] == 0.0 and kit["LocA"]["Total"] == 100.0
    assert kit["Count"] == {"Dets": 14, "GT_Dets": 14, "IDs": 14, "GT_IDs": 14} and kit["num_videos"] == 3


@pytest.mark.parametrize("case", ["basic", "empty_frames", "crowded", "sample", "perfect"])
def test_equals_the_official_kit(case, posetrack18_sample):
    kit = json.loads((DATA / case / "kit.json").read_text())
    gt = posetrack18_sample / "annotations" / "val" if case in ("sample", "perfect") else DATA / case / "gt"
    ours = evaluate_hota(gt, DATA / case / "pred", workers=2 if case == "crowded" else 1)
    assert set(kit["hota"]) == set(FIELDS)
    for field, table in kit["hota"].items():
        scale = 1.0 if field.startswith("HOTA_") else 100.0
        for col in COLS:
            assert ours[field][col] == pytest.approx(scale * table["values"][col], rel=1e-12, abs=1e-9), (field, col)
            printed = ("%d" % int(ours[field][col])) if field.startswith("HOTA_") else "{0:1.5g}".format(ours[field][col])
            assert printed == table["printed"][col], (field, col)
    assert ours["Count"] == {k: kit["count"][k] for k in ("Dets", "GT_Dets", "IDs", "GT_IDs")}


def test_errors_name_the_file(tmp_path):
    write(tmp_path, [[(0, pose())]], [[(0, pose()), (0, pose(dx=3))]])
    with pytest.raises(PoseTrackFormatError, match=r"000001_mpii_test.json: frame 0 .*duplicate track id"):
        evaluate_hota(tmp_path / "gt", tmp_path / "pred")
    write(tmp_path, [[(0, pose())], [(0, pose())]], [[(0, pose())]])
    with pytest.raises(PoseTrackFormatError, match="1 prediction frames but 2 GT frames"):
        evaluate_hota(tmp_path / "gt", tmp_path / "pred")
    gt = video([[(0, pose())]], True)
    del gt["annotations"][0]["bbox_head"]
    (tmp_path / "gt" / NAME).write_text(json.dumps(gt))
    with pytest.raises(PoseTrackFormatError, match="person 0: GT head box 'bbox_head' missing"):
        evaluate_hota(tmp_path / "gt", tmp_path / "pred")
    (tmp_path / "pred" / NAME).unlink()
    with pytest.raises(FileNotFoundError, match="prediction file missing"):
        evaluate_hota(tmp_path / "gt", tmp_path / "pred")


def test_posetrack21_fields_are_read_and_written(tmp_path):
    path = tmp_path / NAME
    path.write_text(json.dumps(video([[(4, pose())], []], True)))
    frames = list(VideoFile(path).frames())
    assert frames[0].people[0].person_id == 104 and frames[0].has_labeled_person is True
    assert frames[1].has_labeled_person is False and VideoFile(path).is_labeled(1)
    write_video_predictions(tmp_path / "out.json", frames)
    again = list(VideoFile(tmp_path / "out.json").frames())
    assert again[0].people[0].person_id == 104 and [f.has_labeled_person for f in again] == [True, False]


def test_cli_prints_the_table_and_writes_json(tmp_path, monkeypatch, capsys):
    write(tmp_path, [[(0, pose())]] * 2, [[(1, pose())], [(2, pose())]])
    run = cli_runner(monkeypatch, capsys, "eval")
    out = tmp_path / "m.json"
    rc, text, _ = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--metrics", "hota",
                      "--out", str(out), "--workers", "1")
    assert rc == 0
    assert "\tHOTA                    70.711    70.711" in text and "Average Precision" not in text
    metrics = json.loads(out.read_text())
    assert list(metrics) == ["hota"]
    assert metrics["hota"]["AssA"]["Total"] == pytest.approx(50.0) and metrics["hota"]["DetA"]["RA"] == 100.0
    rc, text, _ = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                      "--metrics", "map,mota,hota", "--fix", "hota-empty-frame", "--out", str(out), "--workers", "1")
    assert rc == 0 and "Average Precision" in text and "HOTAeypoints" in text
    metrics = json.loads(out.read_text())
    assert {"ap", "mota", "hota"} <= set(metrics)
    assert metrics["hota"]["options"]["empty_frame_sequence_fn"] is False
    rc, _, err = run("eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--metrics", "hot")
    assert rc == 2 and "--metrics" in err


def test_alphas_are_the_kits():
    assert len(ALPHAS) == 19 and ALPHAS[0] == 0.05 and ALPHAS[-1] == pytest.approx(0.95)
