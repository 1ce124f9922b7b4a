"""The preview backend: a procedural painter that needs no weights and no torch.

It lets a user judge timing, camera moves, prompt changes, blends and transitions before
spending GPU time, so it must be deterministic and show all of those truthfully:

- A prompt gives one *painting*: a sky/ground gradient with a horizon, a sun or moon, a few
  soft shapes, and a faint isotropic brush texture, whose palette and layout come from the prompt's words
  through SHA-256 (words such as "sea", "night", "sunrise", "city", "forest" steer colours
  and motifs). text2image varies it a little by the seed, as a model's seed varies a picture
  of the same prompt. Different prompts look different; the same prompt and seed always give
  the same bytes.
- Weighted prompts (blends) mix their paintings by weight.
- `img2img` keeps the image's structure and moves it toward the painting by the strength:
  the palette follows the prompt quickly, the layout (low frequencies) within a second or
  two, fixed detail only faintly, and nothing is amplified, so a camera move stays visible
  over many frames (a zoom flies into the picture) while the film drifts toward what the
  prompt says, as a real image-to-image call at moderate strength does.
- `inpaint` paints the masked pixels with the painting of the current prompts, its colours
  shifted to match the picture around the mask, so a filled border blends in.

A chain that starts from an init image (`image "photo.png"`, `Request.origin_image`) is
painted from that picture instead: img2img and inpaint pull toward the photo as the camera
sees it now (warped through `req.camera`, its borders mirrored), its colours moved halfway
toward the prompt's painting, so the photo's layout moves with the camera while the prompt
steers its palette, as a model's img2img at a moderate strength keeps a photo's
composition (at strength 0 the executor hands over the picture itself, untouched).

Paintings are cached per (prompt, seed, size, camera); under a moving camera a frame's
painting is sampled from atlas tiles drawn once per prompt (`camera_view`), so a frame costs
a few vectorised array passes. img2img and inpaint use the painting of the chain's first frame's seed
(`Request.origin_seed`), not the frame's own: the plan gives every frame its own seed, and a
target that moved with it would make the film flicker.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
import threading
from collections import OrderedDict
from functools import lru_cache

import cv2
import numpy as np

from kscript.backends.interface import Backend, Request

PREVIEW_VERSION = "preview-7"

#: per unit of strength, how far img2img moves colour statistics toward the painting's, how
#: much it pulls the picture's low frequencies (its layout: large shapes, the horizon, the
#: sun) toward the painting's, and how much it cross-fades every frequency toward the
#: painting (see `PreviewBackend.img2img`; a real img2img call at strength <= 0.5 keeps the
#: layout). Nothing amplifies: every band's gain is at most 1, so content that does not move
#: (the fixed point of a zoom) cannot grow into streaks or seams frame after frame.
PULL_COLOUR = 0.5
PULL_LAYOUT = 0.25
PULL_DETAIL = 0.05
#: img2img and inpaint under a moving camera draw the painting anew on every frame, at
#: 1/CAMERA_SCALE size (its layout, colours and soft shapes; the brush texture is sampled at
#: full size): a full half-size painting per frame cost 54 ms at 640x640, this one a few
CAMERA_SCALE = 8
#: OpenCV threads while the preview renders (None: leave OpenCV's setting alone)
_CV_THREADS: int | None = 1
#: the low-frequency work (layout pull, inpaint colour match) runs at 1/LOW_FACTOR size
LOW_FACTOR = 16
#: how far (pixels of the 1/8 image, a Gaussian sigma) inpaint looks for neighbouring colours
INPAINT_REACH = 2.0

# Words that steer the palette: (hue 0..1, saturation, value) hints, and motifs.
_WORD_COLOURS: dict[str, tuple[float, float, float]] = {
    "sea": (0.57, 0.65, 0.65), "ocean": (0.57, 0.65, 0.6), "water": (0.55, 0.5, 0.7),
    "lake": (0.53, 0.45, 0.7), "river": (0.54, 0.45, 0.7), "rain": (0.6, 0.25, 0.45),
    "storm": (0.62, 0.2, 0.35), "stormy": (0.62, 0.2, 0.35), "night": (0.66, 0.6, 0.2),
    "moon": (0.6, 0.15, 0.85), "dark": (0.7, 0.4, 0.15), "sunrise": (0.07, 0.75, 0.95),
    "sunset": (0.03, 0.8, 0.9), "dawn": (0.95, 0.35, 0.9), "dusk": (0.8, 0.45, 0.5),
    "sun": (0.12, 0.8, 1.0), "fire": (0.02, 0.9, 0.95), "autumn": (0.07, 0.8, 0.75),
    "forest": (0.33, 0.7, 0.4), "park": (0.28, 0.55, 0.55), "grass": (0.27, 0.7, 0.65),
    "tree": (0.3, 0.65, 0.45), "trees": (0.3, 0.65, 0.45), "jungle": (0.36, 0.8, 0.4),
    "city": (0.75, 0.35, 0.45), "street": (0.72, 0.3, 0.4), "neon": (0.88, 0.9, 1.0),
    "snow": (0.58, 0.05, 0.97), "winter": (0.58, 0.15, 0.9), "ice": (0.52, 0.25, 0.95),
    "desert": (0.1, 0.5, 0.9), "sand": (0.11, 0.45, 0.88), "gold": (0.13, 0.85, 0.9),
    "misty": (0.55, 0.08, 0.8), "mist": (0.55, 0.08, 0.8), "fog": (0.55, 0.05, 0.75),
    "space": (0.72, 0.7, 0.12), "stars": (0.65, 0.5, 0.15), "galaxy": (0.78, 0.7, 0.35),
    "flowers": (0.92, 0.6, 0.9), "rose": (0.97, 0.7, 0.85), "mountain": (0.6, 0.2, 0.55),
    "mountains": (0.6, 0.2, 0.55), "red": (0.0, 0.85, 0.85), "blue": (0.62, 0.8, 0.8),
    "green": (0.33, 0.8, 0.7), "purple": (0.78, 0.7, 0.7), "yellow": (0.15, 0.85, 0.95),
    "orange": (0.08, 0.9, 0.95), "pink": (0.93, 0.45, 0.95), "white": (0.0, 0.0, 0.97),
    "black": (0.0, 0.0, 0.08),
}
#: Russian words (the product comes from a Russian model) and their English hint words:
#: "осенний парк" gets the trees and colours of "autumn park". Forms by stem, so cases and
#: genders match ("осенний", "осеннего", "осенняя").
_RUSSIAN_STEMS: tuple[tuple[str, str], ...] = (
    ("мор", "sea"), ("океан", "ocean"), ("вод", "water"), ("озер", "lake"), ("озёр", "lake"),
    ("рек", "river"), ("дожд", "rain"), ("бур", "storm"), ("ночь", "night"), ("ночн", "night"),
    ("ноч", "night"), ("лун", "moon"), ("тёмн", "dark"), ("темн", "dark"), ("рассвет", "sunrise"),
    ("восход", "sunrise"), ("закат", "sunset"), ("заря", "dawn"), ("зар", "dawn"), ("сумер", "dusk"),
    ("солн", "sun"), ("огон", "fire"), ("огн", "fire"), ("пожар", "fire"), ("осен", "autumn"),
    ("лес", "forest"), ("парк", "park"), ("трав", "grass"), ("дерев", "trees"), ("джунгл", "jungle"),
    ("город", "city"), ("улиц", "street"), ("неон", "neon"), ("снег", "snow"), ("снеж", "snow"),
    ("зим", "winter"), ("лёд", "ice"), ("лед", "ice"), ("пустын", "desert"), ("песо", "sand"),
    ("песк", "sand"), ("золот", "gold"), ("туман", "mist"), ("космос", "space"), ("космич", "space"),
    ("звёзд", "stars"), ("звезд", "stars"), ("галакт", "galaxy"), ("цвет", "flowers"), ("роз", "rose"),
    ("гор", "mountains"), ("красн", "red"), ("син", "blue"), ("голуб", "blue"), ("зелён", "green"),
    ("зелен", "green"), ("фиолет", "purple"), ("жёлт", "yellow"), ("желт", "yellow"),
    ("оранж", "orange"), ("розов", "pink"), ("бел", "white"), ("чёрн", "black"), ("черн", "black"),
    ("утр", "morning"), ("волн", "waves"),
)
_NIGHT = {"night", "dark", "space", "stars", "galaxy", "moon"}
_SUN = {"sunrise", "sunset", "dawn", "dusk", "sun", "morning"}
_CITY = {"city", "street", "town", "skyline", "buildings", "neon"}
_FOREST = {"forest", "trees", "tree", "jungle", "park", "woods"}
_WATER = {"sea", "ocean", "lake", "river", "water", "waves", "stormy"}


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()


@lru_cache(maxsize=1 << 16, typed=True)
def _unit(*parts: object) -> float:
    """A number in [0, 1) from a hash of `parts`: the painter's only source of variety.

    Remembered (typed: `1` and `1.0` hash to different numbers, as their text differs): a
    painting under a moving camera is drawn anew on every frame from the same few dozen
    hashed numbers, and hashing them took a quarter of its time.
    """
    return int.from_bytes(_digest(*parts)[:8], "big") / 2.0**64


def _c(colour: np.ndarray) -> np.ndarray:
    """A colour (3,) as a channels-first column (3, 1, 1), to broadcast over a picture."""
    return colour[:, None, None]


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)), np.float32) * 255.0


def _words(text: str) -> list[str]:
    """The prompt's words, Russian ones translated to the hint words they mean."""
    out = []
    for w in re.findall(r"[a-zа-яё]+", text.lower()):
        if "a" <= w[0] <= "z":
            out.append(w)
            continue
        out.append(next((en for stem, en in _RUSSIAN_STEMS if w.startswith(stem)), w))
    return out


