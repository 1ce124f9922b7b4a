"""Fuzzing the whole chain: parse, check, compile, and render with the preview painter.

Any film text gives a plan or `ScriptErrors`; any plan that compiles renders (64x64, a few
frames) to uint8 frames of the film's size; any plan JSON, however mangled, loads or is a
`UsageError`. Nothing else may escape: no traceback, no hang, no NaN frame. The films are
made of the language's own pieces (settings, channels, curves, effects, transitions) with
hostile numbers mixed in (0, 1e300, -1e-9, huge pans), then mutated by tokens; the plans
are compiled plans with fields replaced by hostile values.

Quick by default (a few seconds, fixed seed: the same examples on every run). A long hunt:

    KSCRIPT_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider

(random examples each run; a failure prints the film or plan that caused it, and
hypothesis shrinks it first). docs/hardening.md says more.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kscript.backends.preview import PreviewBackend
from kscript.compile import compile_source
from kscript.diagnostics import render_all
from kscript.errors import ScriptErrors, UsageError
from kscript.render.executor import Executor

EXAMPLES = int(os.environ.get("KSCRIPT_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=EXAMPLES or 25,
    derandomize=not EXAMPLES,  # the suite's run is the same every time; a hunt explores
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
#: seconds one example may take (compile and render of at most MAX_RENDER frames)
BUDGET_S = 20.0
MAX_RENDER = 6

SANE = st.sampled_from(["0", "1", "0.5", "0.3", "1.05", "2", "10", "-3", "0.9", "4"])
NUMBERS = st.one_of(
    SANE, SANE, SANE, SANE, SANE, SANE, SANE, SANE, SANE, SANE,
    st.sampled_from(["0.000001", "1e300", "-1e300", "1e9", "1e15", "1e-9", "360", "179.999", "-100", "4096",
                     "1e308", "5e-324"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: repr(float(v))),
    st.integers(-10**6, 10**6).map(str),
)
CHANNELS = ["zoom", "angle", "x", "y", "turn", "tilt", "fov", "strength", "guidance", "steps", "noise", "seed",
            "cadence"]
EASINGS = ["linear", "ease_in", "ease_out", "ease_in_out", "step"]
DURATIONS = st.sampled_from(["1f", "2f", "3f", "0f", "1s", "0.25s", "500ms", "0s", "100s"])


@st.composite
def expressions(draw, depth: int = 0) -> str:
    leaf = st.one_of(NUMBERS, st.sampled_from(["t", "f", "T", "pi", "n", "u", "k"]))
    if depth > 2:
        return draw(leaf)
    kind = draw(st.sampled_from([0, 1, 2, 5]))
    if kind == 0:
        return draw(leaf)
    if kind == 1:
        op = draw(st.sampled_from(["+", "-", "*", "/", "^"]))
        return f"{draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))}"
    if kind == 2:
        fn = draw(st.sampled_from(["sin", "cos", "abs", "sqrt", "log", "exp", "min", "max", "clamp", "lerp",
                                   "wave", "noise", "nope"]))
        args = ", ".join(draw(expressions(depth + 1)) for _ in range(draw(st.integers(0, 3))))
        return f"{fn}({args})"
    return f"(if t > {draw(NUMBERS)} then {draw(expressions(depth + 1))} else {draw(expressions(depth + 1))})"


@st.composite
def curves(draw) -> str:
    """A channel's value: an expression, a ramp or keyframes."""
    kind = draw(st.integers(0, 2))
    if kind == 1:
        return f"{draw(NUMBERS)} -> {draw(NUMBERS)} {draw(st.sampled_from(EASINGS))}"
    if kind == 2:
        keys = ", ".join(f"{draw(DURATIONS)}: {draw(NUMBERS)}" for _ in range(draw(st.integers(1, 3))))
        return f"keys {{ {keys} }}"
    return draw(expressions())


