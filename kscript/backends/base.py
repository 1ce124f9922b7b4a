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
        self._hooked: set[int] = set()
        self._running = ""

    def _fingerprint_parts(self) -> list[str]:
        """The family's part of the fingerprint: companions and settings that change pixels."""
        return []

    @property
    def fingerprint(self) -> str:
        """Model identities (location + config/weight-size digest), the family's settings,
        dtype, device type, diffusers version. Computed once: it walks the model folders."""
        if self._fingerprint is None:
            device_type, dtype = self._planned_device()
            parts = [self.version, self.source.identity(), *self._fingerprint_parts()]
            self._fingerprint = "|".join(parts + [dtype, device_type, diffusers_version()])
        return self._fingerprint

    def _planned_device(self) -> tuple[str, str]:
        """The device type and dtype name (`torch.float16`) this backend will run on, from
        files only when torch is not imported yet (`device.planned_device`): a fully cached
        rebuild needs the fingerprint and nothing else, and importing torch for it cost
        about 6 s and 270 MB. Once loaded, the real ones."""
        if self.device is not None:
            return self.device.type, str(self.dtype)
        from kscript.backends.device import planned_device

        return planned_device(self.device_name, self.options.dtype)

    def _device_and_dtype(self) -> tuple[Any, Any]:
        """The device and dtype this backend runs (or will run) on."""
        from kscript.backends.device import choose_device, choose_dtype

        device = self.device if self.device is not None else choose_device(self.device_name)
        dtype = self.dtype if self.dtype is not None else choose_dtype(device, self.options.dtype)
        return device, dtype

    def _start_loading(self) -> dict[str, Any]:
        """Fix the device, dtype and torch's CPU threads; the keyword arguments for
        `load_pipeline` (the CPU when offloading: accelerate moves each module to the GPU
        while it runs)."""
        from kscript.backends.device import set_threads

        self.device, self.dtype = self._device_and_dtype()
        if self._fingerprint is not None and self._fingerprint.rsplit("|", 3)[1:3] != [str(self.dtype), self.device.type]:
            from kscript.errors import ModelError

            raise ModelError(  # frames would be cached under another device's fingerprint
                f"kscript expected to run on {self._fingerprint.rsplit('|', 3)[2]} and torch chose {self.device.type}",
                hint="name the device with --device (cuda, mps or cpu)",
            )
        threads = set_threads(self.options.threads, self.source)
        if self.device.type == "cpu":
            self.notes.append(f"torch runs on {threads} CPU thread{'s' if threads != 1 else ''} "
                              "(frames are byte-identical only at the same thread count)")
        offload = self.options.offload and self.device.type == "cuda"
        if self.options.offload and not offload:
            self.notes.append(f"--offload has no effect on {self.device.type}: it moves modules to a CUDA GPU")
        return {"dtype": self.dtype, "device": "cpu" if offload else self.device, "say": self.say}

    def _finish_loading(self, pipes: Iterable[Any]) -> None:
        pipes = [p for p in pipes if p is not None]
        for pipe in pipes:
            pipe.set_progress_bar_config(disable=True)
        if self.options.offload and self.device.type == "cuda":
            done: set[int] = set()
            for pipe in pipes:  # pipelines sharing modules get the hooks once
                if not any(id(m) in done for m in pipe.components.values() if m is not None):
                    pipe.enable_model_cpu_offload(device=self.device)
                done.update(id(m) for m in pipe.components.values() if m is not None)
            self.notes.append("CPU offload: each model part moves to the GPU only while it runs")
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

    # -- counting denoising steps -----------------------------------------------------------

    def _count_forwards(self, module: Any, kind: str | None) -> None:
        """Count every forward of a denoiser (`BuildReport.denoising_steps`): one forward is
        one step, a classifier-free-guidance batch included. `kind` None: the kind of the
        call running now (the decoder's UNet serves text2image, img2img and inpaint)."""
        if module is None or id(module) in self._hooked:
            return
        self._hooked.add(id(module))

        def hook(_module: Any, _args: Any) -> None:
            name = kind or self._running
            if name:
                setattr(self.steps, name, getattr(self.steps, name) + 1)

        module.register_forward_pre_hook(hook)

    # -- calls ------------------------------------------------------------------------------

    def _generate(self, pipe: Any, req: Request, *, steps: int, reported_steps: int, kind: str = "",
                  band: Any = None, **kwargs: Any) -> np.ndarray:
        """One call of `pipe` with what every call of every family passes (conditioning,
        steps, guidance, a generator seeded with the frame's seed, progress to `on_step`),
        its image at the request's size. `kind` names the call for the step counter; `band`
        (mask, strength) makes it the masked call of `repaint`."""
        from kscript.backends.device import generator

        on_step = common.step_callback(req.on_step, reported_steps)
        if band is not None:
            on_step = self._band_callback(band[0], band[1], kwargs["image"], req.seed, on_step)
        self._running = kind
        try:
            out = self._call(
                pipe,
                **self._conditioning(pipe, req),
                **kwargs,
                num_inference_steps=steps,
                guidance_scale=req.guidance,
                generator=generator(req.seed),
                output_type="np",
                callback_on_step_end=on_step,
            )
        finally:
            self._running = ""
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

    # -- outpainting --------------------------------------------------------------------------

    def _encode_latents(self, pipe: Any, image: Any) -> Any:
        """The clean latents of a PIL image, as the img2img pipeline's autoencoder makes them."""
        raise NotImplementedError

    def repaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        """ONE img2img call of the decoder that paints the band (`mask`) from noise and
        redraws the rest at the frame's strength, in the denoiser forwards the frame's
        img2img call would make (`kscript.compile.cost`): no second model, no second call.

        How: the call runs at strength 1 over k = int(steps * strength) inference steps (the
        frame's img2img step count), so the band starts from pure noise; after each step, the
        latents outside the band are replaced by the frame's own latents noised to the next
        timestep until the last max(1, int(k * strength)) steps, which then denoise the whole
        frame together (the rest joins as an img2img at that strength would; the UNet sees
        the band and its surroundings in every step, so the band is painted to fit). This is
        differential img2img with a two-level strength map, done through
        `callback_on_step_end`, which every diffusers img2img pipeline has.
        """
        self.load()
        if req.strength <= 0:
            return image.copy()
        strength = min(1.0, float(req.strength))
        from kscript.compile.cost import effective_steps

        steps = effective_steps(req.steps, strength)
        k = int(steps * strength) if steps else 0
        if k == 0:
            return image.copy()  # too faint for one step: no model call
        pipe = self.img2img_pipe
        width, height = self._size(pipe, req)
        band = common.resize_array(np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0), width, height)
        out = self._generate(
            pipe, req, steps=k, reported_steps=k, kind="inpaint", band=(band, strength),
            image=common.to_pil(image, (width, height)), strength=1.0, **self._img2img_size(width, height),
        )
        self.calls.inpaint += 1
        return out

    def _img2img_size(self, width: int, height: int) -> dict[str, Any]:
        """Size arguments the family's img2img pipeline takes (Kandinsky's: width, height)."""
        return {}

    def _band_callback(self, band: np.ndarray, strength: float, image: Any, seed: int, then: Any) -> Any:
        """The `callback_on_step_end` of the masked call (see `repaint`), chained to `then`."""
        import torch

        from kscript.backends.device import generator

        state: dict[str, Any] = {}

        def callback(pipe: Any, i: int, t: Any, kwargs: dict) -> dict:
            latents = kwargs["latents"]
            timesteps = pipe.scheduler.timesteps
            total = len(timesteps)
            rest_start = total - max(1, int(total * strength))
            if i + 1 <= rest_start and i + 1 < total:
                if not state:
                    with torch.no_grad():
                        clean = self._encode_latents(pipe, image).to(latents.device, latents.dtype)
                    if clean.shape[-2:] != latents.shape[-2:]:
                        clean = torch.nn.functional.interpolate(clean.float(), size=latents.shape[-2:]).to(latents.dtype)
                    h, w = latents.shape[-2:]
                    # a latent cell is band if any of its pixels is
                    import cv2

                    cells = cv2.dilate((common.resize_array(band, w * 4, h * 4) > 0.01).astype(np.uint8),
                                       np.ones((3, 3), np.uint8))
                    cells = cv2.resize(cells.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
                    keep = torch.from_numpy((~cells).astype(np.float32)).to(latents.device, latents.dtype)
                    noise = torch.randn(clean.shape, generator=generator(seed + 1), dtype=torch.float32)
                    state.update(clean=clean, keep=keep[None, None], noise=noise.to(latents.device, latents.dtype))
                noised = pipe.scheduler.add_noise(state["clean"], state["noise"], timesteps[i + 1 : i + 2])
                keep = state["keep"]
                latents = latents * (1 - keep) + noised.to(latents.dtype) * keep
                kwargs["latents"] = latents
            if then is not None:
                kwargs = then(pipe, i, t, kwargs) or kwargs
            return {"latents": kwargs["latents"]}

        return callback
