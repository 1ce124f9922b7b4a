"""Every shipped kscene file parses: the standard effects and the examples.

The standard effects are read through `importlib.resources`, as an installed kscript
reads them; `tests/golden/syntax_mini_film.ast.txt` pins the whole AST of the main
example, spans included, so a grammar change that moves anything shows in a diff.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from importlib import resources
from pathlib import Path

import pytest

from kscript.channels import DEFORUM_PRESETS
from kscript.source import Span
from kscript.syntax import nodes as n
from kscript.syntax import parse_file, parse_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.kscene"))
STDLIB = sorted(
    (entry.name, entry.read_text(encoding="utf-8"))
    for entry in resources.files("kscript.stdlib_effects").iterdir()
    if entry.name.endswith(".kscene")
)

# Deforum-Kandinsky's 20 animation presets and the standard effects that move the picture
# the same way on screen: the language's one table (tests/test_presets.py measures them).
DEFORUM_KANDINSKY = DEFORUM_PRESETS
EXTRAS = {"shake", "spiral_in", "spiral_out", "dolly_in", "dolly_out", "breathe", "drift", "pan_left_sway"}


@pytest.fixture(scope="module")
def standard_effects() -> dict[str, n.EffectDef]:
    effects: dict[str, n.EffectDef] = {}
    for name, text in STDLIB:
        module = parse_source(text, f"<stdlib>/{name}")
        assert not module.films and not module.scenes, f"{name}: the standard library holds effects only"
        for effect in module.effects:
            assert effect.name not in effects, f"{effect.name} defined twice"
            effects[effect.name] = effect
    return effects


def test_stdlib_is_split_by_theme():
    assert len(STDLIB) >= 4


def test_every_deforum_kandinsky_preset_has_a_standard_effect(standard_effects):
    assert len(DEFORUM_KANDINSKY) == 20
    missing = {preset: name for preset, name in DEFORUM_KANDINSKY.items() if name not in standard_effects}
    assert not missing
    for preset, name in DEFORUM_KANDINSKY.items():
        assert f'"{preset}"' in standard_effects[name].doc, f"{name}'s doc should name the preset {preset}"


def test_extras_exist(standard_effects):
    assert EXTRAS <= set(standard_effects)


def test_every_standard_effect_has_rate_and_a_doc_line(standard_effects):
    channels = {"zoom", "angle", "x", "y", "turn", "tilt", "flip"}
    for name, effect in standard_effects.items():
        params = {p.name: p for p in effect.params}
        assert "rate" in params and params["rate"].default.value == 1.0, name
        assert effect.doc and effect.doc.splitlines()[0].endswith((".", ")", '")')), name
        assert effect.body and {a.name for a in effect.body} <= channels, name
        assert len({a.name for a in effect.body}) == len(effect.body), f"{name} sets a channel twice"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_parse(path):
    module = parse_file(path)
    assert module.items


def test_mini_film_uses_every_feature_the_issue_asks_for():
    module = parse_file(ROOT / "examples" / "mini_film.kscene")
    assert len(module.scenes) == 3 and module.imports and module.effects
    items = [i for s in module.scenes for i in s.items]
    assert any(isinstance(i, n.Continue) for i in items)
    assert any(isinstance(i, n.Transition) for i in items)
    assert any(isinstance(i, n.Prompt) and i.at is not None and i.blend is not None for i in items)
    assert any(isinstance(i, n.Assign) and isinstance(i.value, n.Keys) and any(k.easing for k in i.value.keys) for i in items)
    assert any(isinstance(i, n.EffectUse) and i.name in {"zoom_in", "spin_left"} for i in items)
    assert any(isinstance(i, n.EffectUse) and i.name == module.effects[0].name for i in items)
    shared = parse_file(ROOT / "examples" / module.imports[0].path)
    assert not shared.films and not shared.scenes and (shared.effects or shared.lets)


def pretty(node, indent: int = 0) -> str:
    """A readable dump of an AST, one node per line with its span."""
    pad = "  " * indent
    if isinstance(node, tuple):
        return "\n".join(pretty(c, indent) for c in node) if node else f"{pad}()"
    if not is_dataclass(node):
        return f"{pad}{node!r}"
    span = getattr(node, "span", None)
    where = f" @{span.line}:{span.col}-{span.end_line}:{span.end_col}" if isinstance(span, Span) else ""
    scalars, children = [], []
    for f in fields(node):
        if not f.compare:  # a module's warnings: not part of the tree
            continue
        value = getattr(node, f.name)
        if isinstance(value, Span):
            if f.name != "span":
                scalars.append(f"{f.name}=@{value.line}:{value.col}-{value.end_line}:{value.end_col}")
        elif is_dataclass(value) or (isinstance(value, tuple) and value and is_dataclass(value[0])):
            children.append((f.name, value))
        else:
            scalars.append(f"{f.name}={value!r}")
    lines = [f"{pad}{type(node).__name__}{where} " + " ".join(scalars)]
    for name, value in children:
        lines.append(f"{pad}  .{name}:")
        lines.append(pretty(value, indent + 2))
    return "\n".join(line.rstrip() for line in lines)


def test_mini_film_ast_golden(golden):
    path = ROOT / "examples" / "mini_film.kscene"
    module = parse_source(path.read_text(encoding="utf-8"), "mini_film.kscene")
    golden(ROOT / "tests" / "golden" / "syntax_mini_film.ast.txt", pretty(module) + "\n")


# ----------------------------------------------------------------------------- files as Windows editors save them

BOM = b"\xef\xbb\xbf"
ERRORS = ROOT / "tests" / "golden" / "errors"


def test_bom_fixtures_still_start_with_a_bom():
    """The goldens check_bom / syntax_bom test nothing if an editor drops their BOM."""
    for name in ("check_bom.kscene", "lib/bom_moves.kscene", "syntax_bom.kscene"):
        assert (ERRORS / name).read_bytes().startswith(BOM), name


def _bom_film(folder: Path) -> Path:
    """A film and an imported file, each with a byte-order mark and CRLF line ends."""
    (folder / "moves.kscene").write_bytes(BOM + b"let amount = 2\r\neffect sway { x: amount }\r\n")
    film = folder / "bom.kscene"
    film.write_bytes(
        BOM + b'film "BOM" { size: 64x64 }\r\nimport "moves.kscene"\r\n'
        b'scene a 1s {\r\n\tprompt "x"\r\n\teffect sway\r\n}\r\n'
    )
    return film


def test_a_leading_bom_is_skipped_by_every_reader(tmp_path):
    from kscript.compile import compile_file, compile_source
    from kscript.source import SourceFile
    from kscript.watch.pipeline import KscriptPipeline

    film = _bom_film(tmp_path)
    assert parse_file(film).films[0].span.col == 1
    assert compile_file(film).frames
    # Text handed over as a string, read as plain "utf-8" (the BOM kept).
    assert compile_source(film.read_text(encoding="utf-8"), str(film)).frames
    compiled = KscriptPipeline().compile(film)  # watch mode
    assert compiled.files == {film, tmp_path / "moves.kscene"}
    assert SourceFile.read(film).line_text(1) == 'film "BOM" { size: 64x64 }'


def test_columns_on_line_1_of_a_bom_file_do_not_count_the_bom(tmp_path):
    from kscript.compile import compile_source
    from kscript.errors import ScriptErrors

    text = "\ufefflet a = nope\nscene s 1s { prompt \"s\" }\n"
    with pytest.raises(ScriptErrors) as info:
        compile_source(text, str(tmp_path / "f.kscene"))
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("E010", 1, 9)
    assert "    1 | let a = nope\n      |         ^^^^" in info.value.render()
