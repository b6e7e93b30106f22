"""``posetrack bench TARGET``: throughput benchmarks, one target per pipeline part."""

from __future__ import annotations

import argparse
import importlib

HELP = "measure throughput: `bench model` (pose network crops/s); more targets per pipeline part"

# target -> module defining HELP, add_arguments(parser) and run(args) -> int.
TARGETS = {
    "model": "posetrack.cli.bench_model",
    "track": "posetrack.cli.bench_track",
    "modes": "posetrack.cli.bench_modes",
    "train": "posetrack.cli.bench_train",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    for name, module_name in TARGETS.items():
        module = importlib.import_module(module_name)
        target = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(target)
        target.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return args._bench_run(args)
