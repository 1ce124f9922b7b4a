"""Render backends: the weightless preview painter, Kandinsky 2.2 and Stable Diffusion.

`interface` defines what every backend implements; `create_backend` is the one front door
for every `model:`, "preview" included. Importing this package is cheap (no torch, no
diffusers): they are imported when a diffusers backend loads. Backends never import
`kscript.render`: the render engine uses them, not the reverse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from kscript.backends.settings import ModelOptions
    from kscript.plan import FilmInfo
    from kscript.backends.interface import Backend

__all__ = ["create_backend"]


def create_backend(
    film: "FilmInfo",
    *,
    device: str | None = None,
    model: str | None = None,
    base_dir: str | Path | None = None,
    options: "ModelOptions | None" = None,
) -> "Backend":
    """The backend for `film`'s model (or `model`, from `--model`), not loaded yet:
    the preview painter for "preview", else a diffusers backend.

    The model is found and its kind read from its `model_index.json` here (cheap: no
    weights are read); `Backend.load()` then loads the weights. Both raise `ModelError`
    for a model that is missing or of the wrong kind, before any frame is rendered.

    Args:
        film: the plan's film: model, prior and inpaint names, size, seed.
        device: "cuda", "cuda:N", "mps" or "cpu"; None picks the first available.
        model: overrides `film.model` (the `--model` option).
        base_dir: the folder relative model paths are read from first (the film's folder);
            the working directory is tried after it.
        options: loading and running options (`ModelOptions`: safety checker, dtype,
            offload, threads).

    Raises:
        ModelError: the model is not there, or is not a kind kscript renders with.
    """
    from kscript.models import is_preview_model

    spec = model if model is not None else film.model
    if is_preview_model(spec):
        from kscript.backends.preview import PreviewBackend

        return PreviewBackend()
    from kscript.backends.loading import resolve_model

    if model is not None and model != film.model:
        film = film.model_copy(update={"model": model})
    base = Path(base_dir) if base_dir is not None else None
    source = resolve_model(spec, "model", base_dir=base)
    if source.family == "kandinsky2.2":
        from kscript.backends.kandinsky import KandinskyBackend

        return KandinskyBackend(film, source, device=device, base_dir=base, options=options)
    from kscript.backends.sd import StableDiffusionBackend

    return StableDiffusionBackend(film, source, device=device, base_dir=base, options=options)
