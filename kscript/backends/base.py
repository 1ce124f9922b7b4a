"""What the diffusers backends share, whatever the model family.

Both families keep a model source, choose the device and dtype when they load (CUDA, then
MPS, then CPU; float16 on a GPU), compute their fingerprint once (it walks the model
folders), run their pipelines without progress bars (kscript reports progress itself) and
free the device's memory on close. The families differ in which pipelines they load and
what goes into their fingerprint besides the model (`_fingerprint_parts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from kscript.backends import common
from kscript.backends.loading import ModelSource
from kscript.backends.settings import ModelOptions
from kscript.errors import ModelError
from kscript.plan import FilmInfo
from kscript.backends.interface import Backend, Request


def diffusers_version() -> str:
    try:
        from importlib.metadata import version

        return "diffusers " + version("diffusers")
    except Exception:  # pragma: no cover
        return "diffusers ?"


class DiffusersBackend(Backend):
    """A backend made of diffusers pipelines loaded from one model source (and companions)."""

    #: the family's own version, first in the fingerprint: bump it when the pixels change
    version = "diffusers/0"

    def __init__(
        self,
        film: FilmInfo,
        source: ModelSource,
        *,
        device: str | None = None,
        base_dir: Path | None = None,
        options: ModelOptions | None = None,
    ) -> None:
        super().__init__()
        self.options = options or ModelOptions()
        self.film = film
        self.source = source
        self.device_name = device
        self.base_dir = base_dir
        self.notes: list[str] = []  # what was decided about companions, for reports
        self.device: Any = None
        self.dtype: Any = None
        self._fingerprint: str | None = None
        self._loaded = False

    def _fingerprint_parts(self) -> list[str]:
        """The family's part of the fingerprint: companions and settings that change pixels."""
        return []

    @property
    def fingerprint(self) -> str:
        """Model identities (location + config/weight-size digest), the family's settings,
        dtype, device type, diffusers version. Computed once: it walks the model folders."""
        if self._fingerprint is None:
            device, dtype = self._device_and_dtype()
            parts = [self.version, self.source.identity(), *self._fingerprint_parts()]
            self._fingerprint = "|".join(parts + [str(dtype), device.type, diffusers_version()])
        return self._fingerprint

    def _device_and_dtype(self) -> tuple[Any, Any]:
        """The device and dtype this backend runs (or will run) on."""
        from kscript.backends.device import choose_device, choose_dtype

        device = self.device if self.device is not None else choose_device(self.device_name)
        dtype = self.dtype if self.dtype is not None else choose_dtype(device, self.options.dtype)
        return device, dtype

    def _start_loading(self) -> dict[str, Any]:
        """Fix the device and dtype; the keyword arguments for `load_pipeline`."""
        self.device, self.dtype = self._device_and_dtype()
        return {"dtype": self.dtype, "device": self.device}

    def _finish_loading(self, pipes: Iterable[Any]) -> None:
        for pipe in pipes:
            if pipe is not None:
                pipe.set_progress_bar_config(disable=True)
        self._loaded = True

    def close(self) -> None:
        """Subclasses drop their pipelines and caches, then call this."""
        self._loaded = False
        common.free_device_memory(self.device)

    # -- calls ------------------------------------------------------------------------------

    def _conditioning(self, pipe: Any, req: Request) -> dict[str, Any]:
        """The prompt conditioning of a call of `pipe` for `req`: embeddings computed once per
        build per text, blended by the request's weights."""
        raise NotImplementedError

    def _call(self, pipe: Any, **kwargs: Any) -> Any:
        """One pipeline call; exceptions, a cancellation from `on_step` among them, pass
        through as they are."""
        return pipe(**kwargs)

    def _generate(self, pipe: Any, req: Request, *, steps: int, reported_steps: int, **kwargs: Any) -> np.ndarray:
        """One call of `pipe` with what every call of every family passes (conditioning,
        steps, guidance, a generator seeded with the frame's seed, progress to `on_step`),
        its image at the request's size."""
        from kscript.backends.device import generator

        out = self._call(
            pipe,
            **self._conditioning(pipe, req),
            **kwargs,
            num_inference_steps=steps,
            guidance_scale=req.guidance,
            generator=generator(req.seed),
            output_type="np",
            callback_on_step_end=common.step_callback(req.on_step, reported_steps),
        )
        flagged = getattr(out, "nsfw_content_detected", None)
        if flagged and any(flagged):
            # The pipeline blacked the image out. Fed into the chain, black would be warped
            # and redrawn into every later frame of the scene: stop here instead.
            raise ModelError(
                "the model's safety checker flagged this frame as not safe for work, and its pipeline "
                "returned a black image, which kscript does not animate from",
                hint="change this frame's prompt or seed, or build without --safety-checker "
                "(docs/backends.md, 'The safety checker'); the frames before it are kept in the cache",
            )
        return common.from_output(out.images, req.width, req.height)