@st.composite
def films(draw) -> str:
    head = ['size: 64x64', f"fps: {draw(st.sampled_from(['4', '8', '4', '8', '12', '0', '1e-9', '1000']))}"]
    for _ in range(draw(st.integers(0, 3))):
        head.append(f"{draw(st.sampled_from(CHANNELS + ['seed', 'coherence', 'negative']))}: {draw(curves())}")
    lines = ["film \"fuzz\" { " + "\n  ".join(head) + " }"]
    if draw(st.booleans()):
        lines.append(f"let k = {draw(expressions())}")
    if draw(st.booleans()):
        lines.append(f"effect wob(a = {draw(NUMBERS)}) {{ {draw(st.sampled_from(CHANNELS))}: a * {draw(expressions())} }}")
    for i in range(draw(st.integers(1, 3))):
        body = [f'prompt "{draw(st.sampled_from(["a red cube", "", "x" * 50, "ünïcødé"]))}"']
        for _ in range(draw(st.integers(0, 3))):
            body.append(f"{draw(st.sampled_from(CHANNELS))}: {draw(curves())}")
        if draw(st.booleans()):
            body.append(draw(st.sampled_from(["effect wob", "effect zoom_in", "effect wob(a = 1e300)",
                                              "effect drift(speed = 2) from 0s to 1f", "continue",
                                              "transition crossfade 1f", "transition crossfade 0f",
                                              'prompt "later" at 1f blend 1f', "coherence: lab", "noise: 0.1"])))
        lines.append(f"scene s{i} {draw(st.sampled_from(['1f', '2f', '3f', '4f', '0.5s', '0f']))} {{\n  "
                     + "\n  ".join(body) + "\n}")
    text = "\n".join(lines) + "\n"
    # Mutations by tokens: what a person mid-edit or a broken generator produces.
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        pos = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(["", "{", "}", "(", ")", '"', "\n", ":", "->", "scene", "import \"x.kscene\"",
                                      "\0", "\ufeff", "1e999", "#"]))
        cut = draw(st.integers(0, 3))
        text = text[:pos] + piece + text[pos + cut:]
    return text


def render(plan) -> None:
    """Render a small plan with the preview painter; every frame is a uint8 image of the size."""
    if len(plan.frames) > MAX_RENDER or plan.film.width * plan.film.height > 128 * 128:
        return
    got: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend()).run(lambda i, img: got.__setitem__(i, img))
    assert sorted(got) == list(range(len(plan.frames)))
    for img in got.values():
        assert img.shape == (plan.film.height, plan.film.width, 3) and img.dtype == np.uint8


@SETTINGS
@given(films())
def test_any_film_compiles_and_renders_or_reports(text):
    t = time.perf_counter()
    try:
        plan = compile_source(text, "fuzz.kscene")
    except ScriptErrors as err:
        assert err.diagnostics
        render_all(err.diagnostics, err.sources)
        return
    finally:
        assert time.perf_counter() - t < BUDGET_S
    render(plan)
    assert time.perf_counter() - t < BUDGET_S


BASE_FILM = """film "fuzz" { size: 64x64 fps: 4 seed: 1 }
scene a 2f { prompt "red" zoom: 1.2 }
scene b 2f { prompt "blue" transition crossfade 1f coherence: rgb }
"""
HOSTILE = st.one_of(
    st.sampled_from([0, -1, 1, 10**9, -(10**9), 2**63, 1e-9, 1e300, -1e300, 0.5, "", "x", None, [], {}, True,
                     "NaN", "Infinity", [0], [5], [-1], 64, 65, 4096, 100000]),
    st.floats(),
    st.integers(),
)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


_BASE_PLAN = json.loads(compile_source(BASE_FILM, "fuzz.kscene").to_json())
_PATHS = list(_paths(_BASE_PLAN))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(_PATHS), HOSTILE), min_size=1, max_size=3))
def test_any_mangled_plan_loads_and_renders_or_is_a_usage_error(tmp_path_factory, edits):
    from kscript.compile.plan_file import load_plan

    data = json.loads(json.dumps(_BASE_PLAN))
    for path, value in edits:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the container
    text = json.dumps(data, allow_nan=True)  # NaN and Infinity as Python's json writes them
    p = tmp_path_factory.mktemp("plan") / "plan.json"
    p.write_text(text)
    t = time.perf_counter()
    try:
        plan, _ = load_plan(p)
    except UsageError as err:
        assert err.message
        return
    render(plan)
    assert time.perf_counter() - t < BUDGET_S
    assert all(math.isfinite(fr.strength) for fr in plan.frames)
