"""Deforum-Kandinsky's presets, measured on screen against a port of its own code.

The reference below is Deforum-Kandinsky's warp, transcribed from its code
(`deforum_kandinsky/helpers/animation.py`: `anim_frame_warp_3d` / `transform_image_3d`, its
pytorch3d cameras, and `warpMatrix` + `anim_frame_warp_2d` for the 2D perspective flip) and
its preset table (`helpers/script.py`, `Script._animation_params_dict` with its "linear
transition": the keyframes acc at the segment's first frame, 0 at the frame after its last).
Both warps move the same test pattern (a bright blob off the centre); the test measures what
the blob does on screen, so a preset's effect must move the picture the way Deforum-Kandinsky
does: the same direction, and the same amount at the depths docs/language.md states (1.76
for pans, 2.15 for zooms, 2.75 for spins, in its units).
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from kscript import geometry
from kscript.channels import DEFORUM_PRESETS
from kscript.compile import compile_source
from kscript.render import warp as kwarp

SIZE = 64
FPS = 24
N = 24  # frames in the test scene (1 s)
# the depths at which kscript's fixed speeds are Deforum-Kandinsky's (docs/language.md)
DEPTH = {"pan": 1.76, "zoom": 2.15, "spin": 2.75, "turn": 2.0}


# ---------------------------------------------------------------- the reference

def _axis(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def deforum_3d(image: np.ndarray, p: dict, depth: float, fov: float = 40.0) -> np.ndarray:
    """Deforum-Kandinsky's `transform_image_3d` at a constant depth: world points
    (x_ndc, y_ndc, depth), the new camera `X @ R + T` (pytorch3d's row vectors, R from
    euler XYZ), T = (-tx, ty, -tz) / 200, both projected, the image sampled at the grid
    minus the projections' difference (`grid_sample`, align_corners=False)."""
    h, w = image.shape[:2]
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, depth)], axis=1)
    r = _axis("X", p.get("rotation_3d_x", 0.0)) @ _axis("Y", p.get("rotation_3d_y", 0.0)) @ _axis(
        "Z", p.get("rotation_3d_z", 0.0))
    t = np.array([-p.get("translation_x", 0.0), p.get("translation_y", 0.0), -p.get("translation_z", 0.0)]) / 200.0
    new = pts @ r + t
    s = 1.0 / math.tan(math.radians(fov) / 2.0)
    offset = s * new[:, :2] / new[:, 2:] - s * pts[:, :2] / pts[:, 2:]
    gx = (2 * np.arange(w) + 1) / w - 1
    gy = (2 * np.arange(h) + 1) / h - 1
    grid = np.stack(np.meshgrid(gx, gy), axis=-1) - offset.reshape(h, w, 2)
    map_x = (((grid[..., 0] + 1) * w - 1) / 2).astype(np.float32)
    map_y = (((grid[..., 1] + 1) * h - 1) / 2).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rot4(phi: float) -> np.ndarray:
    r = np.eye(4)
    c, s = math.cos(math.radians(phi)), math.sin(math.radians(phi))
    r[1, 1], r[1, 2], r[2, 1], r[2, 2] = c, -s, s, c
    return r


def deforum_flip_matrix(w: int, h: int, phi: float, fv: float = 56.0) -> np.ndarray:
    """Deforum-Kandinsky's `warpMatrix(W, H, 0, phi, 0, 1, fv)` times its `post_trans_mat`
    (and the identity `rot_mat` of no zoom or angle), as `anim_frame_warp_2d` applies it."""
    half = math.radians(fv / 2.0)
    d = math.hypot(w, h)
    side = d / math.cos(half)
    dist = d / (2.0 * math.sin(half))
    near, far = dist - d / 2.0, dist + d / 2.0
    t = np.eye(4)
    t[2, 3] = -dist
    proj = np.eye(4)
    proj[0, 0] = proj[1, 1] = 1.0 / math.tan(half)
    proj[2, 2] = -(far + near) / (far - near)
    proj[2, 3] = -(2.0 * far * near) / (far - near)
    proj[3, 2] = -1.0
    f = proj @ t @ _rot4(phi)
    pts_in = np.array([[[-w / 2, h / 2, 0.0], [w / 2, h / 2, 0.0], [w / 2, -h / 2, 0.0], [-w / 2, -h / 2, 0.0]]])
    pts_out = cv2.perspectiveTransform(pts_in, f)
    pin = (pts_in[0, :, :2] + [w / 2, h / 2]).astype(np.float32)
    pout = ((pts_out[0, :, :2] + [1.0, 1.0]) * (0.5 * side)).astype(np.float32)
    post = np.array([[1, 0, (w - side) / 2], [0, 1, (h - side) / 2], [0, 0, 1]])
    return cv2.getPerspectiveTransform(pin, pout) @ post


