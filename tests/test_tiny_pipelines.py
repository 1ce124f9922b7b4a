"""The light tiny Kandinsky decoder (`build_kandinsky_decoder(light=True)`), which
benchmarks/bench_outpaint_cost.py counts denoising steps with at 640x640: it loads through
kscript's own loader like a real model, has no attention block to make large frames slow,
scales by 8 like the real MoVQ, and runs the steps kscript asks for."""

from __future__ import annotations

import numpy as np
import pytest

from kscript.backends import create_backend
from kscript.backends.interface import Request
from kscript.backends.settings import ModelOptions
from kscript.plan import FilmInfo

from tiny_pipelines import DenoiserForwards, build_kandinsky_decoder, build_kandinsky_prior

pytestmark = pytest.mark.slow


def test_light_kandinsky_decoder_loads_through_kscript_and_runs_one_step(tmp_path, monkeypatch):
    from diffusers.models.attention_processor import Attention

    build_kandinsky_prior(tmp_path / "kandinsky-2-2-prior")
    decoder = build_kandinsky_decoder(tmp_path / "kandinsky-2-2-decoder", light=True)
    info = FilmInfo(title="t", width=64, height=64, fps=8, seed=1, model=str(decoder), frame_count=8, duration=1.0)
    backend = create_backend(info, device="cpu", options=ModelOptions(threads=1))
    backend.load()  # the from_pretrained path of a real model, its prior found beside it

    for module in (backend.decoder.unet, backend.decoder.movq):
        assert not any(isinstance(m, Attention) for m in module.modules()), type(module).__name__
    assert 2 ** (len(backend.decoder.movq.config.block_out_channels) - 1) == 8  # as the real MoVQ

    forwards = DenoiserForwards(monkeypatch)
    image = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    request = Request(prompts=(("a lighthouse", 1.0),), negative="", seed=3, steps=2, guidance=4.0,
                      strength=0.5, width=64, height=64)
    out = backend.img2img(image, request)  # int(2 x 0.5) = 1 denoising step
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert forwards.counts["unet"] == 1
