"""Tiny random-weight diffusers pipelines, built from configs and saved to folders.

Why: the diffusers backends must be tested through the same `from_pretrained` path as real
models, offline, in seconds. These builders make Kandinsky 2.2 (prior, decoder,
decoder-inpaint) and Stable Diffusion (4-channel img2img and 9-channel inpainting)
pipelines with a few thousand parameters each, seeded so that two builds give the same
weights, and `save_pretrained` them into a folder that a `.kscene` can name as its model.

The configurations are the ones measured to work offline here
(`/work/shared/notes/tiny-pipelines.md`); the tokenizer is made locally (byte-level vocab)
because a real one comes from the hub.
"""

from __future__ import annotations

from pathlib import Path

SIZE = 64  # pixels: images the tiny models are exercised at


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins for bytes that byte-level BPE vocabularies use (GPT-2)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_tokenizer():
    """A CLIP tokenizer with a byte-level vocab: bos 0, eos 1 (also pad), max length 77."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    for ch in chars:
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _clip_text_config():
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        projection_dim=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=1000,
        max_position_embeddings=77,
        layer_norm_eps=1e-5,
    )


def build_kandinsky_prior(folder: Path, seed: int = 0) -> Path:
    """A `KandinskyV22PriorPipeline` with random weights, saved into `folder`."""
    import torch
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer, UnCLIPScheduler
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(seed)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    # Without a real std every output collapses to zero (post_process_latents multiplies by it).
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    torch.manual_seed(seed + 1)
    text_encoder = CLIPTextModelWithProjection(_clip_text_config())
    torch.manual_seed(seed + 2)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            image_size=224,
            projection_dim=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_channels=3,
            num_hidden_layers=2,
            patch_size=14,
        )
    )
    image_processor = CLIPImageProcessor(
        crop_size=224,
        do_center_crop=True,
        do_normalize=True,
        do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
        size=224,
    )
    scheduler = UnCLIPScheduler(
        variance_type="fixed_small_log",
        prediction_type="sample",
        num_train_timesteps=1000,
        clip_sample=True,
        clip_sample_range=10.0,
    )
    pipe = KandinskyV22PriorPipeline(
        prior=prior,
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(),
        scheduler=scheduler,
        image_processor=image_processor,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def _kandinsky_unet(in_channels: int, light: bool = False):
    """The Kandinsky 2.2 decoder UNet's layout (image-embedding conditioning through
    `addition_embed_type="image"` and `encoder_hid_dim_type="image_proj"`, scale-shift
    resnets), tiny. `light`: without a single attention block (resnet down/up blocks, no mid
    block), so a forward costs a few convolutions even on 640x640 frames' latents."""
    from diffusers import UNet2DConditionModel

    blocks = dict(
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
    )
    if light:
        blocks = dict(
            down_block_types=("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"),
            up_block_types=("ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"),
            mid_block_type=None,
            block_out_channels=(8, 16),
            norm_num_groups=8,
        )
    return UNet2DConditionModel(
        in_channels=in_channels,
        out_channels=8,
        addition_embed_type="image",
        layers_per_block=1,
        encoder_hid_dim=32,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=32,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
        **blocks,
    )


def _movq(light: bool = False):
    """A tiny MoVQ. `light`: without attention (no attention encoder/decoder blocks, none in
    the mid block) and with four blocks, so it scales by 8 like the real MoVQ: a 640x640 frame
    has the real model's 80x80 latents, where the test MoVQ (two blocks) would give 320x320."""
    from diffusers import VQModel

    blocks = dict(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
    )
    if light:
        blocks = dict(
            block_out_channels=[32, 32, 32, 32],  # the decoder's SpatialNorm has 32 groups, fixed
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            mid_block_add_attention=False,
        )
    return VQModel(
        in_channels=3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        norm_type="spatial",
        num_vq_embeddings=12,
        out_channels=3,
        vq_embed_dim=4,
        **blocks,
    )


def _ddim():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        thresholding=False,
    )


