"""The diffusers backends' calls on tiny random-weight models: images of the right shape
and type, deterministic, prior once per distinct prompt, blends that interpolate
embeddings, progress and cancellation through the step callback, the steps guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kscript.backends import create_backend
from kscript.backends.common import blend_slerp, effective_steps, slerp
from kscript.plan import FilmInfo
from kscript.backends.interface import Request

from tiny_pipelines import KANDINSKY_CALL_CLASSES, PipelineCalls, tiny_models

pytestmark = pytest.mark.slow


class Cancelled(Exception):
    """Stands for the executor's BuildCancelled."""


@pytest.fixture(scope="session")
def tiny() -> dict[str, Path]:
    return tiny_models()


def film(model: str, width: int = 64, height: int = 64, **extra) -> FilmInfo:
    return FilmInfo(
        title="t", width=width, height=height, fps=8, seed=7, model=model, frame_count=8, duration=1.0, **extra
    )


@pytest.fixture(scope="module")
def kandinsky(tiny):
    backend = create_backend(film(str(tiny["kandinsky_decoder"])), device="cpu")
    backend.load()
    return backend


@pytest.fixture(scope="module")
def sd(tiny):
    backend = create_backend(film(str(tiny["sd"]), inpaint=str(tiny["sd_inpaint"])), device="cpu")
    backend.load()
    return backend


@pytest.fixture(params=["kandinsky", "sd"])
def backend(request):
    return request.getfixturevalue(request.param)


def req(*prompts: tuple[str, float], seed: int = 11, steps: int = 4, strength: float = 0.5, on_step=None, size=64) -> Request:
    return Request(
        prompts=tuple(prompts) or (("a lighthouse at dusk", 1.0),),
        negative="blurry",
        seed=seed,
        steps=steps,
        guidance=4.0,
        strength=strength,
        width=size,
        height=size,
        on_step=on_step,
    )


def start_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)


def border_mask() -> np.ndarray:
    mask = np.zeros((64, 64), np.float32)
    mask[:, :12] = 1.0
    mask[:, 12:16] = 0.5  # a feathered edge
    return mask


# -- shapes, types, determinism ---------------------------------------------------------------


def test_every_call_returns_uint8_rgb_at_the_films_size(backend):
    first = backend.text2image(req())
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    second = backend.img2img(first, req())
    assert second.shape == (64, 64, 3) and second.dtype == np.uint8
    filled = backend.inpaint(second, border_mask(), req())
    assert filled.shape == (64, 64, 3) and filled.dtype == np.uint8


def test_same_request_and_seed_give_identical_images(backend):
    assert np.array_equal(backend.text2image(req()), backend.text2image(req()))
    image = start_image()
    assert np.array_equal(backend.img2img(image, req()), backend.img2img(image, req()))
    assert np.array_equal(backend.inpaint(image, border_mask(), req()), backend.inpaint(image, border_mask(), req()))


def test_another_seed_gives_another_image(backend):
    assert not np.array_equal(backend.text2image(req(seed=1)), backend.text2image(req(seed=2)))


def test_img2img_starts_from_the_image(backend):
    a, b = start_image(1), start_image(2)
    assert not np.array_equal(backend.img2img(a, req()), backend.img2img(b, req()))


def test_inpaint_keeps_pixels_outside_the_mask(backend):
    image = start_image(3)
    mask = border_mask()
    out = backend.inpaint(image, mask, req())
    assert np.array_equal(out[:, 16:], image[:, 16:])
    assert not np.array_equal(out[:, :12], image[:, :12])


@pytest.mark.parametrize("family", ["kandinsky_decoder", "sd"])
def test_sizes_the_autoencoder_cannot_take_are_rendered_and_resized_back(tiny, family):
    backend = create_backend(film(str(tiny[family]), width=60, height=44), device="cpu")
    image = backend.text2image(Request((("a cat", 1.0),), "", 1, 2, 4.0, 0.5, 60, 44))
    assert image.shape == (44, 60, 3)
    assert backend.img2img(image, Request((("a cat", 1.0),), "", 1, 2, 4.0, 0.5, 60, 44)).shape == (44, 60, 3)


