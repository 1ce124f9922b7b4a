"""Finding a model the user named, telling what kind it is, and loading it.

A film's `model:` (and `prior:`, `inpaint:`) is either a local folder written by
`save_pretrained` (it has a `model_index.json`) or a Hugging Face Hub id (`org/name`). This
module turns that text into a `ModelSource` (where it is, which pipeline class its
`model_index.json` names, which family that is) without importing torch, then loads it with
`from_pretrained` when the backend asks.

Every way this can go wrong for a user (a folder that is not there, a folder that is not a
diffusers model, a model of the wrong kind, a hub id that is not cached while the network is
off, an inpainting model whose UNet does not take a mask) is a `ModelError` that says what
was looked for and how to fix it. Library exceptions are caught here and wrapped, so no
traceback reaches a user for their own mistake. Nothing here falls back to another model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from kscript.errors import ModelError

Family = Literal["kandinsky2.2", "stable-diffusion"]
Kind = Literal["decoder", "combined", "prior", "inpaint", "sd", "sdxl", "sd-inpaint", "sdxl-inpaint"]

#: Pipeline classes by what kscript does with them. A class not named here is refused.
KANDINSKY_DECODERS = {"KandinskyV22Pipeline", "KandinskyV22Img2ImgPipeline"}
KANDINSKY_INPAINT = {"KandinskyV22InpaintPipeline"}
KANDINSKY_COMBINED = {"KandinskyV22CombinedPipeline", "KandinskyV22Img2ImgCombinedPipeline"}
KANDINSKY_INPAINT_COMBINED = {"KandinskyV22InpaintCombinedPipeline"}
KANDINSKY_PRIORS = {"KandinskyV22PriorPipeline", "KandinskyV22PriorEmb2EmbPipeline"}
SD_CLASSES = {
    "StableDiffusionPipeline",
    "StableDiffusionImg2ImgPipeline",
    "StableDiffusionInpaintPipeline",
}
SDXL_CLASSES = {
    "StableDiffusionXLPipeline",
    "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusionXLInpaintPipeline",
}

#: Libraries a model_index.json may name for its components. Anything else is a model's own
#: code, which kscript never runs (`trust_remote_code` stays off).
_TRUSTED_LIBRARIES = {"diffusers", "transformers", None}

#: Components named by a diffusers pipeline module rather than a library: diffusers' own code
#: (real SD 1.x checkpoints list their safety checker this way), so not a model's own code.
_DIFFUSERS_MODULE_COMPONENTS = {("stable_diffusion", "StableDiffusionSafetyChecker")}

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")

KANDINSKY_DECODER_HUB = "kandinsky-community/kandinsky-2-2-decoder"


def is_offline() -> bool:
    """Whether the Hub must not be contacted: `HF_HUB_OFFLINE` set now or when the hub was
    imported (huggingface_hub reads it once, at import)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except Exception:  # pragma: no cover - huggingface_hub is a dependency of diffusers
        return False


