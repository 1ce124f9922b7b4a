"""Finding and loading models: every user mistake is a ModelError that says what was looked
for and how to fix it, raised before any frame is rendered; never another exception."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kscript.backends import create_backend
from kscript.backends.loading import companion, looks_like_hub_id, resolve_model
from kscript.errors import ModelError, UsageError
from kscript.plan import FilmInfo

from tiny_pipelines import tiny_models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny() -> dict[str, Path]:
    return tiny_models()


def film(model: str, **extra) -> FilmInfo:
    return FilmInfo(title="t", width=64, height=64, fps=8, seed=1, model=model, frame_count=8, duration=1.0, **extra)


def open_backend(info: FilmInfo, **kwargs):
    """create_backend + load: where a build meets a model, before any frame."""
    backend = create_backend(info, **kwargs)
    backend.load()
    return backend


def test_missing_folder_names_the_path_and_the_fix(tmp_path):
    missing = tmp_path / "models" / "my-decoder"
    with pytest.raises(ModelError) as err:
        open_backend(film(str(missing)))
    assert "was not found" in err.value.message
    assert str(missing) in err.value.message
    assert "model_index.json" in err.value.hint and "preview" in err.value.hint
    assert err.value.render().startswith("error: ")


def test_folder_without_model_index_is_not_a_diffusers_model(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "unet.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="is not a diffusers model: .* has no model_index.json"):
        open_backend(film(str(tmp_path / "weights")))


def test_a_checkpoint_file_is_not_a_folder(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="is a file") as err:
        open_backend(film(str(ckpt)))
    assert "from_single_file" in err.value.hint


def test_damaged_model_index_is_a_model_error(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        open_backend(film(str(tmp_path / "broken")))


def test_unsupported_pipeline_class_is_refused(tmp_path):
    (tmp_path / "flux").mkdir()
    (tmp_path / "flux" / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(ModelError, match="is a FluxPipeline, which kscript cannot render with") as err:
        open_backend(film(str(tmp_path / "flux")))
    assert "Kandinsky 2.2" in err.value.hint


def test_a_model_with_its_own_code_is_never_run(tmp_path, tiny):
    folder = tmp_path / "custom"
    shutil.copytree(tiny["sd"], folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["unet"] = ["my_pipeline_code", "MyUNet"]
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="never runs"):
        open_backend(film(str(folder)))


def test_offline_hub_id_not_in_cache_says_how_to_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = "kandinsky-community/kandinsky-2-2-decoder-not-cached-here"
    with pytest.raises(ModelError) as err:
        open_backend(film(spec))
    assert "not in the local Hugging Face cache" in err.value.message
    assert "network is off" in err.value.message
    assert f"huggingface-cli download {spec}" in err.value.hint


def test_decoder_without_a_prior_names_the_usual_companion(tmp_path, tiny):
    decoder = tmp_path / "kandinsky-2-2-decoder"
    shutil.copytree(tiny["kandinsky_decoder"], decoder)
    with pytest.raises(ModelError) as err:
        open_backend(film(str(decoder)))
    assert "needs a prior" in err.value.message
    assert str(tmp_path / "kandinsky-2-2-prior") in err.value.message
    assert "prior:" in err.value.hint


def test_decoder_with_an_unusual_name_and_no_prior(tmp_path, tiny):
    decoder = tmp_path / "my-painter"
    shutil.copytree(tiny["kandinsky_decoder"], decoder)
    with pytest.raises(ModelError, match="needs a prior, and none is named"):
        open_backend(film(str(decoder)))


def test_named_prior_that_is_not_a_prior(tiny):
    with pytest.raises(ModelError, match="is a KandinskyV22Pipeline, not a Kandinsky 2.2 prior"):
        open_backend(film(str(tiny["kandinsky_decoder"]), prior=str(tiny["kandinsky_decoder"])))


def test_prior_as_the_model_says_which_is_which(tiny):
    with pytest.raises(ModelError, match="is a Kandinsky 2.2 prior") as err:
        open_backend(film(str(tiny["kandinsky_prior"])))
    assert "as prior:" in err.value.hint


def test_inpainting_decoder_as_the_model(tiny):
    with pytest.raises(ModelError, match="inpainting decoder") as err:
        open_backend(film(str(tiny["kandinsky_inpaint"])))
    assert "as inpaint:" in err.value.hint


def test_sd_img2img_checkpoint_used_as_inpaint_is_refused_before_loading(tiny):
    with pytest.raises(ModelError) as err:
        open_backend(film(str(tiny["sd"]), inpaint=str(tiny["sd"])))
    assert "is not an inpainting model" in err.value.message
    assert "4 input channels" in err.value.message and "9" in err.value.message


def test_kandinsky_decoder_used_as_inpaint_is_refused(tiny):
    with pytest.raises(ModelError, match="not a Kandinsky 2.2 inpainting decoder"):
        open_backend(film(str(tiny["kandinsky_decoder"]), inpaint=str(tiny["kandinsky_decoder"])))


def test_sd_inpainting_checkpoint_as_the_model(tiny):
    with pytest.raises(ModelError, match="inpainting checkpoint"):
        open_backend(film(str(tiny["sd_inpaint"])))


def test_damaged_weights_are_a_model_error_from_load(tmp_path, tiny):
    folder = tmp_path / "sd"
    shutil.copytree(tiny["sd"], folder)
    weights = next((folder / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    backend = create_backend(film(str(folder)))  # finding it works: the files are there
    with pytest.raises(ModelError, match="could not be loaded as") as err:
        backend.load()
    assert "download or save it again" in err.value.hint


def test_companions_found_beside_the_decoder(tiny):
    backend = open_backend(film(str(tiny["kandinsky_decoder"])))
    assert backend.name == "kandinsky2.2"
    assert backend.has_inpaint
    assert str(tiny["kandinsky_prior"]) in backend.fingerprint
    assert str(tiny["kandinsky_inpaint"]) in backend.fingerprint


def test_relative_model_folder_is_read_from_the_films_folder(tiny):
    base = tiny["sd"].parent
    backend = create_backend(film("sd"), base_dir=base)
    assert backend.name == "stable-diffusion"
    assert backend.source.folder == tiny["sd"].resolve()


def test_model_option_overrides_the_film(tiny):
    backend = create_backend(film("preview"), model=str(tiny["sd"]))
    assert backend.name == "stable-diffusion"
    assert backend.film.model == str(tiny["sd"])


def test_fingerprint_changes_with_the_weights(tmp_path, tiny):
    a = tmp_path / "a"
    shutil.copytree(tiny["sd"], a)
    before = create_backend(film(str(a))).fingerprint
    assert create_backend(film(str(a))).fingerprint == before
    config = json.loads((a / "unet" / "config.json").read_text())
    config["sample_size"] = 16
    (a / "unet" / "config.json").write_text(json.dumps(config))
    assert create_backend(film(str(a))).fingerprint != before


def test_unknown_device_is_a_usage_error(tiny):
    backend = create_backend(film(str(tiny["sd"])), device="gpu7")
    with pytest.raises(UsageError, match="unknown device 'gpu7'"):
        backend.load()


def test_unavailable_cuda_is_a_usage_error(tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    backend = create_backend(film(str(tiny["sd"])), device="cuda")
    with pytest.raises(UsageError, match="not available"):
        backend.load()


def test_cpu_runs_in_float32(tiny):
    import torch

    backend = open_backend(film(str(tiny["sd"])), device="cpu")
    assert backend.device.type == "cpu" and backend.dtype == torch.float32
    assert backend.text2image_pipe.unet.dtype == torch.float32


@pytest.mark.parametrize(
    ("spec", "part", "expected"),
    [
        ("kandinsky-community/kandinsky-2-2-decoder", "prior", "kandinsky-community/kandinsky-2-2-prior"),
        ("kandinsky-community/kandinsky-2-2-decoder", "inpaint", "kandinsky-community/kandinsky-2-2-decoder-inpaint"),
        ("models/kandinsky-2-2-decoder/", "prior", "models/kandinsky-2-2-prior"),
        ("kandinsky-community/kandinsky-2-2-decoder-inpaint", "prior", None),
        ("my/painter", "prior", None),
    ],
)
def test_usual_companion_names(spec, part, expected):
    assert companion(spec, part) == expected


@pytest.mark.parametrize(
    ("spec", "hub"),
    [("org/name", True), ("kandinsky-community/kandinsky-2-2-decoder", True), ("./org/name", False), ("a/b/c", False), ("name", False)],
)
def test_what_counts_as_a_hub_id(spec, hub):
    assert looks_like_hub_id(spec) is hub


def test_single_word_that_is_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="'mymodel' was not found"):
        resolve_model("mymodel")


def test_importing_backends_is_cheap():
    code = "import sys, kscript.backends; bad = {'torch', 'diffusers', 'transformers'} & set(sys.modules); print(sorted(bad)); sys.exit(bool(bad))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def fake_hub_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """Lay `folder` out as the Hugging Face cache does after a download of `repo_id`."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)


