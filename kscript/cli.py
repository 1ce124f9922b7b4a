"""The command line: a thin layer over plain functions.

Each command lives in `kscript.commands.<name>` with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Command modules import nothing heavy at module level, so `--help`,
`check`, `plan` and `effects` never load torch, diffusers or av.

Exit codes: 0 fine, 1 the script has errors (or the build failed for a reason the user
can fix), 2 usage errors. A `KscriptError` is printed without a traceback; anything else
is a bug in kscript and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from kscript import __version__
from kscript.errors import KscriptError

COMMANDS = ("check", "plan", "effects", "build", "watch", "import")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default exit code 2 is ours too
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kscript",
        description="kscript: write AI animations as scene scripts, check them, plan them, render them.",
    )
    parser.add_argument("--version", action="version", version=f"kscript {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"kscript.commands.{name}_" if name == "import" else f"kscript.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def one_blas_thread() -> None:
    """Run numpy's BLAS (OpenBLAS) on one thread in this process, unless the user set it.

    OpenBLAS starts a thread per core when numpy loads, and its threads spin for a while after
    each call. kscript's own linear algebra is 3x3 matrices (camera moves, homographies),
    which one thread does at once, while the spinning took a core from a preview build's
    imports and its encoder (the mini film's preview build on 2 cores, load average 0.7-1.7:
    0.15-0.35 s more CPU before the first frame, and 3-8 % more CPU per second of video). It must be set before numpy loads,
    which the commands put off until they run. torch keeps its own thread settings.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    one_blas_thread()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser, so its usage is the one shown
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KscriptError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
