"""End to end with real diffusers pipelines: a `.kscene` naming a tiny Kandinsky 2.2 or
Stable Diffusion folder, compiled and built into a video through the same loading path a
real model takes. Model calls are counted by hooks on the diffusers pipeline classes
(not by the backend's own counters) and must match the plan exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import kscript.compile as compile_module
import kscript.render.build as build_module
from kscript.errors import ModelError

from kscript.compile.cost import plan_estimate

from tiny_pipelines import KANDINSKY_CALL_CLASSES, SD_CALL_CLASSES, DenoiserForwards, PipelineCalls, tiny_models

pytestmark = pytest.mark.slow

FILM = """\
film "tiny" {{
  size: 64x64
  fps: 8
  seed: 5
  model: "{model}"{extra}
  steps: 4
  guidance: 4
  strength: 0.5
  negative: "blurry"
}}

scene fox 4f {{
  prompt "a red fox in the snow"
  zoom: 1.05
}}

scene sea 4f {{
  continue
  prompt "a red fox in the snow"
  prompt "a blue whale in the sea" at 1f blend 2f
  x: 34  # 2.72 px a frame at 64 px and 8 fps; its first move is fox's (the interval before it), so frames 1..3 carry 8.16 px: a band painted on its 4th frame
}}
"""

DISTINCT_PROMPTS = 2  # "a red fox in the snow", "a blue whale in the sea" (one negative)


@pytest.fixture(scope="session")
def tiny() -> dict[str, Path]:
    return tiny_models()


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_film(folder: Path, model: str | Path, **companions: str | Path) -> Path:
    extra = "".join(f'\n  {key}: "{value}"' for key, value in companions.items())
    path = folder / "film.kscene"
    path.write_text(FILM.format(model=model, extra=extra), encoding="utf-8")
    return path


def decode(path: Path) -> tuple[int, float, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f for f in container.decode(stream)]
        return len(frames), float(stream.average_rate), stream.codec_context.width, stream.codec_context.height


def build(film: Path, output: Path, **options):
    plan = compile_module.compile_file(film)
    report = build_module.build(plan, output, build_module.BuildOptions(cache_dir=film.parent / "cache", **options))
    return plan, report


def expected_calls(plan, prior: int) -> dict[str, int]:
    """Pipeline calls by pipeline class: a frame that paints its band makes its one masked
    call with the img2img pipeline (the report counts it as "inpaint")."""
    calls = plan.model_calls()
    return {"text2image": calls["text2image"], "img2img": calls["img2img"] + calls["inpaint"], "inpaint": 0,
            "prior": prior}


def test_kandinsky_film_builds_with_exactly_the_planned_model_calls(tmp_path, tiny, monkeypatch):
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    forwards = DenoiserForwards(monkeypatch)
    film = write_film(tmp_path, tiny["kandinsky_decoder"])  # prior found beside it
    plan, report = build(film, tmp_path / "film.mp4")
    assert plan.model_calls()["inpaint"] > 0 and plan.model_calls()["img2img"] > 0  # the film exercises all
    assert hooks.counts == expected_calls(plan, prior=DISTINCT_PROMPTS)
    assert report.model_calls == {**plan.model_calls(), "prior": DISTINCT_PROMPTS}
    assert report.backend == "kandinsky2.2"
    assert decode(tmp_path / "film.mp4") == (8, 8.0, 64, 64)
    # Denoising steps: the report's equal the forwards that reached the denoisers, and the
    # plan's estimate (read from the model's scheduler config) equals the report.
    steps = report.denoising_steps
    assert steps["prior"] == forwards.counts["prior"] > 0
    assert steps["total"] - steps["prior"] == forwards.counts["unet"] > 0
    estimate = plan_estimate(plan)
    assert estimate.scheduler == "DDIMScheduler" and not estimate.assumptions
    assert estimate.denoising_steps == steps and estimate.model_calls == report.model_calls

    # A second build of the unchanged film takes every frame from the cache.
    hooks.counts.update({k: 0 for k in hooks.counts})
    _, again = build(film, tmp_path / "again.mp4")
    assert hooks.counts == {"text2image": 0, "img2img": 0, "inpaint": 0, "prior": 0}
    assert again.frames_cached == 8 and again.frames_rendered == 0
    assert again.denoising_steps["total"] == 0
    assert decode(tmp_path / "again.mp4") == (8, 8.0, 64, 64)


def test_the_progress_display_is_told_while_models_load_and_the_prior_runs(tmp_path, tiny, capsys):
    """A first load from the hub can take minutes: the user sees what is loading and how far
    the prior is, before the first frame; in a log (no terminal), as lines on stderr."""
    seen: list[tuple[str, str]] = []
    film = write_film(tmp_path, tiny["kandinsky_decoder"])
    build(film, tmp_path / "film.mp4", progress=lambda p: seen.append((p.phase, p.message)))
    first_frame = next(n for n, (phase, _) in enumerate(seen) if phase == "frame")
    said = [m for phase, m in seen[:first_frame] if phase == "status"]
    assert said[0] == f"loading model '{tiny['kandinsky_decoder']}'"
    assert any(m.startswith("loading prior '") for m in said), said
    assert said[-DISTINCT_PROMPTS:] == [f"prior: embedding prompt {n} of {DISTINCT_PROMPTS}"
                                        for n in range(1, DISTINCT_PROMPTS + 1)]
    assert not [m for phase, m in seen[first_frame:] if phase == "status"]  # nothing loads twice

    from kscript.cli import main

    assert main(["build", str(film), "--no-cache", "-o", str(tmp_path / "log.mp4")]) == 0
    err = capsys.readouterr().err  # not a terminal here: the status lines, then the summary
    assert f"  loading model '{tiny['kandinsky_decoder']}'\n" in err
    assert f"  prior: embedding prompt {DISTINCT_PROMPTS} of {DISTINCT_PROMPTS}\n" in err
    assert err.index("prior: embedding") < err.index("built ")


def test_kandinsky_with_named_companions(tmp_path, tiny, monkeypatch):
    # Names that follow no convention: the film must name the prior itself.
    (tmp_path / "painter").symlink_to(tiny["kandinsky_decoder"], target_is_directory=True)
    (tmp_path / "text-to-embedding").symlink_to(tiny["kandinsky_prior"], target_is_directory=True)
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    film = write_film(tmp_path, tmp_path / "painter", prior=tmp_path / "text-to-embedding")
    plan, report = build(film, tmp_path / "film.mp4")
    assert hooks.counts == expected_calls(plan, prior=DISTINCT_PROMPTS)
    assert decode(tmp_path / "film.mp4") == (8, 8.0, 64, 64)


def test_sd_film_builds_with_exactly_the_planned_model_calls(tmp_path, tiny, monkeypatch):
    hooks = PipelineCalls(monkeypatch, SD_CALL_CLASSES)
    forwards = DenoiserForwards(monkeypatch)
    film = write_film(tmp_path, tiny["sd"])
    plan, report = build(film, tmp_path / "film.mp4")
    assert hooks.counts == expected_calls(plan, prior=0)
    assert report.backend == "stable-diffusion"
    assert report.denoising_steps["total"] == forwards.counts["unet"] > 0 and report.denoising_steps["prior"] == 0
    assert plan_estimate(plan).denoising_steps == report.denoising_steps
    assert decode(tmp_path / "film.mp4") == (8, 8.0, 64, 64)
    hooks.counts.update({k: 0 for k in hooks.counts})
    build(film, tmp_path / "again.mp4")
    assert sum(hooks.counts.values()) == 0


def test_sd15_pndm_runs_one_forward_more_than_its_steps_and_the_estimate_knows(tmp_path, tiny, monkeypatch):
    from tiny_pipelines import build_stable_diffusion

    model = build_stable_diffusion(tmp_path / "sd15", scheduler="pndm")
    forwards = DenoiserForwards(monkeypatch)
    plan, report = build(write_film(tmp_path, model), tmp_path / "film.mp4")
    estimate = plan_estimate(plan)
    assert estimate.scheduler == "PNDMScheduler"
    assert report.denoising_steps == estimate.denoising_steps
    assert report.denoising_steps["total"] == forwards.counts["unet"]
    # 4 steps text2image: 5 forwards; each img2img/masked call of int(4 * 0.5) = 2 steps: 3
    calls = report.model_calls
    assert report.denoising_steps["text2image"] == 5 * calls["text2image"]
    assert report.denoising_steps["img2img"] == 3 * calls["img2img"]


def test_two_builds_give_identical_frames(tmp_path, tiny):
    film = write_film(tmp_path, tiny["kandinsky_decoder"])
    runs = []
    for name in ("one", "two"):
        frames: list[np.ndarray] = []
        build(film, tmp_path / f"{name}.mp4", no_cache=True, on_frame=lambda _i, image: frames.append(image.copy()))
        runs.append(frames)
    assert len(runs[0]) == len(runs[1]) == 8
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_missing_model_fails_before_any_frame_and_writes_no_video(tmp_path, monkeypatch):
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    film = write_film(tmp_path, tmp_path / "no-such-model")
    with pytest.raises(ModelError, match="was not found"):
        build(film, tmp_path / "film.mp4")
    assert not (tmp_path / "film.mp4").exists()
    assert sum(hooks.counts.values()) == 0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "kscript", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_cli_build_with_tiny_sd_reports_the_planned_calls(tmp_path, tiny):
    film = write_film(tmp_path, tiny["sd"], inpaint=tiny["sd_inpaint"])
    result = run_cli("build", str(film), "-q", "--report", str(tmp_path / "report.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    plan = compile_module.compile_file(film)
    assert report["model_calls"] == {**plan.model_calls(), "prior": 0}
    # the plan's JSON estimate, read from the same model, is what the build counted
    shown = run_cli("plan", str(film), "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["estimate"]["denoising_steps"] == report["denoising_steps"]
    assert report["frames_total"] == report["frames_rendered"] == 8
    assert decode(tmp_path / "film.mp4") == (8, 8.0, 64, 64)


def test_cli_missing_model_is_an_error_without_traceback(tmp_path):
    film = write_film(tmp_path, "kandinsky-community/kandinsky-2-2-decoder-not-cached")
    result = run_cli("build", str(film), "-q", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not in the local Hugging Face cache" in result.stderr
    assert "huggingface-cli download" in result.stderr
    assert not (tmp_path / "film.mp4").exists()


def test_an_edit_rerenders_only_the_frames_whose_keys_changed(tmp_path, tiny, monkeypatch):
    film = write_film(tmp_path, tiny["kandinsky_decoder"])
    old_plan, _ = build(film, tmp_path / "film.mp4")
    film.write_text(film.read_text().replace("a blue whale in the sea", "a green whale in the sea"))
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    new_plan, report = build(film, tmp_path / "film.mp4")
    old_keys = {f.key for f in old_plan.frames}
    changed = [f for f in new_plan.frames if f.key not in old_keys]
    assert changed and len(changed) < len(new_plan.frames)
    expected = {
        "text2image": sum(f.op == "generate" for f in changed),
        # one call per moving frame, with the img2img pipeline also where it paints its band
        # (see expected_calls)
        "img2img": sum(f.op in ("animate", "continue") for f in changed),
        "inpaint": 0,
        # the prior runs for the prompts of the frames that are rendered again, once each
        "prior": len({p.text for f in changed for p in f.prompts if f.op != "warp"}),
    }
    assert hooks.counts == expected
    assert report.frames_rendered == len(changed)


def test_cli_model_option_renders_a_preview_film_with_a_real_model(tmp_path, tiny):
    film = write_film(tmp_path, "preview")
    report_path = tmp_path / "report.json"
    result = run_cli("build", str(film), "-q", "--model", str(tiny["sd"]), "--report", str(report_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    plan = compile_module.compile_file(film)
    assert report["backend"] == "stable-diffusion"
    assert report["model_calls"] == {**plan.model_calls(), "prior": 0}
    # another model than the film's never takes the film's own video name
    assert Path(report["output"]).name == "film.sd.mp4" and not (tmp_path / "film.mp4").exists()


@pytest.mark.parametrize(
    "film_model, options, name",
    [
        ("models/k22", {}, "film.mp4"),
        ("models/k22", {"model": "models/k22"}, "film.mp4"),  # the film's own model
        ("models/k22", {"preview": True}, "film.preview.mp4"),
        ("models/k22", {"model": "preview"}, "film.preview.mp4"),
        ("models/k22", {"model": "runwayml/stable-diffusion-v1-5"}, "film.stable-diffusion-v1-5.mp4"),
        ("preview", {"model": "models/sd/"}, "film.sd.mp4"),
        ("preview", {"model": "Preview"}, "film.mp4"),
    ],
)
def test_a_model_other_than_the_films_never_replaces_the_films_video(film_model, options, name):
    from kscript.plan import FilmInfo, RenderPlan

    # only the film's model matters here: a plan without frames, not validated
    plan = RenderPlan.model_construct(film=FilmInfo(title="t", width=64, height=64, fps=8, seed=1, model=film_model, frame_count=1,
                                    duration=0.125), scenes=[], frames=[])
    draft = build_module.is_draft(plan, build_module.BuildOptions(**options))
    assert build_module.default_output("dir/film.kscene", draft=draft).name == name


def test_inpaint_option_lets_model_switch_family(tmp_path, tiny):
    # The film names a Kandinsky inpainting decoder; --model sd alone cannot use it, and
    # --inpaint none (or another SD inpainting checkpoint) switches the companion too.
    plan = compile_module.compile_file(write_film(tmp_path, tiny["kandinsky_decoder"], inpaint=tiny["kandinsky_inpaint"]))
    with pytest.raises(ModelError, match="not a Stable Diffusion inpainting model"):
        build_module.make_backend(plan, build_module.BuildOptions(model=str(tiny["sd"]))).has_inpaint
    backend = build_module.make_backend(plan, build_module.BuildOptions(model=str(tiny["sd"]), inpaint="none"))
    assert backend.name == "stable-diffusion" and not backend.has_inpaint
    backend = build_module.make_backend(plan, build_module.BuildOptions(model=str(tiny["sd"]), inpaint=str(tiny["sd_inpaint"])))
    assert backend.has_inpaint


def test_a_fully_cached_rebuild_imports_no_torch(tmp_path, tiny):
    film = write_film(tmp_path, tiny["sd"])
    build(film, tmp_path / "film.mp4", device="cpu")  # fills the cache (in this process)
    script = (
        "import sys\n"
        "from kscript.cli import main\n"
        f"code = main(['build', {str(film)!r}, '-q', '--device', 'cpu', '--cache', {str(tmp_path / 'cache')!r}])\n"
        "print('torch' in sys.modules, 'diffusers' in sys.modules)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]  # the fingerprint came from files


IMAGE_FILM = """\
film "tiny" {{
  size: 64x64
  fps: 8
  seed: 5
  model: "{model}"
  steps: 4
  strength: 0.5
}}

