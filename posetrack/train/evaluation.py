"""Evaluation during training: the official test-time inference on a validation split.

``keypoint_ap_evaluation`` returns ``evaluate(model) -> {"AP": ..., "AR": ..., ...}``
for ``EvalHook``: ``posetrack test``'s inference (``TopDownEstimator.from_weights`` +
``posetrack.eval.coco.run_inference``: flip test, quarter offset, rescoring, OKS-NMS,
pycocotools) on given crop regions (``posetrack.eval.coco.gt_regions`` of the
records, or detector boxes). ``weights`` is the record of the network being trained
(input size, joint set, normalisation: ``posetrack.models.weights.Weights``).

Metrics: COCO -> the official COCO AP against the annotation file. PoseTrack
with a folder of per-video GT files -> ``posetrack_map_evaluation``: poseval's
mAP (``posetrack.eval.posetrack``) of poses on the GT boxes. PoseTrack given as one
combined file -> a COCO-style index built from the records (``records_to_coco``):
OKS AP with COCO's sigmas on the PoseTrack slots, area = the keypoint box area; a
training-progress signal only.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from pycocotools.coco import COCO

from posetrack.data.records import PoseRecord
from posetrack.eval.coco import COCOKeypointEvaluator, Regions, run_inference
from posetrack.eval.posetrack import JOINT_GROUPS, evaluate as poseval
from posetrack.io.image import read_image_rgb
from posetrack.models.weights import Weights
from posetrack.pose.estimator import TopDownEstimator

logger = logging.getLogger(__name__)

# result names of posetrack_map_evaluation: poseval's total mAP and its joint groups
POSEVAL_METRICS = ("AP", *(f"AP {g}" for g in JOINT_GROUPS))


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
    coco_gt: COCO, regions: Regions, *, weights: Weights, device: torch.device,
    estimator_options: Mapping[str, Any] | None = None, oks_thre: float = 0.9, soft_nms: bool = False,
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Build ``evaluate(model) -> {stat: value}`` over ``regions`` scored against ``coco_gt``.

    ``estimator_options`` (``TopDownEstimator`` arguments: flip test, batch size, ...),
    ``oks_thre`` and ``soft_nms`` are the ``test`` settings (``TestConfig.estimator_options``,
    ``COCOKeypointEvaluator``). Images are re-read each evaluation (no caching: a validation
    set may be large).
    """

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        estimator = TopDownEstimator.from_weights(weights, model=model, device=device, **(estimator_options or {}))
        evaluator = COCOKeypointEvaluator(coco_gt, oks_thre=oks_thre, soft_nms=soft_nms)
        run_inference(estimator, evaluator, regions)
        return evaluator.evaluate()

    return evaluate


def posetrack_map_evaluation(
    gt_dir: str | Path, root: str | Path, regions: Regions, *, work_dir: str | Path, weights: Weights,
    device: torch.device, estimator_options: Mapping[str, Any] | None = None,
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Build ``evaluate(model) -> {"AP": total, "AP Head": ..., ...}`` with poseval's mAP.

    Poses every GT box of ``regions`` (image id -> crop regions, keyed to the
    records of the same GT files), writes one prediction file per GT video into
    ``work_dir`` (``posetrack.io.posetrack_json``) and scores them with
    ``posetrack.eval.posetrack.evaluate`` (PCKh 0.5 AP, poseval's rules). Values
    are fractions (poseval's percent / 100). People get track ids 0..n-1 per
    frame: only AP is meaningful here, not MOTA. The model must predict the
    PoseTrack 2018 slots.
    """
    from posetrack.io.posetrack_json import PersonPose, frames_like, write_video_predictions

    gt_dir, root, work_dir = Path(gt_dir), Path(root), Path(work_dir)
    by_image = {image_file: image_id for image_id, (image_file, *_rest) in regions.items()}

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        estimator = TopDownEstimator.from_weights(weights, model=model, device=device, **(estimator_options or {}))
        work_dir.mkdir(parents=True, exist_ok=True)
        for gt_file in sorted(gt_dir.glob("*.json")):
            frames = frames_like(gt_file)
            for frame in frames:
                image_id = by_image.get(root / frame.file_name)
                if image_id is None:  # a frame without usable GT people
                    continue
                image_file, centers, sizes, scores = regions[image_id]
                batch = estimator.prepare_regions(read_image_rgb(image_file), centers, sizes)
                poses = estimator.pose_crops(batch, scores)
                frame.people = [PersonPose(track_id=i, keypoints=poses.keypoints[i], score=float(poses.scores[i]))
                                for i in range(len(poses))]
            write_video_predictions(work_dir / gt_file.name, frames)
        ap = poseval(gt_dir, work_dir)["ap"]
        return {"AP": ap["Total"] / 100, **{f"AP {k}": v / 100 for k, v in ap.items() if k != "Total"}}

    return evaluate
