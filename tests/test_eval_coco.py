"""COCO keypoint evaluation: loaders, official post-processing, pycocotools stats.

Includes a geometry round trip on the real COCO sample: GT keypoints -> input-crop px
(official box -> region -> affine) -> Gaussian targets -> decode -> image px -> COCOeval.
"""

import json
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from posetrack.data.datasets.coco import load_coco as load_gt_people
import posetrack.eval.coco as eval_coco
from posetrack.eval.coco import (
    STATS_NAMES, COCOKeypointEvaluator, detection_regions, load_coco, load_detections, run_inference,
)
from posetrack.io.image import ImageReadError
from posetrack.models import build_model
from posetrack.pose import HeatmapCodec, decode_heatmaps, get_affine_transform, rescore_poses
from posetrack.pose.crop import affine_points
from posetrack.pose.estimator import PoseResult, TopDownEstimator


def _result(keypoints, box_scores, centers, sizes):
    keypoints = np.asarray(keypoints, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    return PoseResult(keypoints, np.asarray(box_scores, float), rescore_poses(keypoints, box_scores),
                      np.asarray(centers, float), sizes, sizes[:, 0] * sizes[:, 1])


def _gt_by_image(coco):
    out = {}
    for ann in coco.dataset["annotations"]:
        if ann["num_keypoints"] > 0:
            out.setdefault(ann["image_id"], []).append(ann)
    return out


@pytest.fixture(scope="module")
def coco_gt(coco_sample):
    return load_coco(coco_sample / "test_coco.json")


def test_gt_keypoints_as_predictions_give_ap_1_and_nms_drops_duplicates(coco_gt):
    ev = COCOKeypointEvaluator(coco_gt, oks_thre=0.9)
    n = 0
    for image_id, anns in _gt_by_image(coco_gt).items():
        kpts = np.array([a["keypoints"] for a in anns], float).reshape(-1, 17, 3)
        kpts[..., 2] = 1.0
        dup = kpts.copy()
        dup[..., :2] += 0.5  # a near-identical second detection of each person
        both = np.concatenate([kpts, dup])
        boxes = np.array([a["bbox"] for a in anns * 2], float)
        ev.process(image_id, _result(both, [1.0] * len(anns) + [0.9] * len(anns), boxes[:, :2],
                                     np.maximum(boxes[:, 2:], 1) * 1.25))
        n += len(anns)
    results = ev.results()
    assert len(results) == n == 12  # every duplicate suppressed by OKS-NMS at 0.9
    assert {r["score"] for r in results} == {1.0}
    assert set(results[0]) == {"image_id", "category_id", "keypoints", "score", "center", "scale"}
    stats = ev.evaluate()
    assert list(stats) == list(STATS_NAMES)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    assert "Average Precision" in ev.summary
    ev.reset()
    with pytest.raises(ValueError, match="no poses to evaluate"):
        ev.evaluate()


def test_gt_roundtrip_through_crop_codec_decode_gives_ap_near_100(coco_sample, coco_gt):
    """Real geometry check: any error in region, affine, stride or decode would cost AP."""
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    people = load_gt_people(coco_sample / "test_coco.json", coco_sample, aspect_ratio=192 / 256)
    assert len(people) == 12
    ev = COCOKeypointEvaluator(coco_gt)
    for image_id in sorted({p.image_id for p in people}):
        mine = [p for p in people if p.image_id == image_id]
        heatmaps = []
        for p in mine:
            to_input = get_affine_transform(p.center, p.box_size, 0, codec.input_size)
            hm, _ = codec.encode(affine_points(p.joints[:, :2], to_input), p.joints[:, 2])
            heatmaps.append(hm)
        centers, sizes = np.stack([p.center for p in mine]), np.stack([p.box_size for p in mine])
        coords, scores = decode_heatmaps(np.stack(heatmaps), centers, sizes)
        ev.process(image_id, _result(np.concatenate([coords, scores], 2), np.ones(len(mine)), centers, sizes))
    stats = ev.evaluate()
    assert stats["AP"] > 0.97, stats
    assert stats["AP .5"] == pytest.approx(1.0)


def test_load_coco_errors_name_the_file(tmp_path):
    bad = tmp_path / "person_keypoints_bad.json"
    bad.write_text('{"images": [1, 2')
    with pytest.raises(ValueError, match=f"{bad}.*not valid JSON"):
        load_coco(bad)
    bad.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(ValueError, match="missing list field 'annotations'"):
        load_coco(bad)
    bad.write_text(json.dumps({"images": [{"file_name": "a.jpg"}], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match=r"images\[0\] lacks 'id'"):
        load_coco(bad)
    bad.write_text(json.dumps({"images": [], "annotations": [{"id": 1}], "categories": []}))
    with pytest.raises(ValueError, match="malformed COCO entry"):
        load_coco(bad)


def test_load_detections_filters_and_errors(tmp_path, coco_sample):
    dets = load_detections(coco_sample / "test_coco_det_AP_H_56.json", {785, 40083, 196141, 197388})
    assert sum(len(s) for _, s in dets.values()) == 118
    assert {k: len(s) for k, (_, s) in dets.items()} == {785: 22, 40083: 26, 196141: 33, 197388: 37}
    f = tmp_path / "dets.json"
    f.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 20], "score": 0.9},   # not a person
        {"image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.05},  # below image_thre
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 20], "score": 0.9},   # image not annotated
    ]))
    out = load_detections(f, {1}, image_thre=0.1)
    np.testing.assert_array_equal(out[1][0], [[0, 0, 10, 20]])
    np.testing.assert_array_equal(out[1][1], [0.9])
    assert list(out) == [1]
    f.write_text("[]")
    with pytest.raises(ValueError, match="contains no detections"):
        load_detections(f, {1})
    f.write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 0.9}]))
    with pytest.raises(ValueError, match=r"detection \[0\] is malformed"):
        load_detections(f, {1})
    f.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_detections(f, {1})


