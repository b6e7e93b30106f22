"""Evaluation during training: the official test-time inference on a validation split.

``keypoint_ap_evaluation`` returns ``evaluate(model) -> {"AP": ..., "AR": ..., ...}``
for ``EvalHook``. It runs ``posetrack.pose.estimator.TopDownEstimator`` (flip
test, quarter offset, rescoring) on given crop regions -- the GT boxes of the
records, or detector boxes -- and scores with ``posetrack.eval.coco``
(OKS-NMS + pycocotools).

Ground truth: the COCO annotation file itself (so the numbers are the official
COCO AP), or, for PoseTrack records, a COCO-style index built from the records
(``records_to_coco``): OKS AP with COCO's sigmas on the PoseTrack slots, area =
the keypoint box area. That is a training-progress signal, not the PoseTrack
mAP of poseval.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from pycocotools.coco import COCO

from posetrack.data.records import PoseRecord
from posetrack.eval.coco import COCOKeypointEvaluator
from posetrack.io.image import read_image_rgb
from posetrack.pose.estimator import TopDownEstimator

logger = logging.getLogger(__name__)

# image id -> (image file, centers (n, 2), sizes (n, 2), box scores (n,)), image px
Regions = dict[int, tuple[Path, np.ndarray, np.ndarray, np.ndarray]]


def gt_regions(records: Sequence[PoseRecord]) -> Regions:
    """Crop regions of the GT people, grouped by image; GT boxes score 1 (official)."""
    grouped: dict[int, list[PoseRecord]] = {}
    for rec in records:
        grouped.setdefault(rec.image_id, []).append(rec)
    return {
        image_id: (recs[0].image, np.stack([r.center for r in recs]), np.stack([r.box_size for r in recs]),
                   np.ones(len(recs)))
        for image_id, recs in grouped.items()
    }


def records_to_coco(records: Sequence[PoseRecord]) -> COCO:
    """A pycocotools GT index from records (for sets without a COCO file, e.g. PoseTrack).

    Records need distinct ``image_id`` per image; labelled joints get v = 2.
    """
    images, annotations = {}, []
    for i, rec in enumerate(records):
        images[rec.image_id] = {"id": rec.image_id, "file_name": str(rec.image)}
        joints = rec.joints.copy()
        joints[:, 2] = np.where(joints[:, 2] > 0, 2, 0)
        joints[joints[:, 2] == 0, :2] = 0
        x, y = rec.center - rec.box_size / 2
        annotations.append({
            "id": i + 1, "image_id": rec.image_id, "category_id": 1, "iscrowd": 0,
            "keypoints": joints.reshape(-1).tolist(), "num_keypoints": int((joints[:, 2] > 0).sum()),
            "area": float(rec.area), "bbox": [float(x), float(y), *map(float, rec.box_size)],
        })
    coco = COCO()
    coco.dataset = {"images": list(images.values()), "annotations": annotations,
                    "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def keypoint_ap_evaluation(
    coco_gt: COCO, regions: Regions, *, input_size: Sequence[int], flip_pairs: Sequence[Sequence[int]],
    device: torch.device, batch_size: int = 32, flip_test: bool = True, shift_heatmap: bool = True,
    refine: bool = True, in_vis_thre: float = 0.2, oks_thre: float = 0.9, soft_nms: bool = False,
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Build ``evaluate(model) -> {stat: value}`` over ``regions`` scored against ``coco_gt``.

    The keyword arguments are the ``test`` settings (see ``TopDownEstimator``,
    ``COCOKeypointEvaluator``). Images are re-read each evaluation (no caching:
    a validation set may be large).
    """

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        estimator = TopDownEstimator(model, input_size=input_size, flip_test=flip_test, flip_pairs=flip_pairs,
                                     shift_heatmap=shift_heatmap, refine=refine, in_vis_thre=in_vis_thre,
                                     device=device, batch_size=batch_size)
        evaluator = COCOKeypointEvaluator(coco_gt, oks_thre=oks_thre, soft_nms=soft_nms)
        for image_id in sorted(regions):
            image_file, centers, sizes, scores = regions[image_id]
            batch = estimator.prepare_regions(read_image_rgb(image_file), centers, sizes)
            poses = estimator.decode(estimator.heatmaps(batch.crops), batch.centers, batch.sizes, scores)
            evaluator.process(image_id, poses)
        return evaluator.evaluate()

    return evaluate
