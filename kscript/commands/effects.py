"""`kscript effects`: the standard effects, their parameters and what each does."""

from __future__ import annotations

import argparse

HELP = "list the standard effects with their parameters"
DESCRIPTION = (
    "List every standard effect (usable in any film without an import): its parameters with "
    "their defaults and one line on what it does."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show only this effect, with its full description")


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


def run(args: argparse.Namespace) -> int:
    from kscript.check.loader import standard_modules
    from kscript.diagnostics import did_you_mean
    from kscript.errors import ScriptErrors, UsageError

    modules, sources, diags = standard_modules()
    if diags:
        raise ScriptErrors(list(diags), {s.path: s for s in sources})
    effects = sorted((e for m in modules for e in m.effects), key=lambda e: e.name)
    if args.name:
        chosen = [e for e in effects if e.name == args.name]
        if not chosen:
            hint = did_you_mean(args.name, [e.name for e in effects])
            raise UsageError(f"no standard effect named '{args.name}'", hint=hint)
        e = chosen[0]
        print(signature(e))
        print()
        print(e.doc or "(no description)")
        print()
        print("channels: " + ", ".join(a.name for a in e.body))
        return 0
    if not effects:
        print("no standard effects found")
        return 0
    sigs = [signature(e) for e in effects]
    width = min(max(len(s) for s in sigs), 44)
    for e, sig in zip(effects, sigs):
        doc = (e.doc or "").strip().splitlines()
        line = doc[0] if doc else ""
        if len(sig) > width:
            print(sig)
            print(f"{'':{width}}  {line}")
        else:
            print(f"{sig:{width}}  {line}")
    print(f"\n{len(effects)} standard effects; use them in a scene: effect NAME(param = value) [from 1s to 3s]")
    return 0