def test_cached_hub_ids_load_offline_with_their_companions(tmp_path, tiny):
    """The way most users meet real models: hub ids, downloaded once, used offline."""
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "tiny-org/kandinsky-2-2-decoder", tiny["kandinsky_decoder"])
    fake_hub_cache(cache, "tiny-org/kandinsky-2-2-prior", tiny["kandinsky_prior"])
    fake_hub_cache(cache, "tiny-org/sd", tiny["sd"])
    fake_hub_cache(cache, "lonely-org/kandinsky-2-2-decoder", tiny["kandinsky_decoder"])  # no prior cached
    code = """
import numpy as np
from kscript.backends import create_backend
from kscript.errors import ModelError
from kscript.plan import FilmInfo
from kscript.backends.interface import Request
def film(model, **kw):
    return FilmInfo(title="t", width=64, height=64, fps=8, seed=1, model=model, frame_count=8, duration=1.0, **kw)
req = Request((("a fox", 1.0),), "", 1, 2, 4.0, 0.5, 64, 64)
k = create_backend(film("tiny-org/kandinsky-2-2-decoder"), device="cpu")
k.load()
assert k.text2image(req).shape == (64, 64, 3)
assert k.calls.prior == 1
assert not k.has_inpaint  # the usual inpainting companion is not in the cache: fill + img2img
s = create_backend(film("tiny-org/sd"), device="cpu")
s.load()
assert s.img2img(np.zeros((64, 64, 3), np.uint8), req).shape == (64, 64, 3)
try:
    create_backend(film("tiny-org/sd", inpaint="tiny-org/sd-inpaint")).load()
except ModelError as err:
    assert "not in the local Hugging Face cache" in err.message, err.message
else:
    raise SystemExit("no ModelError for an inpaint model that is not cached")
try:
    create_backend(film("lonely-org/kandinsky-2-2-decoder")).load()
except ModelError as err:
    assert "needs a prior" in err.message and "lonely-org/kandinsky-2-2-prior" in err.message, err.message
    assert "huggingface-cli download lonely-org/kandinsky-2-2-prior" in err.hint, err.hint
else:
    raise SystemExit("no ModelError for a decoder whose prior is not cached")
print("ok")
"""
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("error_name", "words"),
    [
        ("LocalEntryNotFoundError", "could not be reached"),
        ("RepositoryNotFoundError", "no such repository"),
        ("GatedRepoError", "gated"),
    ],
)
def test_hub_failures_online_are_model_errors(monkeypatch, error_name, words):
    import huggingface_hub
    from huggingface_hub import constants, errors

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    error_cls = getattr(errors, error_name)

    def fail(*args, **kwargs):
        raise error_cls.__new__(error_cls)  # the library's own exception, as raised offline-less

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
    with pytest.raises(ModelError) as err:
        resolve_model("someone/some-model-not-cached")
    assert "could not be fetched from the Hugging Face Hub" in err.value.message
    assert words in err.value.message
    assert "huggingface-cli download someone/some-model-not-cached" in err.value.hint


