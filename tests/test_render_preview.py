"""The preview painter: deterministic, distinct per prompt, and truthful about strength."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kscript.render.backend import Request
from kscript.render.preview import PreviewBackend


def req(*prompts: tuple[str, float], seed: int = 1, strength: float = 0.35, size: int = 96) -> Request:
    return Request(prompts=tuple(prompts), negative="", seed=seed, steps=4, guidance=4.0, strength=strength, width=size, height=size)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_same_prompt_and_seed_give_identical_bytes_across_instances():
    a = PreviewBackend().text2image(req(("a neon city street at night", 1.0)))
    b = PreviewBackend().text2image(req(("a neon city street at night", 1.0)))
    assert a.dtype == np.uint8 and a.shape == (96, 96, 3)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "other",
    ["stormy sea, dramatic light", "a misty autumn park at dawn", "a neon city street at sunrise", "red"],
)
def test_different_prompts_look_different(other):
    be = PreviewBackend()
    base = be.text2image(req(("a neon city street at night", 1.0)))
    assert diff(base, be.text2image(req((other, 1.0)))) > 8


def test_seed_varies_the_picture_less_than_the_prompt_does():
    be = PreviewBackend()
    a = be.text2image(req(("a forest at dawn", 1.0), seed=1))
    b = be.text2image(req(("a forest at dawn", 1.0), seed=2))
    other = be.text2image(req(("stormy sea", 1.0), seed=1))
    assert 1 < diff(a, b) < diff(a, other)


def test_img2img_ignores_the_per_frame_seed():
    # The plan gives every frame its own seed; the preview must not flicker with it.
    be = PreviewBackend()
    image = be.text2image(req(("a forest", 1.0), seed=1))
    a = be.img2img(image, req(("a forest", 1.0), seed=5))
    b = be.img2img(image, req(("a forest", 1.0), seed=6))
    assert a.tobytes() == b.tobytes()


def test_words_steer_colours():
    be = PreviewBackend()
    night = be.text2image(req(("the sky at night", 1.0))).astype(float).mean()
    snow = be.text2image(req(("white snow", 1.0))).astype(float).mean()
    assert snow > night + 40
    sea = be.text2image(req(("the sea", 1.0))).astype(float).mean(axis=(0, 1))
    assert sea[2] > sea[0]  # blue over red


def test_a_blend_lies_between_its_prompts_by_weight():
    be = PreviewBackend()
    a = be.text2image(req(("a forest", 1.0))).astype(float)
    b = be.text2image(req(("the sea at night", 1.0))).astype(float)
    quarter = be.text2image(req(("a forest", 0.75), ("the sea at night", 0.25))).astype(float)
    assert np.abs(quarter - (0.75 * a + 0.25 * b)).max() <= 1.01


def test_img2img_moves_toward_the_painting_by_strength():
    be = PreviewBackend()
    image = be.text2image(req(("a forest", 1.0)))
    target = be.text2image(req(("the sea at night", 1.0)))
    gaps = [diff(be.img2img(image, req(("the sea at night", 1.0), strength=s)), target) for s in (0.0, 0.3, 0.6, 1.0)]
    assert gaps[0] == pytest.approx(diff(image, target), abs=0.6)
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3]


def test_img2img_keeps_structure_so_motion_stays_visible():
    be = PreviewBackend()
    image = be.text2image(req(("a forest", 1.0)))
    shifted = np.roll(image, 9, axis=1)
    out = be.img2img(shifted, req(("a forest", 1.0), strength=0.35))
    # The result looks more like the moved image than like the painting it is pulled toward.
    assert diff(out, shifted) < diff(out, image)


def test_inpaint_paints_only_the_mask():
    be = PreviewBackend()
    image = np.zeros((96, 96, 3), np.uint8)
    mask = np.zeros((96, 96), np.float32)
    mask[:, :10] = 1
    out = be.inpaint(image, mask, req(("a sunrise over the desert", 1.0)))
    painting = be.painting(req(("a sunrise over the desert", 1.0))).pixels
    assert np.array_equal(out[:, 10:], image[:, 10:])
    assert np.abs(out[:, :10].astype(int) - painting[:, :10]).max() <= 1
    assert be.calls.as_dict() == {"text2image": 0, "img2img": 0, "inpaint": 1, "prior": 0}


def test_steps_are_reported():
    seen = []
    r = Request(prompts=(("x", 1.0),), negative="", seed=0, steps=9, guidance=1, strength=0.5, width=16, height=16, on_step=lambda s, n: seen.append((s, n)))
    PreviewBackend().text2image(r)
    assert seen == [(1, 1)]


def test_preview_imports_no_torch():
    code = (
        "import sys; from kscript.render.preview import PreviewBackend; from kscript.render.build import build; "
        "print([m for m in ('torch', 'diffusers') if m in sys.modules]); "
        "sys.exit(1 if 'torch' in sys.modules or 'diffusers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
