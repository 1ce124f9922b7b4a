"""`kscript import deforum`: the converted film checks, and its plan reproduces Deforum.

Each test converts a settings file (a real one from tests/fixtures/deforum/, or a
synthetic one for one rule), compiles the film (`kscript.compile`) and compares the
plan's per-frame values with Deforum's, computed by the reference interpolation
(`kscript.importers.schedule.reference_series`, tested on its own in
test_import_schedule.py): motion (the plan keeps per-frame pixels/degrees/factors, so no
conversion is needed to compare), strength, guidance, steps, seeds and prompts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kscript.cli import main
from kscript.compile import compile_source
from kscript.importers.deforum import convert_deforum
from kscript.importers.schedule import parse_schedule, reference_series

FIXTURES = Path(__file__).parent / "fixtures" / "deforum"


def convert(tmp_path: Path, settings: dict, dialect: str | None = None, name: str = "settings.txt"):
    src = tmp_path / name
    src.write_text(json.dumps(settings), encoding="utf-8")
    return convert_file(src, dialect)


def convert_file(src: Path, dialect: str | None = None):
    text, warnings = convert_deforum(src, dialect)
    plan = compile_source(text, str(src.with_suffix(".kscene")))
    return text, warnings, plan


def ref(settings: dict, key: str, default: str = "0:(0)", dialect: str = "a1111") -> list[float]:
    frames = int(settings["max_frames"])
    seed = settings.get("seed", -1)
    return reference_series(parse_schedule(key, settings.get(key, default), frames, seed, dialect), frames, seed)


def assert_close(got: list[float], want: list[float], what: str, rel: float = 2e-6, abs_: float = 2e-6):
    assert len(got) == len(want), what
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if abs(g - w) > abs_ + rel * abs(w)]
    assert not bad, f"{what}: frames differ (frame, plan, Deforum): {bad[:5]}"


def base(**over) -> dict:
    s = {
        "W": 512, "H": 384, "seed": 42, "seed_behavior": "iter", "seed_iter_N": 1, "steps": 20,
        "max_frames": 24, "fps": 12, "animation_mode": "2D", "diffusion_cadence": 1,
        "strength_schedule": "0:(0.6)", "cfg_scale_schedule": "0:(7)", "noise_schedule": "0:(0)",
        "color_coherence": "None", "prompts": {"0": "a forest"}, "sd_model_name": "m.safetensors",
    }
    s.update(over)
    return s


# ---------------------------------------------------------------- the real files


def test_default_settings_of_the_extension_convert_and_match():
    text, warnings, plan = convert_file(FIXTURES / "a1111_default_settings.txt")
    settings = json.loads((FIXTURES / "a1111_default_settings.txt").read_text())
    assert plan.film.frame_count == 120 and plan.film.fps == 15 and (plan.film.width, plan.film.height) == (512, 512)
    assert_close([f.strength for f in plan.frames], [1 - v for v in ref(settings, "strength_schedule")], "strength")
    assert_close([f.guidance for f in plan.frames], ref(settings, "cfg_scale_schedule"), "guidance")
    assert_close([f.noise for f in plan.frames], ref(settings, "noise_schedule"), "noise")
    assert all(f.steps == 25 for f in plan.frames if f.op == "animate")
    # cadence 2: the model runs on even frames only
    assert [f.op for f in plan.frames[:4]] == ["generate", "warp", "animate", "warp"]
    # prompts at every key; the negative changes at 60 and 90, so three scenes
    expect = {0: ("tiny cute swamp bunny", "nsfw, nude"), 30: ("anthropomorphic clean cat", "nsfw, nude"),
              60: ("a beautiful coconut", "photo, realistic nsfw, nude"),
              90: ("a beautiful durian", "nsfw, nude")}
    current = None
    for fr in plan.frames:
        current = expect.get(fr.index, current)
        assert fr.prompts[0].text.startswith(current[0]) and fr.negative == current[1], fr.index
    assert [s.start_frame for s in plan.scenes] == [0, 60, 90]
    assert [s.continues for s in plan.scenes] == [False, True, True]
    # seed -1 is random in Deforum: a fixed seed, said; 3D translation_z has no equivalent, said
    assert any("seed = -1" in w for w in warnings)
    assert any("translation_z" in w for w in warnings)
    for w in warnings:
        assert w.split()[0].rstrip(":") in text or w[:40] in text.replace("\n#     ", " ")


def test_warnings_head_the_film_naming_setting_and_value():
    text, warnings, _ = convert_file(FIXTURES / "a1111_default_settings.txt")
    head = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    flat = " ".join(part.strip("# -") for part in head.splitlines())
    assert "translation_z = '0: (1.75)'" in flat
    assert "sampler = 'Euler a'" in flat
    assert len(warnings) >= 5


def test_api_test_settings_zoom_expression_matches_per_frame(tmp_path):
    """NEEDS the per-second units on main (kscript/channels.py): the film writes zoom as a
    factor per second, the plan must give back Deforum's per-frame factor."""
    src = FIXTURES / "a1111_simple_input_settings.txt"
    text, _, plan = convert_file(src)
    settings = json.loads(src.read_text())
    assert "sin(1.25 * 3.14 * F / 30)" in text  # the maths stays maths
    assert_close([f.motion.zoom for f in plan.frames], ref(settings, "zoom"), "zoom")


