"""The plan of every example film, as a table a reviewer reads (tests/golden/plans/<name>.txt).

A change to the language, the compiler or an example shows up here as a diff to review:
one line per frame, so a diff says which frames of which scene changed and in what. Run

    .venv/bin/python -m pytest tests/test_compile_golden.py --update-goldens

to rewrite the tables from the current compiler, then review the diff (`git diff
tests/golden/plans`) before committing it.

The layout of a table:

- a `film` line: every field of the plan's `FilmInfo`, `name=value`;
- per scene a compact header (its fields, `SceneInfo`, on one line) and its prompts as
  written, numbered `p1`, `p2`, ...;
- per frame one row: index, scene, frame in the scene, op, motion (only the channels
  not at rest, i.e. not at `Motion()`'s value), strength, guidance, steps, seed, the
  prompts with their weights (`p1` alone, or `p1*0.75 + p2*0.25` in a blend), then only
  where set: inpaint, crossfade (`from FRAME w WEIGHT`), noise, coherence (and the frame
  whose colours it matches), a negative that is not the scene's, inputs other than the
  frame before (none for `generate`).

Content keys are not in the table: tests/test_compile_keys.py holds them to their rules,
and a key on every row would turn any key change into a diff of every line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kscript.compile import compile_file
from kscript.plan import Frame, Motion, RenderPlan, SceneInfo

ROOT = Path(__file__).resolve().parent.parent
# Films only: a file without scenes (shared_moves.kscene) is there to be imported.
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.kscene") if re.search(r"^\s*scene\s", p.read_text(encoding="utf-8"), re.M)
)
PLANS = Path(__file__).parent / "golden" / "plans"

# Every field of a frame is in its row, or left out here with the reason.
ROW_FIELDS = {
    "index", "scene", "scene_frame", "op", "motion", "strength", "guidance", "steps", "seed", "prompts",
    "inpaint", "reveal", "crossfade", "noise", "coherence", "coherence_ref", "negative", "inputs", "image", "depth",
}
LEFT_OUT = {
    "key": "held by tests/test_compile_keys.py",
    "time": "index / fps, the film line has fps",
}
_REST = Motion()


def num(value: float) -> str:
    """A number as short as it reads exactly (the plan rounds to 6 decimals): 4, 0.45, 1.000063."""
    return format(value, ".12g")


def show(value) -> str:
    """A header value: strings in JSON quotes, nested models as their compact JSON."""
    if isinstance(value, float):
        return num(value)
    if isinstance(value, (str, type(None), bool)) or not hasattr(value, "model_dump"):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def scene_value(scene: SceneInfo, name: str) -> str:
    """A scene header value; the transition and the source in the words of a film."""
    if name == "transition":
        t = scene.transition
        return t.kind + (f" {t.frames}f" if t.kind != "cut" or t.frames else "")
    if name == "source":
        return f"{scene.source.file}:{scene.source.line}:{scene.source.col}"
    return show(getattr(scene, name))


def motion_cell(motion: Motion) -> str:
    moving = [f"{name}={num(getattr(motion, name))}" for name in type(motion).model_fields
              if getattr(motion, name) != getattr(_REST, name)]
    return " ".join(moving) or "rest"


def prompts_cell(frame: Frame, labels: dict[str, str]) -> str:
    cells = []
    for p in frame.prompts:
        label = labels.get(p.text, json.dumps(p.text, ensure_ascii=False))
        cells.append(label if p.weight == 1 and len(frame.prompts) == 1 else f"{label}*{num(p.weight)}")
    return " + ".join(cells) or "(none)"


def extras(frame: Frame, scene: SceneInfo) -> list[str]:
    out = []
    if frame.depth:
        out.append("depth warp")
    if frame.inpaint:
        out.append(f"inpaint {frame.reveal} warps")
    if frame.crossfade is not None:
        out.append(f"crossfade from {frame.crossfade.from_frame} w {num(frame.crossfade.weight)}")
    if frame.noise:
        out.append(f"noise {num(frame.noise)}")
    if frame.coherence != "none" or frame.coherence_ref is not None:
        out.append(f"coherence {frame.coherence}" + (f" to {frame.coherence_ref}" if frame.coherence_ref is not None else ""))
    if frame.negative != scene.negative:
        out.append(f"negative {json.dumps(frame.negative, ensure_ascii=False)}")
    if frame.image is not None:
        out.append(f"image {frame.image.path} sha256 {frame.image.sha256[:12]}")
    usual = [] if frame.op == "generate" else [frame.index - 1]
    if frame.inputs != usual:
        out.append(f"inputs {frame.inputs}")
    return out


def plan_table(plan: RenderPlan, source: str) -> str:
    """The plan as the golden table described in this module's docstring."""
    lines = [
        f"# The plan of {source}, one row per frame: tests/test_compile_golden.py says how to read it.",
        f"version={plan.version}",
        # (the film's depth model only where it has one: the goldens of films without depth
        # stay those written before the 3D camera)
        "film " + "  ".join(f"{name}={show(getattr(plan.film, name))}" for name in type(plan.film).model_fields
                            if name != "depth" or plan.film.depth is not None),
    ]
    scenes = {s.name: s for s in plan.scenes}
    labels_of: dict[str, dict[str, str]] = {}
    for scene in plan.scenes:
        header = "  ".join(f"{name}={scene_value(scene, name)}" for name in type(scene).model_fields
                           if name not in ("name", "prompts"))
        lines += ["", f"scene {scene.name}  {header}"]
        labels: dict[str, str] = {}
        for i, p in enumerate(scene.prompts, 1):
            labels.setdefault(p.text, f"p{i}")
            blend = f" blend {num(p.blend)}s" if p.blend else ""
            lines.append(f"  p{i} at {num(p.start)}s{blend}: {json.dumps(p.text, ensure_ascii=False)}")
        labels_of[scene.name] = labels
    lines += ["", "# frame scene f op | motion | strength guidance steps seed | prompts | when set: inpaint, crossfade, ..."]
    for fr in plan.frames:
        scene = scenes[fr.scene]
        row = (
            f"{fr.index:>5} {fr.scene} {fr.scene_frame:>3} {fr.op:<8} | {motion_cell(fr.motion)} | "
            f"s {num(fr.strength)}  g {num(fr.guidance)}  steps {fr.steps}  seed {fr.seed} | "
            f"{prompts_cell(fr, labels_of[fr.scene])}"
        )
        more = extras(fr, scene)
        lines.append(row + (" | " + ", ".join(more) if more else ""))
    return "\n".join(lines) + "\n"


