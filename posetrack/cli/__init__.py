"""``posetrack`` console script: one module per subcommand.

Each subcommand module defines ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy libraries inside ``run`` so that
``posetrack --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand name -> module under posetrack.cli
COMMANDS = {
    "test": "posetrack.cli.test",
    "info": "posetrack.cli.info",
    "export": "posetrack.cli.export",
    "bench": "posetrack.cli.bench",
    "train": "posetrack.cli.train",
    "track": "posetrack.cli.track",
    "eval": "posetrack.cli.eval",
    "validate": "posetrack.cli.validate",
}


class CLIError(Exception):
    """An error to report to the user as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posetrack", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("posetrack: interrupted", file=sys.stderr)
        return 130
    except (CLIError, FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        if args.verbose:
            raise
        print(f"posetrack {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
