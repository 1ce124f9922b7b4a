"""Camera geometry shared by the compiler and the render engine.

One definition of the per-frame warp, so that the plan can say which frames reveal pixels
from outside the frame (and so need an inpaint call) and the executor warps exactly that
way. Pure Python on 3x3 matrices: the compiler must stay light (no numpy, no torch).

Conventions (image coordinates, x right, y down, pixel centres at integers, the centre of
a WxH frame at ((W-1)/2, (H-1)/2)). The matrix M maps a pixel of the previous frame to its
place in the new frame, as `cv2.warpPerspective(prev, M, (W, H))` expects:

- zoom z > 1 moves in (content grows about the centre);
- angle a rolls the camera: content turns counter-clockwise on screen for a > 0;
- x > 0 pans the camera right (content moves left), y > 0 pans up (content moves down);
- turn > 0 yaws right, tilt > 0 pitches up, as the homography K R K^-1 with the focal
  length from `fov`, exact for a pure rotation of the camera, needing no depth;
- flip > 0 tips the picture plane's top edge away: Deforum's 2D perspective flip
  (`perspective_flip_phi`, `flip_matrix`), applied after the rest as Deforum does.
"""

from __future__ import annotations

import math
from typing import Sequence

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def matmul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(  # type: ignore[return-value]
        tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3)
    )


