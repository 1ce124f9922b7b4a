"""Colour coherence and seeded noise: the two per-frame touches around the model call.

Long img2img loops drift in colour (every pass nudges saturation and hue a little, and the
nudges add up). Deforum's best-loved fix is to match each new frame's colour histogram to a
reference frame: here the scene's first frame (`Frame.coherence_ref`), per channel, in RGB
or in LAB (where lightness and colour are matched separately, so contrast changes do not
shift hues).

`noise` adds seeded Gaussian noise before img2img, as the plan says: it gives the model
fresh detail to work with and keeps zooms from going soft. The noise comes from a numpy
Generator seeded by the frame's seed, so frames stay deterministic.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the steepest the matching lookup table may climb (output levels per input level). Exact
#: CDF matching to a reference with few colours (the preview's first frames, a flat sky)
#: maps a smooth gradient onto those few levels: posterised blotches, and in LAB, where a
#: and b have narrow histograms, white and cyan patches and black specks where the mapped
#: colour leaves the gamut. A limited slope keeps gradients smooth while the levels still
#: move toward the reference's (issue 10.1).
MAX_SLOPE = 3.0

#: Gaussian noise standard deviation, in grey levels, at `Frame.noise == 1`
NOISE_SCALE = 64.0


def _to_space(image: np.ndarray, mode: str) -> np.ndarray:
    if mode == "lab":
        return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    return image


def _from_space(image: np.ndarray, mode: str) -> np.ndarray:
    if mode == "lab":
        return cv2.cvtColor(image, cv2.COLOR_LAB2RGB)
    return image


def reference_cdfs(reference: np.ndarray, mode: str) -> np.ndarray:
    """Per-channel cumulative histograms (3 x 256, float64 in 0..1) of the reference frame."""
    ref = _to_space(reference, mode)
    return np.stack([_cdf(ref[..., c]) for c in range(ref.shape[2])])


def _cdf(channel: np.ndarray) -> np.ndarray:
    # Every other pixel in each direction: the same histogram within sampling noise, 4x faster.
    sample = np.ascontiguousarray(channel[::2, ::2]) if channel.size > 4096 else np.ascontiguousarray(channel)
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    cdf = np.cumsum(hist)
    return cdf / cdf[-1]


def match(image: np.ndarray, ref_cdfs: np.ndarray, mode: str) -> np.ndarray:
    """Map each channel of `image` so that its histogram matches the reference's.

    Classic CDF matching: each source level goes to the reference level with the nearest
    cumulative share, applied as a 256-entry lookup table per channel.
    """
    if mode == "none":
        return image
    if mode not in ("rgb", "lab"):
        raise ValueError(f"unknown coherence mode {mode!r}")
    src = _to_space(image, mode)
    out = np.empty_like(src)
    levels = np.arange(256, dtype=np.float64)
    for c in range(src.shape[2]):
        src_cdf = _cdf(src[..., c])
        exact = np.interp(src_cdf, ref_cdfs[c], levels)
        lut = np.clip(np.rint(_limited(exact, src_cdf)), 0, 255).astype(np.uint8)
        out[..., c] = cv2.LUT(src[..., c], lut)
    return _from_space(out, mode)


def _limited(exact: np.ndarray, src_cdf: np.ndarray) -> np.ndarray:
    """The matching table `exact` with its slope limited to MAX_SLOPE, shifted so that the
    picture's mean level still goes where exact matching sends it."""
    steps = np.clip(np.diff(exact), 0.0, MAX_SLOPE)
    lut = np.concatenate([[0.0], np.cumsum(steps)])
    share = np.diff(np.concatenate([[0.0], src_cdf]))  # the picture's histogram, as shares
    shift = float((share * (exact - lut)).sum())
    return lut + shift


def add_noise(image: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """`image` plus Gaussian noise of std `amount * NOISE_SCALE`, seeded by `seed`."""
    if amount <= 0:
        return image
    rng = np.random.Generator(np.random.PCG64(seed & 0xFFFFFFFFFFFFFFFF))
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    out = image.astype(np.float32)
    cv2.scaleAdd(noise, float(amount) * NOISE_SCALE, out, dst=out)
    np.clip(out + 0.5, 0.0, 255.0, out=out)
    return out.astype(np.uint8)