def test_backend_counts_its_calls(tiny, monkeypatch):
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    backend = create_backend(film(str(tiny["kandinsky_decoder"])), device="cpu")
    image = backend.text2image(req())
    image = backend.inpaint(image, border_mask(), req())
    image = backend.img2img(image, req())
    assert backend.calls.as_dict() == hooks.counts == {"text2image": 1, "img2img": 1, "inpaint": 1, "prior": 1}


# -- the prior and blends (Kandinsky) --------------------------------------------------------------


def test_prior_runs_once_per_distinct_prompt_across_many_frames(tiny, monkeypatch):
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    backend = create_backend(film(str(tiny["kandinsky_decoder"])), device="cpu")
    image = backend.text2image(req(("a fox", 1.0)))
    for frame in range(12):
        w = frame / 11
        prompts = (("a fox", 1.0),) if frame < 4 else (("a fox", 1.0 - w), ("a whale", w))
        image = backend.img2img(image, req(*prompts, seed=frame, steps=2))
    assert hooks.counts["prior"] == backend.calls.prior == 2
    assert hooks.counts["img2img"] == 12 and hooks.counts["text2image"] == 1


def test_a_new_negative_is_a_new_prior_call(tiny, monkeypatch):
    hooks = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)
    backend = create_backend(film(str(tiny["kandinsky_decoder"])), device="cpu")
    backend.text2image(req(("a fox", 1.0)))
    backend.text2image(Request((("a fox", 1.0),), "", 1, 2, 4.0, 0.5, 64, 64))
    assert hooks.counts["prior"] == 2


def test_prior_embedding_does_not_follow_the_frame_seed(kandinsky):
    a = kandinsky.embeddings_for(req(("a fox", 1.0), seed=1))[0]
    b = kandinsky.embeddings_for(req(("a fox", 1.0), seed=2))[0]
    assert np.array_equal(a.numpy(), b.numpy())


def test_kandinsky_blend_endpoints_are_the_single_prompts(kandinsky):
    fox = kandinsky.embeddings_for(req(("a fox", 1.0)))
    whale = kandinsky.embeddings_for(req(("a whale", 1.0)))
    at_fox = kandinsky.embeddings_for(req(("a fox", 1.0), ("a whale", 0.0)))
    at_whale = kandinsky.embeddings_for(req(("a fox", 0.0), ("a whale", 1.0)))
    for got, want in ((at_fox, fox), (at_whale, whale)):
        assert np.array_equal(got[0].numpy(), want[0].numpy())
        assert np.array_equal(got[1].numpy(), want[1].numpy())
    image = start_image()
    assert np.array_equal(
        kandinsky.img2img(image, req(("a fox", 1.0), ("a whale", 0.0))), kandinsky.img2img(image, req(("a fox", 1.0)))
    )


def test_kandinsky_blend_moves_along_the_arc(kandinsky):
    import torch

    fox = kandinsky.embeddings_for(req(("a fox", 1.0)))[0]
    whale = kandinsky.embeddings_for(req(("a whale", 1.0)))[0]
    half = kandinsky.embeddings_for(req(("a fox", 0.5), ("a whale", 0.5)))[0]
    assert torch.allclose(half, slerp(fox, whale, 0.5))
    cos = torch.nn.functional.cosine_similarity
    # Between the ends: closer to each than they are to each other.
    assert min(float(cos(half, fox)), float(cos(half, whale))) > float(cos(fox, whale))
    # Along the arc the norm does not dip the way a straight line's does midway.
    linear = 0.5 * fox + 0.5 * whale
    assert float(half.norm()) > float(linear.norm())
    assert float(half.norm()) >= min(float(fox.norm()), float(whale.norm())) - 1e-4


def test_blend_changes_the_image(kandinsky):
    image = start_image()
    fox = kandinsky.img2img(image, req(("a fox", 1.0)))
    half = kandinsky.img2img(image, req(("a fox", 0.5), ("a whale", 0.5)))
    assert not np.array_equal(fox, half)


