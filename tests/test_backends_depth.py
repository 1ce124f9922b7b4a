"""The `depth:` model: a transformers depth estimator loaded the way a real one is (issue #11).

Tiny random-weight Depth Anything and DPT models are saved in the real layout and loaded
through `resolve_depth_model` + `DepthModel.load` (AutoModelForDepthEstimation.from_pretrained,
no remote code); a missing or wrong-kind folder is a ModelError naming what was looked for.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kscript.backends.depth import FAR, NEAR, DepthCache, DepthModel, disparity_to_depth, resolve_depth_model
from kscript.errors import ModelError

torch = pytest.importorskip("torch")
tiny_depth = pytest.importorskip("tiny_depth")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("depth")
    return {
        "depth_anything": tiny_depth.build_depth_anything(root / "da"),
        "dpt": tiny_depth.build_dpt(root / "dpt"),
    }


def frame(h=64, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["depth_anything", "dpt"])
def test_a_saved_depth_model_loads_and_gives_depth_at_the_frame_size(tiny_models, kind):
    folder = tiny_models[kind]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    source = resolve_depth_model(str(folder))
    assert source.model_type == kind and not source.metric
    model = DepthModel.load(source)
    assert type(model.model).__name__ == {"depth_anything": "DepthAnythingForDepthEstimation", "dpt": "DPTForDepthEstimation"}[kind]
    depth = model.estimate(frame())
    assert depth.shape == (64, 48) and depth.dtype == np.float32
    assert np.isfinite(depth).all()
    # relative disparity is mapped onto scene units: nearest at NEAR, farthest at FAR
    assert depth.min() == pytest.approx(NEAR, rel=1e-5) and depth.max() == pytest.approx(FAR, rel=1e-5)
    # a pure function of the image: the same frame gives the same depth, another a different one
    np.testing.assert_array_equal(model.estimate(frame()), depth)
    assert not np.array_equal(model.estimate(frame(seed=1)), depth)


def test_relative_folder_is_read_from_the_films_folder(tiny_models):
    folder = tiny_models["dpt"]
    assert resolve_depth_model(folder.name, base=folder.parent).folder == folder


def test_depth_is_cached_per_chain_image_key(tiny_models):
    model = DepthModel.load(resolve_depth_model(str(tiny_models["depth_anything"])))
    cache = DepthCache(model, size=2)
    a = cache.depth("key-a", frame())
    assert cache.depth("key-a", frame(seed=5)) is a  # keyed: not recomputed
    cache.depth("key-b", frame(seed=1))
    assert model.calls == 2


def test_disparity_maps_linearly_onto_inverse_depth():
    disp = np.array([[0.0, 1.0, 2.0]])
    depth = disparity_to_depth(disp, near=1.0, far=4.0)
    np.testing.assert_allclose(1.0 / depth, [[0.25, 0.625, 1.0]], rtol=1e-6)
    assert (disparity_to_depth(np.ones((2, 2)), far=7.0) == 7.0).all()


def test_a_missing_folder_is_a_model_error_naming_it(tmp_path):
    with pytest.raises(ModelError, match="no such folder") as err:
        resolve_depth_model(str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in err.value.message and "config.json" in err.value.hint


def test_a_diffusers_pipeline_is_not_a_depth_model(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelError, match="model_index.json") as err:
        resolve_depth_model(str(tmp_path))
    assert "preprocessor_config.json" in err.value.message


def test_a_transformers_model_of_another_kind_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ModelError, match="'bert' model, not a depth estimator"):
        resolve_depth_model(str(tmp_path))


def test_a_model_that_wants_its_own_code_is_refused(tmp_path, tiny_models):
    config = json.loads((tiny_models["dpt"] / "config.json").read_text())
    config["auto_map"] = {"AutoModelForDepthEstimation": "modeling.Mine"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ModelError, match="own code"):
        resolve_depth_model(str(tmp_path))


def test_no_image_processor_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "dpt"}))
    with pytest.raises(ModelError, match="preprocessor_config.json"):
        resolve_depth_model(str(tmp_path))


def test_weights_that_do_not_load_are_a_model_error(tmp_path, tiny_models):
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_bytes((tiny_models["dpt"] / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    source = resolve_depth_model(str(tmp_path))
    with pytest.raises(ModelError, match="did not load"):
        DepthModel.load(source)


def test_an_uncached_hub_id_offline_is_a_model_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        resolve_depth_model("nobody-here/no-such-depth-model")
