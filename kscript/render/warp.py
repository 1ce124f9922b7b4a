"""Camera warps of chain images, the mask of what a warp reveals, and a model-free fill.

One definition of the warp (`kscript.geometry.warp_matrix`) serves the compiler and the
executor, so the plan's `Frame.inpaint` flag (`geometry.reveals`) and the pixels agree.
OpenCV's `warpPerspective` is used on the CPU: it is about 10x faster than torch's
`grid_sample` at 640x640 here (see `benchmarks/bench_warp.py` and docs/rendering.md) and
gives the same image within one grey level.

Images are height x width x 3 uint8 RGB; masks height x width float32 in 0..1, 1 where the
pixel was brought in from outside the previous frame and must be painted.

Any matrix is safe (issue #9.3). OpenCV's mirrored border folds each sample coordinate back
into the frame one reflection at a time, so a sample a billion pixels out (`x: 1e9`, `zoom:
0.000001`, a view past the horizon) costs about a billion steps per pixel and the build never
finishes. `warp` therefore looks at where the new frame's corners sample the old one
(`sample_extent`): within `SAFE_EXTENT` frame sizes OpenCV does the work; beyond it the samples
are folded into the frame by modular arithmetic (`_remap`), the same image in bounded time;
a matrix that is not finite or not invertible shows nothing of the previous frame (all
revealed, then filled like any revealed border).
"""

from __future__ import annotations

import math
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