def _palette(words: list[str], text: str) -> list[tuple[float, float, float]]:
    hints = [_WORD_COLOURS[w] for w in words if w in _WORD_COLOURS]
    # Words without a hint still colour the film: each hashes to a hue.
    others = [w for w in words if w not in _WORD_COLOURS and len(w) > 2]
    for w in others[:4]:
        hints.append((_unit("hue", w), 0.35 + 0.4 * _unit("sat", w), 0.45 + 0.45 * _unit("val", w)))
    while len(hints) < 4:
        k = len(hints)
        hints.append((_unit("fill", text, k), 0.3 + 0.5 * _unit("fs", text, k), 0.4 + 0.5 * _unit("fv", text, k)))
    return hints


def _coords(camera: tuple[float, ...] | None, gw: int, gh: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """World coordinates (u across, v down, 0..1 over the chain's first frame) of the
    centres of a gw x gh grid laid over the current frame.

    `camera` (9 floats, row-major) maps the first frame's pixels to this frame's; its
    inverse takes each pixel of this frame back into the world, where the painting is drawn.
    Without a camera (or with the identity) the grid is the frame's own, as broadcastable
    row and column.
    """
    if camera is None or _is_identity(camera):
        u = ((np.arange(gw, dtype=np.float32) + 0.5) / gw)[None, :]
        v = ((np.arange(gh, dtype=np.float32) + 0.5) / gh)[:, None]
        return u, v
    inv = np.linalg.inv(np.asarray(camera, np.float64).reshape(3, 3))
    xs = (np.arange(gw, dtype=np.float64) + 0.5) * (width / gw) - 0.5
    ys = (np.arange(gh, dtype=np.float64) + 0.5) * (height / gh) - 0.5
    x, y = xs[None, :], ys[:, None]
    w = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
    # Behind the camera (a turn past 90 degrees): push those points far away, where the
    # painting is its plain sky or ground.
    w = np.where(w > 1e-6, w, 1e-6)
    wx = (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]) / w
    wy = (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / w
    u = ((wx + 0.5) / width).astype(np.float32)
    v = ((wy + 0.5) / height).astype(np.float32)
    return u, v


def _is_identity(camera: tuple[float, ...]) -> bool:
    return all(abs(a - b) <= 1e-12 for a, b in zip(camera, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)))


def _horizon(r, j) -> float:  # noqa: ANN001 - the painter's hashed-number shorthands
    """Where the horizon is (0 top .. 1 bottom of the chain's first frame)."""
    return 0.42 + 0.28 * r("horizon") + 0.06 * j("horizon")


def _shapes(text: str, words: list[str], r, j) -> list[tuple[int, str, float, float, float, float]]:  # noqa: ANN001
    """The soft shapes placed by the words: (k, word, centre x, centre y, radius x, radius y)."""
    keys = words or [text or "empty"]
    out = []
    for k in range(3 + int(r("nshapes") * 3)):
        word = keys[k % len(keys)]
        cx, cy = _unit(word, k, "x") + 0.2 * j(k, "x"), 0.15 + 0.8 * _unit(word, k, "y") + 0.15 * j(k, "y")
        rx, ry = 0.05 + 0.15 * _unit(word, k, "rx"), 0.04 + 0.12 * _unit(word, k, "ry")
        out.append((k, word, cx, cy, rx, ry))
    return out