@dataclass(frozen=True)
class ModelSource:
    """A model found, not yet loaded.

    Attributes:
        spec: what the user wrote (`model:`, `prior:`, `inpaint:` or `--model`).
        role: which of those it was, for messages ("model", "prior", "inpaint").
        location: what `from_pretrained` gets: the local folder, or the hub id.
        folder: where its files are on disk now (the folder, or the hub cache snapshot);
            None for a hub id that is not downloaded yet.
        local: whether `location` is a folder (then loading never touches the network).
        class_name: `_class_name` of its `model_index.json`.
        index: the whole `model_index.json`.
    """

    spec: str
    role: str
    location: str
    folder: Path | None
    local: bool
    class_name: str
    index: dict[str, Any] = field(compare=False, repr=False)

    @property
    def kind(self) -> Kind:
        name = self.class_name
        if name in KANDINSKY_DECODERS:
            return "decoder"
        if name in KANDINSKY_COMBINED:
            return "combined"
        if name in KANDINSKY_PRIORS:
            return "prior"
        if name in KANDINSKY_INPAINT or name in KANDINSKY_INPAINT_COMBINED:
            return "inpaint"
        if name in SD_CLASSES:
            return "sd-inpaint" if self.unet_in_channels() == 9 else "sd"
        if name in SDXL_CLASSES:
            return "sdxl-inpaint" if self.unet_in_channels() == 9 else "sdxl"
        raise ModelError(  # resolve_model refuses these first; kept for safety
            f"{self.role} '{self.spec}' is a {name}, which kscript cannot render with",
            hint=_SUPPORTED_HINT,
        )

    @property
    def family(self) -> Family:
        return "kandinsky2.2" if self.class_name.startswith("KandinskyV22") else "stable-diffusion"

    def unet_in_channels(self) -> int | None:
        """The UNet's input channels from `unet/config.json` (9 for inpainting models), or
        None when the file is not on disk yet."""
        config = self._read_json("unet/config.json")
        if config is None:
            return None
        return int(config.get("in_channels", 4))

    def _read_json(self, relative: str) -> dict[str, Any] | None:
        if self.folder is not None and (self.folder / relative).is_file():
            return _load_json(self.folder / relative, self)
        if not self.local:
            path = _hub_cached_file(self.location, relative)
            if path is not None:
                return _load_json(Path(path), self)
        return None

    def identity(self) -> str:
        """What identifies these weights for the frame cache: the location, and a digest of
        the configs and the weight files' names and sizes (cheap; no weight is read)."""
        digest = hashlib.sha256()
        digest.update(self.location.encode())
        if self.folder is not None and self.folder.is_dir():
            for path in sorted(self.folder.rglob("*")):
                if not path.is_file():
                    continue
                rel = path.relative_to(self.folder).as_posix()
                digest.update(rel.encode())
                if path.suffix == ".json":
                    digest.update(path.read_bytes())
                else:
                    digest.update(str(path.stat().st_size).encode())
        return f"{self.location}@{digest.hexdigest()[:16]}"


_SUPPORTED_HINT = (
    "kscript renders with Kandinsky 2.2 (a decoder such as kandinsky-community/kandinsky-2-2-decoder, "
    "with its prior) and Stable Diffusion 1.x/2.x/XL checkpoints in diffusers format, or `model: \"preview\"`"
)


