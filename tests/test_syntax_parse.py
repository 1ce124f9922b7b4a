"""The surface language parses into the AST the issue describes, with exact spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from kscript.errors import ScriptErrors, UsageError
from kscript.source import Span
from kscript.syntax import nodes as n
from kscript.syntax import parse_file, parse_source

ROOT = Path(__file__).resolve().parent.parent
ISSUE_FILM = ROOT / "tests" / "fixtures" / "issue_film.kscene"


@pytest.fixture(scope="module")
def film() -> n.Module:
    return parse_file(ISSUE_FILM)


def test_issue_film_top_level_items_in_order(film):
    kinds = [type(i).__name__ for i in film.items]
    assert kinds == ["FilmBlock", "Import", "Let", "EffectDef", "Scene", "Scene", "Scene"]
    assert [s.name for s in film.scenes] == ["park", "street", "sea"]


def test_film_settings_keep_their_kinds(film):
    block = film.films[0]
    assert block.title == "Autumn in the city"
    settings = {a.name: a.value for a in block.settings}
    assert list(settings) == ["size", "fps", "seed", "model", "steps", "guidance", "strength", "negative"]
    assert settings["size"] == n.SizeLit(640, 640, settings["size"].span)
    assert isinstance(settings["model"], n.StringLit) and settings["model"].value == "preview"
    assert settings["strength"].value == 0.35
    assert settings["negative"].value == "low quality, text, watermark"


def test_import_let_and_effect_definition(film):
    assert film.imports[0].path == "shared_moves.kscene"
    wobble = film.lets[0]
    assert wobble.name == "wobble"
    assert isinstance(wobble.value, n.Binary) and wobble.value.op == "*"
    call = wobble.value.right
    assert isinstance(call, n.Call) and call.func == "sin"
    # 2 * pi * t / 3s groups to the left; the duration keeps its unit.
    div = call.args[0]
    assert div.op == "/" and div.right == n.Duration(3.0, "s", div.right.span)
    drift = film.effects[0]
    assert drift.name == "drift"
    assert [(p.name, p.default.value) for p in drift.params] == [("speed", 1.5), ("sway", 0.0)]
    assert [a.name for a in drift.body] == ["x", "angle"]


def test_scene_items(film):
    park, street, sea = film.scenes
    assert park.duration.value == 4.0 and park.duration.unit == "s"
    prompt, effect, strength = park.items
    assert isinstance(prompt, n.Prompt) and prompt.at is None and prompt.blend is None
    assert isinstance(effect, n.EffectUse) and effect.name == "zoom_in" and effect.args == ()
    assert isinstance(strength.value, n.Ramp)
    assert strength.value.easing.name == "ease_in_out"

    kinds = [type(i).__name__ for i in street.items]
    assert kinds == ["Prompt", "Prompt", "Assign", "Assign", "EffectUse", "Transition"]
    assert (street.items[2].name, street.items[2].value.value) == ("negative", "people")
    timed = street.items[1]
    assert (timed.at.value, timed.at.unit, timed.blend.value) == (2.0, "s", 1.0)
    keys = street.items[3].value
    assert isinstance(keys, n.Keys)
    assert [(k.time.value, k.value.value, k.easing and k.easing.name) for k in keys.keys] == [
        (0.0, 1.0, None),
        (2.0, 1.03, "ease_out"),
        (4.0, 1.0, None),
    ]
    assert street.items[4].args == (n.Arg("speed", street.items[4].args[0].value, street.items[4].args[0].span),)
    transition = street.items[5]
    assert transition.kind == "crossfade" and transition.duration.unit == "f" and transition.duration.value == 12

    assert sea.duration.unit == "f" and sea.duration.value == 96
    assert isinstance(sea.items[0], n.Continue)
    spin = sea.items[2]
    assert spin.name == "spin_left" and spin.window_from.value == 1 and spin.window_to.value == 3


def test_spans_point_at_the_source(film):
    path = str(ISSUE_FILM)
    park = film.scenes[0]
    assert park.span == Span(path, 22, 1, 26, 2)
    assert park.name_span == Span(path, 22, 7, 22, 11)
    effect = park.items[1]
    assert effect.name_span == Span(path, 24, 10, 24, 17)
    strength = park.items[2]
    assert strength.name_span == Span(path, 25, 3, 25, 11)
    assert strength.value.span == Span(path, 25, 13, 25, 36)
    wobble = film.lets[0]
    assert wobble.name_span == Span(path, 15, 5, 15, 11)
    assert wobble.value.right.func_span == Span(path, 15, 20, 15, 23)


def expr(text: str) -> n.Expr:
    return parse_source(f"let v = {text}", "e.kscene").lets[0].value


def show(e) -> str:
    """A compact prefix form of an expression, to state precedence plainly."""
    if isinstance(e, n.Number):
        return f"{e.value:g}"
    if isinstance(e, n.Duration):
        return f"{e.value:g}{e.unit}"
    if isinstance(e, n.Name):
        return e.name
    if isinstance(e, n.Unary):
        return f"({e.op} {show(e.operand)})"
    if isinstance(e, n.Binary):
        return f"({e.op} {show(e.left)} {show(e.right)})"
    if isinstance(e, n.IfExpr):
        return f"(if {show(e.cond)} {show(e.then)} {show(e.otherwise)})"
    if isinstance(e, n.Call):
        return f"{e.func}(" + ", ".join(show(a) for a in e.args) + ")"
    if isinstance(e, n.Ramp):
        ease = f" {e.easing.name}" if e.easing else ""
        return f"(-> {show(e.start)} {show(e.end)}{ease})"
    raise AssertionError(e)


@pytest.mark.parametrize(
    "text, tree",
    [
        ("-2^2", "(- (^ 2 2))"),
        ("2^3^2", "(^ 2 (^ 3 2))"),
        ("2^-1", "(^ 2 (- 1))"),
        ("1 + 2 * 3 % 4", "(+ 1 (% (* 2 3) 4))"),
        ("1 - 2 - 3", "(- (- 1 2) 3)"),
        ("a < b and not c or d", "(or (and (< a b) (not c)) d)"),
        ("not a == b", "(not (== a b))"),
        ("if t < 2s then 1 else 2 + 3", "(if (< t 2s) 1 (+ 2 3))"),
        ("clamp(sin(t), -1, 1,)", "clamp(sin(t), (- 1), 1)"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        (".5 + 1e-3 + 2E+2", "(+ (+ 0.5 0.001) 200)"),
        ("500ms + 1.5s + 96f", "(+ (+ 500ms 1.5s) 96f)"),
        ("0 -> 1 ease_in_out", "(-> 0 1 ease_in_out)"),
        ("-1 -> t * 2", "(-> (- 1) (* t 2))"),
        ("+t", "(+ t)"),
    ],
)
def test_expression_precedence(text, tree):
    assert show(expr(text)) == tree


def test_bezier_easing_and_keys_layout():
    source = """
    let k = keys {
      0s: 1
      1s: 2 bezier(0.4, 0, 0.2, 1)
      2s: 3 step,
    }
    """
    keys = parse_source(source, "k.kscene").lets[0].value
    assert isinstance(keys, n.Keys) and len(keys.keys) == 3
    bez = keys.keys[1].easing
    assert bez.name == "bezier" and [a.value for a in bez.args] == [0.4, 0.0, 0.2, 1.0]
    assert keys.keys[2].easing.name == "step"


def test_effect_without_params_and_positional_args():
    module = parse_source(
        "effect still { zoom: 1 }\nscene a 1s { prompt \"x\" effect drift(2, sway = 1) effect still }",
        "p.kscene",
    )
    assert module.effects[0].params == ()
    use = module.scenes[0].items[1]
    assert [(a.name, a.value.value) for a in use.args] == [(None, 2.0), ("sway", 1.0)]


def test_commas_optional_and_keywords_as_setting_names():
    module = parse_source('film "f" { size: 512x768, fps: 12, negative: "x", }', "c.kscene")
    settings = module.films[0].settings
    assert [s.name for s in settings] == ["size", "fps", "negative"]
    assert settings[0].value.width == 512 and settings[0].value.height == 768


def test_string_escapes():
    module = parse_source(r'scene a 1s { prompt "say \"hi\" \\ back\slash" }', "s.kscene")
    assert module.scenes[0].items[0].text == 'say "hi" \\ back\\slash'


def test_doc_comments_above_effects():
    module = parse_source("# Moves right.\n#  Gently.\neffect a { x: 1 }\n\n# not attached\n\neffect b { x: 1 }", "d.kscene")
    assert module.effects[0].doc == "Moves right.\nGently."
    assert module.effects[1].doc is None


def test_empty_file_is_an_empty_module():
    module = parse_source("# nothing here\n", "empty.kscene")
    assert module.items == ()


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError) as info:
        parse_file(tmp_path / "nope.kscene")
    assert "no such file" in info.value.message


def test_syntax_errors_carry_their_source():
    with pytest.raises(ScriptErrors) as info:
        parse_source("scene park 4 {\n prompt \"x\"\n}\n", "park.kscene")
    err = info.value
    assert [d.code for d in err.diagnostics] == ["E004"]
    assert err.diagnostics[0].span == Span("park.kscene", 1, 12, 1, 13)
    assert "park.kscene" in err.sources


def test_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "bom.kscene"
    path.write_bytes(b'\xef\xbb\xbfscene a 1s {\r\n  prompt "x"\r\n}\r\n')
    scene = parse_file(path).scenes[0]
    assert scene.span == Span(str(path), 1, 1, 3, 2)
    assert scene.items[0].text == "x"


def test_keywords_are_whole_words_only():
    module = parse_source(
        'let letter = 1\neffect effects { x: letter }\nscene scenery 1s { prompt "x" effect effects continued: 2 }',
        "k.kscene",
    )
    assert [getattr(i, "name") for i in module.items] == ["letter", "effects", "scenery"]
    assert module.scenes[0].items[2].name == "continued"


def test_spans_cover_parentheses():
    let = parse_source("let v = 10 ^ (400 * u) + (1)", "p.kscene").lets[0]
    total = let.value
    assert total.span == Span("p.kscene", 1, 9, 1, 29)  # to the last ")"
    power = total.left
    assert power.span == Span("p.kscene", 1, 9, 1, 23)  # `10 ^ (400 * u)`, its ')' included
    assert power.right.span == Span("p.kscene", 1, 15, 1, 22)  # the inner `400 * u` itself
