"""``posetrack eval --gt GT_DIR --pred PRED_DIR [--metrics map,mota,hota] [--out metrics.json]``: PoseTrack AP and
MOTA as poseval, keypoint HOTA as the PoseTrack21 kit."""

from __future__ import annotations

import argparse
import math
import os

from posetrack.cli import CLIError

HELP = ("PoseTrack evaluation: per-joint AP and MOTA/MOTP/precision/recall with poseval's numbers, "
        "keypoint HOTA with the PoseTrack21 kit's")

_QUIRK_FLAGS = {  # CLI spelling -> EvalOptions field
    "motp-raw": "motp_raw",
    "empty-frame-dummy": "empty_frame_dummy",
    "last-frame": "skip_last_frame",
    "frame-pairing": "pair_by_position",
    "file-order": "dir_order",
}
_HOTA_QUIRK_FLAGS = {  # CLI spelling -> HotaOptions field
    "hota-empty-frame": "empty_frame_sequence_fn",
    "frame-pairing": "pair_by_position",
    "hota-joint-mean": "joint_mean_total",
}
_METRICS = ("map", "mota", "hota")  # map and mota: one poseval run (both tables)


def metric_list(text: str) -> set[str]:
    """"map,hota" -> {"map", "hota"} (an argparse type)."""
    names = set(text.split(","))
    if not names or not names <= set(_METRICS):
        raise argparse.ArgumentTypeError(f"expected some of {','.join(_METRICS)} separated by commas, got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="directory of ground-truth json files, one per video")
    parser.add_argument("--pred", required=True, help="directory of prediction json files named as the GT")
    parser.add_argument("--out", help="write every figure as JSON here (NaN written as null)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes reading and scoring videos (default: min(4, CPU count))")
    parser.add_argument("--fix-quirks", action="store_true",
                        help="switch off every quirk below (numbers then differ from the official ones)")
    parser.add_argument("--metrics", type=metric_list, default={"map", "mota"}, metavar="M1,M2",
                        help="map, mota (poseval) and/or hota (PoseTrack21 keypoint HOTA); default: map,mota")
    parser.add_argument("--fix", action="append", default=[], choices=sorted(_QUIRK_FLAGS | _HOTA_QUIRK_FLAGS),
                        metavar="QUIRK",
                        help="switch off one quirk (repeatable): motp-raw (MOTP counts every candidate "
                             "distance), empty-frame-dummy (frames without GT or predictions add a phantom "
                             "miss+FP instead of their real ones), last-frame (last frame of a video left out "
                             "of MOT), frame-pairing (frames paired by position, not file name; poseval and "
                             "HOTA), file-order (directory order, matters only for tied scores), "
                             "hota-empty-frame (HOTA: a frame without predictions misses the GT joints of its "
                             "whole video, not its own), hota-joint-mean (HOTA Total: a video's association "
                             "scores averaged over all 15 joints, 0 for joints it does not show)")
    parser.add_argument("--kpt-thr", type=thresholds, default=None, metavar="T1,T2,...",
                        help="also score the predictions with joints below each threshold left out (as "
                             "`posetrack track --kpt-thr T` writes them): one row and one 'sweep' JSON entry each")


def thresholds(text: str) -> list[float]:
    """"0.2,0.3" -> [0.2, 0.3] (an argparse type: numbers in [0, 1] separated by commas)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers in [0, 1] separated by commas, got {text!r}")
    return values


def _json_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def run(args: argparse.Namespace) -> int:
    from posetrack.eval.hota import HotaOptions, evaluate_hota, format_hota_table
    from posetrack.eval.posetrack import EvalOptions, evaluate, format_sweep, format_table, sweep_kpt_thr
    from posetrack.io.atomic import write_json_atomic

    def quirks(cls, flags):
        return cls.fixed() if args.fix_quirks else cls().without(*(flags[q] for q in args.fix if q in flags))

    if args.kpt_thr and not args.metrics & {"map", "mota"}:
        raise CLIError("--kpt-thr sweeps AP and MOTA: add map,mota to --metrics (e.g. --metrics map,mota,hota)")
    options = quirks(EvalOptions, _QUIRK_FLAGS)
    results: dict = {}
    if args.metrics & {"map", "mota"}:
        results = evaluate(args.gt, args.pred, options, workers=max(1, args.workers))
        print(format_table(results))
        if args.kpt_thr:
            results["sweep"] = sweep_kpt_thr(args.gt, args.pred, args.kpt_thr, options, workers=max(1, args.workers))
            print(format_sweep(results["sweep"]))
    if "hota" in args.metrics:
        results["hota"] = evaluate_hota(args.gt, args.pred, quirks(HotaOptions, _HOTA_QUIRK_FLAGS),
                                        workers=max(1, args.workers))
        print(format_hota_table(results["hota"]))
    if args.out:
        write_json_atomic(args.out, _json_safe(results), indent=2)
        print(f"metrics written to {args.out}")
    return 0
