"""The film's `depth:` model: a transformers depth estimator, loaded the way a real one is.

The 3D camera (`kscript.render.depth_warp`) needs the depth of each chain image it moves.
That comes from a monocular depth estimator published for transformers (Depth Anything, DPT,
...), named by a local folder in `save_pretrained`'s layout (config.json, model.safetensors,
preprocessor_config.json) or a Hub id, and loaded with `AutoModelForDepthEstimation` /
`AutoImageProcessor.from_pretrained`, never with `trust_remote_code` (a model's own code is not
run). Tests build tiny random-weight models from configs and load them through this same path.

Everything that can go wrong for the user before the first frame (no such folder, a folder
that is not a transformers model, a model that is not a depth estimator, a config that wants
its own code, a Hub id not downloaded while offline, weights that do not load) is a
`ModelError` that names what was looked for: `resolve_depth_model` reads only JSON (no torch),
so `check`-time and build-start validation stay cheap; `DepthModel.load` does the loading.

Units. What these models predict is, for the relative ones (Depth Anything's default, DPT),
an affine-invariant *inverse* depth (disparity) with no scale. `DepthModel.estimate` turns
it into a depth map in scene units: the frame's disparity is normalised to 0..1 and mapped
linearly onto [1/FAR, 1/NEAR] (nearest thing at NEAR, farthest at FAR), then inverted. A
metric model (`depth_estimation_type: "metric"`) already predicts metres: kept as is.
The depth of a chain image is a pure function of it and the model: `DepthCache` keeps it
per chain-image key.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kscript.backends.loading import _hub_cached_file, is_offline, looks_like_hub_id
from kscript.errors import ModelError

#: depth of the nearest / farthest thing in a frame from a relative model, scene units
NEAR = 1.0
FAR = 20.0

#: config.json `model_type`s that transformers' AutoModelForDepthEstimation loads without the
#: model's own code (checked against transformers' own table when loading)
DEPTH_MODEL_TYPES = ("depth_anything", "dpt", "glpn", "zoedepth", "depth_pro", "prompt_depth_anything")

_HINT = (
    "point depth: at a transformers depth estimator: a folder written by save_pretrained (config.json, "
    "model.safetensors, preprocessor_config.json) or a Hub id such as "
    '"depth-anything/Depth-Anything-V2-Small-hf" or "Intel/dpt-hybrid-midas"'
)


@dataclass(frozen=True)
class DepthSource:
    """A depth model found (not loaded): what the user wrote, where it is, its model_type."""

    spec: str
    location: str
    folder: Path | None
    model_type: str
    metric: bool

    def identity(self) -> str:
        """The location and a digest of its JSON files (for plan keys / caches)."""
        import hashlib

        digest = hashlib.sha256(self.location.encode())
        if self.folder is not None:
            for name in ("config.json", "preprocessor_config.json"):
                path = self.folder / name
                if path.is_file():
                    digest.update(path.read_bytes())
        return f"{self.location}@{digest.hexdigest()[:16]}"


def _read(path: Path, spec: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"depth '{spec}': cannot read {path}: {err}", hint="save or download the model again") from None
    if not isinstance(data, dict):
        raise ModelError(f"depth '{spec}': {path} is not a JSON object", hint="save or download the model again")
    return data


def resolve_depth_model(spec: str, base: Path | None = None) -> DepthSource:
    """Find the depth model `spec` names and tell whether it is one (JSON only, no torch).

    Args:
        base: the folder relative paths are read from (the film's folder).

    Raises:
        ModelError: not there, not a transformers model, or not a depth estimator.
    """
    path = Path(spec).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.is_dir():
        folder: Path | None = path
        location = str(path)
        config_path = path / "config.json"
        if not config_path.is_file():
            looked = "a model_index.json (a diffusers pipeline)" if (path / "model_index.json").is_file() else "no config.json"
            raise ModelError(
                f"depth '{spec}': {path} is not a transformers depth model: it has {looked}, "
                "and a depth model's folder has config.json, model.safetensors and preprocessor_config.json",
                hint=_HINT,
            )
        if not (path / "preprocessor_config.json").is_file():
            raise ModelError(
                f"depth '{spec}': {path} has no preprocessor_config.json (the image processor that "
                "prepares frames for the model)",
                hint="save the model's image processor beside it (processor.save_pretrained(folder)); " + _HINT,
            )
        config = _read(config_path, spec)
    elif looks_like_hub_id(spec) and not path.exists():
        location = spec
        cached = _hub_cached_file(spec, "config.json")
        if cached is None:
            if is_offline():
                raise ModelError(
                    f"depth '{spec}' is not in the Hugging Face cache and the Hub is offline (HF_HUB_OFFLINE)",
                    hint="download it once with the network on (huggingface-cli download " + spec + "), or " + _HINT,
                )
            # not downloaded yet: from_pretrained fetches it; its kind is checked once loaded
            return DepthSource(spec=spec, location=spec, folder=None, model_type="", metric=False)
        folder = Path(cached).parent
        config = _read(Path(cached), spec)
    else:
        raise ModelError(f"depth '{spec}': no such folder ({path})", hint=_HINT)
    model_type = str(config.get("model_type", ""))
    if "auto_map" in config:
        raise ModelError(
            f"depth '{spec}' needs its own code (config.json has auto_map); kscript never runs a model's code",
            hint=_HINT,
        )
    if model_type not in DEPTH_MODEL_TYPES:
        raise ModelError(
            f"depth '{spec}' is a '{model_type or 'unknown'}' model, not a depth estimator "
            f"(looked for model_type {', '.join(DEPTH_MODEL_TYPES)} in {location}/config.json)",
            hint=_HINT,
        )
    return DepthSource(
        spec=spec, location=location, folder=folder, model_type=model_type,
        metric=config.get("depth_estimation_type") == "metric",
    )


class DepthModel:
    """A loaded depth estimator: `estimate(image)` is the depth map at the image's size."""

    def __init__(self, source: DepthSource, model: Any, processor: Any, device: Any) -> None:
        self.source = source
        self.model = model
        self.processor = processor
        self.device = device
        self.calls = 0  # model forward passes, for the cost benchmark

    @classmethod
    def load(cls, source: DepthSource, device: Any = None) -> "DepthModel":
        """`from_pretrained` the model and its image processor (no remote code)."""
        import torch
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        device = device or torch.device("cpu")
        local = source.folder is not None and source.location == str(source.folder)
        try:
            model = AutoModelForDepthEstimation.from_pretrained(
                source.location, trust_remote_code=False, local_files_only=local or is_offline()
            )
            processor = AutoImageProcessor.from_pretrained(
                source.location, trust_remote_code=False, local_files_only=local or is_offline()
            )
        except Exception as err:  # any library failure is the user's model, not a traceback
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelError(f"depth '{source.spec}' did not load from {source.location}: {first}", hint=_HINT) from None
        model = model.to(device).eval()
        return cls(source, model, processor, device)

    def estimate(self, image: Any) -> Any:
        """Depth (H x W float32 numpy, scene units, > 0) of an H x W x 3 uint8 RGB image."""
        import numpy as np
        import torch

        h, w = image.shape[:2]
        inputs = self.processor(images=np.ascontiguousarray(image), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=next(self.model.parameters()).dtype)
        with torch.inference_mode():
            predicted = self.model(pixel_values=pixel_values).predicted_depth
        self.calls += 1
        pred = torch.nn.functional.interpolate(predicted[:, None].float(), size=(h, w), mode="bicubic", align_corners=False)
        pred = pred[0, 0].cpu().numpy().astype(np.float64)
        if self.source.metric:
            return np.maximum(pred, 1e-3).astype(np.float32)
        return disparity_to_depth(pred)


def disparity_to_depth(disparity: Any, near: float = NEAR, far: float = FAR) -> Any:
    """A relative disparity map as depth in scene units: normalised to 0..1, mapped linearly
    onto inverse depth [1/far, 1/near], inverted. A flat map (no depth cue) is all `far`."""
    import numpy as np

    d = np.nan_to_num(np.asarray(disparity, dtype=np.float64))
    lo, hi = float(d.min()), float(d.max())
    norm = (d - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(d)
    inv = 1.0 / far + (1.0 / near - 1.0 / far) * norm
    return (1.0 / inv).astype(np.float32)


#: `depth: "preview"`: the preview painter's own depths (no weights)
PREVIEW_DEPTH = "preview"


class FilmDepth:
    """Where a build's depth maps come from: the film's `depth:` model, or the painter's.

    `load()` runs before the first frame (a missing or wrong-kind model is a `ModelError`
    there, never mid-film); `depth(key, image, request)` is the depth of the chain image
    whose plan key is `key`, made once per key (`DepthCache`); `calls` counts the depth
    maps made (the build report's `depth_calls`, which `kscript.compile.cost` estimates).

    `depth: "preview"` is the preview painter's depths: it knows the sky, ground, sun and
    shapes it drew (`PreviewBackend.depth_map`), so parallax can be judged without weights;
    it needs the preview backend. Any other value is a transformers depth estimator, loaded
    with the preview backend too (the depth model is small and runs on the CPU).
    """

    def __init__(self, spec: str, backend: Any, base_dir: Path | None = None, device: Any = None) -> None:
        self.spec = spec
        self.backend = backend
        self.base_dir = base_dir
        self.device = device
        self._model: DepthModel | None = None
        self._loaded = False
        self._cache = DepthCache(None)

    @property
    def is_preview(self) -> bool:
        return self.spec.strip().lower() == PREVIEW_DEPTH

    def load(self) -> None:
        if self._loaded:
            return
        if self.is_preview:
            if not callable(getattr(self.backend, "depth_map", None)):
                raise ModelError(
                    f'depth "preview" is the preview painter\'s own depths, and this build uses the '
                    f"{getattr(self.backend, 'name', 'model')} backend",
                    hint="build with --preview, or " + _HINT,
                )
        else:
            self._model = DepthModel.load(resolve_depth_model(self.spec, self.base_dir), self.device)
        self._loaded = True

    def depth(self, key: str, image: Any, request: Any) -> Any:
        """Depth (H x W float32, > 0) of the chain image `image` (plan key `key`)."""
        self.load()
        if self._model is not None:
            return self._cache.depth(key, image, lambda: self._model.estimate(image))
        return self._cache.depth(key, image, lambda: self.backend.depth_map(request))

    def kept(self, key: str) -> Any:
        """The depth kept under `key`, or None."""
        return self._cache.kept(key)

    def keep(self, key: str, value: Any) -> None:
        """Keep a depth that was not estimated (a warp-only frame's, carried from its input's)."""
        self._cache.keep(key, value)

    @property
    def calls(self) -> int:
        """Depth maps made (model forwards, or the painter's maps)."""
        return self._cache.calls


class DepthCache:
    """Depth per chain-image key: the depth of an image is a pure function of it and the model
    (or, for a warp-only frame's, of its input's depth and the move: `keep`)."""

    def __init__(self, model: DepthModel | None, size: int = 8) -> None:
        self.model = model
        self.size = size
        self.calls = 0  # depth maps made (not found here)
        self._items: OrderedDict[str, Any] = OrderedDict()

    def depth(self, key: str, image: Any, make: Any = None) -> Any:
        """The depth under `key`: kept, else `make()` (default: the model's estimate of `image`)."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make() if make is not None else self.model.estimate(image)  # type: ignore[union-attr]
        self.calls += 1
        self.keep(key, value)
        return value

    def kept(self, key: str) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def keep(self, key: str, value: Any) -> None:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
