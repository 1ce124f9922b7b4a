"""The depth warp reprojects like a pinhole camera (issue #11), checked analytically.

A constant depth must give exactly today's homography (`kscript.geometry.warp_matrix`); two
planes at different depths must move by f*t/d pixels each, the nearer hiding the farther; a
forward move on a plane is a zoom by d / (d - z).
"""

from __future__ import annotations

import numpy as np
import pytest

from kscript import geometry
from kscript.render import warp
from kscript.render.depth_warp import DepthMove, depth_warp, focal, pan_for_pixels, plane_matrix

W = H = 64


def texture(w: int = W, h: int = H) -> np.ndarray:
    """A smooth, non-repeating RGB pattern (bilinear sampling of it is well conditioned)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 100 * np.sin(xs / 5.0) * np.cos(ys / 7.0)
    g = 127 + 100 * np.sin((xs + 2 * ys) / 9.0)
    b = 127 + 100 * np.cos((xs - ys) / 6.0)
    return np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8)


def homography_samples(m: np.ndarray, w: int = W, h: int = H) -> tuple[np.ndarray, np.ndarray]:
    inv = np.linalg.inv(m)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    return (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den, (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den


CASES = [
    ("turn", DepthMove(turn=3.0), dict(turn=3.0)),
    ("tilt", DepthMove(tilt=-2.5), dict(tilt=-2.5)),
    ("turn+tilt", DepthMove(turn=-1.5, tilt=2.0, fov=60.0), dict(turn=-1.5, tilt=2.0, fov=60.0)),
    ("roll", DepthMove(roll=7.0), dict(angle=7.0)),
    ("zoom", DepthMove(zoom=1.1), dict(zoom=1.1)),
    ("roll+zoom+turn", DepthMove(roll=-4.0, zoom=0.95, turn=2.0), dict(angle=-4.0, zoom=0.95, turn=2.0)),
]


@pytest.mark.parametrize("name,move,kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("d", [0.7, 5.0])
def test_constant_depth_rotations_are_todays_homography(name, move, kw, d):
    expected = np.asarray(geometry.warp_matrix(W, H, **kw))
    got = plane_matrix(move, W, H, d)
    np.testing.assert_allclose(got / got[2, 2], expected / expected[2, 2], atol=1e-9)
    img = texture()
    out = depth_warp(img, np.full((H, W), d), move)
    ex, ey = homography_samples(expected)
    inside = out.revealed == 0
    # every pixel inside samples exactly where the homography says
    np.testing.assert_allclose(out.map_x[inside], ex[inside], atol=1e-3)
    np.testing.assert_allclose(out.map_y[inside], ey[inside], atol=1e-3)
    # and the image is today's warp (OpenCV's fixed-point bilinear weights: one grey level)
    today = warp.warp(img, expected)
    today_revealed = warp.revealed(expected, W, H) > 0
    both = inside & ~today_revealed
    assert both.sum() > 0.6 * W * H
    assert np.abs(out.image[both].astype(int) - today[both].astype(int)).max() <= 1
    # the revealed masks agree except along the one-pixel seam of the border
    assert (out.revealed.astype(bool) ^ today_revealed).sum() <= 2 * (W + H)


@pytest.mark.parametrize("pixels,dy", [(3.0, 0.0), (-2.25, 1.5)])
def test_constant_depth_pan_is_todays_pan_at_that_depth(pixels, dy):
    d = 4.0
    move = DepthMove(x=pan_for_pixels(pixels, d, W), y=pan_for_pixels(dy, d, W))
    expected = np.asarray(geometry.warp_matrix(W, H, x=pixels, y=dy))
    np.testing.assert_allclose(plane_matrix(move, W, H, d), expected, atol=1e-9)
    out = depth_warp(texture(), np.full((H, W), d), move)
    ex, ey = homography_samples(expected)
    inside = out.revealed == 0
    np.testing.assert_allclose(out.map_x[inside], ex[inside], atol=1e-3)
    np.testing.assert_allclose(out.map_y[inside], ey[inside], atol=1e-3)
    # the camera pans right: the picture moves left and a strip is revealed on the right
    cols = out.revealed.all(axis=0)
    if pixels > 0:
        assert cols[-int(pixels):].all() and not cols[: W - int(np.ceil(pixels))].any()


def two_planes(near: float, far: float):
    """A far textured wall and a near bright square (columns 24..39, rows 20..43)."""
    img = texture()
    img[..., 0] //= 3  # the wall stays dark in red: the square is found by its red
    depth = np.full((H, W), far)
    img[20:44, 24:40] = (255, 0, 0)
    depth[20:44, 24:40] = near
    return img, depth


def red_box(img: np.ndarray) -> tuple[float, float, int]:
    sel = (img[..., 0] > 200) & (img[..., 1] < 60)
    ys, xs = np.nonzero(sel)
    return float(xs.mean()), float(ys.mean()), int(sel.sum())


def test_two_planes_move_by_the_pinhole_amounts_and_the_nearer_occludes():
    near, far, tx = 2.0, 10.0, 0.2
    img, depth = two_planes(near, far)
    out = depth_warp(img, depth, DepthMove(x=tx))
    f = focal(W, 40.0)
    shift_near, shift_far = f * tx / near, f * tx / far  # 8.79 and 1.76 px to the left
    x0, y0, n0 = red_box(img)
    x1, y1, n1 = red_box(out.image)
    assert x1 - x0 == pytest.approx(-shift_near, abs=0.5)
    assert y1 == pytest.approx(y0, abs=0.01)
    assert abs(n1 - n0) <= 24  # the square is whole: nothing of the wall is drawn over it
    # the wall moves by its own, smaller amount: compare a wall patch left of the square
    ex, _ = homography_samples(np.asarray(geometry.warp_matrix(W, H, x=shift_far)))
    wall = (out.revealed == 0) & (depth > 0)
    wall[:, 10:] = False
    np.testing.assert_allclose(out.map_x[wall], ex[wall], atol=1e-3)
    # the nearer square occludes the wall it moved over: those wall pixels are hidden
    hidden = out.occluded[20:44, 4:24].sum(axis=1)  # wall columns left of the square (not the frame edge)
    assert np.all(np.abs(hidden - (shift_near - shift_far)) <= 1.0)
    # and behind where it was, the wall is revealed: a strip as wide as the parallax
    strip = out.revealed[24:40, 20:60].sum(axis=1)  # rows through the square, right of it
    assert np.all(np.abs(strip - (shift_near - shift_far)) <= 1.0)
    assert out.revealed[24:40, 44 - 8: 44].sum() > 0 and out.revealed[:18, 8:56].sum() == 0


def test_a_nearer_thing_stays_in_front_when_the_move_crosses_them():
    # the wall is nearer than the square now: the square slides behind it and is cut
    img, depth = two_planes(near=2.0, far=10.0)
    depth = np.where(depth == 2.0, 10.0, 2.0)
    out = depth_warp(img, depth, DepthMove(x=-0.3))
    _, _, n0 = red_box(img)
    assert red_box(out.image)[2] < 0.8 * n0  # the square (far) passes less than the wall


@pytest.mark.parametrize("d,z", [(3.0, 0.15), (5.0, -0.4), (1.0, 0.05)])
def test_a_forward_move_on_a_plane_is_a_zoom_by_d_over_d_minus_z(d, z):
    factor = d / (d - z)
    expected = np.asarray(geometry.warp_matrix(W, H, zoom=factor))
    got = plane_matrix(DepthMove(z=z), W, H, d)
    np.testing.assert_allclose(got / got[2, 2], expected, atol=1e-9)
    out = depth_warp(texture(), np.full((H, W), d), DepthMove(z=z))
    ex, ey = homography_samples(expected)
    inside = out.revealed == 0
    assert inside.sum() > 0.7 * W * H
    np.testing.assert_allclose(out.map_x[inside], ex[inside], atol=1e-3)
    np.testing.assert_allclose(out.map_y[inside], ey[inside], atol=1e-3)
    np.testing.assert_allclose(out.depth[inside], d - z, rtol=1e-6)
    assert (out.revealed.any()) == (z < 0)  # only moving back reveals a border


def test_a_sloped_floor_is_traced_to_its_own_depth():
    # depth growing smoothly down the frame: the iteration must land on the surface, i.e.
    # re-projecting the traced source point forward gives back the target pixel
    ys = np.mgrid[0:H, 0:W][0].astype(np.float64)
    depth = 2.0 + ys / 16.0
    move = DepthMove(x=0.1, z=0.2, turn=1.0)
    out = depth_warp(texture(), depth, move)
    inside = out.revealed == 0
    f = focal(W, 40.0)
    c = (W - 1) / 2
    mx, my = out.map_x.astype(np.float64), out.map_y.astype(np.float64)
    d = 2.0 + my / 16.0
    from kscript.render.depth_warp import rotation

    r = rotation(move)
    p = np.stack([(mx - c) / f * d, (my - c) / f * d, d])
    q = np.tensordot(r, p, 1) - np.array([0.1, 0.0, 0.2])[:, None, None]
    u = f * q[0] / q[2] + c
    v = f * q[1] / q[2] + c
    vs, us = np.mgrid[0:H, 0:W]
    assert np.abs(u - us)[inside].max() < 0.05 and np.abs(v - vs)[inside].max() < 0.05


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="depth"):
        depth_warp(texture(), np.zeros((H, W)), DepthMove(x=1))
    with pytest.raises(ValueError, match="depth map is"):
        depth_warp(texture(), np.ones((H, W + 1)), DepthMove(x=1))


def test_warp_and_fill_paints_only_what_the_move_revealed():
    from kscript.render.depth_warp import warp_and_fill

    img, depth = two_planes(2.0, 10.0)
    move = DepthMove(x=0.2)
    filled, mask = warp_and_fill(img, depth, move)
    out = depth_warp(img, depth, move)
    np.testing.assert_array_equal(mask, out.revealed)
    keep = mask == 0
    np.testing.assert_array_equal(filled[keep], out.image[keep])
    # the uncovered strip behind the square was black; now it continues the wall, not red
    strip = mask > 0
    assert strip.sum() > 50 and (filled[strip].max(axis=1) > 0).all()
    assert (filled[strip][:, 0] < 200).mean() > 0.5
