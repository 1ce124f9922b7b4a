"""Cadence in-betweens: a blend of the two neighbouring model frames, each warped to it.

Under `cadence N` the model runs on every Nth frame; the frames between are made without a
model. Warping only the previous model frame forward (as kscript did before) makes the film
step: each model frame redraws the picture, and the in-betweens before it show none of that
redraw, then the next one jumps to it; the border each warp reveals is mirror-filled.
Deforum and Deforum-Kandinsky blend the previous and the next model frame instead
(`turbo_prev_image * (1 - tween) + turbo_next_image * tween` in Deforum's render.py); there
both are warped *forward*, so the next model frame's picture arrives one cadence late. Here:

- the previous model frame P is warped forward by the motions from P to the in-between
  (`forward`), the next one N backward by the inverse of the motions from the in-between
  to N (`backward`), so both show the in-between's view;
- they are blended by position, ``w = (i - p) / (n - p)``: ``(1 - w) * P' + w * N'``;
- where one of the two has no picture (a border its warp revealed), the other is used
  alone: a pan or a zoom reveals at the in-between a border that N has already painted,
  so in-betweens need no mirror fill there; only where neither has it (motion that turns
  back within a cadence) is the mirrored fill of both blended. The weights are feathered a
  few pixels (`warp.soft_revealed`), so no seam shows where they change.

No model call: two warps and a blend, a few milliseconds at 640x640. Any matrix is safe:
`warp.warp` is bounded for any matrix and a backward warp that cannot be made (a matrix
that is not invertible or not finite) contributes nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np

from kscript.plan import Motion
from kscript.render import warp

#: the weight below which a pixel counts as shown by neither neighbour (then the plain
#: blend of both mirrored fills is used, continuously)
_NEITHER = 1e-3


def compose(motions: Sequence[Motion], width: int, height: int) -> np.ndarray:
    """The matrix of the warps of `motions` one after another (the first applied first)."""
    m = np.eye(3)
    for motion in motions:
        m = warp.matrix(motion, width, height) @ m
        if np.isfinite(m).all() and abs(m[2, 2]) > 1e-12:
            m = m / m[2, 2]  # keep the numbers of a long composition in range
    return m


def blend(prev: np.ndarray, nxt: np.ndarray, forward: np.ndarray, to_next: np.ndarray, weight: float,
          *, flow: bool = True) -> np.ndarray:
    """The in-between at `weight` (0: the previous model frame, 1: the next).

    Args:
        prev, nxt: the previous and the next model frame's chain images (uint8 RGB).
        forward: the matrix taking `prev`'s pixels to the in-between's.
        to_next: the matrix taking the in-between's pixels to `nxt`'s (warped by its inverse).
        weight: the in-between's position between the two, in 0..1.
        flow: move what the model moved between the two along the optical flow between them
            (`flow_between`), so it is not shown twice, half faded, in two places.
    """
    h, w = prev.shape[:2]
    weight = min(max(float(weight), 0.0), 1.0)
    a = warp.warp(prev, forward, border="reflect")
    cover_a = 1.0 - warp.soft_revealed(forward, w, h)
    back = warp.inverse(to_next)
    if back is None:  # N shows nothing of the in-between's view
        b = a
        cover_b = np.zeros((h, w), np.float32)
    else:
        b = warp.warp(nxt, back, border="reflect")
        cover_b = 1.0 - warp.soft_revealed(back, w, h)
    f = flow_between(a, b) if flow and 0.0 < weight < 1.0 else None
    if f is not None and f.any():
        f *= np.minimum(cover_a, cover_b)[..., None]  # only where both show the picture
        xs, ys = _grid(w, h)
        a = warp.in_four(cv2.remap, a, xs - weight * f[..., 0], ys - weight * f[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT_101)
        b = warp.in_four(cv2.remap, b, xs + (1.0 - weight) * f[..., 0], ys + (1.0 - weight) * f[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT_101)
    # (wa * a + wb * b) / (wa + wb), where a little of the plain blend of both keeps a pixel
    # that neither shows (then both are mirror fills) continuous with its neighbours.
    wa = np.ascontiguousarray((1.0 - weight) * (cover_a + _NEITHER), dtype=np.float32)
    wb = np.ascontiguousarray(weight * (cover_b + _NEITHER), dtype=np.float32)
    return cv2.blendLinear(a, b, wa, wb)


#: the long side (pixels) the flow between the two model frames is measured at: what a model
#: moves between two model frames is large-scale, and DIS on the whole 640x640 frame costs
#: about 50 ms (about 10 ms at 256)
FLOW_SIDE = 256
#: the largest flow followed, as a share of the frame's long side (a redraw that moves more
#: than this is not motion to follow)
MAX_FLOW = 0.25
#: flow (pixels) below which the two model frames count as still (see `flow_between`)
DEAD_FLOW = 0.25


def flow_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The optical flow from `a` to `b` (height x width x 2 float32, pixels): a(p) ~ b(p + flow(p)).

    OpenCV's DIS (dense inverse search, Kroeger et al. 2016), its "medium" preset, on grey
    copies at most `FLOW_SIDE` pixels long (the flow is scaled back up), clipped to
    `MAX_FLOW` of the frame. Deterministic: the same images give the same flow.
    """
    h, w = a.shape[:2]
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, FLOW_SIDE / float(max(w, h)))
    if scale < 1.0:
        size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
        ga = cv2.resize(ga, size, interpolation=cv2.INTER_AREA)
        gb = cv2.resize(gb, size, interpolation=cv2.INTER_AREA)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    f = dis.calc(ga, gb, None)
    sx, sy = w / ga.shape[1], h / ga.shape[0]  # measured pixels to the frame's
    limit = MAX_FLOW * max(w, h)
    f = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0, copy=False)
    f[..., 0] *= sx
    f[..., 1] *= sy
    np.clip(f, -limit, limit, out=f)
    # Below a pixel nothing shows twice, and the flow between two views of one picture is
    # noise of that size: followed from 1/4 px, fully from 3/4 px.
    size = np.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2)
    f *= np.clip((size - DEAD_FLOW) / (2 * DEAD_FLOW), 0.0, 1.0)[..., None]
    if scale < 1.0:
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
    return f.astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys
