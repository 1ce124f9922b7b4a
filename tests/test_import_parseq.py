"""`kscript import parseq`: a round trip — the manifest's per-frame values are the plan's.

Deforum reads a manifest's `rendered_frames` per field (parseq_adapter.py), motion from
the `*_delta` fields by default; the plan keeps per-frame values, so the manifest's
numbers compare directly with the plan's (kept-strength as 1 - strength, x with the
opposite sign of translation_x, see docs/import.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kscript.cli import main
from kscript.compile import compile_source
from kscript.importers.parseq import convert_parseq

FIXTURES = Path(__file__).parent / "fixtures" / "parseq"


def roundtrip(path: Path, **kw):
    text, warnings = convert_parseq(path, **kw)
    plan = compile_source(text, str(path.with_suffix(".kscene")))
    return text, warnings, plan


def close(got, want, what, tol=2e-6):
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if abs(g - w) > tol * (1 + abs(w))]
    assert len(got) == len(want) and not bad, f"{what}: {bad[:5]}"


def manifest(frames: int = 30, fps: int = 10) -> dict:
    rows = []
    prev = {}
    for f in range(frames):
        row = {
            "frame": f,
            "zoom": 1 + 0.002 * f + (0.01 * math.sin(f / 3) if f > 12 else 0),
            "translation_x": 2.0 * f,  # an absolute position: its delta is 2 px per frame
            "translation_y": -1.5 if f < 10 else 0.5 * f,
            "strength": 0.65 if f < 15 else 0.5,
            "scale": 7 + (f % 5),
            "seed": 100 + f,
            "deforum_prompt": ("a city --neg fog" if f < 20 else "a city at night --neg rain"),
        }
        for k in ("zoom", "translation_x", "translation_y"):
            if f == 0:
                row[k + "_delta"] = row[k]
            elif k == "zoom":
                row[k + "_delta"] = 1 + (row[k] - prev[k])  # parseq-renderer.ts
            else:
                row[k + "_delta"] = row[k] - prev[k]
        prev = row
        rows.append(row)
    return {"options": {"output_fps": fps, "cadence": 1, "bpm": 120}, "rendered_frames": rows}


def test_synthetic_manifest_round_trips_per_frame(tmp_path):
    """Motion NEEDS the per-second units on main (the film writes rates per second)."""
    src = tmp_path / "m.json"
    data = manifest()
    src.write_text(json.dumps(data))
    text, warnings, plan = roundtrip(src, size="640x384")
    rows = data["rendered_frames"]
    assert plan.film.frame_count == 30 and plan.film.fps == 10
    close([f.strength for f in plan.frames], [1 - r["strength"] for r in rows], "strength")
    close([f.guidance for f in plan.frames], [r["scale"] for r in rows], "guidance")
    assert [f.seed for f in plan.frames] == [r["seed"] for r in rows]
    for fr, r in zip(plan.frames, rows):
        pos, neg = r["deforum_prompt"].split("--neg")
        assert (fr.prompts[0].text, fr.negative) == (pos.strip(), neg.strip())
    assert len(plan.scenes) == 2  # the negative changes at frame 20
    close([f.motion.zoom for f in plan.frames], [r["zoom_delta"] for r in rows], "zoom")
    close([f.motion.x for f in plan.frames], [-r["translation_x_delta"] for r in rows], "x")
    close([f.motion.y for f in plan.frames], [r["translation_y_delta"] for r in rows], "y")


def test_straight_stretches_become_few_keys(tmp_path):
    src = tmp_path / "m.json"
    src.write_text(json.dumps(manifest()))
    text, _, _ = roundtrip(src, size="640x384")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("strength:"))
    assert line.count(":") <= 4  # 0.35 until frame 14, then 0.5: three keys at most


def test_deforums_own_parseq_test_manifest(tmp_path):
    src = FIXTURES / "deforum_testdata_parseq.json"
    data = json.loads(src.read_text())
    text, warnings, plan = roundtrip(src)
    rows = data["rendered_frames"]
    assert plan.film.frame_count == len(rows) and plan.film.fps == 60
    assert [f.op for f in plan.frames[:3]] == ["generate", "warp", "animate"]  # cadence 2
    assert [f.seed for f in plan.frames] == [int(r["seed"]) for r in rows]
    assert all(f.prompts[0].text == "Parseq prompt!" and f.negative == "neg parseq prompt!" for f in plan.frames)
    assert any("512x512" in w for w in warnings)


def test_deforums_own_parseq_test_manifest_angle(tmp_path):
    """NEEDS the per-second units on main."""
    src = FIXTURES / "deforum_testdata_parseq.json"
    rows = json.loads(src.read_text())["rendered_frames"]
    _, _, plan = roundtrip(src)
    close([f.motion.angle for f in plan.frames], [r["angle_delta"] for r in rows], "angle")


def test_weighted_prompts_switch_to_the_heaviest(tmp_path):
    data = manifest(6)
    for f, r in enumerate(data["rendered_frames"]):
        w = f / 5
        r["deforum_prompt"] = f"a city: {1 - w} AND a forest: {w} --neg fog: {1 - w} AND fog: {w}"
    src = tmp_path / "m.json"
    src.write_text(json.dumps(data))
    _, warnings, plan = roundtrip(src, size="512x512")
    assert [f.prompts[0].text for f in plan.frames] == ["a city"] * 3 + ["a forest"] * 3
    assert any("heaviest" in w for w in warnings)


@pytest.mark.parametrize("content", ['{"frames": []}', "[1, 2]", '{"rendered_frames": [1]}'])
def test_not_a_manifest_is_exit_1(tmp_path, capsys, content):
    src = tmp_path / "m.json"
    src.write_text(content)
    assert main(["import", "parseq", str(src)]) == 1
    assert "is not a Parseq manifest" in capsys.readouterr().err


def test_cli_parseq(tmp_path, capsys):
    src = tmp_path / "m.json"
    src.write_text(json.dumps(manifest()))
    assert main(["import", "parseq", str(src), "--size", "640x384"]) == 0
    assert main(["check", str(tmp_path / "m.kscene")]) == 0


def test_a_steady_cross_fade_becomes_a_blend(tmp_path):
    """Frames 10..19 fade from 'a city' to 'a forest' with the forest's weight (f - 9) / 11:
    kscript's `prompt "a forest" at 9f blend 11f`, the same weights on every frame."""
    data = manifest(30)
    for f, r in enumerate(data["rendered_frames"]):
        if f <= 9:
            r["deforum_prompt"] = "a city --neg fog"
        elif f < 20:
            w = (f - 9) / 11
            r["deforum_prompt"] = f"a city: {1 - w:.5f} AND a forest: {w:.5f} --neg fog"
        else:
            r["deforum_prompt"] = "a forest --neg fog"
    src = tmp_path / "m.json"
    src.write_text(json.dumps(data))
    text, warnings, plan = roundtrip(src, size="512x512")
    assert "blend" in text and not any("heaviest" in w for w in warnings)
    for fr in plan.frames:
        got = {p.text: p.weight for p in fr.prompts}
        w = min(max((fr.index - 9) / 11, 0), 1)
        want = {k: v for k, v in (("a city", 1 - w), ("a forest", w)) if v > 0}
        assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-4 for k in want), fr.index