def deforum_schedule(preset: str, acc: float, frame: int, n: int) -> dict:
    """A preset's parameters on `frame` of a segment of `n` frames starting at 0
    (Script.process_animation: linear keyframes acc at 0 and 0 at n; spins 0 at 0, acc
    from 1 to n - 1, 0 at n)."""
    table = {
        "right": {"translation_x": 1}, "left": {"translation_x": -1},
        "up": {"translation_y": 1}, "down": {"translation_y": -1},
        "spin_clockwise": {"rotation_3d_z": 1}, "spin_counterclockwise": {"rotation_3d_z": -1},
        "zoomin": {"translation_z": 1}, "zoomout": {"translation_z": -1},
        "rotate_right": {"rotation_3d_y": 1}, "rotate_left": {"rotation_3d_y": -1},
        "rotate_up": {"rotation_3d_x": 1}, "rotate_down": {"rotation_3d_x": -1},
        "around_right": {"translation_x": 2.5, "rotation_3d_y": -0.5},
        "around_left": {"translation_x": -2.5, "rotation_3d_y": 0.5},
    }
    if "spin" in preset:
        k = 1.0 if 1 <= frame <= n - 1 else 0.0
    else:
        k = max(0.0, 1.0 - frame / n)
    return {name: unit * acc * k for name, unit in table[preset].items()}


# ---------------------------------------------------------------- measuring

