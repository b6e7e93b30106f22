"""COCO keypoint evaluation (pycocotools ``COCOeval(..., 'keypoints')``) with the official
per-image post-processing: person rescoring (done by the estimator) and OKS-NMS.

Evaluator protocol (detectron2 style): ``reset()``, ``process(image_id, poses)`` per
image, ``evaluate() -> {stat name: value}``. Results are COCO result dicts, as the
official ``keypoints_<set>_results.json``.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from posetrack.data.datasets.coco import read_json
from posetrack.data.records import PoseRecord
from posetrack.io.image import read_image_rgb
from posetrack.pose.crop import box_to_center_size, size_to_scale
from posetrack.pose.estimator import CropBatch, PoseResult, TopDownEstimator
from posetrack.pose.oks import oks_nms

logger = logging.getLogger(__name__)

# The 10 numbers of COCOeval.summarize() for keypoints, in its order.
STATS_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
PERSON_CATEGORY_ID = 1

# image id -> (image file, centers (n, 2), sizes (n, 2), box scores (n,)): the crop
# regions (image px, fitted and enlarged) to run the pose model on, per image.
Regions = dict[int, tuple[Path, np.ndarray, np.ndarray, np.ndarray]]


def load_coco(path: str | Path) -> COCO:
    """A pycocotools COCO index of a keypoint annotation file; errors name the file."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be an object with 'images' and 'annotations'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: missing list field '{key}' (not a COCO keypoint file?)")
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise ValueError(f"{path}: images[{i}] lacks 'id' or 'file_name'")
    coco = COCO()
    coco.dataset = data
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed COCO entry (field {exc})") from None
    return coco


