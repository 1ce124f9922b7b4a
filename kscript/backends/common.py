"""What the diffusers backends share: the strength guard, progress callbacks, image
conversion, sizes, and prompt blending.

Kept free of module-level torch imports so `import kscript.backends` stays cheap.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from kscript.backends.interface import StepCallback


def call_error(err: Exception, where: str) -> Any:
    """A `ModelError` for an exception raised inside a model call at `where` (a frame):
    kscript's words first, the library's first line after them, a hint by cause.

    Out of memory (CUDA's `OutOfMemoryError`, or a RuntimeError saying so) suggests what
    lowers memory; a shape mismatch says the models do not fit together; a `ModelError`
    (a flagged frame) keeps its own text and gains the frame.
    """
    from kscript.errors import KscriptError, ModelError

    if isinstance(err, KscriptError):
        return ModelError(f"{where}: {err.message}", hint=err.hint)
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    first = first if len(first) <= 200 else first[:200].rsplit(" ", 1)[0] + " ..."
    kept = "the frames finished before it are kept in the cache: the next build resumes there"
    if "out of memory" in text.lower() or type(err).__name__ == "OutOfMemoryError" or isinstance(err, MemoryError):
        return ModelError(
            f"{where}: the device ran out of memory during the model call",
            hint="free the GPU, or lower memory with --offload (accelerate's CPU offload) or --dtype float16, "
            f"or render at a smaller size; {kept}",
        )
    if "shape" in text.lower() or "size of tensor" in text.lower() or "mat1 and mat2" in text:
        return ModelError(
            f"{where}: the model call failed on tensors of mismatched sizes ({first}): the models named for "
            "this film do not fit together",
            hint=f"check that model:, prior: and inpaint: belong to the same model family and release; {kept}",
        )
    return ModelError(f"{where}: the model call failed: {type(err).__name__}: {first}", hint=kept)


def free_device_memory(device: Any) -> None:
    """Give a GPU's cached blocks back after the models are dropped (watch mode swaps
    models without restarting)."""
    if device is None or getattr(device, "type", "cpu") != "cuda":
        return
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()


from kscript.compile.cost import effective_steps  # noqa: E402 - one definition, re-exported


def step_callback(on_step: StepCallback | None, expected_total: int) -> Callable[..., dict] | None:
    """A `callback_on_step_end` that reports `(steps done, total)` to `on_step`.

    An exception raised by `on_step` is not caught: it leaves the pipeline's loop and the
    backend call unchanged. That is how a build is cancelled (the executor raises
    `BuildCancelled` from it), and it works for every pipeline, unlike `_interrupt`,
    which Kandinsky's pipelines ignore.
    """
    if on_step is None:
        return None

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        total = getattr(pipe, "_num_timesteps", None) or expected_total
        on_step(step + 1, int(total))
        return kwargs

    return callback


def model_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The size a model renders at: the film's size rounded up to what its autoencoder
    accepts (the result is resized back to the film's size)."""
    return (-(-width // multiple) * multiple, -(-height // multiple) * multiple)


def to_pil(image: np.ndarray, size: tuple[int, int] | None = None) -> Any:
    """An RGB PIL image of a uint8 HxWx3 array, resized to `size` (width, height) if given."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB")
    if size is not None and pil.size != size:
        pil = pil.resize(size, Image.BICUBIC)
    return pil


def resize_array(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """`array` (HxW or HxWxC) at width x height; unchanged if already that size."""
    if array.shape[1] == width and array.shape[0] == height:
        return array
    import cv2

    return cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR)


def from_output(images: Any, width: int, height: int) -> np.ndarray:
    """The first image of a pipeline's `output_type="np"` result (floats 0..1) as uint8
    HxWx3 RGB at the film's size."""
    array = np.asarray(images[0], dtype=np.float32)
    array = np.clip(array, 0.0, 1.0)
    out = (array * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(resize_array(out, width, height))


def composite(painted: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`painted` where the mask is 1, `original` where it is 0, mixed where it is feathered.

    Inpainting pipelines binarise the mask and pass the whole image through the
    autoencoder, which blurs pixels outside the mask; compositing keeps those exact and
    honours the executor's feathered edge.
    """
    m = np.clip(mask.astype(np.float32), 0.0, 1.0)[..., None]
    mixed = painted.astype(np.float32) * m + original.astype(np.float32) * (1.0 - m)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def slerp(a: Any, b: Any, t: float) -> Any:
    """Spherical interpolation between two embedding tensors (rows), exact at t = 0 and 1.

    CLIP image embeddings live near a sphere: a straight line between two of them passes
    through a shorter vector, which Kandinsky renders as a washed-out image midway through
    a blend. Along the arc the norm stays in range. Nearly parallel vectors fall back to
    a straight line (the arc is one there).
    """
    import torch

    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    a32, b32 = a.float(), b.float()
    na = a32 / a32.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    nb = b32 / b32.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    dot = (na * nb).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    linear = (1.0 - t) * a32 + t * b32
    safe = sin_omega.abs() > 1e-4
    sin_safe = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
    arc = (torch.sin((1.0 - t) * omega) / sin_safe) * a32 + (torch.sin(t * omega) / sin_safe) * b32
    return torch.where(safe, arc, linear).to(a.dtype)


def blend_slerp(items: Sequence[tuple[Any, float]]) -> Any:
    """The weighted spherical mean of embeddings, by successive slerps.

    With two prompts this is `slerp(a, b, w_b)`; each further prompt is slerped in with
    its share of the weight so far, so the order of equal prompts does not matter for the
    endpoints: a weight of 1 gives exactly that prompt's embedding.
    """
    items = [(e, float(w)) for e, w in items if w > 0] or [(items[0][0], 1.0)]
    result, total = items[0][0], items[0][1]
    for emb, weight in items[1:]:
        total += weight
        result = slerp(result, emb, weight / total)
    return result


def blend_linear(items: Sequence[tuple[Any, float]]) -> Any:
    """The weighted sum of embeddings (weights sum to 1); one prompt of weight 1 gives
    exactly its embedding."""
    items = [(e, float(w)) for e, w in items if w > 0] or [(items[0][0], 1.0)]
    if len(items) == 1:
        return items[0][0]
    total = sum(w for _, w in items)
    result = items[0][0] * (items[0][1] / total)
    for emb, weight in items[1:]:
        result = result + emb * (weight / total)
    return result


_MASK_OFFSETS = ((-1, 0), (0, -1), (-1, -1), (1, 0), (0, 1), (1, 1))


def prepare_mask_fast(masks: Any) -> Any:
    """A vectorised equivalent of diffusers' Kandinsky `prepare_mask` (exactly the same
    result).

    diffusers' version loops over every latent pixel in Python and reads each one back
    as a Python bool: 6,400 iterations (and, on a GPU, 6,400 device syncs plus up to six
    indexing kernels each) per inpaint call at 640x640. It grows the area to repaint
    (zeros in this inverted mask) by one latent pixel towards six of the eight
    neighbours; here that is six shifted ORs of a boolean map.
    """
    import torch

    prepared = []
    for mask in masks:
        zero = mask[0] != 1
        height, width = zero.shape
        grown = zero.clone()
        for di, dj in _MASK_OFFSETS:
            # a pixel p with zero[p] zeroes p + (di, dj)
            src_i = slice(max(0, -di), height - max(0, di))
            src_j = slice(max(0, -dj), width - max(0, dj))
            dst_i = slice(max(0, di), height - max(0, -di))
            dst_j = slice(max(0, dj), width - max(0, -dj))
            grown[dst_i, dst_j] |= zero[src_i, src_j]
        prepared.append(torch.where(grown.unsqueeze(0), torch.zeros_like(mask), mask))
    return torch.stack(prepared, dim=0)


class fast_kandinsky_mask:
    """Use `prepare_mask_fast` inside one Kandinsky inpaint call, then put diffusers'
    own function back (nothing else in the process sees the swap after the call)."""

    def __enter__(self) -> None:
        from diffusers.pipelines.kandinsky2_2 import pipeline_kandinsky2_2_inpainting as module

        self._module = module
        self._original = getattr(module, "prepare_mask", None)
        if self._original is not None:
            module.prepare_mask = prepare_mask_fast

    def __exit__(self, *exc: object) -> None:
        if self._original is not None:
            self._module.prepare_mask = self._original