# -- prompt embeddings and blends (Stable Diffusion) ---------------------------------------------------


def test_sd_encodes_each_text_once(tiny):
    backend = create_backend(film(str(tiny["sd"])), device="cpu")
    image = backend.text2image(req(("a fox", 1.0)))
    for frame in range(6):
        image = backend.img2img(image, req(("a fox", 0.5), ("a whale", 0.5), seed=frame, steps=2))
    assert backend.encoder_calls == 3  # "a fox", "a whale", the negative "blurry"
    assert backend.calls.prior == 0


def test_sd_blend_is_the_weighted_sum_of_embeddings(sd):
    pipe = sd.img2img_pipe
    fox = sd.embedding_kwargs(pipe, req(("a fox", 1.0)))["prompt_embeds"]
    whale = sd.embedding_kwargs(pipe, req(("a whale", 1.0)))["prompt_embeds"]
    at_fox = sd.embedding_kwargs(pipe, req(("a fox", 1.0), ("a whale", 0.0)))["prompt_embeds"]
    quarter = sd.embedding_kwargs(pipe, req(("a fox", 0.75), ("a whale", 0.25)))["prompt_embeds"]
    assert np.array_equal(at_fox.numpy(), fox.numpy())
    assert np.allclose(quarter.numpy(), (0.75 * fox + 0.25 * whale).numpy(), atol=1e-6)
    assert not np.allclose(fox.numpy(), whale.numpy())


def test_sd_embeddings_give_the_same_image_as_the_prompt_text(sd):
    """Passing cached embeddings is the same as letting the pipeline encode the text."""
    from kscript.backends.common import from_output
    from kscript.backends.device import generator

    ours = sd.text2image(req(("a fox", 1.0)))
    out = sd.text2image_pipe(
        prompt="a fox", negative_prompt="blurry", width=64, height=64, num_inference_steps=4, guidance_scale=4.0,
        generator=generator(11), output_type="np",
    )
    assert np.array_equal(ours, from_output(out.images, 64, 64))


def test_sd_without_inpaint_model_has_no_inpaint(tiny):
    assert create_backend(film(str(tiny["sd"])), device="cpu").has_inpaint is False


def test_sd_shares_weights_between_text2image_and_img2img(sd):
    assert sd.img2img_pipe.unet is sd.text2image_pipe.unet
    assert sd.img2img_pipe.vae is sd.text2image_pipe.vae


def test_kandinsky_shares_the_decoder_between_text2image_and_img2img(kandinsky):
    assert kandinsky.img2img_pipe.unet is kandinsky.decoder.unet
    assert kandinsky.img2img_pipe.movq is kandinsky.decoder.movq


# -- progress and cancellation -----------------------------------------------------------------------


def test_on_step_reports_every_step(backend):
    seen: list[tuple[int, int]] = []
    backend.text2image(req(steps=4, on_step=lambda s, n: seen.append((s, n))))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seen.clear()
    backend.img2img(start_image(), req(steps=4, strength=0.5, on_step=lambda s, n: seen.append((s, n))))
    assert seen == [(1, 2), (2, 2)]
    seen.clear()
    backend.inpaint(start_image(), border_mask(), req(steps=3, on_step=lambda s, n: seen.append((s, n))))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("call", ["text2image", "img2img", "inpaint"])
def test_raising_from_on_step_cancels_the_call(backend, call):
    steps_seen = []
    cancel = Cancelled("stop")

    def on_step(step, total):
        steps_seen.append(step)
        if step == 2:
            raise cancel

    before = backend.calls.as_dict()
    r = req(steps=4, strength=1.0, on_step=on_step)
    args = {"text2image": (r,), "img2img": (start_image(), r), "inpaint": (start_image(), border_mask(), r)}[call]
    with pytest.raises(Cancelled) as err:
        getattr(backend, call)(*args)
    assert err.value is cancel  # the very exception, not a wrapper
    assert steps_seen == [1, 2]  # no step ran after the one that raised
    assert backend.calls.as_dict() == before  # a cancelled call is not a call


# -- the steps guard ---------------------------------------------------------------------------------


