"""`kscript check FILE...`: report every error in each film, or say it is fine.

Checks each file completely (parse, names, units, settings, and the per-frame range
checks of the compiler), printing all diagnostics of all files. Exit 0 when every file is
fine, 1 when any has errors, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys

HELP = "check films for errors without rendering"
DESCRIPTION = (
    "Check each .kscene file (and everything it imports): syntax, names, units, settings and "
    "value ranges. Prints every error with its place and a hint, or 'FILE: ok (N scenes, M frames)'. "
    "Exit status: 0 all fine, 1 a script has errors, 2 a file cannot be read."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="film files (.kscene)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def run(args: argparse.Namespace) -> int:
    from kscript.compile import compile_film
    from kscript.diagnostics import render_all
    from kscript.errors import KscriptError, ScriptErrors, UsageError, read_film

    status = 0
    for path in args.files:
        if str(path).lower().endswith(".json"):
            err = UsageError(f"'{path}' is JSON, not a .kscene film",
                             hint="check reads films; a plan saved by `kscript plan --json` is checked when "
                             "`kscript build` loads it")
            print(err.render(), file=sys.stderr)
            status = 2
            continue
        try:
            compiled = compile_film(read_film(path), allow_library=True)
            program, plan = compiled.program, compiled.plan
        except ScriptErrors as err:
            print(err.render(), file=sys.stderr)
            status = max(status, 1)
            continue
        except UsageError as err:
            print(err.render(), file=sys.stderr)
            status = 2
            continue
        except KscriptError as err:  # pragma: no cover - other user errors
            print(err.render(), file=sys.stderr)
            status = max(status, 1)
            continue
        if program.warnings:
            print(render_all(program.warnings, program.files), file=sys.stderr)
        if not args.quiet and plan is None:
            effects = sum(1 for e in program.effects.values() if not e.standard and e.file == path)
            print(f"{path}: ok (a file to import: {effects} effect{'s' if effects != 1 else ''}, no scenes)")
        elif not args.quiet:
            scenes = len(plan.scenes)
            frames = len(plan.frames)
            print(f"{path}: ok ({scenes} scene{'s' if scenes != 1 else ''}, {frames} frame{'s' if frames != 1 else ''})")
    return status
