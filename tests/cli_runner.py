"""Run ``posetrack`` subcommands in-process with only the named ones registered.

Other subcommand modules belong to other owners and may not exist yet; limiting
``COMMANDS`` keeps a test independent of them while going through the real ``main``.
"""

from __future__ import annotations

from typing import Callable

import posetrack.cli as cli


def cli_runner(monkeypatch, capsys, *commands: str) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setattr(cli, "COMMANDS", {name: cli.COMMANDS[name] for name in commands})

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            rc = cli.main(list(argv))
        except SystemExit as exc:  # argparse rejects malformed flags this way
            rc = exc.code
        out, err = capsys.readouterr()
        return rc, out, err

    return run