@given(steps=st.integers(1, 60), strength=st.floats(1e-7, 1.0))
@settings(max_examples=300, deadline=None)
def test_effective_steps_run_one_step_at_least_and_never_past_the_ceiling(steps, strength):
    from kscript.plan import MAX_STEPS

    got = effective_steps(steps, strength)
    if got == 0:  # too faint: no model call at all
        assert strength < 1.01 / MAX_STEPS and int(MAX_STEPS * strength) < 1
        return
    assert int(got * strength) >= 1
    assert steps <= got <= MAX_STEPS
    if int(steps * strength) >= 1:
        assert got == steps
    else:
        assert int((got - 1) * strength) < 1  # raised no further than needed


@pytest.mark.parametrize("strength", [0.1, 0.05, 0.3])
def test_low_strength_raises_steps_instead_of_crashing(backend, strength):
    seen = []
    image = start_image()
    out = backend.img2img(image, req(steps=2, strength=strength, on_step=lambda s, n: seen.append((s, n))))
    assert out.shape == (64, 64, 3)
    assert seen == [(1, 1)]  # exactly one denoising step ran


def test_zero_strength_makes_no_model_call(backend):
    before = backend.calls.img2img
    image = start_image()
    assert np.array_equal(backend.img2img(image, req(strength=0.0)), image)
    assert backend.calls.img2img == before


def test_blend_slerp_weights_one_and_zero():
    import torch

    a, b, c = torch.randn(1, 8), torch.randn(1, 8), torch.randn(1, 8)
    assert torch.equal(blend_slerp([(a, 1.0), (b, 0.0)]), a)
    assert torch.equal(blend_slerp([(a, 0.0), (b, 1.0)]), b)
    assert torch.equal(blend_slerp([(a, 0.0), (b, 0.0), (c, 1.0)]), c)
    assert torch.allclose(blend_slerp([(a, 0.5), (b, 0.5)]), slerp(a, b, 0.5))


# -- Kandinsky's inpaint mask, vectorised -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_fast_kandinsky_mask_equals_diffusers_own(seed):
    import copy

    import torch
    from diffusers.pipelines.kandinsky2_2 import pipeline_kandinsky2_2_inpainting as module

    from kscript.backends.common import prepare_mask_fast

    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 14, size=2)
    density = [0.05, 0.5, 0.95][seed % 3]
    masks = torch.from_numpy((rng.random((2, 1, height, width)) > density).astype(np.float32))
    if seed == 0:
        masks[0] = 1.0  # nothing to paint
    assert torch.equal(prepare_mask_fast(copy.deepcopy(masks)), module.prepare_mask(copy.deepcopy(masks)))


def test_fast_mask_is_used_only_inside_the_inpaint_call(kandinsky, monkeypatch):
    from diffusers.pipelines.kandinsky2_2 import pipeline_kandinsky2_2_inpainting as module

    from kscript.backends import common

    original = module.prepare_mask
    used = []
    real_fast = common.prepare_mask_fast
    monkeypatch.setattr(common, "prepare_mask_fast", lambda masks: used.append(1) or real_fast(masks))
    kandinsky.inpaint(start_image(), border_mask(), req(steps=2))
    assert used == [1]
    assert module.prepare_mask is original


def test_combined_pipeline_folder_brings_its_own_prior(tiny):
    backend = create_backend(film(str(tiny["kandinsky_combined"])), device="cpu")
    backend.load()
    assert backend.name == "kandinsky2.2" and not backend.has_inpaint  # "combined" has no usual companions
    image = backend.text2image(req(("a fox", 1.0)))
    assert image.shape == (64, 64, 3)
    assert backend.calls.prior == 1
    assert backend.img2img_pipe.unet is backend.decoder.unet


def test_combined_folder_paints_like_its_parts(tiny, kandinsky):
    """The same weights loaded as one Combined folder or as decoder + prior give the same image."""
    combined = create_backend(film(str(tiny["kandinsky_combined"])), device="cpu")
    assert np.array_equal(combined.text2image(req(("a fox", 1.0))), kandinsky.text2image(req(("a fox", 1.0))))