def test_a_custom_pipeline_class_is_never_run(tmp_path):
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "model_index.json").write_text(json.dumps({"_class_name": ["pipeline", "MyPipeline"]}))
    (tmp_path / "custom" / "pipeline.py").write_text("raise SystemExit('model code ran')\n")
    with pytest.raises(ModelError, match=r"custom pipeline \(pipeline.MyPipeline\).*never runs"):
        open_backend(film(str(tmp_path / "custom")))


# -- relative paths: what is local, where it was looked for, near misses ----------------------


class WentToHub(BaseException):
    """Not an Exception: the loader's own `except Exception` must not turn it into a message."""


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything goes to the Hub (a typo'd folder must never wait on it)."""
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def fail(*args, **kwargs):
        raise WentToHub(f"went to the Hub for {args}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)


def model_dirs(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
    return root


def test_a_typo_under_a_local_folder_is_not_a_hub_id(tmp_path, monkeypatch, no_hub):
    film_dir = model_dirs(tmp_path / "film", "models/kandinsky-2-2-decoder", "models/kandinsky-2-2-prior")
    monkeypatch.chdir(model_dirs(tmp_path / "cwd", "elsewhere"))
    with pytest.raises(ModelError) as err:
        resolve_model("models/kandinsky-2-2-decodr", base_dir=film_dir)
    assert "'models/kandinsky-2-2-decodr' was not found" in err.value.message
    assert "Hub" not in err.value.message.split(":")[0]
    assert str(film_dir) in err.value.message and str(tmp_path / "cwd") in err.value.message
    assert "did you mean 'models/kandinsky-2-2-decoder'?" in err.value.hint


def test_a_typo_under_a_folder_of_the_working_directory_is_not_a_hub_id(tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(model_dirs(tmp_path, "models/sd-inpaint"))
    with pytest.raises(ModelError, match="'models/sd-inpiant' was not found") as err:
        resolve_model("models/sd-inpiant", "inpaint", base_dir=tmp_path / "films")
    assert "did you mean 'models/sd-inpaint'?" in err.value.hint


def test_org_name_with_no_such_local_folder_is_still_a_hub_id(tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WentToHub):
        resolve_model("some-org/some-model", base_dir=tmp_path)


def test_not_found_names_the_folders_searched_as_the_user_wrote_the_path(tmp_path, monkeypatch):
    model_dirs(tmp_path, "models/kandinsky-2-2-decoder", "films")
    monkeypatch.chdir(model_dirs(tmp_path / "cwd", "x"))
    with pytest.raises(ModelError) as err:
        resolve_model("../models/kandinksy-2-2-decoder", base_dir=tmp_path / "films")
    message = err.value.message
    assert "there is no folder '../models/kandinksy-2-2-decoder'" in message
    assert f"in the film's folder ({tmp_path / 'films'})" in message
    assert f"the working directory ({tmp_path / 'cwd'})" in message
    assert message.index("film's folder") < message.index("working directory")
    assert "did you mean '../models/kandinsky-2-2-decoder'?" in err.value.hint
    with pytest.raises(ModelError, match=r"there is no folder '\./sd' in the film's folder"):
        resolve_model("./sd", base_dir=tmp_path / "films")


@pytest.mark.parametrize(
    "missing",
    ["models/completely-different", "models/kandinsky-2-2-priorr", "models/kandinsky-2-2-decoder-inpaint"],
)
def test_no_did_you_mean_for_another_model(tmp_path, monkeypatch, missing):
    """A sibling with a similar name is only a guess when it is a typo away: the decoder is
    not offered for a missing prior or inpainting decoder."""
    monkeypatch.chdir(model_dirs(tmp_path, "models/sd", "models/kandinsky-2-2-decoder"))
    with pytest.raises(ModelError) as err:
        resolve_model(f"./{missing}", "prior")
    assert "did you mean" not in err.value.hint


def test_the_film_folder_is_named_once_when_it_is_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as err:
        resolve_model("./nothing", base_dir=tmp_path)
    assert err.value.message.endswith(f"there is no folder './nothing' in the film's folder ({tmp_path})")


def test_not_found_hints_fit_each_role(tmp_path):
    missing = str(tmp_path / "nothing-here")
    hints = {}
    for role in ("model", "prior", "inpaint"):
        with pytest.raises(ModelError) as err:
            resolve_model(missing, role)
        hints[role] = err.value.hint
        assert f"{role}:" in err.value.hint
    assert "kandinsky-2-2-decoder" in hints["model"] and "preview" in hints["model"]
    assert "kandinsky-2-2-prior" in hints["prior"]
    assert "inpaint" in hints["inpaint"].replace("inpaint:", "")
    for role in ("prior", "inpaint"):
        assert "preview" not in hints[role]
        assert '"kandinsky-community/kandinsky-2-2-decoder"' not in hints[role]


def test_a_missing_named_prior_has_the_prior_hint(tmp_path, tiny):
    with pytest.raises(ModelError, match="prior '.*priorr' was not found") as err:
        open_backend(film(str(tiny["kandinsky_decoder"]), prior=str(tmp_path / "kandinsky-2-2-priorr")))
    assert "kandinsky-2-2-prior" in err.value.hint and "preview" not in err.value.hint


def test_local_decoder_without_a_prior_beside_it_never_asks_the_hub(tmp_path, monkeypatch, tiny, no_hub):
    """`models/kandinsky-2-2-decoder`'s usual prior `models/kandinsky-2-2-prior` looks like a
    hub id; `models` is a local folder, so it is a missing folder, found out at once."""
    shutil.copytree(tiny["kandinsky_decoder"], tmp_path / "models" / "kandinsky-2-2-decoder")
    with pytest.raises(ModelError) as err:
        create_backend(film("models/kandinsky-2-2-decoder"), base_dir=tmp_path).load()
    assert "needs a prior" in err.value.message
    beside = (tmp_path / "models" / "kandinsky-2-2-prior").resolve()
    # looked for beside the decoder that was found, and named there
    assert f"there is no folder '{beside}'" in err.value.message
    assert f"put the prior at '{beside}'" in err.value.hint


# -- the fingerprint does not depend on how a folder is written -------------------------------


def test_fingerprint_does_not_depend_on_how_the_path_is_written(tmp_path, monkeypatch, tiny):
    models = tmp_path / "models"
    for name in ("sd", "kandinsky-2-2-decoder", "kandinsky-2-2-prior", "kandinsky-2-2-decoder-inpaint"):
        key = {"sd": "sd"}.get(name) or {"kandinsky-2-2-decoder": "kandinsky_decoder", "kandinsky-2-2-prior": "kandinsky_prior", "kandinsky-2-2-decoder-inpaint": "kandinsky_inpaint"}[name]
        shutil.copytree(tiny[key], models / name)
    (tmp_path / "link").symlink_to(models)
    monkeypatch.chdir(tmp_path)
    for name in ("sd", "kandinsky-2-2-decoder"):
        spellings = [
            (str(models / name), None),
            (f"models/{name}", tmp_path),
            (f"./models/{name}", None),
            (f"models/../models/{name}", tmp_path / "models"),
            (f"link/{name}", None),
            (str(tmp_path / "link" / ".." / "models" / name), None),
        ]
        prints = {spec: create_backend(film(spec), base_dir=base).fingerprint for spec, base in spellings}
        assert len(set(prints.values())) == 1, prints
        assert str(models / name) in next(iter(prints.values()))


# -- library log lines: kscript's error is the only thing a user reads ------------------------


def test_loading_hides_the_libraries_own_log_lines(tmp_path, tiny):
    import logging

    folder = tmp_path / "sd"
    shutil.copytree(tiny["sd"], folder)
    next((folder / "unet").glob("*.safetensors")).unlink()  # diffusers logs an error, then raises
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(name) for name in ("diffusers", "huggingface_hub", "transformers")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        levels = [logger.level for logger in loggers]
        with pytest.raises(ModelError, match="could not be loaded"):
            open_backend(film(str(folder)))
        assert [logger.level for logger in loggers] == levels  # restored
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert not records, [r.getMessage()[:120] for r in records]


def test_quiet_loading_hides_hub_notices_and_restores():
    import logging

    from kscript.backends.loading import quiet_loading

    hub = logging.getLogger("huggingface_hub")
    before = hub.getEffectiveLevel()
    with quiet_loading():
        assert not hub.isEnabledFor(logging.WARNING)  # "Could not reach the Hub ... cached commit hash"
        assert not logging.getLogger("diffusers").isEnabledFor(logging.ERROR)
    assert hub.getEffectiveLevel() == before


def test_quiet_loading_hides_the_deprecated_hub_argument_warning():
    """diffusers passes huggingface_hub `local_dir_use_symlinks`, which warns on every load of
    a hub id; other warnings still show."""
    import warnings

    from kscript.backends.loading import quiet_loading

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_loading():
            warnings.warn("The `local_dir_use_symlinks` argument is deprecated and ignored", UserWarning)
            warnings.warn("something else", UserWarning)
    assert [str(w.message) for w in seen] == ["something else"]


def test_usual_companions_are_found_beside_the_decoder_not_beside_the_film(tmp_path, monkeypatch, tiny):
    # The decoder is found in the working directory; the film's folder has a folder named
    # like the usual prior that is something else. The prior must be the decoder's sibling,
    # whatever folder the film is built from.
    films, work = tmp_path / "films", tmp_path / "work"
    films.mkdir()
    work.mkdir()
    (films / "kandinsky-2-2-prior").symlink_to(tiny["sd"], target_is_directory=True)
    for name in ("kandinsky_decoder", "kandinsky_prior"):
        (work / tiny[name].name).symlink_to(tiny[name], target_is_directory=True)
    monkeypatch.chdir(work)
    backend = create_backend(film("kandinsky-2-2-decoder"), base_dir=films)
    assert str((work / "kandinsky-2-2-prior").resolve()) in backend.fingerprint


@pytest.mark.parametrize("family", ["kandinsky_decoder", "sd"])
def test_offload_on_a_cuda_device_loads_on_the_cpu_and_hooks_every_module_once(tiny, monkeypatch, family):
    """`--offload` on a GPU: the pipelines load on the CPU and diffusers'
    `enable_model_cpu_offload(device=the GPU)` hooks every model part exactly once (the
    Kandinsky decoder's pipelines share their modules), and the summary says so. No GPU is
    lent to these tests: the device is named cuda and the hooks are recorded, not run."""
    import torch
    from diffusers import DiffusionPipeline

    from kscript.backends.settings import ModelOptions

    hooked = []
    monkeypatch.setattr(DiffusionPipeline, "enable_model_cpu_offload",
                        lambda pipe, device=None, **kw: hooked.append((pipe, str(device))))
    backend = create_backend(film(str(tiny[family])), device="cpu", options=ModelOptions(offload=True, threads=1))
    backend.device = torch.device("cuda")  # what choose_device gives on a GPU machine
    assert backend._start_loading()["device"] == "cpu"  # accelerate moves each part while it runs
    backend.device = torch.device("cpu")
    backend.load()  # the real pipelines, loaded on the CPU
    assert not hooked  # on the CPU, offload is off (the next test)
    backend.device = torch.device("cuda")
    pipes = [p for p in vars(backend).values() if isinstance(p, DiffusionPipeline)]
    backend._finish_loading(pipes)
    assert hooked and all(device == "cuda" for _, device in hooked)
    modules = [id(m) for p in pipes for m in p.components.values() if isinstance(m, torch.nn.Module)]
    covered = [id(m) for p, _ in hooked for m in p.components.values() if isinstance(m, torch.nn.Module)]
    assert set(covered) == set(modules) and len(covered) == len(set(covered))  # each part once
    assert any("CPU offload" in n for n in backend.notes)


def test_offload_on_the_cpu_says_it_has_no_effect(tiny):
    from kscript.backends.settings import ModelOptions

    backend = open_backend(film(str(tiny["sd"])), device="cpu", options=ModelOptions(offload=True, threads=1))
    assert any("--offload has no effect on cpu" in n for n in backend.notes)
