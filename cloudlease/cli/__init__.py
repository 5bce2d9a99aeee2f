"""The command line. ``run`` answers ``--version`` before importing anything heavy."""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from cloudlease import __version__

        sys.stdout.write(f"cloudlease {__version__}\n")
        return
    from cloudlease.cli.main import app

    app(prog_name="cloudlease")
