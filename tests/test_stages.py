"""Stages point one way: source → syntax → check → compile → the plan's readers.

Every import of every module of kscript is read with `ast` (function-local imports included,
since a lazy import is still a dependency), and no module may import a later stage. This is
the layout docs/architecture.md describes; a new module must be placed in a stage below.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import kscript

ROOT = Path(kscript.__file__).parent

#: the stages in order; a module may import its own stage and earlier ones. A module is in the
#: stage of its longest listed prefix.
STAGES: list[tuple[str, list[str]]] = [
    # what every stage shares: where text came from, how problems are told, pure maths, and
    # the one-entry tables (channels, model names) that every stage reads
    ("foundation", ["kscript", "kscript.source", "kscript.diagnostics", "kscript.errors", "kscript.atomic",
                    "kscript.curves", "kscript.geometry", "kscript.models", "kscript.channels", "kscript.limits", "kscript.audio",
                    "kscript.images"]),
    # Deforum settings / Parseq manifests -> film source text: before the chain, which checks it
    ("importers", ["kscript.importers"]),
    ("syntax", ["kscript.syntax"]),
    ("check", ["kscript.check"]),
    ("compile", ["kscript.compile", "kscript.plan"]),
    # the plan's readers, in the order they may use each other
    ("backends", ["kscript.backends"]),
    ("render", ["kscript.render"]),
    # renders plans on a Ray cluster with the render engine (BuildOptions.cluster calls it)
    ("cluster", ["kscript.cluster"]),
    ("watch", ["kscript.watch"]),
    ("front doors", ["kscript.commands", "kscript.cli", "kscript.__main__", "kscript.api"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


@functools.cache
def imports(name: str) -> set[str]:
    """The kscript modules `name` imports anywhere in its text (a `from a import b` that
    names a module counts as importing `a.b`)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    return {m for m in found if m == "kscript" or m.startswith("kscript.")}


def stage_of(name: str) -> int:
    best, stage = -1, None
    for i, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, stage = len(prefix), i
    assert stage is not None, f"{name} is in no stage: add it to STAGES (and to docs/architecture.md)"
    return stage


def test_every_module_is_in_a_stage():
    for name in MODULES:
        stage_of(name)


def test_the_parser_of_imports_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The reader itself: an import inside a function, a relative one, `from pkg import mod`."""
    monkeypatch.setitem(MODULES, "kscript.render._probe", tmp_path / "probe.py")
    imports.cache_clear()
    (tmp_path / "probe.py").write_text(
        "def f():\n    from kscript.watch import state\n    from . import cache\n    import kscript.cli\n"
    )
    assert imports("kscript.render._probe") == {"kscript.watch.state", "kscript.render.cache", "kscript.cli"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_stage_imports_a_later_one(name):
    mine = stage_of(name)
    later = sorted(m for m in imports(name) if stage_of(m) > mine)
    assert not later, f"{name} ({STAGES[mine][0]}) imports later stages: {later}"


def test_backends_never_import_render():
    offenders = {n: sorted(m for m in imports(n) if m.startswith("kscript.render"))
                 for n in MODULES if n.startswith("kscript.backends")}
    assert not {n: m for n, m in offenders.items() if m}


def test_curves_is_pure_maths():
    """kscript.curves imports nothing of kscript but itself (its own errors included)."""
    for name in MODULES:
        if name.startswith("kscript.curves"):
            assert all(m.startswith("kscript.curves") for m in imports(name)), (name, imports(name))
