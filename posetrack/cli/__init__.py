"""``posetrack`` console script: one module per subcommand.

Each subcommand module defines ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy libraries inside ``run`` so that
``posetrack --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from posetrack.errors import PosetrackError

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
    "report": "posetrack.cli.report",
}


class CLIError(PosetrackError):
    """An error to report to the user as one line, without a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the same clean-up as for Ctrl-C runs
    (temporary outputs removed, worker threads stopped)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _message(exc: BaseException) -> str:
    """The one line to print. An error raised in a DataLoader worker comes back with the worker's
    whole traceback in its message; its last line is the original error."""
    text = str(exc)
    if "\nOriginal Traceback" in text:
        return text.strip().splitlines()[-1].split(": ", 1)[-1]
    return text


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
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(args._run(args) or 0)
    except Terminated:
        print("posetrack: terminated (SIGTERM); unfinished outputs removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("posetrack: interrupted", file=sys.stderr)
        return 130
    except (PosetrackError, FileNotFoundError, ValueError, RuntimeError, OSError) as exc:  # CLIError included
        if args.verbose:
            raise
        print(f"posetrack {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