def test_a_loaded_backend_follows_the_request_size(backend):
    """Watch mode keeps one backend while the film's size is edited: size comes per request."""
    r = Request((("a cat", 1.0),), "", 1, 2, 4.0, 0.5, 48, 40)
    image = backend.text2image(r)
    assert image.shape == (40, 48, 3)
    assert backend.img2img(image, r).shape == (40, 48, 3)
    mask = np.zeros((40, 48), np.float32)
    mask[:, :8] = 1
    assert backend.inpaint(image, mask, r).shape == (40, 48, 3)


def test_close_drops_the_models_and_a_later_call_loads_them_again(tiny):
    backend = create_backend(film(str(tiny["sd"])), device="cpu")
    first = backend.text2image(req())
    backend.close()
    assert backend.text2image_pipe is None and backend.embeddings == {}
    assert np.array_equal(backend.text2image(req()), first)


# -- Stable Diffusion XL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl(tiny):
    backend = create_backend(film(str(tiny["sdxl"])), device="cpu")
    backend.load()
    return backend


def test_sdxl_renders_with_pooled_embeddings(sdxl):
    assert sdxl.xl and type(sdxl.text2image_pipe).__name__ == "StableDiffusionXLPipeline"
    image = sdxl.text2image(req(("a fox", 1.0)))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(sdxl.img2img(image, req(("a fox", 1.0))), sdxl.img2img(image, req(("a fox", 1.0))))


def test_sdxl_blends_embeddings_and_pooled_embeddings(sdxl):
    pipe = sdxl.img2img_pipe
    fox = sdxl.embedding_kwargs(pipe, req(("a fox", 1.0)))
    whale = sdxl.embedding_kwargs(pipe, req(("a whale", 1.0)))
    mix = sdxl.embedding_kwargs(pipe, req(("a fox", 0.25), ("a whale", 0.75)))
    for key in ("prompt_embeds", "pooled_prompt_embeds"):
        assert np.allclose(mix[key].numpy(), (0.25 * fox[key] + 0.75 * whale[key]).numpy(), atol=1e-6)


def test_sdxl_empty_negative_is_zeros_as_sdxl_itself_does(sdxl):
    r = Request((("a fox", 1.0),), "", 1, 2, 4.0, 0.5, 64, 64)
    kwargs = sdxl.embedding_kwargs(sdxl.text2image_pipe, r)
    assert not kwargs["negative_prompt_embeds"].any() and not kwargs["negative_pooled_prompt_embeds"].any()
    # ... and the image equals the pipeline's own handling of the same text
    from kscript.backends.common import from_output
    from kscript.backends.device import generator

    out = sdxl.text2image_pipe(
        prompt="a fox", width=64, height=64, num_inference_steps=2, guidance_scale=4.0,
        generator=generator(1), output_type="np",
    )
    assert np.array_equal(sdxl.text2image(r), from_output(out.images, 64, 64))


def test_repaint_is_one_img2img_call_costing_what_img2img_costs(backend):
    """The outpainting call: one call of the img2img pipeline, as many denoiser forwards as
    the frame's img2img call, counted as one inpaint call."""
    image, r = start_image(), req(steps=8, strength=0.5)
    calls, steps = backend.calls.as_dict(), backend.steps.as_dict()
    backend.img2img(image, r)
    img2img_forwards = backend.steps.img2img - steps["img2img"]
    out = backend.repaint(image, border_mask(), r)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert backend.calls.inpaint - calls["inpaint"] == 1 and backend.calls.img2img - calls["img2img"] == 1
    assert backend.steps.inpaint - steps["inpaint"] == img2img_forwards == 4


def test_repaint_paints_the_band_more_than_the_rest(backend):
    # The band starts from noise; the rest is redrawn at strength 0.25 from the image.
    image, mask = start_image(), border_mask()
    out = backend.repaint(image, mask, req(steps=8, strength=0.25)).astype(np.float32)
    change = np.abs(out - image.astype(np.float32)).mean(axis=2)
    assert change[mask > 0.99].mean() > change[mask == 0].mean()