class _CheapModel(nn.Module):
    """Stand-in heatmap model (N, 3, h, w) -> (N, 17, h/4, w/4): pooled colour mixes, per sample.

    Elementwise only (no conv): a convolution's float rounding can change with the batch size
    (the CPU library picks its kernel by shape), which flips near-tied argmaxes; this model gives
    bit-identical maps however the crops are pooled, so pooling tests can ask for exact equality.
    """

    def __init__(self):
        super().__init__()
        self.mix = nn.Parameter(torch.linspace(-1.0, 1.0, 17 * 3).reshape(17, 3, 1, 1).roll(7, 0))

    def forward(self, x):
        pooled = nn.functional.avg_pool2d(x, 4)
        return sum(pooled[:, None, c] * self.mix[:, c] for c in range(3))


_CHEAP_MODEL = _CheapModel()


def _det_regions(coco_sample, coco_gt):
    files = {i: coco_sample / coco_gt.imgs[i]["file_name"] for i in coco_gt.getImgIds()}
    return detection_regions(load_detections(coco_sample / "test_coco_det_AP_H_56.json", set(files)), files, 0.75)


def test_run_inference_pools_images_without_changing_results(coco_sample, coco_gt):
    regions = _det_regions(coco_sample, coco_gt)
    outputs = []
    for batch_size in (1, 50, 1000):  # per crop, pooled across 2-3 images, all images at once
        ev = COCOKeypointEvaluator(coco_gt, oks_thre=1.0)
        run_inference(TopDownEstimator(_CHEAP_MODEL, (48, 64), flip_test=False, batch_size=batch_size), ev, regions)
        outputs.append(ev.results())
    assert len(outputs[0]) == 118
    assert [r["image_id"] for r in outputs[0]] == [r["image_id"] for r in outputs[2]]
    for other in outputs[1:]:
        np.testing.assert_array_equal([r["keypoints"] for r in other], [r["keypoints"] for r in outputs[0]])


def test_run_inference_reader_threads_give_identical_results(coco_sample, coco_gt):
    """Threads only move reading and cropping: the same crops meet the same pooled passes."""
    torch.manual_seed(0)
    estimator = TopDownEstimator(build_model("hrnet_w8").eval(), (64, 64), flip_test=False, batch_size=50)
    regions = _det_regions(coco_sample, coco_gt)
    outputs = []
    for workers in (0, 2):
        ev = COCOKeypointEvaluator(coco_gt, oks_thre=1.0)
        run_inference(estimator, ev, regions, workers=workers)
        outputs.append(ev.results())
    assert len(outputs[0]) == 118 and [r["image_id"] for r in outputs[0][:1]] == [785]
    assert outputs[1] == outputs[0]  # ids, order, keypoints, scores: bit-equal
    with pytest.raises(ValueError, match="workers must be >= 0"):
        run_inference(estimator, COCOKeypointEvaluator(coco_gt), regions, workers=-1)


