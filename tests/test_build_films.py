"""End to end with the compiler: .kscene films built with the preview backend, through
`kscript build` as users run it (the other test_build_*/test_render_* files use hand-made
plans from tests/plan_factory.py)."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest

from kscript.cli import main
from kscript.render.executor import dependencies

ROOT = Path(__file__).resolve().parent.parent

compile_mod = pytest.importorskip("kscript.compile")
if not hasattr(compile_mod, "compile_file"):
    pytest.skip("the compiler (kscript.compile.compile_file) is not on this branch yet", allow_module_level=True)
compile_file = compile_mod.compile_file

FILM = """\
film "Render test" {
  size: 128x128
  fps: 12
  seed: 7
  model: "preview"
  strength: 0.35
}

scene park 1s {
  prompt "a misty autumn park at dawn, oil painting"
  effect zoom_in
}

scene street 1s {
  prompt "a neon city street at night, rain"
  prompt "the same street at sunrise" at 0.5s blend 0.25s
  x: 2
  transition crossfade 4f
}

scene sea 12f {
  continue
  prompt "stormy sea, dramatic light"
  zoom: 0.98
}
"""


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return {"codec": s.codec_context.name, "pix_fmt": s.codec_context.pix_fmt, "rate": s.average_rate,
                "size": (s.codec_context.width, s.codec_context.height), "frames": n}


def build(film: Path, *extra: str) -> dict:
    report = film.parent / "report.json"
    assert main(["build", str(film), "-q", "--report", str(report), *extra]) == 0
    return json.loads(report.read_text())


@pytest.fixture
def film(tmp_path) -> Path:
    path = tmp_path / "film.kscene"
    path.write_text(FILM, encoding="utf-8")
    return path


def test_a_film_builds_to_a_video_beside_it(film):
    plan = compile_file(film)
    report = build(film)
    info = probe(film.with_suffix(".mp4"))
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "rate": Fraction(12), "size": (128, 128), "frames": len(plan.frames)}
    assert report["frames_rendered"] == len(plan.frames)
    assert {k: report["model_calls"][k] for k in plan.model_calls()} == plan.model_calls()
    assert (film.parent / ".kscript" / "frames").is_dir()


def test_a_rebuild_makes_no_model_call(film):
    build(film)
    report = build(film)
    assert report["frames_rendered"] == 0 and sum(report["model_calls"].values()) == 0


@pytest.mark.parametrize(
    "old,new,scene",
    [
        ("stormy sea, dramatic light", "a calm sea at noon", "sea"),
        ("a misty autumn park at dawn, oil painting", "a misty autumn park at dusk", "park"),
    ],
)
def test_an_edit_to_one_scene_re_renders_exactly_its_frames(film, old, new, scene):
    build(film)
    film.write_text(FILM.replace(old, new), encoding="utf-8")
    plan = compile_file(film)
    report = build(film)
    expected = sum(1 for f in plan.frames if f.scene == scene)
    assert report["frames_rendered"] == expected
    assert report["frames_cached"] == len(plan.frames) - expected
    # Encoded again: the edited scene's segment and those of scenes that crossfade from it.
    own = {f.index for f in plan.frames if f.scene == scene}
    changed = {f.scene for f in plan.frames if f.index in own or (f.crossfade and f.crossfade.from_frame in own)}
    # Read from the cache as pixels: only what those segments show, or the edited frames are
    # made from, that was not rendered; the other scenes' frames are not read at all.
    shown = [f for f in plan.frames if f.scene in changed]
    read = {f.index for f in shown} | {f.crossfade.from_frame for f in shown if f.crossfade}
    read |= {d for f in plan.frames if f.index in own for d in dependencies(f)}
    assert report["frames_loaded"] == len(read - own)
    assert report["segments_encoded"] == len(changed)
    assert report["segments_cached"] == len(plan.scenes) - len(changed)


def test_one_scene_alone(film, tmp_path):
    plan = compile_file(film)
    report = build(film, "--scene", "park", "-o", str(tmp_path / "park.mp4"))
    park = sum(1 for f in plan.frames if f.scene == "park")
    assert report["frames_total"] == park == probe(tmp_path / "park.mp4")["frames"]


def test_two_builds_give_identical_frames(film, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build(film, "--no-cache", "-o", f"{a}/")
    build(film, "--no-cache", "-o", f"{b}/")
    names = sorted(p.name for p in a.iterdir())
    assert names and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


@pytest.mark.skipif(not (ROOT / "examples" / "mini_film.kscene").exists(), reason="examples/mini_film.kscene is not on this branch yet")
def test_the_mini_film_example_at_full_size(tmp_path):
    src = ROOT / "examples"
    work = tmp_path / "examples"
    shutil.copytree(src, work)
    film = work / "mini_film.kscene"
    plan = compile_file(film)
    report = build(film, "--preview")
    info = probe(film.with_suffix(".mp4"))
    assert info["frames"] == len(plan.frames) == report["frames_total"]
    assert info["size"] == (plan.film.width, plan.film.height)
    assert info["rate"] == Fraction(plan.film.fps).limit_denominator(1001)


def test_a_script_with_errors_exits_1_with_diagnostics_and_no_video(tmp_path, capsys):
    film = tmp_path / "broken.kscene"
    film.write_text(FILM.replace("effect zoom_in", "effect zom_in"), encoding="utf-8")
    assert main(["build", str(film), "-q"]) == 1
    err = capsys.readouterr().err
    assert "broken.kscene:" in err and "zoom_in" in err and "Traceback" not in err
    assert not (tmp_path / "broken.mp4").exists()


def test_cache_folder_option(film, tmp_path):
    report = build(film, "--cache", str(tmp_path / "elsewhere"))
    assert report["cache_dir"] == str(tmp_path / "elsewhere")
    assert any((tmp_path / "elsewhere" / "frames").rglob("*.frame"))
    assert not (film.parent / ".kscript").exists()