def pattern() -> np.ndarray:
    """A dark frame with one bright blob right of and above the centre."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    c = (SIZE - 1) / 2
    blob = np.exp(-(((xx - (c + 20)) ** 2 + (yy - (c - 8)) ** 2) / (2 * 2.5 ** 2)))
    img = (blob * 250).astype(np.float32)
    return np.dstack([img, img, img])


def blob(image: np.ndarray) -> tuple[float, float]:
    g = image[..., 0].astype(np.float64)
    g = np.where(g > 40, g, 0)
    yy, xx = np.mgrid[0:g.shape[0], 0:g.shape[1]]
    return float((g * xx).sum() / g.sum()), float((g * yy).sum() / g.sum())


def on_screen(before: np.ndarray, after: np.ndarray) -> dict:
    """What the blob did: dx (right), dy (down), its turn about the centre in degrees
    (counter-clockwise on screen positive) and the change of its distance from the centre."""
    c = (SIZE - 1) / 2
    (x0, y0), (x1, y1) = blob(before), blob(after)
    a0, a1 = math.atan2(-(y0 - c), x0 - c), math.atan2(-(y1 - c), x1 - c)
    return {"dx": x1 - x0, "dy": y1 - y0, "turn": math.degrees(a1 - a0),
            "grow": math.hypot(x1 - c, y1 - c) - math.hypot(x0 - c, y0 - c)}


def plan_frame(effect: str, frame: int = 1, size: int = SIZE, n: int = N, fps: int = FPS):
    src = (f'film "t" {{\n  size: {size}x{size}\n  fps: {fps}\n}}\n'
           f'scene s {n}f {{\n  prompt "p"\n  strength: 0\n  effect {effect}\n}}\n')
    return compile_source(src).frames[frame]


def kscript_moves(effect: str) -> dict:
    img = pattern()
    m = kwarp.matrix(plan_frame(effect).motion, SIZE, SIZE)
    return on_screen(img, kwarp.warp(img, m, border="constant"))


def deforum_moves(preset: str, acc: float, depth: float) -> dict:
    img = pattern()
    return on_screen(img, deforum_3d(img, deforum_schedule(preset, acc, 1, N), depth))


# (preset, acceleration, depth kind, the quantities it moves)
MOVES = [
    ("right", 20, "pan", ("dx",)), ("left", 20, "pan", ("dx",)),
    ("up", 20, "pan", ("dy",)), ("down", 20, "pan", ("dy",)),
    ("spin_clockwise", 10, "spin", ("turn",)), ("spin_counterclockwise", 10, "spin", ("turn",)),
    ("zoomin", 24, "zoom", ("grow",)), ("zoomout", 24, "zoom", ("grow",)),
    ("rotate_right", 4, "turn", ("dx",)), ("rotate_left", 4, "turn", ("dx",)),
    ("rotate_up", 4, "turn", ("dy",)), ("rotate_down", 4, "turn", ("dy",)),
    ("around_right", 6, "pan", ("dx",)), ("around_left", 6, "pan", ("dx",)),
]


@pytest.mark.parametrize("preset,acc,kind,moves", MOVES, ids=[m[0] for m in MOVES])
def test_each_preset_moves_the_picture_as_deforum_kandinsky_does_on_screen(preset, acc, kind, moves):
    """Under its alias (the preset's own name) the standard effect moves the blob the same
    way as Deforum-Kandinsky's warp of that preset, and by the same amount (within 10 %)
    at the depth the docs give for that kind of move."""
    dk = deforum_moves(preset, acc, DEPTH[kind])
    ks = kscript_moves(f"{preset}(rate = {acc})")
    for q in moves:
        assert abs(dk[q]) > 1.0, (preset, q, dk)  # the reference moves it visibly
        assert math.copysign(1, ks[q]) == math.copysign(1, dk[q]), (preset, q, ks, dk)
        if kind != "turn" and not preset.startswith("around"):
            assert ks[q] == pytest.approx(dk[q], rel=0.1, abs=0.15), (preset, q, ks, dk)


def test_spin_right_turns_the_picture_clockwise_and_deforums_spin_clockwise_counter_clockwise():
    """The names: ours say what the picture does on screen. Deforum-Kandinsky's
    `spin_clockwise` (rotation_3d_z = +acc) turns it counter-clockwise, so its alias is
    `spin_left`, and `spin_right` turns the picture clockwise."""
    assert kscript_moves("spin_right(rate = 10)")["turn"] < -5
    assert kscript_moves("spin_left(rate = 10)")["turn"] > 5
    assert deforum_moves("spin_clockwise", 10, DEPTH["spin"])["turn"] > 5
    assert DEFORUM_PRESETS["spin_clockwise"] == "spin_left"
    assert DEFORUM_PRESETS["spin_counterclockwise"] == "spin_right"


@pytest.mark.parametrize("depth", [1.0, 2.75, 6.0])
def test_deforum_spins_the_same_way_at_any_depth_but_by_an_amount_that_depends_on_it(depth):
    img = pattern()
    turn = on_screen(img, deforum_3d(img, {"rotation_3d_z": 10.0}, depth))["turn"]
    assert turn > 0
    # its roll turns the picture by the angle over d tan(fov / 2): 10 degrees at d = 2.75
    assert turn == pytest.approx(10.0 / (depth * math.tan(math.radians(20))), rel=0.1)


def test_left_sinus_y_moves_out_in_deforum_kandinsky_and_under_its_alias():
    dk = on_screen(pattern(), deforum_3d(pattern(), deforum_schedule("zoomout", 24, 1, N), DEPTH["zoom"]))
    ks = kscript_moves("left_sinus_y(rate = 24)")
    assert dk["grow"] < -1 and ks["grow"] < -1
    assert DEFORUM_PRESETS["left_sinus_y"] == "zoom_out_sway"


# ---------------------------------------------------------------- flipping_phi

@pytest.mark.parametrize("w,h,phi", [(640, 640, 5.0), (640, 640, -5.0), (640, 384, 3.0), (64, 64, 5.0)])
def test_flip_is_deforums_perspective_flip(w, h, phi):
    """kscript's flip homography is Deforum's (its flip by phi after its flip by 0, which
    is half a pixel off the identity), within half a pixel at every corner."""
    ours = np.asarray(geometry.flip_matrix(w, h, phi))
    ref = deforum_flip_matrix(w, h, phi) @ np.linalg.inv(deforum_flip_matrix(w, h, 0.0))
    ref_raw = deforum_flip_matrix(w, h, phi)
    corners = np.array([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]], np.float64)
    a, b, c = (cv2.perspectiveTransform(corners, m)[0] for m in (ours, ref, ref_raw))
    assert np.abs(a - b).max() < 0.01
    assert np.abs(a - c).max() < 0.75  # Deforum's own, with its half-pixel offset


def test_flipping_phi_tips_the_top_edge_away_on_the_first_frame():
    """At 640x640 the first frame of `effect flipping_phi` moves the top edge about 25 px
    down (5 degrees, less the ease over the first frame's interval) and the bottom barely."""
    fr = plan_frame("flipping_phi", size=640)
    assert fr.motion.flip == pytest.approx(5 * (1 - 0.5 / N), abs=1e-5)
    m = kwarp.matrix(fr.motion, 640, 640)
    pts = np.array([[[319.5, 0], [319.5, 639]]], np.float64)
    top, bottom = cv2.perspectiveTransform(pts, m)[0] - pts[0]
    assert 20 < top[1] < 28
    assert abs(bottom[1]) < 2 and abs(bottom[0]) < 3
    # and it narrows the top edge: its corners move towards each other
    c = cv2.perspectiveTransform(np.array([[[0, 0], [639, 0]]], np.float64), m)[0]
    assert c[1, 0] - c[0, 0] < 639 - 20


def test_flip_zero_is_still_and_flip_reveals_the_border_it_uncovers():
    assert geometry.is_identity(geometry.flip_matrix(64, 64, 0.0))
    assert geometry.reveals(geometry.warp_matrix(64, 64, flip=5.0), 64, 64)


# ---------------------------------------------------------------- ramps

@pytest.mark.parametrize("effect,channel,per_second", [
    ("pan_right", "x", 9.375), ("zoom_in", "zoom", 1.0745), ("turn_left", "turn", -24.0),
    ("flip", "flip", 120.0), ("orbit_left", "x", -23.4375),
])
def test_a_ramped_effect_comes_to_rest_at_the_scenes_end(effect, channel, per_second):
    """Deforum-Kandinsky's keyframes: acc on the first frame, 0 on the frame after the
    last, linear between. kscript's speed is acc at the scene's start and 0 at its end
    (the frame after the last), and frame k of n moves by its mean over the frame's
    interval, acc * (1 - (k - 1/2) / n) (Deforum-Kandinsky: acc * (1 - k / n), the speed at
    the interval's end), so the same seconds cover the same ground at any fps and the
    scene's last frame still moves."""
    src = f'film "t" {{\n  size: 64x64\n  fps: 24\n}}\nscene s {N}f {{\n  prompt "p"\n  effect {effect}\n}}\n'
    frames = compile_source(src).frames
    for k in (1, N // 2, N - 1):
        got = getattr(frames[k].motion, channel)
        share = 1 - (k - 0.5) / N
        if channel == "zoom":
            # the factor per second eases linearly to 1, so the factor per frame less 1 eases
            # off as Deforum's forward speed does (to 4 % near rest, where both are tiny)
            assert got == pytest.approx((1 + (per_second - 1) * share) ** (1 / 24), abs=2e-6)
            assert got - 1 == pytest.approx((per_second ** (1 / 24) - 1) * share, rel=0.04)
        elif channel == "x":
            assert got == pytest.approx(per_second * share / 100 * 64 / 24, abs=2e-6)
        else:
            assert got == pytest.approx(per_second * share / 24, abs=2e-6)
    last = getattr(frames[-1].motion, channel)
    assert last != (1.0 if channel == "zoom" else 0.0)


def test_a_ramp_inside_a_window_rests_at_the_windows_end():
    """The window 12f..36f moves the frames whose interval lies in it, 13..36 (frame 13's
    move covers 12f..13f), easing from acc at 12f to rest at 36f."""
    src = ('film "t" {\n  size: 64x64\n  fps: 24\n}\n'
           'scene s 48f {\n  prompt "p"\n  effect pan_right from 12f to 36f\n}\n')
    xs = [f.motion.x for f in compile_source(src).frames]
    unit = 9.375 / 100 * 64 / 24
    assert xs[13] == pytest.approx(unit * (1 - 0.5 / 24), abs=2e-6)
    assert xs[36] == pytest.approx(unit * 0.5 / 24, abs=2e-6)  # the window's last move still moves
    assert xs[37] == 0.0 and xs[12] == 0.0


def test_settle_zero_keeps_the_speed_steady():
    src = 'film "t" {\n  size: 64x64\n  fps: 24\n}\nscene s 24f {\n  prompt "p"\n  effect pan_up(settle = 0)\n}\n'
    ys = {f.motion.y for f in compile_source(src).frames[1:]}
    assert ys == {round(9.375 / 100 * 64 / 24, 6)}


# ---------------------------------------------------------------- aliases

@pytest.mark.parametrize("preset", sorted(DEFORUM_PRESETS))
def test_every_deforum_kandinsky_name_is_an_alias_of_its_effect(preset):
    def plan(name):
        src = ('film "t" {\n  size: 64x64\n  fps: 24\n}\n'
               f'scene s 12f {{\n  prompt "p"\n  effect {name}(rate = 2)\n}}\n')
        return compile_source(src)

    assert [f.motion for f in plan(preset).frames] == [f.motion for f in plan(DEFORUM_PRESETS[preset]).frames]
    assert [f.key for f in plan(preset).frames] == [f.key for f in plan(DEFORUM_PRESETS[preset]).frames]


def test_a_films_own_effect_of_a_preset_name_comes_before_the_alias():
    src = ('film "t" {\n  size: 64x64\n  fps: 24\n}\neffect zoomin() {\n  x: 10\n}\n'
           'scene s 12f {\n  prompt "p"\n  effect zoomin\n}\n')
    m = compile_source(src).frames[3].motion
    assert m.zoom == 1.0 and m.x > 0


def test_kscript_effects_shows_the_aliases():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "kscript", "effects", *args],
                              capture_output=True, text=True, timeout=60)

    listing = run()
    assert listing.returncode == 0, listing.stderr
    lines = {line.split("(")[0]: line for line in listing.stdout.splitlines() if "(" in line}
    assert "[alias: spin_clockwise]" in lines["spin_left"]
    assert "[alias: zoomin]" in lines["zoom_in"]
    one = run("around_left")
    assert one.returncode == 0 and one.stdout.startswith("orbit_left(") and "around_left" in one.stdout