def _cycled_regions(files, n):
    """n one-person images (ids 0..n-1) cycling over ``files``, one centred box each."""
    return {i: (files[i % len(files)], np.array([[200.0, 200.0]]), np.array([[150.0, 200.0]]), np.ones(1))
            for i in range(n)}


def test_run_inference_reads_ahead_within_bound(coco_sample, monkeypatch):
    """2 workers read concurrently, and never more than the handed-out image + 2 x workers ahead of
    the network; the test waits for the full read-ahead, so the bound is reached, not just held."""
    workers, n = 2, 12
    files = [coco_sample / f"{i:012d}.jpg" for i in (785, 40083, 196141, 197388)]
    lock = threading.Condition()
    state = {"active": 0, "max_active": 0, "started": 0, "processed": 0, "max_ahead": 0}
    both_reading = threading.Event()
    real_read = eval_coco.read_image_rgb

    def read(path):
        with lock:
            state["active"] += 1
            state["started"] += 1
            state["max_active"] = max(state["max_active"], state["active"])
            state["max_ahead"] = max(state["max_ahead"], state["started"] - state["processed"])
            if state["active"] == workers:
                both_reading.set()
            lock.notify_all()
        try:
            assert both_reading.wait(10), "the second worker never started a read"
            return real_read(path)
        finally:
            with lock:
                state["active"] -= 1

    class Recorder:
        def __init__(self):
            self.image_ids = []

        def process(self, image_id, poses):
            with lock:  # let the workers fill the whole window before this image counts as done
                ahead = min(len(self.image_ids) + 1 + 2 * workers, n)
                assert lock.wait_for(lambda: state["started"] >= ahead, timeout=10), state
                self.image_ids.append(image_id)
                state["processed"] += 1

    monkeypatch.setattr(eval_coco, "read_image_rgb", read)
    rec = Recorder()
    run_inference(TopDownEstimator(_CHEAP_MODEL, (48, 64), flip_test=False, batch_size=1), rec,
                  _cycled_regions(files, n), workers=workers)
    assert rec.image_ids == list(range(n))
    assert state["started"] == n and state["max_active"] == workers
    assert state["max_ahead"] == 2 * workers + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("coco-read")]


def test_run_inference_corrupt_image_cancels_queued_reads(tmp_path, coco_sample, monkeypatch):
    """Image 3 of 10 is corrupt: images 0-2 are posed, the error names the file, queued reads are
    cancelled and no reader thread is left."""
    files = []
    for i in range(10):
        files.append(tmp_path / f"{i}.jpg")
        files[-1].symlink_to(coco_sample / "000000000785.jpg")
    files[3].unlink()
    files[3].write_bytes(b"\xff\xd8 definitely not a jpeg " * 10)
    reads = []
    real_read = eval_coco.read_image_rgb

    def read(path):
        reads.append(int(path.stem))
        if int(path.stem) > 3:
            time.sleep(1.0)
        return real_read(path)

    monkeypatch.setattr(eval_coco, "read_image_rgb", read)
    processed = []

    class Recorder:
        def process(self, image_id, poses):
            processed.append(image_id)

    with pytest.raises(ImageReadError, match=f"cannot decode image {files[3]}"):
        run_inference(TopDownEstimator(_CHEAP_MODEL, (48, 64), flip_test=False, batch_size=1), Recorder(),
                      _cycled_regions(files, 10), workers=2)
    assert processed == [0, 1, 2]  # everything before the bad image, in order
    # submitted: 0-7 (the bad one + 2 x 2 ahead); 4 and 5 hold both workers for 1 s (or were
    # cancelled before a worker took them), so 6 and 7 were still queued and must be cancelled
    assert {0, 1, 2, 3} <= set(reads) <= {0, 1, 2, 3, 4, 5}
    assert not [t for t in threading.enumerate() if t.name.startswith("coco-read")]


def test_run_inference_error_downstream_stops_reader_threads(coco_sample):
    """An error after the read (model, evaluator) shuts the readers at once, while its traceback lives."""

    class Failing:
        def process(self, image_id, poses):
            raise RuntimeError(f"evaluator failed on {image_id}")

    with pytest.raises(RuntimeError, match="evaluator failed on 0") as failure:
        run_inference(TopDownEstimator(_CHEAP_MODEL, (48, 64), flip_test=False, batch_size=1), Failing(),
                      _cycled_regions([coco_sample / "000000000785.jpg"], 8), workers=2)
    assert failure.traceback  # the frames (and a generator they hold) are still referenced here
    assert not [t for t in threading.enumerate() if t.name.startswith("coco-read")]
