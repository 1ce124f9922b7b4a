"""SD 1.x checkpoints as they are published: with diffusers' own safety checker listed in
`model_index.json` as `["stable_diffusion", "StableDiffusionSafetyChecker"]`.

They load (the checker is diffusers' code, not the model's); kscript turns the checker off
by default and says so; with `--safety-checker` a flagged frame (which the pipeline returns
black) stops the build with a ModelError instead of becoming the start of every later
frame, and the frames before it stay cached.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kscript.compile as compile_module
import kscript.render.build as build_module
from kscript.backends.loading import resolve_model
from kscript.errors import ModelError

from tiny_pipelines import build_stable_diffusion

pytestmark = pytest.mark.slow

FILM = """\
film "checked" {{
  size: 64x64
  fps: 8
  seed: 3
  model: "{model}"
  steps: 2
  strength: 0.5
}}

scene fox 3f {{
  prompt "a red fox"
  x: 1
}}
"""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sd-checked")
    return {
        "checked": build_stable_diffusion(root / "sd-checked", safety_checker=True),
        "flagging": build_stable_diffusion(root / "sd-flagging", safety_checker="flag"),
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build(tmp_path: Path, model: Path, **options):
    film = tmp_path / "film.kscene"
    film.write_text(FILM.format(model=model), encoding="utf-8")
    plan = compile_module.compile_file(film)
    frames: list[np.ndarray] = []
    report = build_module.build(
        plan, tmp_path / "film.mp4",
        build_module.BuildOptions(cache_dir=tmp_path / "cache", on_frame=lambda i, im: frames.append(im), **options),
    )
    return report, frames


def test_the_published_layout_names_diffusers_own_checker(checkpoints):
    index = json.loads((checkpoints["checked"] / "model_index.json").read_text())
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert resolve_model(str(checkpoints["checked"])).kind == "sd"


def test_a_checkpoint_with_a_checker_builds_with_the_checker_off_and_says_so(tmp_path, checkpoints, monkeypatch):
    seen = []
    from diffusers import StableDiffusionImg2ImgPipeline

    original = StableDiffusionImg2ImgPipeline.__call__

    def spy(pipe, *args, **kwargs):
        seen.append(pipe.safety_checker)
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionImg2ImgPipeline, "__call__", spy)
    # A checker that flags everything: were it on, every frame would come back black.
    report, frames = build(tmp_path, checkpoints["flagging"])
    assert report.frames_rendered == 3 and seen and all(checker is None for checker in seen)
    assert all(frame.max() > 0 for frame in frames)  # no black frame went into the chain
    assert any("safety checker" in note and "is off" in note for note in report.notes)


def test_with_the_checker_on_a_flagged_frame_stops_the_build_before_black_enters_the_chain(tmp_path, checkpoints):
    with pytest.raises(ModelError) as caught:
        build(tmp_path, checkpoints["flagging"], safety_checker=True)
    text = caught.value.render()
    assert "frame 0" in text and "safety checker flagged" in text and "black" in text
    assert "--safety-checker" in text
    assert not (tmp_path / "film.mp4").exists()


def test_with_the_checker_on_unflagged_frames_build_as_usual(tmp_path, checkpoints):
    report, frames = build(tmp_path, checkpoints["checked"], safety_checker=True)
    assert report.frames_rendered == 3 and len(frames) == 3
    assert any("safety checker" in note and "is on" in note for note in report.notes)
