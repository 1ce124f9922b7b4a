"""One run reports every broken item, each once, at its own place, without cascades.

The examples are broken in several places at once (a colon dropped from a setting, a
unit dropped from a duration); kscript must report exactly those places.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kscript.errors import ScriptErrors
from kscript.syntax import parse_source

ROOT = Path(__file__).resolve().parent.parent
FILMS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.kscene"))}
FILMS["issue_film.kscene"] = (ROOT / "tests" / "fixtures" / "issue_film.kscene").read_text(encoding="utf-8")

# `  zoom: ...` inside a block: dropping the colon breaks exactly that item.
_SETTING = re.compile(r"^([ \t]+)([A-Za-z_]\w*):", re.MULTILINE)


def errors_of(text: str) -> list[tuple[str, int, int]]:
    try:
        module = parse_source(text, "broken.kscene")
    except ScriptErrors as err:
        return [(d.code, d.span.line, d.span.col) for d in err.diagnostics]
    return [(d.code, d.span.line, d.span.col) for d in module.warnings]


def test_the_films_are_clean():
    for name, text in FILMS.items():
        assert errors_of(text) == [], name


@settings(max_examples=int(os.environ.get("KSCRIPT_FUZZ_EXAMPLES", "60")), deadline=None)
@given(st.sampled_from(sorted(FILMS)), st.data())
def test_each_dropped_colon_is_reported_once_at_its_place(name, data):
    text = FILMS[name]
    sites = list(_SETTING.finditer(text))
    chosen = data.draw(st.lists(st.sampled_from(range(len(sites))), min_size=1, max_size=6, unique=True))
    broken = text
    for i in sorted(chosen, reverse=True):  # from the end, so earlier offsets stay valid
        colon = sites[i].end() - 1
        broken = broken[:colon] + " " + broken[colon + 1 :]
    expected = sorted((text.count("\n", 0, sites[i].start()) + 1, len(sites[i].group(1)) + 1) for i in chosen)
    found = errors_of(broken)
    assert [(line, col) for _code, line, col in found] == expected
    # `negative "x"` without its colon is the old form of the setting: it reads, warned (W004).
    old_form = {text.count("\n", 0, sites[i].start()) + 1 for i in chosen if sites[i].group(2) == "negative"}
    assert all((code == "W004") == (line in old_form) for code, line, _col in found)
    assert all(code in ("E001", "E005", "W004") for code, _line, _col in found)


def test_unitless_durations_everywhere_are_each_reported():
    text = FILMS["mini_film.kscene"]
    # 4s -> 4, 2s -> 2, ... everywhere (scene lengths, keys, at, blend, from/to), noting
    # where each bare number lands in the broken text.
    pieces, places, last = [], [], 0
    for m in re.finditer(r"\b(\d+)s\b", text):
        pieces.append(text[last : m.start()])
        start = sum(len(p) for p in pieces)
        pieces.append(m.group(1))
        places.append(start)
        last = m.end()
    broken = "".join(pieces) + text[last:]
    lines = broken.splitlines()
    expected = set()
    for pos in places:
        line = broken.count("\n", 0, pos) + 1
        col = pos - broken.rfind("\n", 0, pos)
        # Inside expressions (`t / 3s`) a plain number is fine; everywhere else it is E004.
        if not re.search(r"[/*+-] *$", lines[line - 1][: col - 1]):
            expected.add((line, col))
    found = errors_of(broken)
    assert {code for code, _l, _c in found} == {"E004"}
    assert sorted((line, col) for _code, line, col in found) == sorted(expected)


def test_errors_carry_the_items_that_did_parse():
    text = 'import "moves.kscene"\nlet a = 1\nscene one 4 {\n  prompt "x"\n}\nscene two 2s {\n  prompt "y"\n  zoom 2\n}\nlet b = 2\n'
    try:
        parse_source(text, "partial.kscene")
    except ScriptErrors as err:
        partial = err.partial
    else:  # pragma: no cover
        raise AssertionError("expected syntax errors")
    # Scene `one` keeps its (reported) bare-number length; `two` loses its broken item.
    assert [type(i).__name__ for i in partial.items] == ["Import", "Let", "Scene", "Scene", "Let"]
    assert [len(s.items) for s in partial.scenes] == [1, 1]
    assert partial.imports[0].path == "moves.kscene"
    assert [i.name for i in partial.lets] == ["a", "b"]
