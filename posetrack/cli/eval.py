"""``posetrack eval --gt GT_DIR --pred PRED_DIR [--out metrics.json]``: PoseTrack AP and MOTA as poseval."""

from __future__ import annotations

import argparse
import math
import os

HELP = "PoseTrack 2017/2018 evaluation (per-joint AP, MOTA/MOTP/precision/recall) with poseval's numbers"

_QUIRK_FLAGS = {  # CLI spelling -> EvalOptions field
    "motp-raw": "motp_raw",
    "empty-frame-dummy": "empty_frame_dummy",
    "last-frame": "skip_last_frame",
    "frame-pairing": "pair_by_position",
    "file-order": "dir_order",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="directory of ground-truth json files, one per video")
    parser.add_argument("--pred", required=True, help="directory of prediction json files named as the GT")
    parser.add_argument("--out", help="write every figure as JSON here (NaN written as null)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes reading and scoring videos (default: min(4, CPU count))")
    parser.add_argument("--fix-quirks", action="store_true",
                        help="switch off every poseval quirk below (numbers then differ from the official ones)")
    parser.add_argument("--fix", action="append", default=[], choices=sorted(_QUIRK_FLAGS), metavar="QUIRK",
                        help="switch off one poseval quirk (repeatable): motp-raw (MOTP counts every candidate "
                             "distance), empty-frame-dummy (frames without GT or predictions add a phantom "
                             "miss+FP instead of their real ones), last-frame (last frame of a video left out "
                             "of MOT), frame-pairing (frames paired by position, not file name), file-order "
                             "(directory order, matters only for tied scores)")


def _json_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    return obj


def run(args: argparse.Namespace) -> int:
    from posetrack.eval.posetrack import EvalOptions, evaluate, format_table
    from posetrack.io.atomic import write_json_atomic

    options = EvalOptions.fixed() if args.fix_quirks else EvalOptions().without(*(_QUIRK_FLAGS[q] for q in args.fix))
    results = evaluate(args.gt, args.pred, options, workers=max(1, args.workers))
    print(format_table(results))
    if args.out:
        write_json_atomic(args.out, _json_safe(results), indent=2)
        print(f"metrics written to {args.out}")
    return 0
