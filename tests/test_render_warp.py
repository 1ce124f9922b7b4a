"""Warps follow kscript.geometry's conventions, and the revealed mask agrees with the plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kscript import geometry
from kscript.plan import Motion
from kscript.render import warp

W = H = 64


def marked(x: int, y: int, size: int = 64) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[y, x] = 255
    return img


def centroid(img: np.ndarray) -> tuple[float, float]:
    g = img[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    return float((xs * g).sum() / g.sum()), float((ys * g).sum() / g.sum())


def test_zoom_in_moves_a_marked_pixel_outward():
    img = marked(48, 40)
    out = warp.warp(img, warp.matrix(Motion(zoom=1.2), W, H))
    cx, cy = centroid(out)
    c = (W - 1) / 2
    assert cx - c == pytest.approx((48 - c) * 1.2, abs=0.5)
    assert cy - c == pytest.approx((40 - c) * 1.2, abs=0.5)


def test_positive_x_pans_right_so_content_moves_left():
    out = warp.warp(marked(30, 30), warp.matrix(Motion(x=5), W, H))
    assert centroid(out)[0] == pytest.approx(25, abs=0.1)


def test_positive_y_pans_up_so_content_moves_down():
    out = warp.warp(marked(30, 30), warp.matrix(Motion(y=4), W, H))
    assert centroid(out)[1] == pytest.approx(34, abs=0.1)


def test_positive_angle_turns_content_counter_clockwise_on_screen():
    out = warp.warp(marked(50, 31), warp.matrix(Motion(angle=90), W, H))
    x, y = centroid(out)
    # Right of centre goes to above centre (y down) for a counter-clockwise turn.
    assert x == pytest.approx(31.5, abs=1) and y < 20


def test_turn_right_moves_content_left():
    out = warp.warp(marked(32, 32), warp.matrix(Motion(turn=5), W, H))
    assert centroid(out)[0] < 30


def test_mask_is_empty_for_zoom_in_and_a_border_for_zoom_out():
    assert not warp.revealed(warp.matrix(Motion(zoom=1.05), W, H), W, H).any()
    m = warp.revealed(warp.matrix(Motion(zoom=0.9), W, H), W, H)
    assert m[0].all() and m[-1].all() and m[:, 0].all() and m[:, -1].all()
    assert not m[W // 2, H // 2]


def test_pan_reveals_the_side_it_pans_towards():
    m = warp.revealed(warp.matrix(Motion(x=3), W, H), W, H)
    assert m[:, -3:].all() and not m[:, :-4].any()


@settings(max_examples=60, deadline=None)
@given(
    zoom=st.floats(0.8, 1.25),
    angle=st.floats(-10, 10),
    x=st.floats(-6, 6),
    y=st.floats(-6, 6),
    turn=st.floats(-3, 3),
    tilt=st.floats(-3, 3),
)
def test_mask_agrees_with_geometry_reveals(zoom, angle, x, y, turn, tilt):
    motion = Motion(zoom=zoom, angle=angle, x=x, y=y, turn=turn, tilt=tilt)
    m = warp.matrix(motion, W, H)
    mask = warp.revealed(m, W, H)
    flagged = geometry.reveals(geometry.warp_matrix(W, H, **motion.model_dump()), W, H)
    # Whatever the pixels show as revealed, the plan flags for inpainting, and a warp the
    # plan says is covered reveals nothing.
    if mask.any():
        assert flagged
    if not flagged:
        assert not mask.any()


def test_soften_grows_and_feathers_but_keeps_revealed_pixels_full():
    hard = warp.revealed(warp.matrix(Motion(x=4), 128, 128), 128, 128)
    soft = warp.soften(hard)
    assert (soft[hard > 0] == 1).all()
    assert soft.sum() > hard.sum()
    edge = soft[64, 110:124]
    assert ((edge > 0) & (edge < 1)).any()  # a feathered seam, not a step
    assert soft.min() >= 0 and soft.max() <= 1


@pytest.mark.parametrize("mode", ["reflect", "telea"])
def test_model_free_fill_leaves_no_black_border(mode):
    img = np.full((128, 128, 3), 180, np.uint8)
    img[:, :64] = (40, 160, 90)
    filled, mask = warp.warp_and_fill(img, Motion(zoom=0.8), mode=mode)
    assert mask.any()
    assert filled[mask > 0].min() > 30  # nothing left black
    # Unrevealed pixels are the plain warp.
    plain = warp.warp(img, warp.matrix(Motion(zoom=0.8), 128, 128))
    inside = mask == 0
    assert np.array_equal(filled[inside], plain[inside])


def test_still_motion_is_identity():
    img = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    out, mask = warp.warp_and_fill(img, Motion())
    assert np.array_equal(out, img) and not mask.any()


def test_the_cached_soft_mask_matches_softening_at_full_size():
    m = warp.matrix(Motion(zoom=0.97, x=2, turn=0.3), 640, 640)
    fast = warp.soft_revealed(m, 640, 640)
    full = warp.soften(warp.revealed(m, 640, 640))
    hard = warp.revealed(m, 640, 640)
    assert (fast[hard > 0] == 1).all()
    # The same feather within a few pixels (the small copy rounds partly revealed blocks up).
    assert np.abs(fast - full).mean() < 0.02 and np.abs(fast - full).max() < 0.5


@pytest.mark.parametrize("border", ["constant", "reflect"])
@pytest.mark.parametrize("motion", [Motion(zoom=1.03, angle=2.0, x=5.5), Motion(turn=4.0, tilt=-3.0), Motion(x=3e9)])
def test_warping_through_four_channels_gives_the_three_channel_warp_bit_for_bit(motion, border):
    """`warp` runs OpenCV on RGBA for speed (`warp.in_four`); the colours must be exactly what
    a 3-channel warp gives, on OpenCV's path and on the bounded-time remap (`x: 3e9`)."""
    import cv2

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    m = warp.matrix(motion, 64, 48)
    mode = cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT
    if warp.sample_extent(m, 64, 48) <= warp.SAFE_EXTENT:
        three = cv2.warpPerspective(image, m, (64, 48), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=0)
    else:
        three = None
    got = warp.warp(image, m, border=border)
    assert got.shape == image.shape and got.dtype == np.uint8
    if three is not None:
        np.testing.assert_array_equal(got, three)
    ys, xs = np.mgrid[0:48, 0:64].astype(np.float32)
    mx, my = xs * 0.97 + 1.3, ys * 1.02 - 0.7
    np.testing.assert_array_equal(warp.in_four(cv2.remap, image, mx, my, cv2.INTER_LINEAR, borderMode=mode),
                                  cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=mode))
    single = image[..., 0].copy()  # not 3 channels: passed through as it is
    np.testing.assert_array_equal(warp.in_four(cv2.remap, single, mx, my, cv2.INTER_LINEAR),
                                  cv2.remap(single, mx, my, cv2.INTER_LINEAR))