def load_detections(
    path: str | Path, image_ids: set[int], image_thre: float = 0.0
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Person detections (COCO results list) -> {image_id: (boxes_xywh (n, 4), scores (n,))}.

    Keeps ``category_id == 1`` boxes scoring >= ``image_thre`` (official ``IMAGE_THRE``,
    0.0 on COCO). Boxes on images that are not in ``image_ids`` are skipped with a warning.
    Raises ValueError naming the file and entry for malformed input or an empty list.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of detections, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{path}: contains no detections (empty list)")
    per_image: dict[int, tuple[list, list]] = {}
    unknown = 0
    for i, det in enumerate(data):
        try:
            if det["category_id"] != PERSON_CATEGORY_ID or det["score"] < image_thre:
                continue
            image_id, box, score = int(det["image_id"]), [float(v) for v in det["bbox"]], float(det["score"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: detection [{i}] is malformed ({type(exc).__name__}: {exc}); "
                             "expected {image_id, category_id, bbox: [x, y, w, h], score}") from None
        if len(box) != 4:
            raise ValueError(f"{path}: detection [{i}] bbox has {len(box)} values, expected 4 (x, y, w, h)")
        if image_id not in image_ids:
            unknown += 1
            continue
        boxes, scores = per_image.setdefault(image_id, ([], []))
        boxes.append(box)
        scores.append(score)
    if unknown:
        logger.warning("%s: skipped %d boxes on images absent from the annotation file", path, unknown)
    return {k: (np.array(b, dtype=np.float64), np.array(s, dtype=np.float64)) for k, (b, s) in per_image.items()}


class COCOKeypointEvaluator:
    """Collects poses per image, applies OKS-NMS, writes COCO results, runs COCOeval.

    Args:
        coco_gt: the ground-truth index (:func:`load_coco`).
        oks_thre: OKS-NMS threshold per image (official 0.9; lower drops more overlaps).
        soft_nms: soft OKS-NMS instead of hard (official TEST.SOFT_NMS, off on COCO).
    """

    def __init__(self, coco_gt: COCO, oks_thre: float = 0.9, soft_nms: bool = False) -> None:
        self.coco_gt = coco_gt
        self.oks_thre = oks_thre
        self.soft_nms = soft_nms
        self.summary = ""  # pycocotools' printed summary after evaluate()
        self._results: list[dict] = []

    def reset(self) -> None:
        self._results = []
        self.summary = ""

    def process(self, image_id: int, poses: PoseResult) -> None:
        """Add one image's poses (already rescored): OKS-NMS, then COCO result dicts."""
        keep = oks_nms(poses.keypoints, poses.scores, poses.areas, self.oks_thre, soft=self.soft_nms)
        scales = size_to_scale(poses.sizes)
        for i in keep:
            self._results.append({
                "image_id": int(image_id),
                "category_id": PERSON_CATEGORY_ID,
                "keypoints": [float(v) for v in poses.keypoints[i].reshape(-1)],
                "score": float(poses.scores[i]),
                # official extras: crop center and scale (size / 200 px)
                "center": [float(v) for v in poses.centers[i]],
                "scale": [float(v) for v in scales[i]],
            })

    def results(self) -> list[dict]:
        """The COCO keypoint results so far (list of dicts, JSON-ready)."""
        return list(self._results)

    def evaluate(self) -> dict[str, float]:
        """Run COCOeval on the collected results -> the 10 stats by :data:`STATS_NAMES`."""
        if not self._results:
            raise ValueError("no poses to evaluate (no boxes survived, or nothing was processed)")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            coco_dt = self.coco_gt.loadRes(self.results())
            coco_eval = COCOeval(self.coco_gt, coco_dt, "keypoints")
            coco_eval.params.useSegm = None
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        self.summary = "\n".join(
            line for line in out.getvalue().splitlines() if "Average" in line
        )
        return {name: float(v) for name, v in zip(STATS_NAMES, coco_eval.stats)}


def gt_regions(records: Sequence[PoseRecord]) -> Regions:
    """Crop regions of GT people (``posetrack.data`` records), per image; GT boxes score 1
    (official: a record without 'score' counts 1)."""
    grouped: dict[int, list[PoseRecord]] = {}
    for rec in records:
        grouped.setdefault(rec.image_id, []).append(rec)
    return {
        image_id: (recs[0].image, np.stack([r.center for r in recs]), np.stack([r.box_size for r in recs]),
                   np.ones(len(recs)))
        for image_id, recs in grouped.items()
    }


def detection_regions(
    detections: dict[int, tuple[np.ndarray, np.ndarray]], image_files: dict[int, Path], aspect_ratio: float
) -> Regions:
    """Crop regions of detector boxes (:func:`load_detections` output), per image."""
    regions: Regions = {}
    for image_id, (boxes, scores) in detections.items():
        centers, sizes = box_to_center_size(boxes, aspect_ratio=aspect_ratio)
        regions[image_id] = (image_files[image_id], centers, sizes, scores)
    return regions


def _read_crops(estimator: TopDownEstimator, image_file: Path, centers: np.ndarray, sizes: np.ndarray) -> CropBatch:
    """Decode one image and cut its crops; the full image is dropped here, only crops travel on."""
    return estimator.prepare_regions(read_image_rgb(image_file), centers, sizes)


def _crops_in_order(
    estimator: TopDownEstimator, regions: Regions, image_ids: Sequence[int], workers: int
) -> Iterator[tuple[int, CropBatch]]:
    """(image id, crops) in ``image_ids`` order, read ``workers`` images at a time ahead of the caller.

    At most ``2 * workers`` images are queued or being read beyond the one handed out
    (cv2 decode and warpAffine release the GIL, so threads overlap them with the network).
    A read error is raised here, in order, after the queued reads are cancelled.
    """
    if workers == 0:
        for image_id in image_ids:
            yield image_id, _read_crops(estimator, *regions[image_id][:3])
        return
    todo = iter(image_ids)
    window: collections.deque[tuple[int, Future[CropBatch]]] = collections.deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coco-read")
    try:
        while True:
            # top up to the next image plus 2 * workers behind it, then hand the next one out
            for image_id in itertools.islice(todo, 2 * workers + 1 - len(window)):
                window.append((image_id, pool.submit(_read_crops, estimator, *regions[image_id][:3])))
            if not window:
                return
            image_id, future = window.popleft()
            yield image_id, future.result()
    finally:
        # no wait for queued reads on an error or an early close; running ones end in one image
        pool.shutdown(wait=True, cancel_futures=True)


def run_inference(
    estimator: TopDownEstimator,
    evaluator: COCOKeypointEvaluator,
    regions: Regions,
    progress: bool = False,
    workers: int = 0,
) -> None:
    """Pose every region, image by image (sorted ids), into ``evaluator.process``.

    ``workers`` threads read and crop images ahead of the network (0: on this
    thread, in turn), at most ``2 * workers`` images ahead; results are identical
    for any ``workers``. Crops of consecutive images are pooled into forward passes
    of about ``estimator.batch_size`` crops (COCO has few people per image), so at
    most one batch plus the read-ahead images' crops are held in memory. Raises
    ``posetrack.io.image.ImageReadError`` naming a missing or corrupt image.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    pending: list[tuple[int, CropBatch, np.ndarray]] = []

    def flush() -> None:
        batch = CropBatch.concat([b for _, b, _ in pending])
        poses = estimator.pose_crops(batch, np.concatenate([s for _, _, s in pending]))
        start = 0
        for image_id, b, _ in pending:
            evaluator.process(image_id, poses[start:start + len(b)])
            start += len(b)
        pending.clear()

    image_ids = sorted(regions)
    # closing(): a model error mid-run stops the reader threads now, not at garbage collection
    with contextlib.closing(_crops_in_order(estimator, regions, image_ids, workers)) as images:
        for image_id, crops in tqdm(images, total=len(image_ids), desc="images", unit="img", disable=not progress):
            pending.append((image_id, crops, regions[image_id][3]))
            if sum(len(b) for _, b, _ in pending) >= estimator.batch_size:
                flush()
    if pending:
        flush()