def test_kandinsky_defaults_convert(tmp_path):
    text, warnings, plan = convert_file(FIXTURES / "kandinsky_default_args.json")
    assert "Deforum-Kandinsky" in text
    assert plan.film.frame_count == 1
    # Deforum-Kandinsky gives strength straight to the pipeline: 0.13 stays 0.13
    assert plan.frames[0].strength == pytest.approx(0.13)
    assert plan.frames[0].guidance == 7


def test_kandinsky_call_becomes_scenes_with_standard_effects():
    text, warnings, plan = convert_file(FIXTURES / "kandinsky_readme_call.json")
    assert text.count("effect live") == 1 and text.count("effect pan_right") == 3
    # inference.py: max_frames = int(sum(durations) * fps) + 1; prompt i starts at int(elapsed * fps)
    assert plan.film.frame_count == 4 * 24 + 1
    assert [s.start_frame for s in plan.scenes] == [0, 24, 48, 72]
    assert plan.frames[30].prompts[0].text.startswith("spring forest")


# ---------------------------------------------------------------- motion (needs the per-second units)


MOTION = {
    "zoom": "0:(1), 10:(1.04), 16:(1.0+0.01*sin(t/2))",
    "angle": "0:(0), 6:(2), 12:(where(t>18, -1, 0.5*t))",
    "translation_x": "0:(3), 12:(-2)",
    "translation_y": "0:(0), 8:(2*cos(t/3)), 20:(1)",
}


def test_2d_motion_reproduces_deforum_per_frame(tmp_path):
    """NEEDS the per-second units on main. Signs (docs/import.md): Deforum's translation_x
    moves the picture right, kscript's x pans the camera right: x = -translation_x."""
    s = base(**MOTION)
    text, warnings, plan = convert(tmp_path, s)
    assert "keys {" in text
    m = [f.motion for f in plan.frames]
    assert_close([v.zoom for v in m], ref(s, "zoom", "0:(1)"), "zoom")
    assert_close([v.angle for v in m], ref(s, "angle"), "angle")
    assert_close([v.x for v in m], [-v for v in ref(s, "translation_x")], "x")
    assert_close([v.y for v in m], ref(s, "translation_y"), "y")
    assert any("translation with a changing zoom or an angle" in w for w in warnings)


def deforum_warp(w: int, h: int, angle: float, zoom: float, tx: float, ty: float):
    """animation.py anim_frame_warp_2d: cv2.getRotationMatrix2D((W/2, H/2), angle, zoom) @ translation."""
    import math

    a, b = zoom * math.cos(math.radians(angle)), zoom * math.sin(math.radians(angle))
    cx, cy = w * 0.5, h * 0.5
    rot = ((a, b, (1 - a) * cx - b * cy), (-b, a, b * cx + (1 - a) * cy), (0.0, 0.0, 1.0))
    trans = ((1.0, 0.0, tx), (0.0, 1.0, ty), (0.0, 0.0, 1.0))
    return tuple(tuple(sum(rot[i][k] * trans[k][j] for k in range(3)) for j in range(3)) for i in range(3))


@pytest.mark.parametrize("zoom, angle", [("0:(1.03)", "0:(0)"), ("0:(1)", "0:(0)"), ("0:(0.98)", "0:(0)"),
                                         ("0:(1.02), 12:(1.05)", "0:(0)"), ("0:(1)", "0:(3)")])