def _load_json(path: Path, source: ModelSource | None = None, spec: str = "", role: str = "model") -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        spec = source.spec if source else spec
        role = source.role if source else role
        raise ModelError(
            f"{role} '{spec}': cannot read {path}: {err}",
            hint="the model folder looks damaged; download or save it again",
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{role} '{spec}': {path} is not a JSON object", hint="download or save the model again")
    return data


def _hub_cached_file(repo_id: str, filename: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
    except Exception:
        return None
    return found if isinstance(found, str) else None


def looks_like_hub_id(spec: str) -> bool:
    """`org/name` with no path-like start: what the Hub accepts as a repository id."""
    return bool(_HUB_ID.match(spec)) and not spec.startswith((".", "~"))


#: what to point each role at when the one named is not there
_NOT_FOUND_HINTS = {
    "model": "point model: at a folder written by diffusers' save_pretrained (it has a model_index.json), "
    'name a Hugging Face Hub id such as "kandinsky-community/kandinsky-2-2-decoder", or use "preview"',
    "prior": "point prior: at a Kandinsky 2.2 prior: a folder written by diffusers' save_pretrained, or a "
    'Hugging Face Hub id such as "kandinsky-community/kandinsky-2-2-prior"; or leave prior: out to use '
    "the decoder's usual prior (its name with 'decoder' replaced by 'prior', beside it)",
    "inpaint": "point inpaint: at an inpainting model of the model's family: a folder written by diffusers' "
    'save_pretrained, or a Hugging Face Hub id such as "kandinsky-community/kandinsky-2-2-decoder-inpaint" '
    '(Kandinsky 2.2) or "runwayml/stable-diffusion-inpainting" (Stable Diffusion 1.x); or leave inpaint: '
    "out (revealed borders are then filled and redrawn by img2img)",
}


def _search_folders(spec: str, base_dir: Path | None) -> list[tuple[str, Path]]:
    """Where a relative `spec` is looked up, in order, with what to call each folder: the
    film's folder (`base_dir`), then the working directory. Empty for an absolute path."""
    if Path(os.path.expanduser(spec)).is_absolute():
        return []
    folders = []
    if base_dir is not None:
        folders.append(("the film's folder", Path(base_dir)))
    folders.append(("the working directory", Path.cwd()))
    return folders


def reads_as_local(spec: str, base_dir: Path | None = None) -> bool:
    """Whether `spec` is a local path rather than a Hub id.

    Anything that is not shaped like `org/name` is a path. An `org/name` is a path too when
    `org` is a folder where relative paths are looked up: `models/kandinsky-2-2-decodr` is a
    typo in a local folder's name, not a Hub repository to wait for.
    """
    spec = spec.strip()
    if not looks_like_hub_id(spec):
        return True
    first = spec.split("/", 1)[0]
    return any((folder / first).is_dir() for _, folder in _search_folders(spec, base_dir))


def resolve_model(spec: str, role: str = "model", *, base_dir: Path | None = None) -> ModelSource:
    """Find the model `spec` names and read its `model_index.json`.

    A spec that is an existing path is a local folder. An `org/name` that is not is a hub
    id, unless `org` is a local folder (see `reads_as_local`); anything else is a folder that
    is missing. Relative folders are looked up from `base_dir` (the film's folder) first,
    then from the working directory.

    Raises:
        ModelError: the folder is missing or not a diffusers model, the hub id is not cached
            and the network is off or failing, or its components name code kscript will not run.
    """
    spec = spec.strip()
    hint = _NOT_FOUND_HINTS.get(role, _NOT_FOUND_HINTS["model"])
    if not spec:
        raise ModelError(f"{role} is empty", hint=hint)
    expanded = Path(os.path.expanduser(spec))
    folders = _search_folders(spec, base_dir)
    candidates = [folder / expanded for _, folder in folders] or [expanded]
    for path in candidates:
        if path.exists():
            return _resolve_folder(spec, role, path)
    if not reads_as_local(spec, base_dir):
        return _resolve_hub(spec, role)
    message = f"{role} '{spec}' was not found: there is no folder '{spec}'"
    if folders:
        named = {folder.resolve(): f"in {name} ({folder.absolute()})" for name, folder in reversed(folders)}
        message += " " + " or ".join(reversed(named.values()))  # the film's folder first, once
        if looks_like_hub_id(spec):
            message += f" (read as a local path, not a Hub id, because '{spec.split('/', 1)[0]}' is a local folder)"
    elif str(expanded) != spec:
        message += f" ({expanded})"
    guess = next((g for _, folder in folders or [("", Path("/"))] if (g := _near_miss(spec, folder))), None)
    if guess:
        hint = f"did you mean '{guess}'? Otherwise {hint}"
    raise ModelError(message, hint=hint)


def _near_miss(spec: str, base: Path) -> str | None:
    """`spec` with the first of its folders that does not exist under `base` replaced by the
    closest name beside it, when that gives a folder that does exist; else None."""
    from kscript.diagnostics import closest_name

    parts = spec.split("/")
    here = base
    for i, part in enumerate(parts):
        if i == 0 and part == "":
            here = Path("/")
            continue
        if i == 0 and part == "~":
            here = Path.home()
            continue
        if part in ("", ".") or (here / part).exists():
            here = here / part
            continue
        try:
            names = [p.name for p in here.iterdir() if p.is_dir()]
        except OSError:
            return None
        # Model folders share long prefixes ('kandinsky-2-2-prior', '...-decoder'), so only a
        # near-identical name is a typo; one that merely extends the other ('...-decoder' and
        # '...-decoder-inpaint') is another model, not a misspelling.
        close = closest_name(part, names, cutoff=0.8)
        if close is None or close.startswith(part) or part.startswith(close):
            return None
        if not (here / close / "/".join(parts[i + 1 :])).is_dir():
            return None
        return "/".join([*parts[:i], close, *parts[i + 1 :]])
    return None


def _resolve_folder(spec: str, role: str, path: Path) -> ModelSource:
    path = path.resolve()
    if path.is_file():
        hint = "kscript loads diffusers folders (save_pretrained); point at the folder that holds model_index.json"
        if path.suffix in {".safetensors", ".ckpt", ".bin", ".pt"}:
            hint = (
                "single-file checkpoints are not loaded directly; convert it once with "
                "`StableDiffusionPipeline.from_single_file(path).save_pretrained(folder)` and point at the folder"
            )
        raise ModelError(f"{role} '{spec}' is a file ({path}), not a model folder", hint=hint)
    index_path = path / "model_index.json"
    if not index_path.is_file():
        raise ModelError(
            f"{role} '{spec}' is not a diffusers model: {path} has no model_index.json",
            hint="point at a folder written by diffusers' save_pretrained, or at a Hugging Face Hub id",
        )
    index = _load_json(index_path, spec=spec, role=role)
    return _checked(ModelSource(spec, role, str(path), path, True, _class_name(index, spec, role, index_path), index))


def _resolve_hub(spec: str, role: str) -> ModelSource:
    cached = _hub_cached_file(spec, "model_index.json")
    if cached is None:
        if is_offline():
            raise ModelError(
                f"{role} '{spec}' is not a local folder, and not in the local Hugging Face cache while the "
                "network is off (HF_HUB_OFFLINE=1)",
                hint=f"download it once with `huggingface-cli download {spec}`, or point {role}: at a local folder",
            )
        try:
            from huggingface_hub import hf_hub_download

            with _quiet_hub():  # its retry notices would come before our one clear error
                cached = hf_hub_download(spec, "model_index.json")
        except Exception as err:  # network, missing repository, gated model: all wrapped
            reason = _hub_reason(err)
            raise ModelError(
                f"{role} '{spec}' could not be fetched from the Hugging Face Hub: {reason}",
                hint=f"check the id and your connection, download it once with `huggingface-cli download {spec}`, "
                f"or point {role}: at a local folder (HF_HUB_OFFLINE=1 skips the network)",
            ) from None
    index_path = Path(cached)
    index = _load_json(index_path, spec=spec, role=role)
    if "unet" in index and _hub_cached_file(spec, "unet/config.json") is None and not is_offline():
        # The UNet's input channels tell an inpainting checkpoint from a text-to-image one;
        # fetch that small file now so a wrong kind is refused before gigabytes of weights.
        try:
            from huggingface_hub import hf_hub_download

            with _quiet_hub():
                hf_hub_download(spec, "unet/config.json")
        except Exception:
            pass  # judged again when the weights load
    return _checked(ModelSource(spec, role, spec, index_path.parent, False, _class_name(index, spec, role, index_path), index))


class _quiet_hub:
    """huggingface_hub's own notices (retries) off while we fetch; restored after."""

    def __enter__(self) -> None:
        from huggingface_hub.utils import logging as hlog

        self._level = hlog.get_verbosity()
        hlog.set_verbosity_error()

    def __exit__(self, *exc: object) -> None:
        from huggingface_hub.utils import logging as hlog

        hlog.set_verbosity(self._level)


def _hub_reason(err: Exception) -> str:
    name = type(err).__name__
    if "RepositoryNotFound" in name:
        return "no such repository (or it is private)"
    if "GatedRepo" in name:
        return "the repository is gated: accept its licence on huggingface.co and log in"
    if "EntryNotFound" in name and "LocalEntry" not in name:
        return "the repository has no model_index.json (not a diffusers model)"
    if "LocalEntryNotFound" in name or "Connection" in name or "Timeout" in name:
        return "the Hub could not be reached and the model is not in the local cache"
    return str(err).splitlines()[0][:200] if str(err) else name


def _class_name(index: dict[str, Any], spec: str, role: str, where: Path) -> str:
    name = index.get("_class_name")
    if isinstance(name, list):  # [module, class]: a pipeline defined by the model's own code
        raise ModelError(
            f"{role} '{spec}' is a custom pipeline ({'.'.join(map(str, name))}), code shipped with the model, "
            "which kscript never runs",
            hint=_SUPPORTED_HINT,
        )
    if not isinstance(name, str):
        raise ModelError(
            f"{role} '{spec}': {where} names no pipeline class (_class_name)",
            hint="this folder was not written by diffusers' save_pretrained; save or download the model again",
        )
    return name


def _checked(source: ModelSource) -> ModelSource:
    known = (
        KANDINSKY_DECODERS
        | KANDINSKY_INPAINT
        | KANDINSKY_COMBINED
        | KANDINSKY_INPAINT_COMBINED
        | KANDINSKY_PRIORS
        | SD_CLASSES
        | SDXL_CLASSES
    )
    if source.class_name not in known:
        raise ModelError(
            f"{source.role} '{source.spec}' is a {source.class_name}, which kscript cannot render with",
            hint=_SUPPORTED_HINT,
        )
    for key, value in source.index.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library = value[0]
        if library not in _TRUSTED_LIBRARIES and tuple(value) not in _DIFFUSERS_MODULE_COMPONENTS:
            raise ModelError(
                f"{source.role} '{source.spec}': its component '{key}' comes from '{library}', code shipped with "
                "the model, which kscript never runs",
                hint="use a model whose components are all diffusers/transformers classes",
            )
    return source


def companion(spec: str, part: Literal["prior", "inpaint"]) -> str | None:
    """The usual name of a Kandinsky 2.2 decoder's prior or inpainting decoder.

    `kandinsky-community/kandinsky-2-2-decoder` has `...-2-2-prior` and
    `...-2-2-decoder-inpaint` beside it on the Hub; a local folder named like it has them as
    sibling folders. None when the name says nothing (no "decoder" in its last part).
    """
    head, sep, last = spec.rstrip("/\\").rpartition("/")
    if "decoder" not in last or last.endswith("-inpaint"):
        return None
    new_last = last.replace("decoder", "prior", 1) if part == "prior" else last + "-inpaint"
    return f"{head}{sep}{new_last}"


def check_inpaint_channels(source: ModelSource) -> None:
    """An inpainting model's UNet takes latents, masked latents and the mask: 9 channels.
    Anything else fails deep inside diffusers at the first call; say it now instead."""
    channels = source.unet_in_channels()
    if channels is not None and channels != 9:
        raise ModelError(
            f"inpaint '{source.spec}' is not an inpainting model: its UNet takes {channels} input channels, "
            "an inpainting UNet takes 9",
            hint="name an inpainting checkpoint (e.g. kandinsky-community/kandinsky-2-2-decoder-inpaint or "
            "runwayml/stable-diffusion-inpainting) as inpaint:, or leave inpaint: out",
        )


def has_safety_checker(source: ModelSource) -> bool:
    """Whether the model ships a safety checker (real SD 1.x checkpoints do)."""
    value = source.index.get("safety_checker")
    return isinstance(value, list) and len(value) == 2 and value[0] is not None


def load_pipeline(source: ModelSource, cls: Any, *, dtype: Any, device: Any,
                  say: Callable[[str], None] | None = None, **extra: Any) -> Any:
    """`cls.from_pretrained(source)` on `device` in `dtype`, every failure a `ModelError`.

    safetensors weights are required when the folder has them (never a pickle beside
    them); `local_files_only` when the model is a folder or the network is off;
    `trust_remote_code` is never passed (it stays off). `extra` goes to `from_pretrained`
    (components to replace, e.g. `safety_checker=None`). `say` is told before it starts
    (`Backend.say`: the progress display shows it).
    """
    if say is not None:
        where = "" if source.local else (" from the Hugging Face cache" if is_offline()
                                         else " from the Hugging Face hub (the first time, a download)")
        say(f"loading {source.role} '{source.spec}'{where}")
    kwargs: dict[str, Any] = {_dtype_keyword(): dtype, **extra}
    if source.local or is_offline():
        kwargs["local_files_only"] = True
    if source.folder is not None and any(source.folder.rglob("*.safetensors")):
        kwargs["use_safetensors"] = True
    try:
        with quiet_loading():
            pipe = cls.from_pretrained(source.location, **kwargs)
    except ModelError:
        raise
    except Exception as err:
        offline = not source.local and is_offline()
        hint = (
            f"download it once with `huggingface-cli download {source.spec}`, or point {source.role}: at a local folder"
            if offline
            else "check that the model is complete (download or save it again) and that it is the right kind "
            f"for {source.role}:"
        )
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{source.role} '{source.spec}' could not be loaded as {cls.__name__}: {first[:300]}", hint=hint
        ) from None
    try:
        pipe = pipe.to(device)
    except Exception as err:
        raise ModelError(
            f"{source.role} '{source.spec}' could not be moved to {device}: {str(err)[:300]}",
            hint="choose another device with --device (cpu always works)",
        ) from None
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe


def _dtype_keyword() -> str:
    """diffusers 0.42 renamed `torch_dtype` to `dtype` (the old name warns); older ones
    only know `torch_dtype`."""
    import inspect

    try:
        from diffusers.utils import deprecation_utils

        if hasattr(deprecation_utils, "_resolve_dtype"):
            return "dtype"
    except Exception:
        pass
    from diffusers import DiffusionPipeline

    params = inspect.signature(DiffusionPipeline.from_pretrained).parameters
    return "dtype" if "dtype" in params else "torch_dtype"


class quiet_loading:
    """Hide diffusers', transformers' and huggingface_hub's loading progress bars and notices
    while a model loads: the build's own progress display owns the terminal. Restores what
    was there.

    diffusers logs some failures at error level before it raises them ("An error occurred
    while trying to fetch ...: Error no file named ..."), and huggingface_hub warns "Could
    not reach the Hub ... Using cached commit hash" when it falls back on the cache. Every
    failure comes back to `load_pipeline` as an exception and is told as a `ModelError`, so
    those lines would only say the same thing first, worse: diffusers is set to critical.
    diffusers also passes huggingface_hub an argument it has deprecated, which warns
    (`local_dir_use_symlinks`) on every load of a hub id: that one warning is ignored.
    """

    def __enter__(self) -> None:
        import warnings

        from diffusers.utils import logging as dlog
        from huggingface_hub.utils import logging as hlog
        from transformers.utils import logging as tlog

        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*", category=UserWarning)

        self._state = (
            dlog.is_progress_bar_enabled(),
            tlog.is_progress_bar_enabled(),
            dlog.get_verbosity(),
            tlog.get_verbosity(),
            hlog.get_verbosity(),
        )
        dlog.disable_progress_bar()
        tlog.disable_progress_bar()
        dlog.set_verbosity(dlog.CRITICAL)
        tlog.set_verbosity_error()
        hlog.set_verbosity_error()

    def __exit__(self, *exc: object) -> None:
        from diffusers.utils import logging as dlog
        from huggingface_hub.utils import logging as hlog
        from transformers.utils import logging as tlog

        d_bar, t_bar, d_level, t_level, h_level = self._state
        if d_bar:
            dlog.enable_progress_bar()
        if t_bar:
            tlog.enable_progress_bar()
        dlog.set_verbosity(d_level)
        tlog.set_verbosity(t_level)
        hlog.set_verbosity(h_level)
        self._warnings.__exit__(*exc)