def _pndm():
    """SD 1.5's scheduler as published (PNDM with skip_prk_steps, scaled-linear betas)."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                         set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1)


def build_kandinsky_decoder(folder: Path, seed: int = 0, inpaint: bool = False, light: bool = False) -> Path:
    """A `KandinskyV22Pipeline` (or, with `inpaint`, a `KandinskyV22InpaintPipeline` with a
    9-channel UNet) with random weights, saved into `folder`.

    `light`: a UNet and MoVQ without attention blocks and a MoVQ that scales by 8 as the
    real one does (`_kandinsky_unet` and `_movq` with `light`), for counting model calls and
    denoising steps at real frame sizes (benchmarks/bench_outpaint_cost.py at 640x640) on
    a CPU: the test decoder's MoVQ scales by 2 (320x320 latents for a 640x640 frame) and its
    attention blocks made one 13-step call take about 53 s already at 256x256. Same pipeline class, scheduler and folder layout; only the weights' architecture
    differs, and the number of denoiser forwards a call makes does not depend on it.
    """
    import torch
    from diffusers import KandinskyV22InpaintPipeline, KandinskyV22Pipeline

    torch.manual_seed(seed)
    unet = _kandinsky_unet(9 if inpaint else 4, light=light)
    torch.manual_seed(seed + 1)
    movq = _movq(light=light)
    cls = KandinskyV22InpaintPipeline if inpaint else KandinskyV22Pipeline
    cls(unet=unet, scheduler=_ddim(), movq=movq).save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def _tiny_vae(**extra):
    """The tiny AutoencoderKL of the Stable Diffusion builders (32/64 channels, 4 latents)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        **extra,
    )


def tiny_safety_checker(flag_everything: bool = False, seed: int = 0):
    """diffusers' own `StableDiffusionSafetyChecker` (what real SD 1.x checkpoints list as
    `["stable_diffusion", "StableDiffusionSafetyChecker"]`) at a tiny size, with the
    `CLIPImageProcessor` it reads images through.

    With `flag_everything`, its concept thresholds are -5 (a cosine similarity is always
    above that), so it flags every image and the pipeline returns it black: the case a
    build must never feed silently into the chain.
    """
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=_clip_text_config().to_dict(),
        vision_config=dict(hidden_size=32, image_size=224, projection_dim=32, intermediate_size=37,
                           num_attention_heads=4, num_hidden_layers=2, patch_size=14),
        projection_dim=32,
    )
    checker = StableDiffusionSafetyChecker(config)
    threshold = -5.0 if flag_everything else 5.0  # 5: a cosine similarity never exceeds it
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(threshold)
    processor = CLIPImageProcessor(crop_size=224, do_center_crop=True, do_normalize=True, do_resize=True,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=224)
    return checker, processor


