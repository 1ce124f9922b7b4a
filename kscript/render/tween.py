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

from typing import Sequence

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


def blend(prev: np.ndarray, nxt: np.ndarray, forward: np.ndarray, to_next: np.ndarray, weight: float) -> np.ndarray:
    """The in-between at `weight` (0: the previous model frame, 1: the next).

    Args:
        prev, nxt: the previous and the next model frame's chain images (uint8 RGB).
        forward: the matrix taking `prev`'s pixels to the in-between's.
        to_next: the matrix taking the in-between's pixels to `nxt`'s (warped by its inverse).
        weight: the in-between's position between the two, in 0..1.
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
    wa = ((1.0 - weight) * cover_a)[..., None]
    wb = (weight * cover_b)[..., None]
    af = a.astype(np.float32)
    bf = b.astype(np.float32)
    plain = (1.0 - weight) * af + weight * bf
    out = (wa * af + wb * bf + _NEITHER * plain) / (wa + wb + _NEITHER)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