scene redrawn 3f {{
  image "photo.png"
  prompt "a red fox in the snow"
  zoom: 1.05
}}

scene as_is 3f {{
  image "photo.png"
  prompt "a red fox in the snow"
  strength: 0
}}
"""


@pytest.mark.parametrize("which,classes,prior", [("sd", "SD", 0), ("kandinsky_decoder", "KANDINSKY", 1)])
def test_an_init_image_film_builds_with_real_pipelines_and_the_planned_calls(tmp_path, tiny, monkeypatch,
                                                                              which, classes, prior):
    """docs/language.md "Init images": the first frame of `redrawn` is one img2img call from
    the picture, that of `as_is` the picture itself; no text2image anywhere."""
    from PIL import Image

    import tiny_pipelines

    picture = (np.random.default_rng(3).random((48, 96, 3)) * 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "photo.png")
    film = tmp_path / "film.kscene"
    film.write_text(IMAGE_FILM.format(model=tiny[which]), encoding="utf-8")
    hooks = PipelineCalls(monkeypatch, getattr(tiny_pipelines, f"{classes}_CALL_CLASSES"))
    forwards = DenoiserForwards(monkeypatch)
    shown: dict[int, np.ndarray] = {}
    plan, report = build(film, tmp_path / "film.mp4", on_frame=lambda i, img: shown.__setitem__(i, img.copy()))
    assert plan.model_calls() == {"text2image": 0, "img2img": 3, "inpaint": 0}  # 3 + 0: as_is warps only
    assert hooks.counts == expected_calls(plan, prior=prior)
    assert report.denoising_steps["total"] - report.denoising_steps["prior"] == forwards.counts["unet"] > 0
    assert plan_estimate(plan).denoising_steps == report.denoising_steps
    from kscript.images import fit

    assert np.array_equal(shown[3], fit(picture, 64, 64))  # the picture, cover-fitted, exactly