def test_the_plans_warp_moves_pixels_where_deforums_does(tmp_path, zoom, angle):
    """The signs of zoom, angle, x and y, checked against Deforum's own warp formula: the
    plan's motion through kscript/geometry.py moves every corner where Deforum's matrix does
    (up to Deforum turning about W/2 rather than the centre pixel, (W-1)/2; and, where the zoom
    changes or an angle turns, the pre-zoom shift the converter warns about)."""
    from kscript.geometry import apply, warp_matrix

    s = base(zoom=zoom, angle=angle, translation_x="0:(4), 12:(-6)", translation_y="0:(-3), 20:(5)")
    _, warnings, plan = convert(tmp_path, s)
    z, an = ref(s, "zoom", "0:(1)"), ref(s, "angle")
    tx, ty = ref(s, "translation_x"), ref(s, "translation_y")
    steady = len(set(z)) == 1 and set(an) == {0.0}
    assert steady != any("changing zoom or an angle" in w for w in warnings)
    for fr in plan.frames:
        i, m = fr.index, fr.motion
        k = warp_matrix(512, 384, zoom=m.zoom, angle=m.angle, x=m.x, y=m.y)
        d = deforum_warp(512, 384, an[i], z[i], tx[i], ty[i])
        allowed = 1e-3 + abs(1 - z[i]) + abs(an[i]) * 0.02  # the half-pixel centre difference
        if not steady:
            allowed += abs(z[i] - 1) * (abs(tx[i]) + abs(ty[i])) + 0.06 * abs(an[i]) * (abs(tx[i]) + abs(ty[i]))
        for px, py in ((0, 0), (511, 0), (0, 383), (511, 383), (255.5, 191.5)):
            (kx, ky), (dx, dy) = apply(k, px, py), apply(d, px, py)
            assert abs(kx - dx) <= allowed and abs(ky - dy) <= allowed, (i, (px, py), (kx, ky), (dx, dy))


def test_nan_and_untranslatable_stretches_are_written_frame_by_frame(tmp_path):
    """NEEDS the per-second units on main."""
    s = base(angle="0:(0), 4:(cos(t)**0.9), 16:(arctan(t-20))")
    text, warnings, plan = convert(tmp_path, s)
    assert any("Deforum fills those frames" in w for w in warnings)
    assert any("arctan" in w and "frame by frame" in w for w in warnings)
    assert_close([f.motion.angle for f in plan.frames], ref(s, "angle"), "angle")


def test_3d_rotations_map_to_tilt_turn_angle_and_translation_warns(tmp_path):
    """NEEDS the per-second units on main. The translations become moves through depth
    (docs/rendering.md, "Deforum's 3D parameters"): see the test after this one."""
    s = base(animation_mode="3D", rotation_3d_x="0:(0.5)", rotation_3d_y="0:(0), 12:(-1)",
             rotation_3d_z="0:(0.25*sin(t))", translation_z="0:(2)", fov_schedule="0:(60)")
    text, warnings, plan = convert(tmp_path, s)
    m = [f.motion for f in plan.frames]
    assert_close([v.tilt for v in m], ref(s, "rotation_3d_x"), "tilt")
    assert_close([v.turn for v in m], ref(s, "rotation_3d_y"), "turn")
    # Deforum's 3D warp turns the picture counter-clockwise for a positive rotation_3d_z, as
    # kscript's positive angle does (tests/test_presets.py measures both on screen)
    assert_close([v.angle for v in m], ref(s, "rotation_3d_z"), "angle")
    assert all(v.fov == 60 for v in m)
    assert any(w.startswith("translation_z") for w in warnings)


def test_3d_translations_move_through_depth_as_fast_on_screen_at_the_scenes_distance(tmp_path):
    """translation_x/y/z (Deforum depth units / 200 per frame) -> x, y, z with a depth model.
    Deforum's depth maps span 1..2 units (scene's distance D = 1 / ln 2): a sideways move of t
    shifts the plane at D by (W/2) t / (D tan(fov/2)) pixels in both; a forward move zooms it by
    1 + t / (D (D - t) tan(fov/2)) in Deforum, which kscript's z (a fraction of D per frame)
    matches to first order in t."""
    import math

    from kscript.importers.deforum import DEFAULT_DEPTH_MODEL, DEFORUM_SCENE_DISTANCE as D

    s = base(animation_mode="3D", translation_x="0:(3)", translation_y="0:(-2)", translation_z="0:(1.75)",
             fov_schedule="0:(40)")
    text, warnings, plan = convert(tmp_path, s)
    assert f'depth: "{DEFAULT_DEPTH_MODEL}"' in text and plan.film.depth == DEFAULT_DEPTH_MODEL
    tan = math.tan(math.radians(20))
    moving = plan.frames[1:]
    assert all(fr.depth for fr in moving)
    w, h = plan.film.width, plan.film.height
    for fr in moving:
        # pixels per frame at the scene's distance: Deforum's pan there, same signs (+x: camera right)
        assert fr.motion.x == pytest.approx(w / 2 * (3 / 200) / (D * tan), abs=2e-5)
        # Deforum's y_ndc spans the height: its vertical shift is (H/2) t / (D tan(fov/2))
        assert fr.motion.y == pytest.approx(h / 2 * (-2 / 200) / (D * tan), abs=2e-5)
        t = 1.75 / 200
        deforum_zoom = 1 + t / (D * (D - t) * tan)
        assert 1 / (1 - fr.motion.z) == pytest.approx(deforum_zoom, rel=1e-4)
    assert {w.split(" = ")[0] for w in warnings} >= {"translation_x", "translation_y", "translation_z"}


