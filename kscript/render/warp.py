"""Camera warps of chain images, the mask of what a warp reveals, and a model-free fill.

One definition of the warp (`kscript.geometry.warp_matrix`) serves the compiler and the
executor, so the plan's `Frame.inpaint` flag (`geometry.reveals`) and the pixels agree.
OpenCV's `warpPerspective` is used on the CPU: it is about 10x faster than torch's
`grid_sample` at 640x640 here (see `benchmarks/bench_warp.py` and docs/rendering.md) and
gives the same image within one grey level.

Images are height x width x 3 uint8 RGB; masks height x width float32 in 0..1, 1 where the
pixel was brought in from outside the previous frame and must be painted.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from kscript import geometry
from kscript.plan import Motion

#: how far (pixels at 640 wide, scaled with the frame) the revealed mask grows, so that the
#: painter also redraws the seam where warped and new pixels meet
DILATE_PX = 4
#: Gaussian feather of the mask edge (pixels at 640 wide, scaled with the frame)
FEATHER_PX = 3.0


def matrix(motion: Motion, width: int, height: int) -> np.ndarray:
    """The 3x3 float64 matrix taking the previous frame's pixels to the new frame's."""
    return np.asarray(
        geometry.warp_matrix(
            width,
            height,
            zoom=motion.zoom,
            angle=motion.angle,
            x=motion.x,
            y=motion.y,
            turn=motion.turn,
            tilt=motion.tilt,
            fov=motion.fov,
        ),
        dtype=np.float64,
    )


def is_still(m: np.ndarray) -> bool:
    return geometry.is_identity(m.tolist())


def warp(image: np.ndarray, m: np.ndarray, *, border: str = "constant") -> np.ndarray:
    """Warp `image` by `m` (bilinear).

    Args:
        border: "constant" leaves revealed pixels black; "reflect" mirrors the image into
            them (the cheapest fill that continues edges, as Deforum's border mode does).
    """
    h, w = image.shape[:2]
    if is_still(m):
        return image.copy()
    mode = cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=0)


def revealed(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """Where the warp brought in pixels from outside: a hard 0/1 float32 mask.

    A ones-mask warped by the same matrix is below 1 wherever a sample touched the outside.
    """
    return _revealed_cached(tuple(np.round(m, 12).ravel().tolist()), width, height).copy()


@lru_cache(maxsize=64)
def _revealed_cached(flat: tuple[float, ...], width: int, height: int) -> np.ndarray:
    # Camera motion is usually constant over runs of frames: cache the mask per matrix.
    m = np.asarray(flat, dtype=np.float64).reshape(3, 3)
    ones = np.ones((height, width), np.float32)
    if geometry.is_identity(m.tolist()):
        return np.zeros((height, width), np.float32)
    cover = cv2.warpPerspective(ones, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = (cover < 1.0 - 1e-4).astype(np.float32)
    out.setflags(write=False)
    return out


def soft_revealed(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """`soften(revealed(m))`, cached per matrix like the hard mask (read-only result)."""
    return _soft_cached(tuple(np.round(m, 12).ravel().tolist()), width, height)


@lru_cache(maxsize=64)
def _soft_cached(flat: tuple[float, ...], width: int, height: int) -> np.ndarray:
    hard = _revealed_cached(flat, width, height)
    factor = max(1, min(width, height) // 160)
    if factor == 1 or not hard.any():
        out = soften(hard)
    else:
        # Dilating and feathering are smooth operations: do them on a 1/factor copy (about
        # 8x cheaper at 640x640), scale back, and keep the revealed pixels fully masked.
        sw, sh = width // factor, height // factor
        small = cv2.resize(hard, (sw, sh), interpolation=cv2.INTER_AREA)
        small = soften((small > 0).astype(np.float32), scale=max(width, height) / 640.0 / factor)
        out = np.maximum(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), hard)
    out.setflags(write=False)
    return out


def soften(mask: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Dilate a hard mask a few pixels and feather its edge (float32, 0..1).

    Painters then redraw the seam too, and the new border blends into the warped image
    instead of meeting it at a hard line.

    Args:
        scale: pixels of this mask per pixel of a 640-wide frame (default: from its width).
    """
    if not mask.any():
        return mask.astype(np.float32)
    h, w = mask.shape[:2]
    if scale is None:
        scale = max(w, h) / 640.0
    r = max(1, int(round(DILATE_PX * scale)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    grown = cv2.dilate(mask.astype(np.float32), kernel)
    sigma = max(0.5, FEATHER_PX * scale)
    soft = cv2.GaussianBlur(grown, (0, 0), sigma)
    # Keep the revealed pixels themselves fully painted: feather only outward.
    return np.maximum(soft, mask.astype(np.float32)).clip(0.0, 1.0)


def fill(image: np.ndarray, mask: np.ndarray, *, mode: str = "telea", reflected: np.ndarray | None = None) -> np.ndarray:
    """Fill the masked pixels of `image` without a model.

    Args:
        image: the warped image (uint8 RGB); masked pixels are ignored.
        mask: hard 0/1 mask of the pixels to fill.
        mode: "telea" (edge-aware `cv2.inpaint` on a downscaled copy, scaled back up and
            composited into the mask) or "reflect" (use `reflected`, the same warp done with
            a mirrored border).
        reflected: required for mode "reflect".
    """
    if not mask.any():
        return image
    if mode == "reflect":
        if reflected is None:
            raise ValueError("fill(mode='reflect') needs the reflected warp")
        out = image.copy()
        sel = mask > 0
        out[sel] = reflected[sel]
        return out
    if mode != "telea":
        raise ValueError(f"unknown fill mode {mode!r}")
    h, w = mask.shape
    factor = max(1, int(max(w, h) // 160))
    small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA) if factor > 1 else image
    small_mask = (
        (cv2.resize(mask.astype(np.float32), (w // factor, h // factor), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        if factor > 1
        else (mask > 0).astype(np.uint8)
    )
    if factor > 1:
        # A downscaled mask must cover every partly revealed block.
        small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))
    painted = cv2.inpaint(np.ascontiguousarray(small), small_mask, 3, cv2.INPAINT_TELEA)
    if factor > 1:
        painted = cv2.resize(painted, (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    sel = mask > 0
    out[sel] = painted[sel]
    return out


def warp_and_fill(
    image: np.ndarray, motion: Motion, *, mode: str = "reflect", with_mask: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Warp a chain image by a frame's motion and fill what it revealed without a model.

    Args:
        with_mask: also return the hard revealed mask (one more single-channel warp; the
            reflect fill itself does not need it).

    Returns:
        (filled image, hard revealed mask or None)
    """
    h, w = image.shape[:2]
    m = matrix(motion, w, h)
    if is_still(m):
        return image.copy(), (np.zeros((h, w), np.float32) if with_mask else None)
    if mode == "reflect":
        # One warp with a mirrored border is already warped and filled.
        return warp(image, m, border="reflect"), (revealed(m, w, h) if with_mask else None)
    mask = revealed(m, w, h)
    warped = warp(image, m)
    return fill(warped, mask, mode=mode), mask