def build_stable_diffusion(folder: Path, seed: int = 0, inpaint: bool = False, safety_checker: bool | str = False,
                           scheduler: str = "ddim") -> Path:
    """A Stable Diffusion pipeline with random weights (a 4-channel UNet, or a 9-channel one
    for an inpainting checkpoint), saved into `folder`.

    `safety_checker=True` saves it the way real SD 1.x checkpoints are published, with
    diffusers' safety checker and its feature extractor (`"flag"`: a checker that flags
    every image). `scheduler="pndm"` ships SD 1.5's own PNDMScheduler (skip_prk_steps),
    which runs one UNet forward more than its step count.
    """
    import torch
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(seed + 1)
    vae = _tiny_vae()
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(_clip_text_config())
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    checker, extractor = tiny_safety_checker(safety_checker == "flag", seed + 3) if safety_checker else (None, None)
    pipe = cls(
        unet=unet,
        scheduler=_pndm() if scheduler == "pndm" else _ddim(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(),
        safety_checker=checker,
        feature_extractor=extractor,
        requires_safety_checker=bool(safety_checker),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_sdxl(folder: Path, seed: int = 0) -> Path:
    """A Stable Diffusion XL pipeline with random weights (two text encoders, the
    "text_time" added conditioning), saved into `folder`."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
        cross_attention_dim=64,  # 32 + 32: both text encoders' hidden states side by side
    )
    torch.manual_seed(seed + 1)
    vae = _tiny_vae(sample_size=128)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(_clip_text_config())
    torch.manual_seed(seed + 3)
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config())
    StableDiffusionXLPipeline(
        unet=unet,
        scheduler=_ddim(),
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tiny_tokenizer(),
        tokenizer_2=tiny_tokenizer(),
    ).save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_kandinsky_combined(folder: Path, decoder: Path, prior: Path) -> Path:
    """A `KandinskyV22CombinedPipeline` (decoder and prior in one folder) made of the saved
    tiny decoder and prior, saved into `folder`."""
    from diffusers import KandinskyV22CombinedPipeline, KandinskyV22Pipeline, KandinskyV22PriorPipeline

    dec = KandinskyV22Pipeline.from_pretrained(decoder, local_files_only=True)
    pri = KandinskyV22PriorPipeline.from_pretrained(prior, local_files_only=True)
    KandinskyV22CombinedPipeline(
        unet=dec.unet,
        scheduler=dec.scheduler,
        movq=dec.movq,
        prior_prior=pri.prior,
        prior_image_encoder=pri.image_encoder,
        prior_text_encoder=pri.text_encoder,
        prior_tokenizer=pri.tokenizer,
        prior_scheduler=pri.scheduler,
        prior_image_processor=pri.image_processor,
    ).save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_all(root: Path) -> dict[str, Path]:
    """Every tiny pipeline the tests use, each in its own folder under `root`.

    Kandinsky folders follow the hub's naming, so the decoder's companions can be found by
    their usual names beside it: `kandinsky-2-2-decoder`, `kandinsky-2-2-prior`,
    `kandinsky-2-2-decoder-inpaint`.
    """
    root = Path(root)
    built = {
        "kandinsky_prior": build_kandinsky_prior(root / "kandinsky-2-2-prior"),
        "kandinsky_decoder": build_kandinsky_decoder(root / "kandinsky-2-2-decoder"),
        "kandinsky_inpaint": build_kandinsky_decoder(root / "kandinsky-2-2-decoder-inpaint", inpaint=True),
        "sd": build_stable_diffusion(root / "sd"),
        "sd_inpaint": build_stable_diffusion(root / "sd-inpaint", inpaint=True),
        "sdxl": build_sdxl(root / "sdxl"),
    }
    built["kandinsky_combined"] = build_kandinsky_combined(
        root / "combined", built["kandinsky_decoder"], built["kandinsky_prior"]
    )
    return built


if __name__ == "__main__":  # pragma: no cover - a manual helper: python tests/tiny_pipelines.py DIR
    import sys

    for name, path in build_all(Path(sys.argv[1])).items():
        print(name, path)


_BUILT: dict[str, Path] | None = None


def tiny_models() -> dict[str, Path]:
    """`build_all` once per test process, into a temporary folder removed at exit.

    Test modules wrap this in session-scoped fixtures; the module-level memo makes those
    share one build even when several modules define their own fixture.
    """
    global _BUILT
    if _BUILT is None:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="kscript-tiny-models-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _BUILT = build_all(root)
    return _BUILT


#: pipeline classes by the kind of model call they make, per family
KANDINSKY_CALL_CLASSES = {
    "text2image": "KandinskyV22Pipeline",
    "img2img": "KandinskyV22Img2ImgPipeline",
    "inpaint": "KandinskyV22InpaintPipeline",
    "prior": "KandinskyV22PriorPipeline",
}
SD_CALL_CLASSES = {
    "text2image": "StableDiffusionPipeline",
    "img2img": "StableDiffusionImg2ImgPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
}


class PipelineCalls:
    """Counts calls of diffusers pipeline classes, by kind, with hooks on `__call__`.

    Independent of the backend's own counters: it sees what really reached diffusers.
    Use as `calls = PipelineCalls(monkeypatch, KANDINSKY_CALL_CLASSES)`; `calls.counts`
    is a dict kind -> calls so far.
    """

    def __init__(self, monkeypatch, classes: dict[str, str]) -> None:
        import functools

        import diffusers

        self.counts = {kind: 0 for kind in ("text2image", "img2img", "inpaint", "prior")}
        for kind, class_name in classes.items():
            cls = getattr(diffusers, class_name)
            original = cls.__call__

            def wrapper(pipe, *args, _kind=kind, _original=original, **kwargs):
                result = _original(pipe, *args, **kwargs)
                self.counts[_kind] += 1
                return result

            monkeypatch.setattr(cls, "__call__", functools.wraps(original)(wrapper))


class DenoiserForwards:
    """Counts forwards of the denoisers (every UNet2DConditionModel and PriorTransformer),
    with hooks on the classes' `forward`: independent of the backend's own hooks.

    `counts` is {"unet": n, "prior": n}; a classifier-free-guidance batch is one forward.
    """

    def __init__(self, monkeypatch) -> None:
        import functools

        from diffusers import PriorTransformer, UNet2DConditionModel

        self.counts = {"unet": 0, "prior": 0}
        for name, cls in (("unet", UNet2DConditionModel), ("prior", PriorTransformer)):
            original = cls.forward

            def wrapper(module, *args, _name=name, _original=original, **kwargs):
                self.counts[_name] += 1
                return _original(module, *args, **kwargs)

            monkeypatch.setattr(cls, "forward", functools.wraps(original)(wrapper))