# ---------------------------------------------------------------- generation


def test_strength_is_one_minus_the_extensions_and_clamped(tmp_path):
    s = base(strength_schedule="0:(0.65), 10:(0.3), 20:(1.2)")
    _, warnings, plan = convert(tmp_path, s)
    want = [1 - min(max(v, 0), 1) for v in ref(s, "strength_schedule")]
    assert_close([f.strength for f in plan.frames], want, "strength")


def test_kandinsky_strength_is_denoising_as_it_is(tmp_path):
    s = base(prior_seed=1, strength_schedule="0: (0.13), 12: (0.4)")
    for k in ("sd_model_name",):
        s.pop(k)
    _, _, plan = convert(tmp_path, s, dialect="kandinsky")
    assert_close([f.strength for f in plan.frames], ref(s, "strength_schedule", dialect="notebook"), "strength")


def test_guidance_and_scheduled_steps(tmp_path):
    s = base(cfg_scale_schedule="0:(5), 12:(9)", enable_steps_scheduling=True, steps_schedule="0:(20), 23:(40)",
             strength_schedule="0:(0)")
    _, _, plan = convert(tmp_path, s)
    assert_close([f.guidance for f in plan.frames], ref(s, "cfg_scale_schedule"), "guidance")
    assert [f.steps for f in plan.frames] == [int(v) for v in ref(s, "steps_schedule")]  # int() as Deforum


def deforum_seeds(behavior: str, seed: int, n: int, frames: int, cadence: int) -> dict[int, int]:
    """seed.py next_seed, called after every model frame (render.py)."""
    out, internal = {}, 0
    for f in range(0, frames, cadence):
        out[f] = seed
        if behavior == "iter":
            seed += 1 if internal % n == 0 else 0
            internal += 1
        elif behavior == "ladder":
            seed += 2 if internal == 0 else -1
            internal = 1 if internal == 0 else 0
        elif behavior == "alternate":
            seed += 1 if internal == 0 else -1
            internal = 1 if internal == 0 else 0
    return out


@pytest.mark.parametrize("behavior, n, cadence", [
    ("iter", 1, 1), ("iter", 1, 3), ("iter", 2, 1), ("iter", 3, 2), ("fixed", 1, 1),
    ("alternate", 1, 1), ("ladder", 1, 1), ("ladder", 1, 2),
])
def test_seed_behaviours_give_deforums_seeds_on_model_frames(tmp_path, behavior, n, cadence):
    s = base(seed=1000, seed_behavior=behavior, seed_iter_N=n, diffusion_cadence=cadence)
    _, _, plan = convert(tmp_path, s)
    want = deforum_seeds(behavior, 1000, n, 24, cadence)
    got = {f.index: f.seed for f in plan.frames if f.op != "warp"}
    assert got == want


def test_colour_coherence_and_cadence_settings(tmp_path):
    text, warnings, plan = convert(tmp_path, base(color_coherence="Match Frame 0 HSV", diffusion_cadence="3"))
    assert plan.film.coherence == "lab" or plan.scenes[0].coherence == "lab"
    assert any("HSV" in w for w in warnings)
    assert "cadence: 3" in text


# ---------------------------------------------------------------- prompts


