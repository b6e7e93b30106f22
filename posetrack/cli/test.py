"""``posetrack test``: COCO keypoint AP of a checkpoint, as the official ``tools/test.py``.

Boxes come from a person-detection results file (``--det-json``) or the ground
truth (``--gt-boxes``: non-crowd people with keypoints, official clean bbox).
Writes ``keypoints_<set>_results.json`` (COCO results) and ``keypoints_<set>_stats.json``
(the 10 stats by name) into ``--out``, both atomically, and prints pycocotools' summary.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from posetrack.cli import CLIError
from posetrack.cli.inference_args import add_inference_arguments, inference_mode

HELP = "evaluate a pose checkpoint on COCO keypoints (pycocotools AP)"

logger = logging.getLogger(__name__)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/coco/hrnet_w32_256x192.yaml")
    parser.add_argument("--weights", required=True, help="checkpoint path or pretrained weights name")
    parser.add_argument("--ann", required=True, help="COCO keypoint annotations, e.g. person_keypoints_val2017.json")
    parser.add_argument("--images", required=True, help="folder with the images named by the annotations")
    boxes = parser.add_mutually_exclusive_group(required=True)
    boxes.add_argument("--det-json", help="person detections (COCO results list: image_id, bbox, score)")
    boxes.add_argument("--gt-boxes", action="store_true", help="use ground-truth person boxes")
    parser.add_argument("--out", default="runs/test", help="output folder (default: runs/test)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    parser.add_argument("--batch-size", type=int, help="crops per forward pass (default: config test.batch_size)")
    parser.add_argument("--no-flip", action="store_true", help="disable the flip test")
    default_workers = min(4, os.cpu_count() or 1)
    parser.add_argument("--workers", type=_workers, default=default_workers, metavar="N",
                        help="threads that read and crop images ahead of the network; 0: in the main thread "
                             f"(default: {default_workers}, min(4, CPU count))")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set model.width=16 test.flip_test=false (repeatable)")
    add_inference_arguments(parser)


def _set_name(ann: Path) -> str:
    """person_keypoints_val2017.json -> val2017 (the official result file naming)."""
    stem = ann.stem
    return stem[len("person_keypoints_"):] if stem.startswith("person_keypoints_") else stem


def run(args: argparse.Namespace) -> int:
    from posetrack.config import load_config
    from posetrack.data.datasets.coco import load_coco as load_gt_people
    from posetrack.eval.coco import (
        COCOKeypointEvaluator, detection_regions, gt_regions, load_coco, load_detections, run_inference,
    )
    from posetrack.experiment import Experiment
    from posetrack.io.atomic import write_json_atomic
    from posetrack.models.weights import resolve_weights
    from posetrack.pose.estimator import TopDownEstimator

    exp = load_config(Experiment, args.config, args.set)
    ann, image_dir, out_dir = Path(args.ann), Path(args.images), Path(args.out)
    if not image_dir.is_dir():
        raise CLIError(f"--images: not a folder: {image_dir}")
    in_w, in_h = exp.data.input_size

    coco = load_coco(ann)
    if args.gt_boxes:
        # official clean bbox, non-crowd people with keypoints; also checks the images exist
        people = load_gt_people(ann, image_dir, aspect_ratio=in_w / in_h, num_joints=exp.model.num_joints)
        regions = gt_regions(people)
    else:
        dets = load_detections(args.det_json, set(coco.getImgIds()), exp.test.image_thre)
        files = {i: image_dir / coco.imgs[i]["file_name"] for i in dets}
        regions = detection_regions(dets, files, aspect_ratio=in_w / in_h)
    if not regions:
        raise CLIError(f"no person boxes to evaluate ({args.det_json or ann})")
    missing = sorted(str(r[0]) for r in regions.values() if not r[0].is_file())
    if missing:  # fail before the long run, not in the middle of it
        raise CLIError(f"{len(missing)} image(s) not found under {image_dir}, first: {missing[0]}")

    try:  # a pretrained name must be the network the config describes; a file is taken as that network
        weights = resolve_weights(args.weights, arch=exp.model.name, input_size=exp.data.input_size,
                                  keypoints=exp.data.keypoints, num_joints=exp.model.num_joints)
    except ValueError as exc:
        raise CLIError(f"--weights {args.weights} does not fit {args.config}, which sets {exp.model.name} "
                       f"{in_w}x{in_h} ({exp.model.num_joints} {exp.data.keypoints} joints): {exc}") from None
    mode = inference_mode(exp.inference, args)  # before the model loads: a bad flag fails fast
    model = weights.load_model()
    if mode is None:
        from posetrack.models.auto import auto_mode

        mode = auto_mode(model, args.device, exp.data.input_size[::-1])
    options = {**exp.test.estimator_options(), "flip_test": exp.test.flip_test and not args.no_flip,
               "batch_size": args.batch_size or exp.test.batch_size}
    estimator = TopDownEstimator.from_weights(weights, model=model, device=args.device, mode=mode, **options)
    evaluator = COCOKeypointEvaluator(coco, oks_thre=exp.test.oks_thre, soft_nms=exp.test.soft_nms)
    logger.info("%d images, %d person boxes (%s)", len(regions), sum(len(r[3]) for r in regions.values()),
                "ground truth" if args.gt_boxes else args.det_json)
    run_inference(estimator, evaluator, regions, progress=True, workers=args.workers)

    out_dir.mkdir(parents=True, exist_ok=True)
    name = _set_name(ann)
    results_file = out_dir / f"keypoints_{name}_results.json"
    write_json_atomic(results_file, evaluator.results())
    stats = evaluator.evaluate()
    stats_file = out_dir / f"keypoints_{name}_stats.json"
    write_json_atomic(stats_file, stats, indent=2)
    print(evaluator.summary)
    print("| " + " | ".join(stats) + " |")
    print("| " + " | ".join(f"{v:.3f}" for v in stats.values()) + " |")
    print(f"results: {results_file}\nstats: {stats_file}")
    return 0
