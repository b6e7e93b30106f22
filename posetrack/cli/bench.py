"""``posetrack bench [TARGET]``: throughput benchmarks, one target per pipeline part.

Without a target, ``posetrack bench [flags]`` is ``posetrack bench report [flags]``: the
network and (with ``--video``) the whole pipeline in one table.
"""

from __future__ import annotations

import argparse
import importlib

HELP = ("measure throughput: bare `bench` = `bench report` (network modes + pipeline in one table); "
        "targets model, modes, track, train measure one part")

REPORT = "report"
# target -> module defining HELP, add_arguments(parser) and run(args) -> int.
TARGETS = {
    REPORT: "posetrack.cli.bench_report",
    "model": "posetrack.cli.bench_model",
    "track": "posetrack.cli.bench_track",
    "modes": "posetrack.cli.bench_modes",
    "train": "posetrack.cli.bench_train",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The report's flags also live on `bench` itself, so that a bare `posetrack bench --video V`
    # runs it; a target's own parser parses whatever follows the target name.
    report = importlib.import_module(TARGETS[REPORT])
    report.add_arguments(parser)
    parser.set_defaults(_bench_run=report.run)
    sub = parser.add_subparsers(dest="target", metavar="TARGET", help="default: report")
    for name, module_name in TARGETS.items():
        module = importlib.import_module(module_name)
        target = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(target)
        target.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return args._bench_run(args)