def _skyline(text: str, r, u: np.ndarray, v: np.ndarray, horizon: float) -> np.ndarray:  # noqa: ANN001
    """Where the city's buildings stand (bool), on the painting's coordinates."""
    cols = 12 + int(r("bw") * 10)
    idx = np.floor(u * cols).astype(np.int32) % cols  # the skyline repeats beyond the frame
    heights = np.array([0.08 + 0.25 * _unit(text, "bh", i) for i in range(cols)], np.float32)
    top = horizon - heights[idx]
    return (v > top) & (v < horizon + 0.02)


def _trees(text: str, r, u: np.ndarray, v: np.ndarray, horizon: float) -> np.ndarray:  # noqa: ANN001
    """Where the forest's trees stand (bool), on the painting's coordinates."""
    cols = 18 + int(r("tw") * 14)
    phase = (u * cols) % 1.0
    idx = np.floor(u * cols).astype(np.int32) % cols
    th = np.array([0.08 + 0.18 * _unit(text, "th", i) for i in range(cols)], np.float32)
    return (v > horizon - th[idx] * (1.0 - np.abs(phase - 0.5) * 2.0)) & (v < horizon + 0.05)


#: the painter's depths (scene units, as a relative depth model's: `kscript.backends.depth`):
#: the sky and the sun or moon are far; the ground is a plane seen from above whose nearest
#: row (the frame's bottom) is GROUND_NEAR away, reaching SKY_DEPTH at the horizon; each
#: soft shape stands at its own depth between SHAPE_NEAR and SHAPE_FAR (drawn in the
#: painting's order, a later shape in front), the skyline and the trees near the horizon
SKY_DEPTH = 20.0
GROUND_NEAR = 1.5
SHAPE_NEAR, SHAPE_FAR = 2.0, 8.0
SKYLINE_DEPTH, TREES_DEPTH = 16.0, 15.0


def paint_depth(
    text: str,
    seed: int | None,
    width: int,
    height: int,
    camera: tuple[float, ...] | None = None,
) -> np.ndarray:
    """The depth of `paint(text, seed, width, height, camera)`: height x width float32 > 0.

    The painter knows what it drew where: sky, sun and moon far, the ground a plane that
    recedes to the horizon, each shape at its own depth (`SKY_DEPTH`, ...), so the 3D
    camera's parallax can be judged without weights (`depth: "preview"`).
    """
    words = _words(text)
    wset = set(words)
    u, v = _coords(camera, width, height, width, height)
    u, v = np.broadcast_arrays(u, v)
    r = lambda *p: _unit(text, *p)  # noqa: E731 - as in paint
    j = (lambda *p: _unit(text, seed, "vary", *p) - 0.5) if seed is not None else (lambda *p: 0.0)  # noqa: E731
    horizon = _horizon(r, j)
    below = v - horizon
    with np.errstate(divide="ignore"):
        ground = np.where(below > 0, GROUND_NEAR * (1.0 - horizon) / np.maximum(below, 1e-6), SKY_DEPTH)
    depth = np.clip(ground, GROUND_NEAR * 0.5, SKY_DEPTH).astype(np.float32)
    for k, word, cx, cy, rx, ry in _shapes(text, words, r, j):
        inside = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 < 1.4  # all it covers, its soft edge too
        depth = np.where(inside, SHAPE_NEAR + (SHAPE_FAR - SHAPE_NEAR) * _unit(word, k, "depth"), depth)
    # the motifs are drawn over the shapes, as in paint
    if wset & _CITY:
        depth = np.where(_skyline(text, r, u, v, horizon), SKYLINE_DEPTH, depth)
    if wset & _FOREST:
        depth = np.where(_trees(text, r, u, v, horizon), TREES_DEPTH, depth)
    return np.ascontiguousarray(depth, dtype=np.float32)


