"""`kscript import deforum SETTINGS` and `kscript import parseq MANIFEST`: bring work over.

Converts a Deforum settings file or a Parseq manifest into a readable film (docs/import.md
says what is carried over and how). Everything that could not be carried over, or only
approximately, is a warning: on stderr and in a comment block at the top of the film.
The film goes beside the input (`settings.txt` -> `settings.kscene`) unless `-o` names
it; an existing file is never replaced without `--force`. The new film is checked like
`kscript check` does before the command says it is done.

Exit status: 0 converted (warnings allowed), 1 the input is not a settings file or
manifest (or the film exists), 2 usage errors (a missing input).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "convert a Deforum settings file or a Parseq manifest into a film"
DESCRIPTION = (
    "Convert Deforum settings (the .txt JSON of the Automatic1111/Forge extension, the notebook's "
    "settings, Deforum-Kandinsky's configuration) or a Parseq manifest into a .kscene film. What "
    "cannot be carried over is listed on stderr and at the top of the film. Exit status: 0 converted, "
    "1 not a settings file (or the film exists: --force), 2 a missing input."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(parser))
    sub.required = True
    d = sub.add_parser("deforum", help="a Deforum settings file (.txt / .json)",
                       description="Convert a Deforum settings file into a film.")
    d.add_argument("input", metavar="SETTINGS", help="Deforum settings file")
    d.add_argument("--dialect", choices=("a1111", "notebook", "kandinsky"),
                   help="which Deforum wrote it (default: recognised from its settings)")
    p = sub.add_parser("parseq", help="a Parseq manifest (.json)",
                       description="Convert a Parseq manifest's rendered frames into a film.")
    p.add_argument("input", metavar="MANIFEST", help="Parseq manifest (.json)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="the frame size Deforum renders at (a manifest does not say; default 512x512)")
    p.add_argument("--mode", choices=("2D", "3D"), default=None,
                   help="Deforum's animation mode (default: 3D where the manifest has 3D moves)")
    p.add_argument("--no-deltas", action="store_true",
                   help="read the motion values as they are, not their *_delta (Deforum's default reads deltas)")
    for sp in (d, p):
        sp.add_argument("-o", "--output", metavar="FILM", help="the film to write (default: beside the input, .kscene)")
        sp.add_argument("--force", action="store_true", help="replace FILM if it exists")
        sp.add_argument("-q", "--quiet", action="store_true", help="do not print the warnings")


def run(args: argparse.Namespace) -> int:
    from kscript.atomic import write_atomic
    from kscript.compile import compile_film
    from kscript.errors import KscriptError, ScriptErrors, UsageError
    from kscript.source import SourceFile

    src = Path(args.input)
    if not src.is_file():
        raise UsageError(f"'{src}' does not exist" if not src.exists() else f"'{src}' is not a file")
    out = Path(args.output) if args.output else src.with_suffix(".kscene")
    if out.suffix != ".kscene":
        raise UsageError(f"'{out}' should end in .kscene", hint="films are .kscene files")
    if out.resolve() == src.resolve():
        raise UsageError(f"'{out}' is the input itself")
    if out.exists() and not args.force:
        raise KscriptError(f"'{out}' exists; not replaced", hint="pass --force to replace it, or -o another file")
    try:
        if args.source == "deforum":
            from kscript.importers.deforum import NotSettings, convert_deforum

            try:
                text, warnings = convert_deforum(src, args.dialect)
            except NotSettings as err:
                raise KscriptError(f"'{src}' is not a Deforum settings file: {err}") from None
        else:
            from kscript.importers.parseq import NotManifest, convert_parseq

            try:
                text, warnings = convert_parseq(src, size=args.size, mode=args.mode, deltas=not args.no_deltas)
            except NotManifest as err:
                raise KscriptError(f"'{src}' is not a Parseq manifest: {err}") from None
    except UnicodeDecodeError:
        raise KscriptError(f"'{src}' is not text") from None
    if not args.quiet:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    try:
        write_atomic(out, text.encode("utf-8"))
    except OSError as err:
        raise KscriptError(f"cannot write '{out}': {err.strerror or err}") from None
    try:
        plan = compile_film(SourceFile(str(out), text)).plan
    except ScriptErrors as err:
        print(err.render(), file=sys.stderr)
        raise KscriptError(f"the film written to '{out}' does not check: this is a bug in kscript import, "
                           "please report it with the input file") from None
    n = len(warnings)
    print(f"{out}: written ({len(plan.scenes)} scene{'s' if len(plan.scenes) != 1 else ''}, "
          f"{len(plan.frames)} frames, {n} warning{'s' if n != 1 else ''})")
    return 0