def invert(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if abs(det) < 1e-12:
        raise ValueError("singular warp")
    inv = (
        ((e * i - f * h), -(b * i - c * h), (b * f - c * e)),
        (-(d * i - f * g), (a * i - c * g), -(a * f - c * d)),
        ((d * h - e * g), -(a * h - b * g), (a * e - b * d)),
    )
    return tuple(tuple(v / det for v in row) for row in inv)  # type: ignore[return-value]


def apply(m: Matrix, x: float, y: float) -> tuple[float, float] | None:
    """The image of (x, y) under m, or None where it falls behind the camera."""
    w = m[2][0] * x + m[2][1] * y + m[2][2]
    if w <= 1e-9:
        return None
    return ((m[0][0] * x + m[0][1] * y + m[0][2]) / w, (m[1][0] * x + m[1][1] * y + m[1][2]) / w)


def rotation_3d(turn: float, tilt: float, roll: float = 0.0) -> Matrix:
    """Camera rotation R (degrees): yaw `turn` right, pitch `tilt` up, no roll by default."""
    ty, tp, tr = math.radians(turn), math.radians(tilt), math.radians(roll)
    # Turning the camera right moves content left: rotate points about the y axis by -turn.
    cy, sy = math.cos(-ty), math.sin(-ty)
    yaw: Matrix = ((cy, 0.0, sy), (0.0, 1.0, 0.0), (-sy, 0.0, cy))
    # Tilting up moves content down (y grows downward): rotate about the x axis by -tilt.
    cp, sp = math.cos(-tp), math.sin(-tp)
    pitch: Matrix = ((1.0, 0.0, 0.0), (0.0, cp, -sp), (0.0, sp, cp))
    cr, sr = math.cos(tr), math.sin(tr)
    rollm: Matrix = ((cr, -sr, 0.0), (sr, cr, 0.0), (0.0, 0.0, 1.0))
    return matmul(rollm, matmul(pitch, yaw))


#: the field of view of Deforum's 2D perspective flip (its `perspective_flip_fv` default)
FLIP_FOV = 56.0


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """`a x = b` by Gaussian elimination with partial pivoting (a small dense system)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[piv][col]) < 1e-12:
            raise ValueError("singular system")
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col:
                k = m[r][col] / m[col][col]
                if k:
                    m[r] = [vr - k * vc for vr, vc in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def homography(src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]) -> Matrix:
    """The homography taking four points to four points (`cv2.getPerspectiveTransform`)."""
    a: list[list[float]] = []
    b: list[float] = []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u])
        b.append(u)
        a.append([0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v])
        b.append(v)
    h = _solve(a, b)
    return ((h[0], h[1], h[2]), (h[3], h[4], h[5]), (h[6], h[7], 1.0))


def _deforum_flip(width: int, height: int, phi: float) -> Matrix:
    """Deforum's 2D perspective flip as its code computes it (`warpMatrix` with theta =
    gamma = 0, scale 1, fv 56, then its `post_trans_mat`): the picture's corners, as a
    plane `sqrt(W^2 + H^2) / (2 sin(fv/2))` away, pitched by `phi` degrees about its
    horizontal axis and projected, with the shift Deforum applies before it."""
    w, h = float(width), float(height)
    half = math.radians(FLIP_FOV / 2.0)
    d = math.hypot(w, h)
    side = d / math.cos(half)
    dist = d / (2.0 * math.sin(half))
    sp, cp = math.sin(math.radians(phi)), math.cos(math.radians(phi))
    tan = math.tan(half)
    src, dst = [], []
    for x, y in ((-w / 2, h / 2), (w / 2, h / 2), (w / 2, -h / 2), (-w / 2, -h / 2)):
        depth = dist - y * sp  # the plane rotated about the x axis, moved `dist` away
        px, py = x / (tan * depth), y * cp / (tan * depth)
        src.append((x + w / 2, y + h / 2))
        dst.append(((px + 1.0) * 0.5 * side, (py + 1.0) * 0.5 * side))
    shift: Matrix = ((1.0, 0.0, (w - side) / 2), (0.0, 1.0, (h - side) / 2), (0.0, 0.0, 1.0))
    return matmul(homography(src, dst), shift)


def flip_matrix(width: int, height: int, phi: float) -> Matrix:
    """Deforum(-Kandinsky)'s 2D perspective flip by `phi` degrees (its `flipping_phi`
    preset), relative to Deforum's own flip by 0 (which is not quite the identity: half
    a pixel of shift from its pixel-corner convention), so `phi = 0` is exactly still.

    On screen, phi > 0 tips the picture's top edge away: at 640x640 a flip of 5 degrees
    moves the top edge about 25 px down and narrows it, and the bottom edge barely moves
    (tests/test_presets.py measures it). The same at any size (every length scales).
    """
    if not phi:
        return IDENTITY
    return matmul(_deforum_flip(width, height, phi), invert(_deforum_flip(width, height, 0.0)))


def warp_matrix(
    width: int,
    height: int,
    *,
    zoom: float = 1.0,
    angle: float = 0.0,
    x: float = 0.0,
    y: float = 0.0,
    turn: float = 0.0,
    tilt: float = 0.0,
    flip: float = 0.0,
    fov: float = 40.0,
    z: float = 0.0,
) -> Matrix:
    """The 3x3 matrix taking the previous frame's pixels to the new frame's (see module doc).

    `z`, the forward move of the 3D camera (a fraction of the scene's distance), is a depth
    warp's (`kscript.render.depth_warp`); here it is what it does to the plane at the scene's
    distance, a zoom by 1 / (1 - z): the outline of the frame it reveals (the compiler's
    band) and the preview painter's camera. A film without a depth model has no `z` (E037).
    """
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    if z:
        zoom = zoom / (1.0 - z)
    m: Matrix = IDENTITY
    if turn or tilt:
        f = (width / 2.0) / math.tan(math.radians(max(min(fov, 179.0), 1.0)) / 2.0)
        k: Matrix = ((f, 0.0, cx), (0.0, f, cy), (0.0, 0.0, 1.0))
        k_inv: Matrix = ((1.0 / f, 0.0, -cx / f), (0.0, 1.0 / f, -cy / f), (0.0, 0.0, 1.0))
        m = matmul(k, matmul(rotation_3d(turn, tilt), k_inv))
    # 2D part, cv2.getRotationMatrix2D's convention: positive angle is counter-clockwise.
    a = zoom * math.cos(math.radians(angle))
    b = zoom * math.sin(math.radians(angle))
    affine: Matrix = (
        (a, b, (1 - a) * cx - b * cy - x),
        (-b, a, b * cx + (1 - a) * cy + y),
        (0.0, 0.0, 1.0),
    )
    m = matmul(affine, m)
    if flip:
        # Deforum flips after zooming and rolling (`xform = bM @ rot_mat`)
        m = matmul(flip_matrix(width, height, flip), m)
    return m


def reveals(m: Matrix, width: int, height: int, tol: float = 1e-6) -> bool:
    """Whether warping by m brings in pixels from outside the previous frame.

    The new frame is covered iff each of its corners comes from inside the old frame (the
    image of a rectangle under a homography that keeps it in front of the camera is convex).
    A matrix that is not finite or not invertible shows nothing of the old frame: it reveals.
    """
    if not all(math.isfinite(v) for row in m for v in row):
        return True
    try:
        inv = invert(m)
    except (ValueError, ZeroDivisionError, OverflowError):
        return True
    for cx, cy in ((0.0, 0.0), (width - 1.0, 0.0), (0.0, height - 1.0), (width - 1.0, height - 1.0)):
        p = apply(inv, cx, cy)
        if p is None:
            return True
        px, py = p
        if not (math.isfinite(px) and math.isfinite(py)):
            return True
        if px < -tol or py < -tol or px > width - 1 + tol or py > height - 1 + tol:
            return True
    return False


#: how wide (in pixels) the band a chain of warps has revealed must be before a frame
#: paints it with the model: one latent cell of Kandinsky 2.2's MoVQ and of SD's VAE (8 px).
#: A narrower band is filled without a model and redrawn by the frame's img2img pass (as
#: Deforum-Kandinsky treats every band); it keeps growing until a frame paints it.
BAND_PX = 8.0


Polygon = list[tuple[float, float]]


def frame_polygon(width: int, height: int) -> Polygon:
    """The whole frame (pixel centres), as the painted region right after a model painted it."""
    w1, h1 = width - 1.0, height - 1.0
    return [(0.0, 0.0), (w1, 0.0), (w1, h1), (0.0, h1)]


def _clip(poly: Polygon, inside, cross) -> Polygon:
    out: Polygon = []
    for i, cur in enumerate(poly):
        prev = poly[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(cross(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cross(prev, cur))
    return out


def carry(poly: Polygon | None, m: Matrix, width: int, height: int) -> Polygon | None:
    """The painted region after warping by m: the region's image under m, clipped to the
    frame (what a warp pushes out of the frame is gone, what it brings in is not painted).

    The painted region starts as the whole frame when a model paints it; the band still to
    paint is the frame outside it. It stays convex (a homography keeps a convex region in
    front of the camera convex, and so does clipping by the frame). None when part of it
    goes behind the camera: then the whole frame counts as band.
    """
    if poly is None:
        return None
    mapped = []
    for x, y in poly:
        p = apply(m, x, y)
        if p is None:
            return None
        mapped.append(p)
    w1, h1 = width - 1.0, height - 1.0

    def cut(axis: int, limit: float, keep_below: bool):
        def inside(p):
            return p[axis] <= limit if keep_below else p[axis] >= limit

        def cross(p, q):
            t = (limit - p[axis]) / (q[axis] - p[axis])
            return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

        return inside, cross

    for axis, limit, below in ((0, 0.0, False), (0, w1, True), (1, 0.0, False), (1, h1, True)):
        if not mapped:
            break
        mapped = _clip(mapped, *cut(axis, limit, below))
    return mapped


def band_is_material(poly: Polygon | None, width: int, height: int, band: float = None) -> bool:  # type: ignore[assignment]
    """Whether the band outside the painted region `poly` is `band` (default `BAND_PX`)
    pixels deep or more anywhere: whether the frame shrunk by that much on every side is not
    inside the region (for a convex region, whether one of its corners is not)."""
    band = BAND_PX if band is None else band
    if poly is None or len(poly) < 3:
        return True
    d = band - 1.0
    corners = ((d, d), (width - 1.0 - d, d), (width - 1.0 - d, height - 1.0 - d), (d, height - 1.0 - d))
    area = sum(poly[i - 1][0] * poly[i][1] - poly[i][0] * poly[i - 1][1] for i in range(len(poly)))
    sign = 1.0 if area >= 0 else -1.0
    for cx, cy in corners:
        for i in range(len(poly)):
            (ax, ay), (bx, by) = poly[i - 1], poly[i]
            if sign * ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) < -1e-6:
                return True
    return False


def is_identity(m: Sequence[Sequence[float]], tol: float = 1e-12) -> bool:
    return all(abs(m[i][j] - IDENTITY[i][j]) <= tol for i in range(3) for j in range(3))