def paint(
    text: str,
    seed: int | None,
    width: int,
    height: int,
    camera: tuple[float, ...] | None = None,
    scale: int = 2,
    full: bool = True,
) -> np.ndarray:
    """The painting of one prompt: height x width x 3 float32 in 0..255.

    The prompt's words fix the palette and layout. A seed varies them a little (positions,
    hues, the horizon), as a seed varies a model's picture of the same prompt; None gives
    the prompt's own painting, the one img2img and inpaint move toward, so that per-frame
    seeds (the plan gives each frame its own) do not make the film flicker.

    `camera` draws it as the camera sees it after a move (see `_coords`); everything but the
    brush texture is painted at 1/`scale` size and scaled up; `full=False` returns it at
    that size, without the brush.
    """
    # Everything but the fine texture is smooth: paint it at half size (4x fewer pixels) and
    # scale it up; frequencies below stay in full-size pixels.
    gw, gh = max(1, width // scale), max(1, height // scale)
    u, v = _coords(camera, gw, gh, width, height)
    img = np.ascontiguousarray(np.moveaxis(_draw(text, seed, width, height, u, v), 0, -1))  # gh x gw x 3

    if not full:
        # under a moving camera img2img needs only the layout and colours (see CAMERA_SCALE)
        return np.clip(img, 0.0, 255.0).astype(np.float32)
    img = cv2.resize(img.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)

    # A fine, faint brush texture: isotropic blobs a few pixels wide, so a warp visibly moves
    # and zooms the picture without a screen-fixed hatching. It lives in the painting, so it
    # reaches a film through text2image and inpaint and then moves with the content.
    r = lambda *p: _unit(text, *p)  # noqa: E731 - as in _draw
    img = img + _brush(r("brush"), width, height, 2.0 + 2.0 * r("tex-amp"), None if camera is None or _is_identity(camera) else (u, v))[..., None]
    return np.clip(img, 0.0, 255.0).astype(np.float32)


def _draw(text: str, seed: int | None, width: int, height: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The painting's smooth part (no brush) at world points `u`, `v` (broadcastable
    arrays, as `_coords` gives them): 3 x rows x columns float, channels first, not yet
    clipped. `width` and `height` are the frame's, which set the sizes of the horizon's
    softness, the windows and the waves in pixels."""
    words = _words(text)
    wset = set(words)
    pal = _palette(words, text)
    gh, gw = np.broadcast_shapes(u.shape, v.shape)
    r = lambda *p: _unit(text, *p)  # noqa: E731 - local shorthands for hashed numbers
    j = (lambda *p: _unit(text, seed, "vary", *p) - 0.5) if seed is not None else (lambda *p: 0.0)  # noqa: E731

    night = bool(wset & _NIGHT)
    sky_h, sky_s, sky_v = pal[0]
    ground_h, ground_s, ground_v = pal[1 % len(pal)]
    if night:
        sky_v *= 0.45
    sky_h += 0.04 * j("hue")
    ground_h += 0.04 * j("ground-hue")
    sky_top = _rgb(sky_h + 0.04 * (r("st") - 0.5), sky_s * 0.9, sky_v * 0.75)
    sky_low = _rgb(sky_h + 0.08 * (r("sl") - 0.5), sky_s * 0.6, min(1.0, sky_v * 1.15))
    ground_top = _rgb(ground_h, ground_s, ground_v * 0.8)
    ground_low = _rgb(ground_h + 0.05 * (r("gl") - 0.5), ground_s * 1.1, ground_v * 0.45)

    horizon = _horizon(r, j)
    sky_t = np.clip(v / horizon, 0.0, 1.0)
    ground_t = np.clip((v - horizon) / (1.0 - horizon), 0.0, 1.0)
    below = (v > horizon).astype(np.float32)
    # Channels first (3 x gh x gw) while painting: an alpha of gh x gw then broadcasts over
    # the leading axis, which numpy does 2x faster than over a trailing axis of 3 (the same
    # arithmetic, element for element: the same bytes).
    sky = _c(sky_top) + _c(sky_low - sky_top) * sky_t[None]
    ground = _c(ground_top) + _c(ground_low - ground_top) * ground_t[None]
    # A soft horizon line: the two gradients meet over a few pixels.
    soft = np.clip((v - horizon) * height / 3.0 + 0.5, 0.0, 1.0)[None]
    img = sky * (1.0 - soft) + ground * soft
    img = np.broadcast_to(img, (3, gh, gw)).copy()

    # The sun (or moon): near the horizon at sunrise/sunset, high at night.
    if wset & _SUN or night or r("sun?") < 0.5:
        sx = 0.2 + 0.6 * r("sx") + 0.15 * j("sx")
        sy = horizon - (0.05 + 0.1 * r("sy")) if wset & _SUN else 0.12 + 0.2 * r("sy")
        rad = 0.06 + 0.08 * r("sr")
        col = _rgb(0.13, 0.12, 0.95) if night else _rgb(0.08 + 0.06 * r("sc"), 0.75, 1.0)
        d2 = ((u - sx) ** 2 + ((v - sy) * height / width) ** 2) / rad**2
        disc = np.clip(1.5 - d2, 0.0, 1.0) * (v < horizon + 0.01)
        glow = np.exp(-d2 / 6.0) * 0.35
        a = np.clip(disc + glow, 0.0, 1.0)[None]
        img = img * (1.0 - a) + _c(col) * a

    # Soft shapes placed by the words (and nudged by the seed).
    for k, word, cx, cy, rx, ry in _shapes(text, words, r, j):
        h_, s_, v_ = pal[(k + 2) % len(pal)]
        col = _rgb(h_ + 0.06 * (_unit(word, k, "h") - 0.5) + 0.05 * j(k, "h"), s_, v_)
        d2 = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2
        a = (np.clip(1.4 - d2, 0.0, 1.0) * (0.45 + 0.4 * _unit(word, k, "a")))[None]
        img = img * (1.0 - a) + _c(col) * a

    # Motifs that the words call for.
    if wset & _CITY:
        building = _skyline(text, r, u, v, horizon).astype(np.float32)
        win = ((np.sin(u * width / 3.0) > 0.6) & (np.sin(v * height / 4.0) > 0.5)).astype(np.float32)
        bcol = _rgb(pal[0][0] + 0.5, 0.3, 0.18)
        wcol = _rgb(0.12 if not wset & {"neon"} else 0.85, 0.7, 1.0)
        a = building[None]
        img = img * (1.0 - a) + (_c(bcol) + _c(wcol - bcol) * (win * 0.6)[None]) * a
    if wset & _FOREST:
        cone = _trees(text, r, u, v, horizon)
        a = (cone.astype(np.float32) * 0.85)[None]
        img = img * (1.0 - a) + _c(_rgb(0.33 + 0.05 * r("tc"), 0.7, 0.3)) * a
    if wset & _WATER:
        waves = 0.5 + 0.5 * np.sin(v * height / 5.0 + np.sin(u * 9.0 + r("wp") * 6.0) * 3.0)
        a = (below * waves * 0.25)[None]
        img = img * (1.0 - a) + _c(_rgb(0.55, 0.25, 0.95)) * a
    return img


def camera_view(text: str, seed: int | None, width: int, height: int, camera: tuple[float, ...]) -> np.ndarray:
    """`paint(text, seed, width, height, camera, CAMERA_SCALE, full=False)`, sampled from an
    atlas tile of the prompt's painting (`_tile`) when the camera's view lies within one.

    img2img and inpaint draw the painting anew on every frame of a moving camera; drawing it
    took a fifth of a preview frame (1.2-1.8 ms a 640x640 frame inside the mini film's build,
    all of it the painter's few dozen small array passes). Sampling a tile through the
    camera is one bilinear warp of a 1/CAMERA_SCALE view (0.08 ms against 0.76 ms to draw
    it, one thread, load average 0.6), and a tile serves every frame of a pan or a spin and
    a doubling of a zoom. A view that no tile holds (a turn toward the horizon, a view
    behind the camera) is drawn directly. Both are the same painting at the same points;
    measured against the painting drawn at full size, the tile's view is the closer of the
    two (benchmarks/preview_atlas.py, tests/test_preview_atlas.py).

    Which tile serves a view depends on the camera alone, never on which frames were drawn
    before: a frame is the same whether its chain is rendered whole, resumed from the cache,
    or run on another machine.
    """
    gw, gh = max(1, width // CAMERA_SCALE), max(1, height // CAMERA_SCALE)
    found = _tile_for(camera, gw, gh, width, height) if _tile_bytes(width, height) <= ATLAS_TILE_LIMIT else None
    if found is None:
        return paint(text, seed, width, height, camera, CAMERA_SCALE, full=False)
    level, ix, iy, m = found
    return cv2.warpPerspective(_tile(text, seed, width, height, level, ix, iy), m, (gw, gh),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


#: The atlas of a prompt's painting (its smooth part, `_draw`), as tiles at levels of detail:
#: at level L a tile holds 1/2^L of the chain's first frame and ATLAS_MARGIN of that on each
#: side, at ATLAS_SCALE/2^L first-frame pixels per tile pixel, and tiles start every half
#: tile, so that any view up to twice a tile's size lies in one. A view is sampled from the
#: level whose pixels are at most ATLAS_STRETCH view pixels wide at its centre (finer than
#: the direct view's own points: the closer to the painting drawn at full size), or from the
#: next coarser one when that holds it and the first does not; a tile pixel is never wider
#: than a view pixel, at the view's corners either.
ATLAS_SCALE = 4
ATLAS_MARGIN = 0.75
ATLAS_STRETCH = 0.5


def _tile_size(size: int) -> tuple[int, int]:
    """A tile's pixels along one side without its margins, and one margin's."""
    inner = max(1, size // ATLAS_SCALE)
    return inner, int(np.ceil(ATLAS_MARGIN * inner))


def _tile_edge(size: int, level: int, index: int) -> tuple[float, float]:
    """Where tile `index` of `level` begins along one side, in first-frame pixel coordinates
    (pixel centres at whole numbers, the frame's edge at -0.5), and its pixel's width there."""
    inner, margin = _tile_size(size)
    span = size / 2.0**level
    step = span / inner
    return index * span / 2.0 - margin * step - 0.5, step


#: the tiles kept (bytes, all prompts and levels together), and the most one tile may take:
#: a 640x640 film's tile is 1.8 MB, a 1920x1080 film's 9.3 MB; the views of a film of
#: 2560x1440 or more are drawn directly (its tile would take 16-79 MB, and drawing its view
#: costs little beside its full-size passes)
ATLAS_BUDGET = 64 << 20
ATLAS_TILE_LIMIT = ATLAS_BUDGET // 4
_TILES_KEPT: OrderedDict[tuple, np.ndarray] = OrderedDict()
_TILES_LOCK = threading.Lock()  # builds in threads (watch mode, tests) share the tiles


def _tile_bytes(width: int, height: int) -> int:
    (iw, mw), (ih, mh) = _tile_size(width), _tile_size(height)
    return (iw + 2 * mw) * (ih + 2 * mh) * 3 * 4


def _tile(text: str, seed: int | None, width: int, height: int, level: int, ix: int, iy: int) -> np.ndarray:
    """One atlas tile (see ATLAS_SCALE): rows x columns x 3 float32 in 0..255, read only,
    kept (least recently used out first) within ATLAS_BUDGET."""
    key = (text, seed, width, height, level, ix, iy)
    with _TILES_LOCK:
        tile = _TILES_KEPT.get(key)
        if tile is not None:
            _TILES_KEPT.move_to_end(key)
            return tile
    (iw, mw), (ih, mh) = _tile_size(width), _tile_size(height)
    (ex, sx), (ey, sy) = _tile_edge(width, level, ix), _tile_edge(height, level, iy)
    # a tile pixel's centre in first-frame pixels, then in world units (as `_coords` gives them)
    u = ((ex + (np.arange(iw + 2 * mw, dtype=np.float64) + 0.5) * sx + 0.5) / width).astype(np.float32)[None, :]
    v = ((ey + (np.arange(ih + 2 * mh, dtype=np.float64) + 0.5) * sy + 0.5) / height).astype(np.float32)[:, None]
    img = np.moveaxis(_draw(text, seed, width, height, u, v), 0, -1)
    tile = np.ascontiguousarray(np.clip(img, 0.0, 255.0), dtype=np.float32)
    tile.flags.writeable = False
    with _TILES_LOCK:
        _TILES_KEPT[key] = tile
        while sum(t.nbytes for t in _TILES_KEPT.values()) > ATLAS_BUDGET:
            _TILES_KEPT.popitem(last=False)
    return tile


def _tile_for(camera: tuple[float, ...], gw: int, gh: int, width: int, height: int) -> tuple[int, int, int, np.ndarray] | None:
    """The tile that holds a camera view (a gw x gh grid over the frame, as `_coords` lays
    it) and the matrix taking a view pixel to the tile pixel it shows: (level, ix, iy,
    matrix), or None when the view is to be drawn directly.

    In plain floats: it runs on every frame of a moving camera, and with numpy's per-call
    cost on 3-vectors it took 0.18 ms, longer than the warp it sets up (now 0.02 ms; one
    thread, load average about 1 and 0.6).
    """
    inv = _inverse3(camera)
    if inv is None:
        return None
    a, b, c, d, e, f, g, h, i = inv
    vx, vy = width / gw, height / gh

    def first(x: float, y: float) -> tuple[float, float] | None:
        """A view pixel in first-frame pixels (None: behind the camera)."""
        fx, fy = vx * x + 0.5 * vx - 0.5, vy * y + 0.5 * vy - 0.5
        w = g * fx + h * fy + i
        if not w > 1e-9:
            return None
        return (a * fx + b * fy + c) / w, (d * fx + e * fy + f) / w

    # The view's corners and centre, and a view pixel's step from each: w is affine in view
    # pixels and a homography's stretch is extreme at the corners of a convex region, so the
    # corners tell whether the whole view lies in front of the camera, how far it reaches and
    # how coarse a tile may be.
    corners, step = [], math.inf
    for x, y in ((0.0, 0.0), (gw - 1.0, 0.0), (0.0, gh - 1.0), (gw - 1.0, gh - 1.0), ((gw - 1) / 2.0, (gh - 1) / 2.0)):
        at, right, down = first(x, y), first(x + 1.0, y), first(x, y + 1.0)
        if at is None or right is None or down is None:
            return None
        rx, ry, dx, dy = right[0] - at[0], right[1] - at[1], down[0] - at[0], down[1] - at[1]
        corners.append(at)
        step = min(step, math.hypot(rx, ry), math.hypot(dx, dy))  # first-frame px per view px
    area = abs(rx * dy - ry * dx)  # at the centre, the last point
    if not (area > 1e-18 and step > 0 and math.isfinite(area)):
        return None
    corners.pop()
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    finest = math.ceil(math.log2(ATLAS_SCALE / (math.sqrt(area) * ATLAS_STRETCH)) - 1e-9)
    if abs(finest) > 40:
        return None
    (iw, mw), (ih, mh) = _tile_size(width), _tile_size(height)
    for level in (finest, finest - 1):
        span_x, span_y = width / 2.0**level, height / 2.0**level
        if ATLAS_SCALE * span_x / width / step > 1.0 + 1e-9:
            continue  # a tile pixel would be wider than a view pixel somewhere
        # the tile (one starts every half tile) whose middle is nearest the view's extent's
        ix = round((min(xs) + max(xs) + 1.0) / span_x - 1.0)
        iy = round((min(ys) + max(ys) + 1.0) / span_y - 1.0)
        (ex, sx), (ey, sy) = _tile_edge(width, level, ix), _tile_edge(height, level, iy)
        # the corners in tile pixels, inside the tile's pixel centres
        if (min(xs) - ex) / sx - 0.5 < 0.0 or (min(ys) - ey) / sy - 0.5 < 0.0:
            continue
        if (max(xs) - ex) / sx - 0.5 > iw + 2 * mw - 1.0 or (max(ys) - ey) / sy - 0.5 > ih + 2 * mh - 1.0:
            continue
        first_to_tile = np.array([[1.0 / sx, 0.0, -ex / sx - 0.5], [0.0, 1.0 / sy, -ey / sy - 0.5], [0.0, 0.0, 1.0]])
        view_to_frame = np.array([[vx, 0.0, 0.5 * vx - 0.5], [0.0, vy, 0.5 * vy - 0.5], [0.0, 0.0, 1.0]])
        return level, ix, iy, first_to_tile @ np.array(inv).reshape(3, 3) @ view_to_frame
    return None


def _inverse3(m: tuple[float, ...]) -> tuple[float, ...] | None:
    """The inverse of a 3x3 matrix (9 floats, row-major) by cofactors, or None when it is
    singular or not finite."""
    a, b, c, d, e, f, g, h, i = (float(x) for x in m)
    co = (e * i - f * h, c * h - b * i, b * f - c * e,
          f * g - d * i, a * i - c * g, c * d - a * f,
          d * h - e * g, b * g - a * h, a * e - b * d)
    det = a * co[0] + b * co[3] + c * co[6]
    if not (math.isfinite(det) and abs(det) > 1e-300):
        return None
    out = tuple(x / det for x in co)
    return out if all(math.isfinite(x) for x in out) else None


def _brush(seed_unit: float, width: int, height: int, amplitude: float, coords: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A faint isotropic texture (float32, mean 0, peak about `amplitude` grey levels).

    Seeded noise at a quarter of the size, blurred and scaled up: soft blobs 4-8 pixels wide
    with no direction, which read as paint rather than as a pattern laid over the picture.
    The tile is periodic, so it can be sampled anywhere in the world: `coords` (u, v of a
    coarser grid, as `_coords` gives them) samples it through the camera.
    """
    tile = _brush_tile(seed_unit, width, height, amplitude)
    sh, sw = tile.shape
    if coords is None:
        u = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
        v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
        mx = np.broadcast_to(u * sw - 0.5, (height, width)).astype(np.float32)
        my = np.broadcast_to(v * sh - 0.5, (height, width)).astype(np.float32)
    else:
        u, v = coords
        # the homography is smooth: its coordinates interpolate linearly to full size
        mx = cv2.resize(np.ascontiguousarray(u * sw - 0.5, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        my = cv2.resize(np.ascontiguousarray(v * sh - 0.5, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.remap(tile, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


_TILES: dict[tuple[float, int, int, float], np.ndarray] = {}


def _brush_tile(seed_unit: float, width: int, height: int, amplitude: float) -> np.ndarray:
    key = (seed_unit, width, height, amplitude)
    tile = _TILES.get(key)
    if tile is None:
        rng = np.random.default_rng(int(seed_unit * 2**63))
        sw, sh = max(1, width // 4), max(1, height // 4)
        noise = rng.standard_normal((sh, sw)).astype(np.float32)
        # blurred as a torus (tiled three by three, the middle kept), so the tile wraps
        big = cv2.GaussianBlur(np.tile(noise, (3, 3)), (0, 0), 0.8)
        noise = np.ascontiguousarray(big[sh : 2 * sh, sw : 2 * sw])
        noise *= amplitude / max(float(np.abs(noise).max()), 1e-6)
        if len(_TILES) > 16:
            _TILES.clear()
        _TILES[key] = tile = noise
    return tile


def _small_size(width: int, height: int) -> tuple[int, int]:
    """The size at which the painter does its low-frequency work (1/8, at least 1 pixel)."""
    return max(1, width // LOW_FACTOR), max(1, height // LOW_FACTOR)


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` averaged down to `size` (w, h): exact halvings first, then one area resize.

    OpenCV's area resize by exactly 2 takes a fast path: four halvings of a 640x640 frame
    cost about a quarter of one area resize by 16 (0.06 ms against 0.24 ms here).
    """
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h and image.shape[1] % 2 == 0 and image.shape[0] % 2 == 0:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != (w, h):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return image


class Painting:
    """A painting and what img2img needs of it, computed once per prompt mix.

    `size` (w, h) larger than the image: a *low* painting (drawn through a moving camera at
    1/CAMERA_SCALE size), whose full-size pixels are made only when inpaint asks for them.
    """

    __slots__ = ("image", "_pixels", "mean", "std", "small", "size", "low")

    def __init__(self, image: np.ndarray, size: tuple[int, int] | None = None) -> None:
        self.image = image  # float32, 0..255
        h, w = image.shape[:2]
        self.size = size or (w, h)
        self.low = self.size != (w, h)
        # rounded and saturated in one OpenCV pass (numpy's add, clip and cast took 6 ms at
        # 640x640, and a blend makes a new painting on every frame of its ramp)
        pixels = cv2.convertScaleAbs(image)
        self._pixels = None if self.low else pixels
        self.mean, self.std = _stats(pixels) if not self.low else _all_stats(pixels)
        # The layout at 1/LOW_FACTOR size: what img2img's layout pull and inpaint's colour
        # match use.
        self.small = _shrink(pixels, _small_size(*self.size)).astype(np.float32)

    @property
    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            self._pixels = cv2.resize(cv2.convertScaleAbs(self.image), self.size, interpolation=cv2.INTER_LINEAR)
        return self._pixels


class PreviewBackend(Backend):
    """The weightless preview painter (see the module docstring)."""

    name = "preview"
    #: the executor hands this backend a chain's init image (`Request.origin_image`)
    reads_origin_image = True

    def __init__(self, cache_size: int = 32) -> None:
        super().__init__()
        self._cache: OrderedDict[tuple, Painting] = OrderedDict()
        self._cache_size = cache_size

    @property
    def fingerprint(self) -> str:
        return PREVIEW_VERSION

    def load(self) -> None:
        """Run OpenCV on one thread: the painter's passes take well under a millisecond
        each, where OpenCV's thread pool costs more CPU in hand-offs than it saves, and the
        build's other threads (the encoder's, the cache writer) have the other cores to use."""
        if _CV_THREADS is not None:
            cv2.setNumThreads(_CV_THREADS)

    @property
    def has_inpaint(self) -> bool:
        return True

    # -- paintings ---------------------------------------------------------------------------

    def _remember(self, key: tuple, make) -> Painting:
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        entry = make()
        self._cache[key] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def painting(self, req: Request, seeded: bool = False) -> Painting:
        """The painting of a request's weighted prompts (a blend mixes them by weight).

        `seeded` (text2image): varied by the request's seed, on the screen as it is. Else
        (img2img, inpaint) the painting of the chain's first frame, `req.origin_seed`, drawn
        through `req.camera`, so that it is the very picture text2image made, moved as the
        camera moved (no snap at a scene's start, no pull toward a fixed layout); a request
        without them gets the prompts' own painting on the screen.
        """
        prompts = [(t, w) for t, w in req.prompts if w > 0] or [("", 1.0)]
        size = (req.width, req.height)
        if not seeded and req.origin_image is not None:
            return self._photo_painting(req, prompts, size)
        if seeded:
            seed, camera = req.seed, None
        else:
            seed = req.origin_seed
            camera = None if req.camera is None or _is_identity(req.camera) else tuple(round(c, 12) for c in req.camera)
        singles = [
            self._remember(
                (t, seed, *size, camera),
                lambda t=t: Painting(paint(t, seed, *size, camera))
                if camera is None
                else Painting(camera_view(t, seed, *size, camera), size),
            )
            for t, _ in prompts
        ]
        if len(prompts) == 1:
            return singles[0]

        def mix() -> Painting:
            total = sum(w for _, w in prompts)
            acc = np.zeros(singles[0].image.shape, np.float32)
            for (_, w), single in zip(prompts, singles):
                cv2.scaleAdd(single.image, w / total, acc, dst=acc)
            return Painting(acc, size)

        key = (tuple((t, round(w, 6)) for t, w in prompts), seed, *size, camera)
        return self._remember(key, mix)

    def _photo_painting(self, req: Request, prompts: list, size: tuple[int, int]) -> Painting:
        """The painting of a chain that started from an init image: the picture warped
        through the camera (mirrored at the borders), each channel's mean and spread moved
        halfway toward those of the prompts' painting (its palette)."""
        from dataclasses import replace

        camera = None if req.camera is None or _is_identity(req.camera) else tuple(round(c, 12) for c in req.camera)
        key = ("photo", req.origin_image_key, tuple((t, round(w, 6)) for t, w in prompts), req.origin_seed,
               *size, camera)

        def make() -> Painting:
            photo = req.origin_image
            if camera is not None:
                photo = cv2.warpPerspective(photo, np.asarray(camera, np.float64).reshape(3, 3), size,
                                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            palette = self.painting(replace(req, camera=None, origin_image=None, origin_image_key=None))
            mean, std = _stats(photo)
            new_mean = 0.5 * (mean + palette.mean)
            new_std = 0.5 * (std + palette.std)
            gain = new_std / np.maximum(std, 1.0)
            img = (photo.astype(np.float32) - mean.astype(np.float32)) * gain.astype(np.float32) + new_mean.astype(
                np.float32)
            return Painting(np.clip(img, 0.0, 255.0))

        return self._remember(key, make)

    def depth_map(self, req: Request) -> np.ndarray:
        """The depth of the chain image `req` describes (`depth: "preview"`): that of the
        painting of its heaviest prompt, from the chain's first seed, through its camera
        (what text2image drew, moved as the camera moved, as img2img's painting is)."""
        prompts = [(t, w) for t, w in req.prompts if w > 0] or [("", 1.0)]
        text = max(prompts, key=lambda p: p[1])[0]
        seed = req.origin_seed if req.origin_seed is not None else req.seed
        camera = None if req.camera is None or _is_identity(req.camera) else tuple(req.camera)
        return paint_depth(text, seed, req.width, req.height, camera)

    # -- operations --------------------------------------------------------------------------

    def text2image(self, req: Request) -> np.ndarray:
        self.calls.text2image += 1
        _steps(req)
        return self.painting(req, seeded=True).pixels.copy()

    def img2img(self, image: np.ndarray, req: Request) -> np.ndarray:
        """Redraw `image` toward the prompt at `req.strength` s, keeping its structure.

        Three touches, each scaled by s, none of which fights a camera move:

        1. colours: each channel's mean (and a spread wider than the painting's) move toward
           the painting's by `PULL_COLOUR * s` (translation-invariant: the palette follows the
           prompt at once);
        2. detail: a cross-fade toward the painting by `PULL_DETAIL * s` (faint, so detail
           painted at fixed places does not trail behind a moving camera, but a new prompt's
           detail does appear over a few seconds of a still shot);
        3. layout: the picture's low frequencies (1/8 size) move toward the painting's by
           `PULL_LAYOUT * s`, so a new prompt's composition appears over a second or so while
           the picture's own detail, which moves with the camera, is kept as it is.

        There is no sharpening: an unsharp mask that gives back what resampling blurs away
        also amplifies, at the fixed point of a zoom where nothing is resampled, whatever is
        there (rounding included), and grows bright seams down the centre column and row.
        """
        self.calls.img2img += 1
        _steps(req)
        s = min(max(float(req.strength), 0.0), 1.0)
        if s == 0:
            return image.copy()
        target = self.painting(req)
        h, w = image.shape[:2]
        mean, std = _stats(image)
        t = PULL_COLOUR * s
        d = PULL_DETAIL * s
        # The spread may shrink toward the painting's but never grow: a gain above 1 would
        # amplify the picture's detail while the layout pull holds its large shapes still, and
        # frame after frame grow the texture into marbled contours. Contrast the painting has
        # and the picture lacks comes back through the layout and detail pulls instead.
        gain = np.minimum(1.0 + t * (target.std / np.maximum(std, 1.0) - 1.0), 1.0)
        new_mean = mean + t * (target.mean - mean)
        sw, sh = target.small.shape[1], target.small.shape[0]
        if target.low and not req.parallax and (gain == 1.0).all():
            # The usual case under a moving camera (255 of the mini film's 286 img2img
            # frames): the colour step is a shift, so it rides on the layout pull's
            # low-frequency add, one full-size pass instead of two (and one rounding).
            shift = (new_mean - mean).astype(np.float32)
            delta = cv2.subtract(target.small, _shrink(image, (sw, sh)), dtype=cv2.CV_32F) - shift
            return _add_low(image, cv2.GaussianBlur(delta, (0, 0), 1.0) * np.float32(PULL_LAYOUT * s) + shift)
        # colour and detail in one affine map plus one cross-fade, in uint8 (OpenCV rounds)
        m = np.zeros((3, 4), np.float64)
        m[[0, 1, 2], [0, 1, 2]] = gain
        m[:, 3] = new_mean - gain * mean
        out = cv2.transform(image, m)
        if req.parallax:
            # A depth warp moved near things further than far ones: a painting drawn through
            # one homography would pull them back (ghosts). Only the colours follow the prompt.
            return out
        if not target.low:
            # Under a moving camera (a low painting) there is no detail pull: the picture's
            # detail moves with the camera as it is, and the painting's layout comes through
            # the layout pull below.
            out = cv2.addWeighted(out, 1.0 - d, target.pixels, d, 0.0)
        # layout: the low-frequency difference, computed small, smoothed, scaled up and added
        small = _shrink(out, (sw, sh))
        delta = cv2.subtract(target.small, small, dtype=cv2.CV_32F)
        return _add_low(out, cv2.GaussianBlur(delta, (0, 0), 1.0) * np.float32(PULL_LAYOUT * s))

    def inpaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        """Paint the masked pixels with the current prompt's painting, matched to the picture.

        The painting's own colours would meet a warped, drifted picture at a visible edge (a
        tilted band on every roll). So the fill is the painting's detail plus a smooth colour
        offset: the difference between the picture and the painting around the mask, averaged
        by normalised convolution over the known pixels (`INPAINT_REACH`) and carried into
        the masked region, falling back to the whole picture's offset far from known pixels.
        The mask's feather then blends the fill into the picture.
        """
        self.calls.inpaint += 1
        _steps(req)
        painting = self.painting(req)
        h, w = mask.shape[:2]
        m = np.ascontiguousarray(mask, dtype=np.float32)
        if req.parallax:
            # What a depth warp uncovered inside the frame lies behind something that moved by
            # parallax: the painting through one homography has the wrong thing there, so the
            # executor's model-free fill stays; only the band brought in at the frame's edge
            # is painted (there the painting at the scene's distance is a fair guess).
            ring = max(2, min(h, w) // 16)
            edge = np.zeros((h, w), np.float32)
            edge[:ring, :] = edge[-ring:, :] = 1.0
            edge[:, :ring] = edge[:, -ring:] = 1.0
            m = m * edge
            if not m.any():
                return np.ascontiguousarray(image).copy()
        sh, sw = painting.small.shape[:2]
        # Only wholly unmasked blocks say what the picture's colours are: a partly masked
        # block's average has whatever the warp left in the mask in it.
        mask_small = _shrink(m, (sw, sh))
        known = (mask_small <= 1e-3).astype(np.float32)
        pic = _shrink(np.ascontiguousarray(image), (sw, sh))
        diff = cv2.subtract(pic, painting.small, dtype=cv2.CV_32F) * known[..., None]
        total = float(known.sum())
        prior = diff.reshape(-1, 3).sum(axis=0) / total if total > 1e-3 else np.zeros(3, np.float32)
        eps = np.float32(0.02)
        num = cv2.GaussianBlur(diff, (0, 0), INPAINT_REACH) + eps * prior.astype(np.float32)
        den = cv2.GaussianBlur(known, (0, 0), INPAINT_REACH) + eps
        offset = cv2.resize(num / den[..., None], (w, h), interpolation=cv2.INTER_LINEAR)
        image = np.ascontiguousarray(image)
        # A border mask touches a ring of 16x16 blocks: blend only strips that cover them (a
        # tenth of the pixels on a small roll; see `_strips`).
        if h == sh * LOW_FACTOR and w == sw * LOW_FACTOR:
            strips = _strips(mask_small > 0, LOW_FACTOR)
            out = image.copy()
        else:
            strips = [(slice(0, h), slice(0, w))]
            out = np.empty_like(image)
        for rows, cols in strips:
            fill = cv2.add(painting.pixels[rows, cols], offset[rows, cols], dtype=cv2.CV_8U)
            mm = np.ascontiguousarray(m[rows, cols])
            # One fused pass: out = fill * m + image * (1 - m), rounded.
            out[rows, cols] = cv2.blendLinear(fill, np.ascontiguousarray(image[rows, cols]), mm, 1.0 - mm)
        return out


def _strips(active: np.ndarray, block: int, band: int = 4) -> list[tuple[slice, slice]]:
    """Pixel rectangles covering every active block, for a mask along the frame's border.

    `active` marks the blocks (`block` pixels square) a mask touches. Bands of `band` block
    rows each get a strip from the left edge as deep as their deepest run of active blocks
    from the left, and one from the right likewise; a band with an active block between its
    runs is covered whole. A roll's four thin triangles then cost a tenth of the frame.
    """
    sh, sw = active.shape
    out: list[tuple[slice, slice]] = []
    for i in range(0, sh, band):
        rows = active[i : i + band]
        if not rows.any():
            continue
        lead = np.where(rows.all(axis=1), sw, np.argmin(rows, axis=1))
        trail = np.where(rows.all(axis=1), sw, np.argmin(rows[:, ::-1], axis=1))
        left, right = int(lead.max()), int(trail.max())
        ys = slice(i * block, min(i + band, sh) * block)
        if left + right >= sw or rows[:, left : sw - right].any():
            out.append((ys, slice(0, sw * block)))
            continue
        if left:
            out.append((ys, slice(0, left * block)))
        if right:
            out.append((ys, slice((sw - right) * block, sw * block)))
    return out


def _stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation, from every 4th pixel each way."""
    mean, std = cv2.meanStdDev(np.ascontiguousarray(image[::4, ::4]))
    return mean.ravel(), std.ravel()


def _add_low(image: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`image` (uint8) plus `delta` (a small float32 picture of offsets, in grey levels)
    scaled up to it bilinearly, saturated.

    The offsets are rounded to whole levels on the small picture and scaled up in uint8
    about a bias of 128, then added in one saturating pass: the float32 full-size copy and
    the mixed uint8 + float32 add it replaces moved 4 times the bytes (0.75 ms a 640x640
    frame against 0.44 ms, one thread, load average 0.6; img2img in the mini film's build
    went from 2.1 to 1.6-1.8 ms a frame). A pixel comes out within a level of the float sum's
    rounding (an offset below half a level moves nothing either way); offsets beyond +-127
    levels in one frame are cut to that.
    """
    h, w = image.shape[:2]
    biased = np.clip(np.rint(delta) + 128.0, 0.0, 255.0).astype(np.uint8)
    up = cv2.resize(biased, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(image, 1.0, up, 1.0, -128.0)


def _all_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of every pixel (of a small image)."""
    mean, std = cv2.meanStdDev(np.ascontiguousarray(image))
    return mean.ravel(), std.ravel()


def _steps(req: Request) -> None:
    """Report progress like a model would: the preview does all its work in one step."""
    if req.on_step is not None:
        req.on_step(1, 1)