def test_prompt_extras_neg_switches_lora_weights_and_backticks(tmp_path):
    s = base(prompts={"0": "a (red:1.3) fox <lora:foxy:0.8> --neg blur", "6": "a fox at `t*2` am",
                      "max_f/2": "a fox asleep", "12": "a fox asleep"},
             animation_prompts_positive="oil painting,", animation_prompts_negative="text")
    text, warnings, plan = convert(tmp_path, s)
    p = {f.index: (f.prompts[0].text, f.negative) for f in plan.frames}
    assert p[0] == ("oil painting, a (red:1.3) fox", "blur text")
    assert p[6] == ("oil painting, a fox at 12 am", "text")
    assert p[11][0] == "oil painting, a fox asleep"  # max_f / 2 = 23 / 2 -> frame 11
    assert len(plan.scenes) == 2  # the negative changes at frame 6
    assert any("<lora:foxy:0.8>" in w for w in warnings)
    assert any("(red:1.3)" in w for w in warnings)
    assert any("`t*2`" in w for w in warnings)


def test_one_negative_gives_one_scene_with_timed_prompts(tmp_path):
    s = base(prompts={"0": "dawn --neg blur", "12": "noon --neg blur"}, max_frames=24, fps=12)
    text, _, plan = convert(tmp_path, s)
    assert len(plan.scenes) == 1
    assert 'prompt "noon" at 1s' in text
    assert [f.prompts[0].text for f in plan.frames[11:13]] == ["dawn", "noon"]


# ---------------------------------------------------------------- the notebook dialect


def test_notebook_settings_use_the_notebook_reader(tmp_path):
    s = {"W": 512, "H": 512, "seed": 5, "seed_behavior": "fixed", "scale": 8, "steps": 30, "max_frames": 10,
         "animation_mode": "2D", "angle": "0: 0: (t*2)", "strength_schedule": "0: (0.5),",
         "prompts": {"0": "a cat"}, "timestring": "20220901", "outdir": "out"}
    text, warnings, plan = convert(tmp_path, s)
    assert "notebook" in text.splitlines()[0]
    assert all(f.guidance == 8 for f in plan.frames)
    assert any("no fps" in w for w in warnings)


# ---------------------------------------------------------------- the command


