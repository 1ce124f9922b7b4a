"""`kscript check`, `plan` and `effects` as a user runs them: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kscript.cli import main
from kscript.compile import compile_file

GOOD = 'film "ok" {\n  size: 256x256\n  fps: 24\n}\nscene a 1s {\n  prompt "a"\n  effect zoom_in\n}\nscene b 2s {\n  continue\n  prompt "b"\n}\n'
BAD = 'film "bad" { fps: 24 }\nscene a 1s {\n  prompt "a"\n  effect zom_in\n}\n'


@pytest.fixture
def films(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("good.kscene").write_text(GOOD)
    Path("bad.kscene").write_text(BAD)
    return tmp_path


def test_check_ok(films, capsys):
    assert main(["check", "good.kscene"]) == 0
    assert capsys.readouterr().out == "good.kscene: ok (2 scenes, 72 frames)\n"


def test_check_errors_exit_1_with_diagnostics(films, capsys):
    assert main(["check", "bad.kscene"]) == 1
    err = capsys.readouterr().err
    assert "bad.kscene:4:10: error[E012]: unknown effect 'zom_in'" in err
    assert "did you mean 'zoom_in'?" in err


def test_check_missing_file_exits_2(films, capsys):
    assert main(["check", "nowhere.kscene"]) == 2
    assert "no such file: nowhere.kscene" in capsys.readouterr().err


def test_check_several_files_reports_each(films, capsys):
    assert main(["check", "good.kscene", "bad.kscene"]) == 1
    out = capsys.readouterr()
    assert "good.kscene: ok" in out.out and "E012" in out.err
    assert main(["check", "bad.kscene", "nowhere.kscene", "good.kscene"]) == 2


def test_check_a_directory_is_a_usage_error(films):
    assert main(["check", str(films)]) == 2


def test_plan_json_is_the_plan_and_its_cost_estimate(films, capsys):
    assert main(["plan", "good.kscene", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    estimate = data.pop("estimate")
    assert data == json.loads(compile_file("good.kscene").to_json())
    kinds = {"text2image", "img2img", "inpaint", "prior"}
    assert set(estimate["model_calls"]) == kinds and set(estimate["denoising_steps"]) == kinds | {"total"}
    assert set(data["film"]) >= {"title", "width", "height", "fps", "seed", "model"}
    assert set(data["scenes"][0]) >= {"name", "start_frame", "frame_count"}
    frame = data["frames"][1]
    assert set(frame) >= {"index", "scene", "time", "op", "motion", "strength", "guidance", "steps", "seed",
                          "prompts", "negative", "key"}
    assert set(frame["motion"]) >= {"zoom", "angle", "x", "y", "turn", "tilt"}


def test_plan_summary(films, capsys):
    assert main(["plan", "good.kscene"]) == 0
    out = capsys.readouterr().out
    assert 'film "ok"' in out
    assert "frames 0-23 (24)" in out and "[continues]" in out
    assert "model calls:     text2image 1, img2img 71" in out
    assert "denoising steps: text2image" in out and "(total " in out


def test_plan_model_not_on_disk_says_how_to_get_it_not_to_pass_model_again(films, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(films / "hf"))  # an empty hub cache
    assert main(["plan", "good.kscene", "--model", "someone/not-downloaded"]) == 0
    assumed = [line for line in capsys.readouterr().out.splitlines() if "assumed:" in line]
    assert any("'someone/not-downloaded' is not on disk here" in line for line in assumed), assumed
    scheduler = [line for line in assumed if "scheduler" in line and "forward per step" in line]
    assert scheduler and "--model" not in scheduler[0] and "Hugging Face cache" in scheduler[0], scheduler
    # without --model, the hint about --model is the useful one
    assert main(["plan", "good.kscene"]) == 0
    assert "`kscript plan --model M` reads" in capsys.readouterr().out


def test_plan_errors_exit_1(films, capsys):
    assert main(["plan", "bad.kscene", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "E012" in captured.err


def test_effects_lists_every_standard_effect(capsys):
    assert main(["effects"]) == 0
    out = capsys.readouterr().out
    for name in ("pan_right", "pan_left", "pan_up", "pan_down", "spin_right", "spin_left", "zoom_in", "zoom_out",
                 "turn_right", "turn_left", "tilt_up", "tilt_down", "orbit_right", "orbit_left", "zoom_in_sway",
                 "zoom_out_bob", "pan_right_bob", "pan_left_sway", "flip", "live"):
        assert f"\n{name}(" in "\n" + out, name
    assert "rate = 1" in out


def test_effects_one_effect_and_a_misspelt_one(capsys):
    assert main(["effects", "zoom_in"]) == 0
    assert capsys.readouterr().out.startswith("zoom_in(rate = 1")
    # a Deforum-Kandinsky name shows the effect it is an alias of
    assert main(["effects", "zoomin"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("zoom_in(rate = 1") and "aliases: zoomin" in out
    assert main(["effects", "zom_in"]) == 2
    assert "did you mean 'zoom_in'?" in capsys.readouterr().err


OWN = (
    'import "moves.kscene"\n'
    "# Slide sideways.\n"
    "effect glide(speed = 1.5) {\n  x: speed\n}\n"
    "# A zoom of our own, in place of the standard one.\n"
    "effect zoom_in(rate = 2) {\n  zoom: 1 + 0.01 * rate\n}\n"
)
MOVES = "# Bob up and down.\neffect bob(h = 1) {\n  y: h * sin(2 * pi * t)\n}\n"


def test_effects_of_a_film_come_first_with_where_they_are_defined(films, capsys):
    Path("lib.kscene").write_text(OWN)
    Path("moves.kscene").write_text(MOVES)
    assert main(["effects", "--film", "lib.kscene"]) == 0
    out = capsys.readouterr().out
    own, standard = out.split("standard effects:\n")
    assert own.startswith("effects of lib.kscene and its imports:\n")
    assert "bob(h = 1)" in own and "Bob up and down.  [moves.kscene:2]" in own
    assert "glide(speed = 1.5)" in own and "[lib.kscene:3]" in own
    assert "zoom_in(rate = 2)" in own and "[lib.kscene:7]" in own
    # The film's zoom_in shadows the standard one, which is named as shadowed, not listed.
    assert "\nzoom_in(" not in "\n" + standard and "shadowed in this film" in standard and "zoom_in" in standard
    assert "\npan_right(rate = 1" in "\n" + standard
    assert "3 of the film's own and 29 standard effects" in out


def test_effects_one_effect_of_a_film_and_its_errors(films, capsys):
    Path("lib.kscene").write_text(OWN)
    Path("moves.kscene").write_text(MOVES)
    assert main(["effects", "--film", "lib.kscene", "zoom_in"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("zoom_in(rate = 2)\n") and "defined at lib.kscene:7" in out
    assert "channels:\n  zoom: 1 + 0.01 * rate\n" in out  # the curve as written
    assert main(["effects", "--film", "lib.kscene", "glid"]) == 2
    assert "no effect named 'glid'" in capsys.readouterr().err
    # A film with errors is reported as `check` reports it, and nothing is listed.
    assert main(["effects", "--film", "bad.kscene"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "bad.kscene:4:10: error[E012]" in captured.err
    assert main(["effects", "--film", "nowhere.kscene"]) == 2


@pytest.mark.parametrize("argv", [["check", "good.kscene"], ["plan", "good.kscene"], ["plan", "good.kscene", "--json"],
                                  ["effects"], ["effects", "--film", "good.kscene"]])
def test_light_commands_import_no_heavy_library(films, argv):
    code = (
        "import sys; from kscript.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'diffusers', 'av', 'cv2', 'transformers') if m in sys.modules]; "
        "sys.stderr.write(repr(heavy)); sys.exit(3 if heavy else rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_check_prints_warnings_but_passes(films, capsys):
    Path("lib.kscene").write_text('let k = 1\nscene unused 1s {\n  prompt "x"\n}\n')
    Path("main.kscene").write_text('import "lib.kscene"\nscene a 1s {\n  prompt "a"\n  x: k\n}\n')
    assert main(["check", "main.kscene"]) == 0
    out = capsys.readouterr()
    assert "main.kscene: ok (1 scene, 24 frames)" in out.out
    assert "lib.kscene:2:7: warning[W002]: the scene 'unused' of an imported file is ignored" in out.err


def test_an_effect_named_like_a_standard_one_replaces_it_with_a_warning(films, capsys):
    Path("mine.kscene").write_text('effect zoom_in() { zoom: 2 }\nscene a 1s {\n  prompt "a"\n  effect zoom_in\n}\n')
    assert main(["check", "mine.kscene"]) == 0
    assert "mine.kscene:1:8: warning[W001]: effect 'zoom_in' replaces the standard effect" in capsys.readouterr().err
    # zoom 2 per second is 2 ** (1 / 24) per frame at the default 24 fps
    assert {f.motion.zoom for f in compile_file("mine.kscene").frames} == {round(2 ** (1 / 24), 6)}


def test_a_blend_past_the_end_of_the_scene_is_a_warning(films, capsys):
    Path("blend.kscene").write_text('scene a 2s {\n  prompt "a"\n  prompt "b" at 1s blend 2s\n}\n')
    assert main(["check", "blend.kscene"]) == 0
    err = capsys.readouterr().err
    assert "blend.kscene:3:26: warning[W003]: the blend ends at 3s, after the scene ends (2s)" in err
    assert "blend over at most 1s" in err


def test_a_file_to_import_checks_on_its_own_but_does_not_build(films, capsys):
    Path("moves.kscene").write_text("let s = 2\n# Sideways.\neffect slide(speed = 1) {\n  x: speed * s\n}\n")
    assert main(["check", "moves.kscene"]) == 0
    assert "moves.kscene: ok (a file to import: 1 effect, no scenes)" in capsys.readouterr().out
    Path("broken.kscene").write_text("effect slide(speed = 1) {\n  x: sped\n}\n")
    assert main(["check", "broken.kscene"]) == 1
    assert "did you mean 'speed'?" in capsys.readouterr().err
    assert main(["plan", "moves.kscene"]) == 1
    assert "E029" in capsys.readouterr().err
