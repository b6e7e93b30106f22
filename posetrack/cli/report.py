"""``posetrack report``: one offline HTML page per tracked video of a ``posetrack track --out`` folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write OUT_DIR/report/<video>.html for every video of a posetrack track output folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a `posetrack track --out` folder")
    parser.add_argument("--gt", type=Path, default=None, metavar="GT_DIR",
                        help="PoseTrack ground-truth folder (<video>.json): adds AP, MOTA and error marks")


def run(args: argparse.Namespace) -> int:
    from posetrack.report import tracked_videos, write_report

    if args.gt is not None and not args.gt.is_dir():
        raise FileNotFoundError(f"GT directory not found: {args.gt}")
    failures = 0
    for name in tracked_videos(args.out_dir):
        try:
            print(write_report(args.out_dir, name, args.gt))
        except (ValueError, OSError) as exc:  # one bad video must not stop the others (as `track`)
            failures += 1
            print(f"posetrack report: error: {name}: {exc}", file=sys.stderr)
    return 2 if failures else 0