def in_four(op, image: np.ndarray, *args, **kwargs) -> np.ndarray:  # noqa: ANN001 - an OpenCV function
    """`op(image, *args, **kwargs)` for an OpenCV warp (`cv2.warpPerspective`, `cv2.remap`),
    run on a 3-channel image through 4 channels.

    OpenCV vectorises its bilinear warps for 1, 2 and 4 channels; on 3 channels it falls back
    to a scalar loop, 2-3x slower (a 640x640 uint8 frame on one thread here: warpPerspective
    2.8 ms against 0.8 ms plus 0.1 ms for the two conversions; remap 2.0 ms against 0.9 ms).
    Each channel is interpolated alone, so the three colour channels come back bit for bit
    the same (tests/test_warp.py); the fourth (alpha, or 0 outside a constant border) is
    dropped.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        return op(image, *args, **kwargs)
    return cv2.cvtColor(op(cv2.cvtColor(image, cv2.COLOR_RGB2RGBA), *args, **kwargs), cv2.COLOR_RGBA2RGB)


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
            flip=motion.flip,
            fov=motion.fov,
            z=motion.z,
        ),
        dtype=np.float64,
    )


def is_still(m: np.ndarray) -> bool:
    return geometry.is_identity(m.tolist())


#: how far outside the frame (in frame sizes) a corner of the new frame may sample the old
#: one before `warp` stops handing the matrix to OpenCV's mirrored border, whose cost grows
#: with that distance. Camera moves sample within about one frame size; 16 keeps every real
#: move on the fast path and bounds the slow one to a few dozen folds per pixel.
SAFE_EXTENT = 16.0
#: the condition number past which OpenCV's own inversion of the matrix is not trusted
#: (`zoom: 1e300` is finite but OpenCV's samples from it are not); camera moves are below 1e3
MAX_CONDITION = 1e8


def inverse(m: np.ndarray) -> np.ndarray | None:
    """The matrix taking a new-frame pixel to where it samples the old frame, or None when
    `m` is not finite or not invertible (it shows nothing of the previous frame)."""
    if not np.isfinite(m).all():
        return None
    try:
        inv = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(inv).all() or not np.abs(inv).max() > 0:
        return None
    return inv


def sample_extent(m: np.ndarray, width: int, height: int) -> float:
    """How far outside the old frame, in frame sizes, the new frame's corners sample it
    (0 inside; inf for a matrix that is not invertible or puts a corner behind the camera).

    A homography that keeps the frame in front of the camera maps it to a convex
    quadrilateral, so the corners bound every sample."""
    inv = inverse(m)
    if inv is None:
        return math.inf
    size = float(max(width, height, 1))
    worst = 0.0
    for cx, cy in ((0.0, 0.0), (width - 1.0, 0.0), (0.0, height - 1.0), (width - 1.0, height - 1.0)):
        wv = inv[2, 0] * cx + inv[2, 1] * cy + inv[2, 2]
        if not wv > 1e-12 * np.abs(inv[2]).max():
            return math.inf
        px = (inv[0, 0] * cx + inv[0, 1] * cy + inv[0, 2]) / wv
        py = (inv[1, 0] * cx + inv[1, 1] * cy + inv[1, 2]) / wv
        if not (math.isfinite(px) and math.isfinite(py)):
            return math.inf
        out = max(-px, px - (width - 1), -py, py - (height - 1), 0.0)
        worst = max(worst, out / size)
    return worst


def _condition(m: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        c = float(np.linalg.cond(m))
    return c if math.isfinite(c) else math.inf


def warp(image: np.ndarray, m: np.ndarray, *, border: str = "constant") -> np.ndarray:
    """Warp `image` by `m` (bilinear), in bounded time for any matrix (see the module doc).

    Args:
        border: "constant" leaves revealed pixels black; "reflect" mirrors the image into
            them (the cheapest fill that continues edges, as Deforum's border mode does).
    """
    h, w = image.shape[:2]
    if is_still(m):
        return image.copy()
    if sample_extent(m, w, h) <= SAFE_EXTENT and _condition(m) <= MAX_CONDITION:
        mode = cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT
        return in_four(cv2.warpPerspective, image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=0)
    return _remap(image, m, reflect=border == "reflect")


def _remap(image: np.ndarray, m: np.ndarray, *, reflect: bool) -> np.ndarray:
    """The slow, safe warp: sample coordinates computed here in float64, folded into the
    frame by arithmetic (mirrored border) or marked outside (constant border), then one
    `cv2.remap` whose samples all lie within a pixel of the frame."""
    h, w = image.shape[:2]
    inv = inverse(m)
    if inv is None:
        return np.zeros_like(image)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    with np.errstate(all="ignore"):
        den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
        px = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den
        py = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den
    visible = (den > 0) & np.isfinite(px) & np.isfinite(py)
    px = np.where(visible, px, -2.0)
    py = np.where(visible, py, -2.0)
    if reflect:
        px, py = _fold(px, w), _fold(py, h)
        px[~visible] = -2.0  # behind the camera: nothing to mirror
        py[~visible] = -2.0
    else:
        # Far outside is outside: keep the coordinates where float32 and OpenCV hold them.
        px = np.clip(px, -2.0, w + 1.0)
        py = np.clip(py, -2.0, h + 1.0)
    return in_four(cv2.remap, image, px.astype(np.float32), py.astype(np.float32), interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT_101 if reflect else cv2.BORDER_CONSTANT, borderValue=0)


def _fold(p: np.ndarray, n: int) -> np.ndarray:
    """Coordinates mirrored into 0..n-1 as BORDER_REFLECT_101 does (period 2(n-1))."""
    if n <= 1:
        return np.zeros_like(p)
    period = 2.0 * (n - 1)
    q = np.mod(p, period)
    return np.where(q > n - 1, period - q, q)


def revealed(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """Where the warp brought in pixels from outside: a hard 0/1 float32 mask.

    A ones-mask warped by the same matrix is below 1 wherever a sample touched the outside.
    """
    return _revealed_cached(_key(m), width, height).copy()


def _key(m: np.ndarray) -> tuple[float, ...]:
    """The matrix rounded for the mask caches: 12 decimals (absolute, so that float noise
    near 0 is 0) where that is exact enough, as it is for every finite camera move."""
    flat = np.asarray(m, dtype=np.float64).ravel()
    with np.errstate(all="ignore"):
        rounded = np.round(flat, 12)
    return tuple(np.where(np.abs(flat) < 1e200, rounded, flat).tolist())


@lru_cache(maxsize=64)
def _revealed_cached(flat: tuple[float, ...], width: int, height: int) -> np.ndarray:
    # Camera motion is usually constant over runs of frames: cache the mask per matrix.
    m = np.asarray(flat, dtype=np.float64).reshape(3, 3)
    ones = np.ones((height, width), np.float32)
    if geometry.is_identity(m.tolist()):
        return np.zeros((height, width), np.float32)
    cover = warp(ones, m)  # constant border: bounded for any matrix
    out = (cover < 1.0 - 1e-4).astype(np.float32)
    out.setflags(write=False)
    return out


def soft_revealed(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """`soften(revealed(m))`, cached per matrix like the hard mask (read-only result)."""
    return _soft_cached(_key(m), width, height)


@lru_cache(maxsize=64)
def _soft_cached(flat: tuple[float, ...], width: int, height: int) -> np.ndarray:
    out = soften_fast(_revealed_cached(flat, width, height))
    out.setflags(write=False)
    return out


def soften_fast(hard: np.ndarray) -> np.ndarray:
    """`soften(hard)` for a hard 0/1 float32 mask, computed on a small copy.

    Dilating and feathering are smooth operations: done on a 1/factor copy (about 8x cheaper
    at 640x640: 3 ms a mask there), scaled back, and the hard pixels kept fully masked; within
    a few hundredths of `soften` on average (tests/test_render_warp.py)."""
    height, width = hard.shape[:2]
    factor = max(1, min(width, height) // 160)
    if factor == 1 or not hard.any():
        return soften(hard)
    sw, sh = width // factor, height // factor
    small = cv2.resize(hard, (sw, sh), interpolation=cv2.INTER_AREA)
    small = soften((small > 0).astype(np.float32), scale=max(width, height) / 640.0 / factor)
    return np.maximum(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), hard)


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


def mirror_band(image: np.ndarray, painted: "geometry.Polygon | None",
                keep: "geometry.Polygon | None" = None) -> np.ndarray:
    """`image` with every pixel outside the region `painted` (a convex polygon of pixel
    centres, `geometry.carry`'s painted region) filled by ONE mirror of the region: a pixel p
    takes the picture at 2q - p, q the point of the region's edge nearest to p (bilinear).

    Why: a band narrower than `geometry.BAND_PX` is filled without a model and stays so
    over several frames until one paints it. A warp with a mirrored border fills only its
    own strip, from the pixels beside it, which are the earlier frames' fill: the band
    becomes a mirror of a mirror of ..., a comb of stripes a frame's reveal wide (issue
    #10.1, worst under `cadence`, whose model frames each reveal several pixels). Filled
    from the region's edge, the band is one mirror of painted picture, however many frames
    it took to reveal. A region thinner than the band it mirrors into is sampled at the
    frame's edge (nothing better is there). No region (None, or part of it behind the
    camera): the image as it is.

    `keep`: a second convex polygon whose pixels are left as they are: the part of the
    band a warp moved in from a picture whose own band was already one mirror (the executor
    refills only the strip the warp revealed: a mirror of the region moved with it is still
    one mirror, and the cost is that of the strip, not of the whole band, a pixel at a time).
    """
    h, w = image.shape[:2]
    if painted is None or len(painted) < 3:
        return image
    if keep is not None and len(keep) >= 3:
        if _covers_frame(keep, w, h):
            return image  # the warp revealed nothing: the band came in with the picture
        # the strip outside `keep`, row by row (no pass over the whole frame), less any pixel
        # of the painted region itself (`keep` holds it, up to rounding)
        xs, ys = _outside(keep, w, h)
        out_of_painted = ~_inside(painted, xs, ys)
        xs, ys = xs[out_of_painted], ys[out_of_painted]
        if not len(xs):
            return image  # the warp revealed nothing new
    else:
        band = np.ones((h, w), np.uint8)
        pts = np.round(np.asarray(painted, dtype=np.float64) * 16).astype(np.int32)
        cv2.fillConvexPoly(band, pts, 0, lineType=cv2.LINE_8, shift=4)  # as the band mask is drawn
        if cv2.countNonZero(band) == h * w:
            return image  # nothing painted to mirror
        found = cv2.findNonZero(band)  # (x, y) in row order, as np.nonzero gives them; 4x faster
        if found is None:
            return image
        found = found.reshape(-1, 2)
        xs, ys = found[:, 0], found[:, 1]
    p = np.stack([xs, ys], axis=1).astype(np.float32)
    poly = np.asarray(painted, dtype=np.float32)
    best = np.full(len(p), np.inf, np.float32)
    near = np.zeros_like(p)
    for a, b in _inner_edges(poly, w, h):
        ab = b - a
        length = float(ab @ ab)
        t = np.clip(((p - a) @ ab) / length, 0.0, 1.0) if length > 1e-12 else np.zeros(len(p), np.float32)
        q = a + t[:, None] * ab
        d = ((p - q) ** 2).sum(axis=1)
        closer = d < best
        best[closer] = d[closer]
        near[closer] = q[closer]
    src = 2.0 * near - p
    # one remap of the band's pixels, laid out in rows OpenCV accepts (under 32767 wide)
    n = len(xs)
    cols = min(n, 4096)
    rows = -(-n // cols)
    sx = np.zeros(rows * cols, np.float32)
    sy = np.zeros(rows * cols, np.float32)
    sx[:n] = np.clip(src[:, 0], 0.0, w - 1.0)
    sy[:n] = np.clip(src[:, 1], 0.0, h - 1.0)
    sampled = cv2.remap(image, sx.reshape(rows, cols), sy.reshape(rows, cols), interpolation=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)
    out = image.copy()
    out[ys, xs] = sampled.reshape(rows * cols, *image.shape[2:])[:n]
    return out


def _inner_edges(poly: np.ndarray, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The edges of a convex region of the frame that do not lie along the frame's border.

    The point of the region nearest to a pixel of the frame outside it is never inside an
    edge along the border (the pixel would have to lie beyond that border line), only on
    an inner edge or at a vertex they share: leaving the border's edges out changes no
    mirror and saves most of the work (a clipped region has up to 8 edges, a pan's band one
    inner edge). A region all along the border (a sliver) keeps every edge."""
    poly = _without_collinear(poly)
    edges = list(zip(poly, np.roll(poly, -1, axis=0)))
    sides = ((0, 0.0), (0, width - 1.0), (1, 0.0), (1, height - 1.0))

    def along(a: np.ndarray, b: np.ndarray) -> bool:
        return any(abs(a[k] - v) <= 1e-4 and abs(b[k] - v) <= 1e-4 for k, v in sides)

    inner = [(a, b) for a, b in edges if not along(a, b)]
    return inner or edges


def _without_collinear(poly: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """The polygon without vertices within `tolerance` pixels of the line through their
    neighbours. A region carried over many frames gathers them: each frame's clip adds
    vertices on the border, and the next warp moves them inside along the image of that
    border line (13 vertices, 10 of them inside the frame, after 3 frames of a zoom and a roll)."""
    pts = [np.asarray(p, np.float64) for p in poly]
    changed = True
    while changed and len(pts) > 3:
        changed = False
        for i in range(len(pts)):
            a, b, c = pts[i - 1], pts[i], pts[(i + 1) % len(pts)]
            ac = c - a
            span = float(np.hypot(*ac))
            off = abs(float(ac[0] * (b[1] - a[1]) - ac[1] * (b[0] - a[0]))) / span if span > 1e-12 else 0.0
            if off <= tolerance:
                del pts[i]
                changed = True
                break
    return np.asarray(pts, np.float32)


def _covers_frame(poly: "geometry.Polygon", width: int, height: int) -> bool:
    """Whether the convex polygon (inside the frame) is the whole frame, up to rounding:
    its area (the shoelace formula) is the frame's."""
    area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(poly, [*poly[1:], poly[0]])))
    return area >= (width - 1.0) * (height - 1.0) - 1e-6


