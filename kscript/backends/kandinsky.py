"""Kandinsky 2.2: a prior that turns text into CLIP image embeddings, and a decoder
(UNet + MoVQ) that paints from them.

What kscript does differently from running the Combined pipeline per frame (as
Deforum-Kandinsky does): the prior, a whole diffusion of its own, runs once per distinct
prompt (and negative) per build, not once per frame; blends interpolate those embeddings
along the sphere (slerp), which is what a blend of two images "means" to the decoder. The
decoder's modules are loaded once and shared by the text-to-image and image-to-image
pipelines; an inpainting decoder (9-channel UNet) outpaints revealed borders when there is
one.

The prior draws its noise from the film's seed, not the frame's: a prompt's embedding is
the same on every frame, which is what lets it be computed once, and keeps a still prompt
from flickering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kscript.backends import common
from kscript.backends.base import DiffusersBackend
from kscript.backends.loading import (
    KANDINSKY_INPAINT_COMBINED,
    ModelSource,
    check_inpaint_channels,
    companion,
    load_pipeline,
    quiet_loading,
    reads_as_local,
    resolve_model,
)
from kscript.backends.settings import ModelOptions
from kscript.errors import ModelError
from kscript.plan import FilmInfo
from kscript.backends.interface import Request

from kscript.compile.cost import PRIOR_GUIDANCE, PRIOR_STEPS

BACKEND_VERSION = "kandinsky2.2/1"


class KandinskyBackend(DiffusersBackend):
    """Kandinsky 2.2 through diffusers: prior + decoder (+ inpainting decoder)."""

    name = "kandinsky2.2"
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
        self.prior_seed = film.seed
        self._resolved: tuple[ModelSource | None, ModelSource | None] | None = None
        self.prior: Any = None
        self.decoder: Any = None
        self.img2img_pipe: Any = None
        self.inpaint_pipe: Any = None
        # (text, negative) -> (image_embeds, negative_image_embeds), for the whole build
        self.embeddings: dict[tuple[str, str], tuple[Any, Any]] = {}
        if source.kind == "prior":
            raise ModelError(
                f"model '{source.spec}' is a Kandinsky 2.2 prior, which cannot paint by itself",
                hint="name the decoder (e.g. kandinsky-community/kandinsky-2-2-decoder) as model: and this one as prior:",
            )
        if source.kind == "inpaint":
            raise ModelError(
                f"model '{source.spec}' is a Kandinsky 2.2 inpainting decoder, which only fills masks",
                hint="name the decoder (e.g. kandinsky-community/kandinsky-2-2-decoder) as model: and this one as inpaint:",
            )

    # -- finding the companions -------------------------------------------------------------

    def _resolve(self) -> tuple[ModelSource | None, ModelSource | None]:
        """The prior (None when the main model is a Combined pipeline that holds one) and the
        inpainting decoder (None when there is none)."""
        if self._resolved is None:
            self._resolved = (self._resolve_prior(), self._resolve_inpaint())
        return self._resolved

    def _usual(self, part: str) -> str | None:
        """The usual companion's name, found beside the decoder that was found: for a local
        decoder the sibling folder (an absolute path: the same film picks the same prior
        whichever folder it is built from), for a hub id the hub id."""
        usual = companion(self.source.spec, part)  # type: ignore[arg-type]
        if usual is None or not self.source.local or self.source.folder is None:
            return usual
        sibling = companion(self.source.folder.name, part)  # type: ignore[arg-type]
        return str(self.source.folder.parent / sibling) if sibling else usual

    def _resolve_prior(self) -> ModelSource | None:
        film = self.film
        if film.prior:
            prior = resolve_model(film.prior, "prior", base_dir=self.base_dir)
        elif self.source.kind == "combined":
            return None
        else:
            usual = self._usual("prior")
            if usual is None:
                raise ModelError(
                    f"Kandinsky 2.2 decoder '{self.source.spec}' needs a prior, and none is named",
                    hint='name it in the film block, e.g. prior: "kandinsky-community/kandinsky-2-2-prior"',
                )
            try:
                prior = resolve_model(usual, "prior", base_dir=self.base_dir)
            except ModelError as err:
                local = reads_as_local(usual, self.base_dir)
                found = "was not found: "
                where = err.message.split(found, 1)[1] if local and found in err.message else err.message
                raise ModelError(
                    f"Kandinsky 2.2 decoder '{self.source.spec}' needs a prior; none is named and its usual "
                    f"companion '{usual}' was not found ({where})",
                    hint='name it in the film block, e.g. prior: "kandinsky-community/kandinsky-2-2-prior" '
                    + (f"(a hub id or a local folder), or put the prior at '{usual}'" if local else f"or {err.hint}"),
                ) from None
        if prior.kind != "prior":
            raise ModelError(
                f"prior '{prior.spec}' is a {prior.class_name}, not a Kandinsky 2.2 prior",
                hint='name a KandinskyV22PriorPipeline, e.g. prior: "kandinsky-community/kandinsky-2-2-prior"',
            )
        self._check_embedding_size(prior)
        return prior

    def _check_embedding_size(self, prior: ModelSource) -> None:
        """The prior's image embeddings must be the size the decoder's UNet takes: else the
        first frame fails deep inside the UNet (`mat1 and mat2 shapes cannot be multiplied`).
        Read from the two configs (JSON), before anything loads."""
        prior_config = prior._read_json("prior/config.json") or {}
        unet_config = self.source._read_json("unet/config.json") or {}
        made = prior_config.get("embedding_dim")
        taken = unet_config.get("encoder_hid_dim")
        if made is not None and taken is not None and int(made) != int(taken):
            raise ModelError(
                f"prior '{prior.spec}' makes image embeddings of size {made}, and decoder '{self.source.spec}' "
                f"takes embeddings of size {taken}: they are not a pair",
                hint="name the prior released with this decoder, e.g. kandinsky-community/kandinsky-2-2-prior "
                "for kandinsky-community/kandinsky-2-2-decoder",
            )

    def _resolve_inpaint(self) -> ModelSource | None:
        film = self.film
        if film.inpaint:
            inpaint = resolve_model(film.inpaint, "inpaint", base_dir=self.base_dir)
            explicit = True
        else:
            usual = self._usual("inpaint")
            if usual is None:
                self.notes.append("no inpainting decoder: revealed borders are filled, then redrawn by img2img")
                return None
            try:
                inpaint = resolve_model(usual, "inpaint", base_dir=self.base_dir)
            except ModelError:
                # The companion is optional: without it borders are filled and redrawn.
                self.notes.append(f"inpainting decoder '{usual}' not found: borders are filled, then redrawn")
                return None
            explicit = False
        if inpaint.kind != "inpaint":
            if not explicit:
                self.notes.append(f"'{inpaint.spec}' is not an inpainting decoder: not used")
                return None
            raise ModelError(
                f"inpaint '{inpaint.spec}' is a {inpaint.class_name}, not a Kandinsky 2.2 inpainting decoder",
                hint='name one, e.g. inpaint: "kandinsky-community/kandinsky-2-2-decoder-inpaint", or leave inpaint: out',
            )
        check_inpaint_channels(inpaint)
        return inpaint

    # -- Backend ----------------------------------------------------------------------------

    def _fingerprint_parts(self) -> list[str]:
        prior, inpaint = self._resolve()
        return [
            prior.identity() if prior else "prior:combined",
            inpaint.identity() if inpaint else "inpaint:none",
            f"prior_steps={PRIOR_STEPS}",
            f"prior_guidance={PRIOR_GUIDANCE}",
            f"prior_seed={self.prior_seed}",
        ]

    @property
    def has_inpaint(self) -> bool:
        return self._resolve()[1] is not None

    def load(self) -> None:
        if self._loaded:
            return
        prior_source, inpaint_source = self._resolve()
        with quiet_loading():  # importing the pipelines makes transformers talk
            from diffusers import (
                KandinskyV22CombinedPipeline,
                KandinskyV22Img2ImgCombinedPipeline,
                KandinskyV22Img2ImgPipeline,
                KandinskyV22Pipeline,
                KandinskyV22PriorPipeline,
            )

        kw = self._start_loading()
        if self.source.kind == "combined":
            cls = (
                KandinskyV22Img2ImgCombinedPipeline
                if self.source.class_name == "KandinskyV22Img2ImgCombinedPipeline"
                else KandinskyV22CombinedPipeline
            )
            combined = load_pipeline(self.source, cls, **kw)
            self.decoder = KandinskyV22Pipeline(
                unet=combined.unet, scheduler=combined.scheduler, movq=combined.movq
            )
            self.prior = combined.prior_pipe
        else:
            self.decoder = load_pipeline(self.source, KandinskyV22Pipeline, **kw)
        if prior_source is not None:
            self.prior = load_pipeline(prior_source, KandinskyV22PriorPipeline, **kw)
        # One set of weights for both: the img2img pipeline is built from the decoder's modules.
        self.img2img_pipe = KandinskyV22Img2ImgPipeline(**self.decoder.components)
        if inpaint_source is not None and self.film.inpaint:
            self.notes.append(
                f"inpaint '{inpaint_source.spec}' is not loaded: revealed bands are painted by the decoder "
                "itself, in one masked call per frame at the frame's own steps (docs/backends.md, 'Outpainting')"
            )
        self._finish_loading((self.decoder, self.img2img_pipe, self.prior))
        self._count_forwards(self.decoder.unet, None)
        self._count_forwards(getattr(self.prior, "prior", None), "prior")

    def _load_inpaint(self) -> None:
        """The inpainting decoder, loaded on first use only: builds paint bands with the
        decoder (`repaint`), so a build never holds a second 1.25 B-parameter UNet."""
        if self.inpaint_pipe is not None:
            return
        inpaint_source = self._resolve()[1]
        if inpaint_source is None:
            raise RuntimeError("KandinskyBackend.inpaint called without an inpainting decoder (check has_inpaint)")
        from diffusers import KandinskyV22InpaintCombinedPipeline, KandinskyV22InpaintPipeline

        kw = {"dtype": self.dtype, "device": self.device, "say": self.say}
        if inpaint_source.class_name in KANDINSKY_INPAINT_COMBINED:
            self.inpaint_pipe = load_pipeline(inpaint_source, KandinskyV22InpaintCombinedPipeline, **kw).decoder_pipe
        else:
            self.inpaint_pipe = load_pipeline(inpaint_source, KandinskyV22InpaintPipeline, **kw)
        self.inpaint_pipe.set_progress_bar_config(disable=True)
        self._count_forwards(self.inpaint_pipe.unet, "inpaint")

    def close(self) -> None:
        self.prior = self.decoder = self.img2img_pipe = self.inpaint_pipe = None
        self.embeddings.clear()
        super().close()

    # -- embeddings -------------------------------------------------------------------------

    def prompt_embedding(self, text: str, negative: str) -> tuple[Any, Any]:
        """The prior's image embedding of `text` (and of `negative`, or the embedding of an
        empty image when there is none, as the Combined pipeline does), made once per build."""
        key = (text, negative)
        cached = self.embeddings.get(key)
        if cached is None:
            self.load()
            from kscript.backends.device import generator

            out = self._prior()(
                prompt=text,
                negative_prompt=negative or None,
                num_inference_steps=PRIOR_STEPS,
                guidance_scale=PRIOR_GUIDANCE,
                generator=generator(self.prior_seed),
                output_type="pt",
                return_dict=True,
            )
            self.calls.prior += 1
            cached = (out.image_embeds, out.negative_image_embeds)
            self.embeddings[key] = cached
        return cached

    def embed_prompts(self, pairs: set[tuple[str, str]]) -> None:
        """Embed every (prompt, negative) the build will need, then free the prior (about
        2.7 B parameters with its text and image encoders: 5.4 GB in float16) before the first
        frame: the decoder then has the device to itself."""
        todo = sorted(p for p in pairs if p not in self.embeddings)
        for n, (text, negative) in enumerate(todo, 1):
            self.say(f"prior: embedding prompt {n} of {len(todo)}")
            self.prompt_embedding(text, negative)
        if self.prior is not None:
            self.prior = None
            self.notes.append(f"prior freed after embedding {len(self.embeddings)} prompts")
            common.free_device_memory(self.device)

    def _prior(self) -> Any:
        """The prior, loaded again if it was freed and a prompt not embedded yet comes."""
        if self.prior is None:
            from diffusers import KandinskyV22PriorPipeline

            source = self._resolve()[0]
            if source is None:  # a Combined folder: its prior is part of it
                from diffusers import KandinskyV22CombinedPipeline

                self.prior = load_pipeline(self.source, KandinskyV22CombinedPipeline, dtype=self.dtype,
                                           device=self.device, say=self.say).prior_pipe
            else:
                self.prior = load_pipeline(source, KandinskyV22PriorPipeline, dtype=self.dtype, device=self.device,
                                           say=self.say)
            self.prior.set_progress_bar_config(disable=True)
            self._count_forwards(self.prior.prior, "prior")
        return self.prior

    def embeddings_for(self, req: Request) -> tuple[Any, Any]:
        """The frame's (image_embeds, negative_image_embeds): its prompts' embeddings blended
        by slerp with the request's weights."""
        pairs = [(self.prompt_embedding(text, req.negative), weight) for text, weight in req.prompts]
        positive = common.blend_slerp([(p[0], w) for p, w in pairs])
        negative = common.blend_slerp([(p[1], w) for p, w in pairs])
        return positive, negative

    # -- calls ------------------------------------------------------------------------------

    def _size(self, pipe: Any, req: Request) -> tuple[int, int]:
        factor = getattr(pipe, "movq_scale_factor", 8)
        return common.model_size(req.width, req.height, factor * factor)

    def _conditioning(self, pipe: Any, req: Request) -> dict[str, Any]:
        image_embeds, negative_embeds = self.embeddings_for(req)
        return {"image_embeds": image_embeds, "negative_image_embeds": negative_embeds}

    def _img2img_size(self, width: int, height: int) -> dict[str, Any]:
        return {"width": width, "height": height}

    def _encode_latents(self, pipe: Any, image: Any) -> Any:
        pixels = pipe.image_processor.preprocess(image).to(pipe.movq.device, pipe.movq.dtype)
        return pipe.movq.encode(pixels)["latents"]

    def text2image(self, req: Request) -> np.ndarray:
        self.load()
        width, height = self._size(self.decoder, req)
        steps = max(1, int(req.steps))
        image = self._generate(self.decoder, req, steps=steps, reported_steps=steps, kind="text2image",
                               width=width, height=height)
        self.calls.text2image += 1
        return image

    def img2img(self, image: np.ndarray, req: Request) -> np.ndarray:
        self.load()
        if req.strength <= 0:
            return image.copy()  # nothing to redraw: no model call
        width, height = self._size(self.img2img_pipe, req)
        strength = min(1.0, float(req.strength))
        steps = common.effective_steps(req.steps, strength)
        if steps == 0:
            return image.copy()  # too faint for one denoising step: no model call
        out = self._generate(
            self.img2img_pipe, req, steps=steps, reported_steps=int(steps * strength), kind="img2img",
            image=common.to_pil(image, (width, height)), width=width, height=height, strength=strength,
        )
        self.calls.img2img += 1
        return out

    def inpaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        """Paint where `mask` is 1 (diffusers >= 0.19 repaints white, keeps black; its
        pipeline binarises at 0.5 and has no strength: it runs all steps). The result keeps
        the original outside the mask and mixes along the feathered edge."""
        self.load()
        self._load_inpaint()
        width, height = self._size(self.inpaint_pipe, req)
        steps = max(1, int(req.steps))
        model_image = common.resize_array(np.asarray(image, dtype=np.uint8), width, height)
        model_mask = common.resize_array(np.asarray(mask, dtype=np.float32), width, height)
        with common.fast_kandinsky_mask():
            painted = self._generate(
                self.inpaint_pipe, req, steps=steps, reported_steps=steps, kind="inpaint",
                image=np.ascontiguousarray(model_image),
                mask_image=np.ascontiguousarray(np.clip(model_mask, 0.0, 1.0)),
                width=width, height=height,
            )
        self.calls.inpaint += 1
        return common.composite(painted, image, mask)
