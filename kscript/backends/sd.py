"""Stable Diffusion 1.x / 2.x / XL through diffusers' AutoPipelines.

One checkpoint is loaded once: `AutoPipelineForText2Image` for a scene's first frame and
`AutoPipelineForImage2Image.from_pipe` (the same modules, no second copy in memory) for
every animated frame. An inpainting checkpoint (9-channel UNet) named as `inpaint:` is
loaded with `AutoPipelineForInpainting` to outpaint revealed borders; without one the
executor fills the border and img2img redraws it.

The text encoder runs once per distinct prompt text per build: embeddings are cached and
a blend is the weighted sum of its prompts' embeddings, passed as `prompt_embeds`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kscript.backends import common
from kscript.backends.base import DiffusersBackend
from kscript.backends.loading import (
    ModelSource,
    check_inpaint_channels,
    has_safety_checker,
    load_pipeline,
    quiet_loading,
    resolve_model,
)
from kscript.backends.settings import ModelOptions
from kscript.errors import ModelError
from kscript.plan import FilmInfo
from kscript.backends.interface import Request

BACKEND_VERSION = "stable-diffusion/1"


class StableDiffusionBackend(DiffusersBackend):
    """A Stable-Diffusion-family checkpoint (+ an optional inpainting checkpoint)."""

    name = "stable-diffusion"
    version = BACKEND_VERSION

    def __init__(
        self,
        film: FilmInfo,
        source: ModelSource,
        *,
        device: str | None = None,
        base_dir: Path | None = None,
        options: ModelOptions | None = None,
    ) -> None:
        super().__init__(film, source, device=device, base_dir=base_dir, options=options)
        self._inpaint_source: ModelSource | None | bool = False  # False: not resolved yet
        self.text2image_pipe: Any = None
        self.img2img_pipe: Any = None
        self.inpaint_pipe: Any = None
        # (id of the pipeline whose text encoder made it, text) -> embeddings
        self.embeddings: dict[tuple[int, str, bool], dict[str, Any]] = {}
        self.encoder_calls = 0
        if film.prior:
            self.notes.append(f"prior '{film.prior}' is not used: a Stable Diffusion model encodes text itself "
                              "(prior: is for Kandinsky 2.2)")
        if source.kind in ("sd-inpaint", "sdxl-inpaint"):
            raise ModelError(
                f"model '{source.spec}' is an inpainting checkpoint (its UNet takes 9 channels), which only fills masks",
                hint="name a text-to-image checkpoint as model: and this one as inpaint:",
            )

    @property
    def xl(self) -> bool:
        return self.source.kind == "sdxl"

    def _resolve_inpaint(self) -> ModelSource | None:
        if self._inpaint_source is False:
            source = None
            if self.film.inpaint:
                source = resolve_model(self.film.inpaint, "inpaint", base_dir=self.base_dir)
                if source.family != "stable-diffusion":
                    raise ModelError(
                        f"inpaint '{source.spec}' is a {source.class_name}, not a Stable Diffusion inpainting model",
                        hint="name an inpainting checkpoint of the same family as model:, or leave inpaint: out",
                    )
                check_inpaint_channels(source)
                want_xl = self.xl
                if source.kind.startswith("sdxl") != want_xl:
                    raise ModelError(
                        f"inpaint '{source.spec}' is {'an SDXL' if not want_xl else 'an SD 1.x/2.x'} checkpoint "
                        f"and model '{self.source.spec}' is not",
                        hint="name an inpainting checkpoint of the same family as model:",
                    )
            else:
                self.notes.append("no inpainting checkpoint: revealed borders are filled, then redrawn by img2img")
            self._inpaint_source = source
        return self._inpaint_source  # type: ignore[return-value]

    def _fingerprint_parts(self) -> list[str]:
        inpaint = self._resolve_inpaint()
        return [inpaint.identity() if inpaint else "inpaint:none"]

    @property
    def has_inpaint(self) -> bool:
        return self._resolve_inpaint() is not None

    def load(self) -> None:
        if self._loaded:
            return
        inpaint_source = self._resolve_inpaint()
        with quiet_loading():  # importing the pipelines makes transformers talk
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

        kw = self._start_loading()
        self.text2image_pipe = load_pipeline(self.source, AutoPipelineForText2Image, **kw, **self._checker_kwargs(self.source))
        try:
            self.img2img_pipe = AutoPipelineForImage2Image.from_pipe(self.text2image_pipe)
        except Exception as err:
            raise ModelError(
                f"model '{self.source.spec}' has no image-to-image pipeline: {str(err)[:200]}",
                hint="kscript animates by image-to-image; name a Stable Diffusion 1.x/2.x/XL checkpoint",
            ) from None
        if inpaint_source is not None:
            self.notes.append(
                f"inpaint '{inpaint_source.spec}' is not loaded: revealed bands are painted by the model "
                "itself, in one masked call per frame at the frame's own steps (docs/backends.md, 'Outpainting')"
            )
        self._finish_loading((self.text2image_pipe, self.img2img_pipe))
        self._count_forwards(self.text2image_pipe.unet, None)

    def _load_inpaint(self) -> None:
        """The inpainting checkpoint, loaded on first use only (builds paint bands with the
        model itself, `repaint`)."""
        if self.inpaint_pipe is not None:
            return
        source = self._resolve_inpaint()
        if source is None:
            raise RuntimeError("StableDiffusionBackend.inpaint called without an inpainting model (check has_inpaint)")
        from diffusers import AutoPipelineForInpainting

        self.inpaint_pipe = load_pipeline(source, AutoPipelineForInpainting, dtype=self.dtype, device=self.device,
                                          say=self.say, **self._checker_kwargs(source))
        self.inpaint_pipe.set_progress_bar_config(disable=True)
        self._count_forwards(self.inpaint_pipe.unet, "inpaint")

    def _checker_kwargs(self, source: ModelSource) -> dict[str, Any]:
        """`safety_checker=None` for a checkpoint that ships one, unless `--safety-checker`
        keeps it (docs/backends.md, "The safety checker"): a flagged frame comes back
        black, and in an animation a black frame becomes the start of every later frame."""
        if not has_safety_checker(source):
            return {}
        if self.options.safety_checker:
            note = f"the safety checker of '{source.spec}' is on: a frame it flags stops the build"
        else:
            note = (f"the safety checker of '{source.spec}' is off (kscript's default: a flagged frame would be "
                    "black and feed the rest of the scene); --safety-checker keeps it")
            if note not in self.notes:
                self.notes.append(note)
            return {"safety_checker": None, "requires_safety_checker": False}
        if note not in self.notes:
            self.notes.append(note)
        return {}

    def close(self) -> None:
        self.text2image_pipe = self.img2img_pipe = self.inpaint_pipe = None
        self.embeddings.clear()
        super().close()

    # -- embeddings -------------------------------------------------------------------------

    def text_embedding(self, pipe: Any, text: str, negative: bool = False) -> dict[str, Any]:
        """The text encoder's output for `text` (keys `embeds` and, for SDXL, `pooled`),
        computed once per build per text encoder."""
        zeros = self.xl and negative and text == ""
        key = (id(pipe.text_encoder if pipe.text_encoder is not None else pipe), text, zeros)
        cached = self.embeddings.get(key)
        if cached is None:
            import torch

            with torch.no_grad():  # encode_prompt is not under no_grad by itself
                cached = self._encode(pipe, text, negative)
            self.embeddings[key] = cached
        return cached

    def _encode(self, pipe: Any, text: str, negative: bool) -> dict[str, Any]:
        if not self.xl:
            embeds, _ = pipe.encode_prompt(text, self.device, 1, False)
            self.encoder_calls += 1
            return {"embeds": embeds}
        if negative and text == "" and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
            # SDXL's own convention for "no negative prompt": zeros, not the encoding of "".
            ref = self.text_embedding(pipe, " ")
            return {"embeds": ref["embeds"] * 0, "pooled": ref["pooled"] * 0}
        embeds, _, pooled, _ = pipe.encode_prompt(
            prompt=text, device=self.device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
        self.encoder_calls += 1
        return {"embeds": embeds, "pooled": pooled}

    def embedding_kwargs(self, pipe: Any, req: Request) -> dict[str, Any]:
        """`prompt_embeds` (a weighted sum over the request's prompts) and the negative's."""
        parts = [(self.text_embedding(pipe, text), weight) for text, weight in req.prompts]
        negative = self.text_embedding(pipe, req.negative, negative=True)
        kwargs = {
            "prompt_embeds": common.blend_linear([(p["embeds"], w) for p, w in parts]),
            "negative_prompt_embeds": negative["embeds"],
        }
        if self.xl:
            kwargs["pooled_prompt_embeds"] = common.blend_linear([(p["pooled"], w) for p, w in parts])
            kwargs["negative_pooled_prompt_embeds"] = negative["pooled"]
        return kwargs

    # -- calls ------------------------------------------------------------------------------

    def _conditioning(self, pipe: Any, req: Request) -> dict[str, Any]:
        return self.embedding_kwargs(pipe, req)

    def _call(self, pipe: Any, **kwargs: Any) -> Any:
        """With diffusers' notices off (SDXL's VAE upcast warns on every call)."""
        with quiet_loading():
            return pipe(**kwargs)

    def _size(self, pipe: Any, req: Request) -> tuple[int, int]:
        # The pipelines check for multiples of 8 whatever the autoencoder's own factor.
        return common.model_size(req.width, req.height, max(8, int(getattr(pipe, "vae_scale_factor", 8))))

    def _encode_latents(self, pipe: Any, image: Any) -> Any:
        import torch

        vae = pipe.vae
        upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        pixels = pipe.image_processor.preprocess(image).to(vae.device, torch.float32 if upcast else vae.dtype)
        if upcast:  # SDXL's VAE overflows in float16, as its own pipeline knows
            vae.to(torch.float32)
        try:
            latents = vae.encode(pixels).latent_dist.mean
        finally:
            if upcast:
                vae.to(torch.float16)
        return latents * vae.config.scaling_factor

    def text2image(self, req: Request) -> np.ndarray:
        self.load()
        pipe = self.text2image_pipe
        width, height = self._size(pipe, req)
        steps = max(1, int(req.steps))
        image = self._generate(pipe, req, steps=steps, reported_steps=steps, kind="text2image", width=width, height=height)
        self.calls.text2image += 1
        return image

    def img2img(self, image: np.ndarray, req: Request) -> np.ndarray:
        self.load()
        if req.strength <= 0:
            return image.copy()  # nothing to redraw: no model call
        pipe = self.img2img_pipe
        width, height = self._size(pipe, req)
        strength = min(1.0, float(req.strength))
        steps = common.effective_steps(req.steps, strength)
        if steps == 0:
            return image.copy()  # too faint for one denoising step: no model call
        out = self._generate(
            pipe, req, steps=steps, reported_steps=int(steps * strength), kind="img2img",
            image=common.to_pil(image, (width, height)), strength=strength,
        )
        self.calls.img2img += 1
        return out

    def inpaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        """Paint where `mask` is 1, at full strength (the revealed border has no content to
        keep); the original stays outside the mask and mixes along the feathered edge."""
        self.load()
        self._load_inpaint()
        from PIL import Image

        pipe = self.inpaint_pipe
        width, height = self._size(pipe, req)
        steps = max(1, int(req.steps))
        mask8 = (np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        mask_image = Image.fromarray(common.resize_array(mask8, width, height), "L")
        painted = self._generate(
            pipe, req, steps=steps, reported_steps=steps, kind="inpaint",
            image=common.to_pil(image, (width, height)), mask_image=mask_image,
            width=width, height=height, strength=1.0,
        )
        self.calls.inpaint += 1
        return common.composite(painted, image, mask)
