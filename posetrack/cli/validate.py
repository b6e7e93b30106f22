"""``posetrack validate PRED_DIR --gt GT_DIR``: check prediction files before evaluating or submitting."""

from __future__ import annotations

import argparse

HELP = "check PoseTrack prediction files against the GT: videos, frames, keypoints, track ids, scores"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred", help="directory of prediction json files (2017 or 2018 format)")
    parser.add_argument("--gt", required=True, help="directory of ground-truth json files, one per video")
    parser.add_argument("--max-problems", type=int, default=200,
                        help="print at most this many problems (all are counted; default 200)")


def run(args: argparse.Namespace) -> int:
    from posetrack.io.posetrack_json import validate_predictions

    problems = validate_predictions(args.pred, args.gt)
    for p in problems[: args.max_problems]:
        print(p)
    if len(problems) > args.max_problems:
        print(f"... and {len(problems) - args.max_problems} more")
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 1
    print("no problems found")
    return 0