def test_every_frame_field_is_in_the_row_or_left_out_for_a_reason():
    """A new plan field must be shown in the goldens or say why not."""
    assert set(Frame.model_fields) == ROW_FIELDS | set(LEFT_OUT)
    assert not ROW_FIELDS & set(LEFT_OUT)


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.kscene yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_plan(path, golden, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the plan (scene sources) are relative to the repository
    rel = path.relative_to(ROOT).as_posix()
    golden(PLANS / f"{path.stem}.txt", plan_table(compile_file(rel), rel))


def test_the_table_shows_what_a_frame_says():
    """One row read back by hand: a blended, cross-faded, inpainted frame."""
    from kscript.compile import compile_source

    plan = compile_source(
        'film "t" {\n  size: 64x64\n  fps: 4\n  seed: 7\n}\n'
        'scene a 1s {\n  prompt "one"\n}\n'
        'scene b 2s {\n  prompt "two"\n  prompt "three" at 1s blend 500ms\n  x: 60\n  transition crossfade 2f\n}\n'
    )
    table = plan_table(plan, "t.kscene")
    assert '  p2 at 1s blend 0.5s: "three"' in table
    row = next(line for line in table.splitlines() if line.startswith("    5 b   1 "))
    frame = plan.frames[5]
    assert row == (
        f"    5 b   1 animate  | {motion_cell(frame.motion)} | s {num(frame.strength)}  g {num(frame.guidance)}  "
        f"steps {frame.steps}  seed 8 | p1 | inpaint 1 warps, crossfade from 3 w {num(frame.crossfade.weight)}"
    )
    assert "x=" in row and "zoom" not in row  # only the channels that move
    blended = next(line for line in table.splitlines() if line.startswith("    9 b   5 "))
    assert "| p1*0.5 + p2*0.5" in blended


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.kscene yet")
@pytest.mark.parametrize("path", EXAMPLES[:1], ids=[p.stem for p in EXAMPLES[:1]])
def test_compiling_twice_gives_identical_json(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = path.relative_to(ROOT).as_posix()
    assert compile_file(rel).to_json() == compile_file(rel).to_json()
