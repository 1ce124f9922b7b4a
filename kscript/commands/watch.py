"""`kscript watch` (not implemented yet)."""

from __future__ import annotations

import argparse

HELP = "watch (not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from kscript.errors import UsageError

    raise UsageError("'kscript watch' is not implemented yet")
