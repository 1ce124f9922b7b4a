"""Errors inside model calls reach the user as kscript's ModelError, never a traceback:
what can be checked before the first frame is (a prior whose embeddings the decoder cannot
take), and the rest (a shape mismatch, the GPU out of memory) names the frame and keeps the
frames finished before it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kscript.backends import create_backend
from kscript.backends.common import call_error
from kscript.backends.preview import PreviewBackend
from kscript.errors import ModelError
from kscript.plan import FilmInfo
from kscript.render.build import BuildOptions, build

from plan_factory import SceneSpec, make_plan
from tiny_pipelines import build_kandinsky_decoder, build_kandinsky_prior


def film(model: str, **extra) -> FilmInfo:
    return FilmInfo(title="t", width=64, height=64, fps=8, seed=1, model=model, frame_count=1, duration=0.125, **extra)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.slow
def test_a_prior_the_decoder_cannot_take_is_refused_before_anything_loads(tmp_path):
    decoder = build_kandinsky_decoder(tmp_path / "decoder")
    prior = build_kandinsky_prior(tmp_path / "big-prior")
    config = json.loads((prior / "prior" / "config.json").read_text())
    config["embedding_dim"] = 48  # the tiny decoder takes 32
    (prior / "prior" / "config.json").write_text(json.dumps(config))
    backend = create_backend(film(str(decoder), prior=str(prior)))
    with pytest.raises(ModelError) as caught:
        backend.fingerprint  # resolving the companions, before any weight is read
    text = caught.value.render()
    assert "embeddings of size 48" in text and "size 32" in text and "not a pair" in text


def test_out_of_memory_names_the_frame_and_what_lowers_memory():
    err = call_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "frame 7 (scene 'a', 0.875s, animate)")
    text = err.render()
    assert text.startswith("error: frame 7 (scene 'a'") and "ran out of memory" in text
    assert "--offload" in text and "kept in the cache" in text


def test_a_shape_mismatch_says_the_models_do_not_fit_together():
    err = call_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x1280 and 768x320)"), "frame 0")
    assert "do not fit together" in err.message and "mat1 and mat2" in err.message


def test_a_long_library_message_is_cut_at_a_word_not_mid_sentence():
    err = call_error(ValueError("word " * 100), "frame 0")
    assert err.message.endswith("...") and "wor ..." not in err.message


class FailsAt(PreviewBackend):
    """The preview painter, failing in its `at`-th img2img call as a mismatched model would."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def img2img(self, image, req):
        if self.calls.img2img + 1 >= self.at:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x48 and 32x64)")
        return super().img2img(image, req)


def test_a_failure_mid_build_keeps_the_finished_frames(tmp_path):
    plan = make_plan([SceneSpec("s", 6)])
    options = BuildOptions(cache_dir=tmp_path / "cache", backend=FailsAt(4))  # frame 0 is text2image
    with pytest.raises(ModelError, match="frame 4"):
        build(plan, tmp_path / "out.mp4", options)
    report = build(plan, tmp_path / "out.mp4", BuildOptions(cache_dir=tmp_path / "cache"))
    assert report.frames_rendered == 2 and report.frames_cached == 4


def test_the_cli_prints_no_traceback_for_a_failing_model_call(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import kscript.render.build as b\n"
        "from test_backends_errors import FailsAt\n"
        "b.make_backend = lambda plan, options: FailsAt(2)\n"
        "from kscript.cli import main\n"
        "sys.exit(main(['build', sys.argv[1], '-q']))\n"
    )
    film_path = tmp_path / "f.kscene"
    film_path.write_text('film "f" {\n  size: 64x64\n  fps: 8\n}\nscene a 4f {\n  prompt "a"\n  x: 1\n}\n')
    result = subprocess.run([sys.executable, str(script), str(film_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "frame 2" in result.stderr and "do not fit together" in result.stderr