def test_3d_translations_move_through_depth_as_the_deforum_importer_converts_them(tmp_path):
    """translation_*_delta in a 3D manifest -> x, y, z with a depth model, by the same factors
    as `kscript import deforum` (kscript.importers.film.depth_move_scales)."""
    from kscript.importers.film import DEFAULT_DEPTH_MODEL, depth_move_scales

    data = manifest(frames=12)
    for row in data["rendered_frames"]:
        row.update({"translation_z": 1.5 * row["frame"], "translation_z_delta": 1.5 if row["frame"] else 0.0,
                    "fov": 50.0})
    src = tmp_path / "m.json"
    src.write_text(json.dumps(data))
    text, warnings, plan = roundtrip(src, size="640x384")
    assert plan.film.depth == DEFAULT_DEPTH_MODEL
    scales = depth_move_scales(10, 50.0)
    rows = data["rendered_frames"]
    fps = plan.film.fps
    # the plan's z is a fraction of the scene's distance per frame: z% / 100 / fps
    close([f.motion.z for f in plan.frames[1:]], [scales["translation_z"][1] * r["translation_z_delta"] / 100 / fps
                                                  for r in rows[1:]], "z", tol=1e-5)
    close([f.motion.x for f in plan.frames[1:]], [scales["translation_x"][1] * r["translation_x_delta"] / 100 * 640 / fps
                                                  for r in rows[1:]], "x", tol=1e-5)
    assert all(fr.depth for fr in plan.frames[1:])
    assert any(w.startswith("translation_z: a camera move through depth") for w in warnings)
