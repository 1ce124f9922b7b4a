"""`kscript effects [--film FILE]`: the effects a film can use, their parameters and what
each does: the standard ones, and with `--film` also those the film defines or imports
(a film's own effect shadows a standard one of the same name, as in the film itself).
A standard effect's Deforum-Kandinsky names (`kscript.channels.DEFORUM_PRESETS`, aliases
the language accepts) are shown with it, and `kscript effects spin_clockwise` shows the
effect that name stands for."""

from __future__ import annotations

import argparse

HELP = "list the standard effects (and a film's own) with their parameters"
DESCRIPTION = (
    "List every standard effect (usable in any film without an import): its parameters with "
    "their defaults and one line on what it does. With --film, first the effects that film "
    "defines or imports, with where each is defined."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show only this effect, with its full description")
    parser.add_argument("--film", metavar="FILE",
                        help="also list the effects this film defines or imports (it is checked first)")


def _expr_text(node: object) -> str:
    """A short source-like rendering of a default value."""
    from kscript.syntax import nodes as n

    if isinstance(node, n.Number):
        v = node.value
        return str(int(v)) if v == int(v) else repr(v)
    if isinstance(node, n.Duration):
        v = node.value
        return (str(int(v)) if v == int(v) else repr(v)) + node.unit
    if isinstance(node, n.Name):
        return node.name
    if isinstance(node, n.Unary):
        return f"{node.op}{_expr_text(node.operand)}" if node.op != "not" else f"not {_expr_text(node.operand)}"
    if isinstance(node, n.Binary):
        return f"{_expr_text(node.left)} {node.op} {_expr_text(node.right)}"
    if isinstance(node, n.Call):
        return f"{node.func}({', '.join(_expr_text(a) for a in node.args)})"
    return "..."


def signature(defn: object) -> str:
    parts = []
    for p in defn.params:  # type: ignore[attr-defined]
        parts.append(p.name if p.default is None else f"{p.name} = {_expr_text(p.default)}")
    return f"{defn.name}({', '.join(parts)})"  # type: ignore[attr-defined]


def _film_effects(path: str) -> list[tuple[object, str]]:
    """(definition, "file:line") of every effect the film defines or imports."""
    from kscript.compile import compile_film
    from kscript.errors import read_film

    program = compile_film(read_film(path), allow_library=True).program  # errors: ScriptErrors, exit 1
    own = [(info.defn, f"{info.file}:{info.defn.span.line}") for info in program.effects.values() if not info.standard]
    return sorted(own, key=lambda item: item[0].name)  # type: ignore[attr-defined]


def _also(name: str) -> str:
    """`[alias: spin_clockwise]`: the Deforum-Kandinsky names a standard effect is also
    written by, or ''."""
    from kscript.channels import aliases_of

    names = aliases_of(name)
    return f"[alias: {', '.join(names)}]" if names else ""


def _print_table(effects: list, where: dict[str, str], aliases: bool = False) -> None:
    sigs = [signature(e) for e in effects]
    width = min(max(len(s) for s in sigs), 44)
    for e, sig in zip(effects, sigs):
        doc = (e.doc or "").strip().splitlines()
        line = doc[0] if doc else ""
        also = _also(e.name) if aliases else ""
        if also:
            line = f"{line} {also}" if line else also
        if e.name in where:
            line = f"{line}  [{where[e.name]}]" if line else f"[{where[e.name]}]"
        if len(sig) > width:
            print(sig)
            print(f"{'':{width}}  {line}")
        else:
            print(f"{sig:{width}}  {line}")


def run(args: argparse.Namespace) -> int:
    from kscript.check.loader import standard_modules
    from kscript.diagnostics import did_you_mean
    from kscript.errors import ScriptErrors, UsageError

    modules, sources, diags = standard_modules()
    if diags:
        raise ScriptErrors(list(diags), {s.path: s for s in sources})
    standard = sorted((e for m in modules for e in m.effects), key=lambda e: e.name)
    own = _film_effects(args.film) if args.film else []
    where = {e.name: place for e, place in own}  # type: ignore[attr-defined]
    own_defs = [e for e, _ in own]
    if args.name:
        from kscript.channels import aliases_of, preset_alias

        everything = own_defs + [e for e in standard if e.name not in where]
        chosen = [e for e in everything if e.name == args.name]
        alias = preset_alias(args.name)
        if not chosen and alias is not None:  # a Deforum-Kandinsky name: the effect it stands for
            chosen = [e for e in everything if e.name == alias]
        if not chosen:
            hint = did_you_mean(args.name, [e.name for e in everything])
            kind = "effect" if args.film else "standard effect"
            raise UsageError(f"no {kind} named '{args.name}'", hint=hint)
        e = chosen[0]
        print(signature(e))
        print()
        print(e.doc or "(no description)")
        print()
        if e.name in where:
            print(f"defined at {where[e.name]}")
        elif aliases_of(e.name):
            print(f"Deforum-Kandinsky names, accepted as aliases: {', '.join(aliases_of(e.name))}")
            print()
        from kscript.syntax.printer import assign

        print("channels:")
        for a in e.body:  # the curves as written, parameters by name (they read as the source does)
            print(f"  {assign(a)}")
        return 0
    if own_defs:
        print(f"effects of {args.film} and its imports:")
        _print_table(own_defs, where)
        print()
        print("standard effects:")
    elif args.film:
        print(f"{args.film} defines and imports no effects of its own; the standard effects:")
    shown = [e for e in standard if e.name not in where]
    if shown:
        _print_table(shown, {}, aliases=True)
    hidden = sorted(e.name for e in standard if e.name in where)
    if hidden:
        print(f"\n(shadowed in this film by its own effect of the same name: {', '.join(hidden)})")
    summary = f"{len(standard)} standard effects"
    if own_defs:
        summary = f"{len(own_defs)} of the film's own and {summary}"
    print(f"\n{summary}; use them in a scene: effect NAME(param = value) [from 1s to 3s]")
    return 0