def test_cli_writes_beside_the_input_and_never_overwrites(tmp_path, capsys):
    src = tmp_path / "run.txt"
    src.write_text((FIXTURES / "a1111_default_settings.txt").read_text())
    assert main(["import", "deforum", str(src)]) == 0
    out = tmp_path / "run.kscene"
    first = out.read_text()
    err = capsys.readouterr().err
    assert "warning: translation_z" in err
    assert main(["check", str(out)]) == 0
    out.write_text("# mine\n")
    assert main(["import", "deforum", str(src)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_text() == "# mine\n"
    assert main(["import", "deforum", str(src), "--force", "-o", str(out)]) == 0
    assert out.read_text() == first


@pytest.mark.parametrize("content, words", [
    ("hello, not json", "not JSON"),
    ('["a", "list"]', "not an object"),
    ('{"name": "my app", "version": 2}', "none of Deforum's settings"),
    ('{"rendered_frames": [{"frame": 0}]}', "kscript import parseq"),
])
def test_not_a_settings_file_is_exit_1_with_a_reason(tmp_path, capsys, content, words):
    src = tmp_path / "x.txt"
    src.write_text(content)
    assert main(["import", "deforum", str(src)]) == 1
    err = capsys.readouterr().err
    assert "is not a Deforum settings file" in err and words in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.kscene").exists()


def test_a_missing_input_is_a_usage_error(tmp_path, capsys):
    assert main(["import", "deforum", str(tmp_path / "nope.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_import_loads_no_heavy_library(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text((FIXTURES / "a1111_default_settings.txt").read_text())
    code = (
        "import sys\nfrom kscript.cli import main\n"
        f"rc = main(['import', 'deforum', {str(src)!r}, '-q'])\n"
        "heavy = [m for m in ('torch', 'diffusers', 'av', 'cv2') if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("0 []"), out.stdout + out.stderr


# ---------------------------------------------------------------- robustness


def test_values_past_kscripts_ranges_are_held_within_them_and_said(tmp_path):
    s = base(zoom="0:(1), 10:(3)", strength_schedule="0:(0.5)")  # 3x per frame: past what a camera can do
    text, warnings, plan = convert(tmp_path, s)
    assert any(w.startswith("zoom: values from") for w in warnings)
    assert max(f.motion.zoom for f in plan.frames) <= 2.0


def test_a_seed_near_the_largest_wraps_and_says_so(tmp_path):
    s = base(seed=4294967290, seed_behavior="fixed", prompts={"0": "a --neg b", "5": "c --neg d"})
    _, warnings, plan = convert(tmp_path, s)
    assert any("wrap" in w for w in warnings)
    assert all(0 <= f.seed <= 4294967295 for f in plan.frames)


VALUES = ["0", "-3", "0.5", "t", "sin(t/5)", "t**2/100", "sqrt(t-5)", "cos(t)**0.9", "1e-3", "where(t>4, 2, -2)",
          "arctan(t)", "log(t)", "1/(t-3)", "max_f-t", "s/1000", "(t>3)^(t>6)", "t%7", "exp(t/10)"]


def test_random_settings_always_give_a_film_that_checks(tmp_path):
    """Whatever the schedules hold (NaN, inf, values out of range, keys past the end, no key at
    frame 0), the film checks: what kscript cannot take is held within range and said."""
    import random

    rnd = random.Random(7)
    for i in range(40):
        s = base(max_frames=rnd.choice([1, 7, 30]), fps=rnd.choice([10, 24, 29.97]),
                 seed=rnd.choice([-1, 5, 4294967290]), animation_mode=rnd.choice(["2D", "3D"]),
                 seed_behavior=rnd.choice(["iter", "fixed", "ladder", "alternate", "random", "schedule"]),
                 diffusion_cadence=rnd.choice([1, 2, 3]),
                 prompts={"0": "a --neg b", str(rnd.randint(1, 30)): rnd.choice(["c", "d --neg e"])})
        for k in ("zoom", "angle", "translation_x", "translation_y", "rotation_3d_x", "rotation_3d_y",
                  "rotation_3d_z", "strength_schedule", "noise_schedule", "seed_schedule"):
            if rnd.random() < 0.5:
                frames = sorted(rnd.sample(range(40), rnd.randint(1, 4)))
                s[k] = ", ".join(f"{f}:({rnd.choice(VALUES)})" for f in frames)
        convert(tmp_path, s, name=f"s{i}.txt")  # raises if the film does not check


def test_a_negative_per_scene_is_written_with_its_colon_so_the_film_checks_without_warnings(tmp_path, capsys):
    """One scene per negative prompt: each scene's `negative:` is the current form, not the old
    `negative "..."` that `kscript check` warns about (W004) in a film the user did not write."""
    s = base(prompts={"0": "dawn --neg blur", "12": "noon --neg rain"})
    text, _, _ = convert(tmp_path, s)
    assert 'negative: "blur' in text and 'negative: "rain' in text
    film = tmp_path / "settings.kscene"
    film.write_text(text, encoding="utf-8")
    assert main(["check", str(film)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_huge_or_special_input_is_refused_before_it_is_read(tmp_path, capsys):
    """Settings files are read as films are: a 600 MiB (sparse) file is refused from its
    size, not read whole; a FIFO is not waited on."""
    import os

    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(600 * 1024 * 1024)
    assert main(["import", "deforum", str(big), "-o", str(tmp_path / "big.kscene")]) == 1
    assert "more than this file may be" in capsys.readouterr().err
    fifo = tmp_path / "settings.txt"
    os.mkfifo(fifo)
    assert main(["import", "deforum", str(fifo), "-o", str(tmp_path / "f.kscene")]) == 2
    assert not (tmp_path / "big.kscene").exists() and not (tmp_path / "f.kscene").exists()


def test_the_2d_perspective_flip_becomes_flip_and_its_other_angles_warn(tmp_path):
    """Deforum's 2D perspective_flip_phi is kscript's flip channel (the same homography,
    tests/test_presets.py compares it with Deforum-Kandinsky's warpMatrix); theta and gamma
    have no channel, another field of view and a flip with pans are warned."""
    s = base(enable_perspective_flip=True, perspective_flip_phi="0:(2), 12:(-1)", perspective_flip_theta="0:(3)",
             perspective_flip_fv="0:(53)", translation_x="0:(1)")
    text, warnings, plan = convert(tmp_path, s)
    assert_close([f.motion.flip for f in plan.frames], ref(s, "perspective_flip_phi"), "flip")
    assert any(w.startswith("perspective_flip_theta") for w in warnings)
    assert any(w.startswith("perspective_flip_fv") for w in warnings)
    assert any("drops its translation" in w for w in warnings)
    assert not any("kscript has no perspective flip" in w for w in warnings)
    # without the switch, no flip
    _, _, plain = convert(tmp_path, base(perspective_flip_phi="0:(2)"))
    assert all(f.motion.flip == 0 for f in plain.frames)