def _outside(poly: "geometry.Polygon", width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) of the pixels whose centres lie outside the convex polygon `poly`, found
    row by row from where each row's centre line crosses its edges: a cost of the pixels
    outside, not of the frame (a thin strip along a border is a few thousand)."""
    a = np.asarray(poly, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    y = np.arange(height, dtype=np.float64)[:, None]
    lo, hi = np.minimum(a[:, 1], b[:, 1])[None], np.maximum(a[:, 1], b[:, 1])[None]
    eps = 1e-6  # a vertex a rounding away from a row's centre line is on it
    on = (y >= lo - eps) & (y <= hi + eps)
    dy = b[:, 1] - a[:, 1]
    flat = np.abs(dy)[None] <= eps  # an edge along the row: both its ends
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((y - a[:, 1]) / np.where(flat, 1.0, dy), 0.0, 1.0)
    x = a[:, 0] + t * (b[:, 0] - a[:, 0])
    left = np.where(on, np.where(flat, np.minimum(a[:, 0], b[:, 0]), x), np.inf).min(axis=1)
    right = np.where(on, np.where(flat, np.maximum(a[:, 0], b[:, 0]), x), -np.inf).max(axis=1)
    first = np.clip(np.ceil(left - 1e-9), 0, width).astype(np.int64)  # first pixel inside
    last = np.clip(np.floor(right + 1e-9), -1, width - 1).astype(np.int64)  # last pixel inside
    empty = first > last
    first[empty], last[empty] = width, width - 1  # no pixel inside: the whole row is outside
    n_left, n_right = first, width - 1 - last
    rows = np.arange(height)
    ys = np.concatenate([np.repeat(rows, n_left), np.repeat(rows, n_right)])
    starts = np.concatenate([np.zeros(height, np.int64), last + 1])
    counts = np.concatenate([n_left, n_right])
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    xs = np.arange(int(counts.sum())) - offsets + np.repeat(starts, counts)
    return xs.astype(np.int32), ys.astype(np.int32)


def _inside(poly: "geometry.Polygon", xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Whether each pixel centre (xs, ys) lies inside the convex polygon `poly` (or on it)."""
    a = np.asarray(poly, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    cross = ((b[:, 0] - a[:, 0])[None] * (ys[:, None] - a[:, 1][None])
             - (b[:, 1] - a[:, 1])[None] * (xs[:, None] - a[:, 0][None]))
    return (cross >= -1e-9).all(axis=1) | (cross <= 1e-9).all(axis=1)


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