def test_mirror_band_fills_outside_the_painted_region_with_one_mirror_of_it():
    # A straight edge b px in from the right: column W-1-b+k takes column W-1-b-k, exactly
    # (BORDER_REFLECT_101 about the region's last column); inside, nothing changes.
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    b = 5
    edge = 63.0 - b
    out = warp.mirror_band(img, [(0.0, 0.0), (edge, 0.0), (edge, 47.0), (0.0, 47.0)])
    assert np.array_equal(out[:, :64 - b], img[:, :64 - b])
    for k in range(1, b + 1):
        assert np.array_equal(out[:, 63 - b + k], img[:, 63 - b - k])
    # no region (part of it behind the camera): the image as it is
    assert warp.mirror_band(img, None) is img


def test_mirror_band_handles_a_band_of_more_pixels_than_one_opencv_row_holds():
    img = np.zeros((400, 400, 3), np.uint8)
    img[:, :100] = 200
    out = warp.mirror_band(img, [(0.0, 0.0), (150.0, 0.0), (150.0, 399.0), (0.0, 399.0)])  # 99,000 band pixels
    assert (out[:, 151:200] == 0).all() and (out[:, 201:] == 200).all()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(16, 120), st.integers(16, 120), st.floats(0.8, 1.25), st.sampled_from([0.0, 3.0, -17.0]),
    st.floats(-25.0, 25.0), st.sampled_from([0.0, 6.5, -20.0]), st.sampled_from([0.0, 4.0, -3.0]),
)
def test_the_pixels_outside_a_carried_region_are_those_the_half_plane_test_finds(w, h, zoom, angle, x, y, turn):
    """`warp._outside` lists a convex polygon's outside pixels row by row (what `mirror_band`
    refills, at the cost of the strip); it must be exactly the pixels whose centres fail the
    polygon's half-plane test, each once, axis-aligned edges on a row's centre line included."""
    m = geometry.warp_matrix(w, h, zoom=zoom, angle=angle, x=x, y=y, turn=turn, tilt=0.0, flip=0.0, fov=40.0, z=0.0)
    poly = geometry.carry(geometry.frame_polygon(w, h), m, w, h)
    if poly is None or len(poly) < 3:
        return
    xs, ys = warp._outside(poly, w, h)
    got = np.zeros((h, w), bool)
    got[ys, xs] = True
    assert got.sum() == len(xs)
    yy, xx = np.mgrid[0:h, 0:w]
    assert np.array_equal(got, ~warp._inside(poly, xx.ravel(), yy.ravel()).reshape(h, w))


def test_mirror_band_with_keep_refills_only_the_strip_and_as_the_whole_band_would():
    img = np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    painted = [(0.0, 0.0), (49.5, 0.0), (49.5, 47.0), (0.0, 47.0)]
    keep = [(0.0, 0.0), (55.5, 0.0), (55.5, 47.0), (0.0, 47.0)]  # the warp moved in up to x = 55
    whole = warp.mirror_band(img, painted)
    strip = warp.mirror_band(img, painted, keep=keep)
    np.testing.assert_array_equal(strip[:, :56], img[:, :56])  # kept as it came
    np.testing.assert_array_equal(strip[:, 56:], whole[:, 56:])  # one mirror of the painted region
