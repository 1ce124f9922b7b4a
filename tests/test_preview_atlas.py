"""The preview's atlas: a moving camera's painting sampled from tiles is the painting.

Under a moving camera img2img and inpaint need the prompt's painting as the camera sees it
on every frame (`camera_view`). It is sampled from atlas tiles drawn once per prompt
(`kscript.backends.preview._tile`) instead of drawn anew. These tests say what makes that
safe: the tile pixel a view pixel samples is the painting at that pixel's world point; the
sampled view is as close to the painting drawn at full size as the directly drawn one; a
view no tile holds is drawn directly; and which tile serves a frame depends on its camera
alone, so frames are the same whatever was drawn before them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kscript import geometry
from kscript.backends import preview as P

W = H = 640
GW, GH = W // P.CAMERA_SCALE, H // P.CAMERA_SCALE
TEXTS = ["a misty autumn park at dawn, golden trees", "a neon city street at night, rain", "stormy sea, dramatic light"]


def camera(**motion: float) -> tuple[float, ...]:
    return tuple(np.asarray(geometry.warp_matrix(W, H, **motion), np.float64).ravel())


def compose(*cams: tuple[float, ...]) -> tuple[float, ...]:
    m = np.eye(3)
    for c in cams:
        m = np.asarray(c).reshape(3, 3) @ m
    return tuple(m.ravel())


#: camera moves relative to a chain's first frame, as the executor accumulates them
MOVES = {
    "pan": camera(x=180.0),
    "pan far": camera(x=1500.0, y=-700.0),
    "zoom in 1.5x": camera(zoom=1.5),
    "zoom in 3x": camera(zoom=3.0),
    "zoom in 20x": camera(zoom=20.0),
    "zoom out 0.7x": camera(zoom=0.7),
    "zoom out 0.3x": camera(zoom=0.3),
    "spin 30": camera(angle=30.0),
    "spin 45 and zoom 2x": camera(angle=45.0, zoom=2.0),
    "turn 10": camera(turn=10.0),
    "tilt 10": camera(tilt=10.0),
    "turn 40": camera(turn=40.0),
    "zoom, pan and spin": compose(camera(zoom=1.3), camera(x=60.0, y=-25.0), camera(angle=-12.0)),
}


def small(view: np.ndarray) -> np.ndarray:
    """What img2img pulls toward: the painting's layout at 1/16 size."""
    return P.Painting(view, (W, H)).small


@pytest.mark.parametrize("name", MOVES)
def test_a_view_pixel_samples_the_tile_pixel_at_its_world_point(name):
    """The matrix `_tile_for` gives takes each view pixel to the tile pixel drawn at the
    same world point as the direct view draws that view pixel (`_coords`)."""
    found = P._tile_for(MOVES[name], GW, GH, W, H)
    assert found is not None, f"{name}: no tile holds the view"
    level, ix, iy, m = found
    u, v = P._coords(MOVES[name], GW, GH, W, H)
    ys, xs = np.mgrid[0:GH, 0:GW].astype(np.float64)
    q = m @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    tx, ty = q[0] / q[2], q[1] / q[2]
    (ex, sx), (ey, sy) = P._tile_edge(W, level, ix), P._tile_edge(H, level, iy)
    # tile pixel (tx, ty) is the painting at these world coordinates (see `_tile`)
    tu = (ex + (tx + 0.5) * sx + 0.5) / W
    tv = (ey + (ty + 0.5) * sy + 0.5) / H
    np.testing.assert_allclose(tu, np.broadcast_to(u, (GH, GW)).ravel(), atol=1e-5)
    np.testing.assert_allclose(tv, np.broadcast_to(v, (GH, GW)).ravel(), atol=1e-5)
    (iw, mw), (ih, mh) = P._tile_size(W), P._tile_size(H)
    assert tx.min() >= 0 and ty.min() >= 0 and tx.max() <= iw + 2 * mw - 1 and ty.max() <= ih + 2 * mh - 1


@pytest.mark.parametrize("name", MOVES)
def test_the_sampled_view_is_as_close_to_the_full_painting_as_the_drawn_one(name):
    """Against the painting drawn at full size and averaged down to the layout img2img
    pulls toward, the tile's view is no further off than the view drawn point by point
    (it samples a finer grid), and both are within a few grey levels on average."""
    sampled_err, drawn_err = [], []
    for text in TEXTS:
        cam = MOVES[name]
        truth = P._shrink(cv2.convertScaleAbs(P.paint(text, 5, W, H, cam, 1, full=False)), (W // 16, H // 16)).astype(np.float32)
        sampled_err.append(np.abs(small(P.camera_view(text, 5, W, H, cam)) - truth).mean())
        drawn_err.append(np.abs(small(P.paint(text, 5, W, H, cam, P.CAMERA_SCALE, full=False)) - truth).mean())
    assert np.mean(sampled_err) <= np.mean(drawn_err) + 0.05, (sampled_err, drawn_err)
    assert max(sampled_err) <= max(drawn_err) + 0.25 and max(sampled_err) < 4.0, (sampled_err, drawn_err)


@pytest.mark.parametrize(
    "cam",
    [
        camera(turn=100.0),  # the view looks away from the first frame's plane
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.004, 0.0, 1.0),  # the horizon crosses the view
        (1e-200, 0.0, 0.0, 0.0, 1e-200, 0.0, 0.0, 0.0, 1.0),  # singular for our purposes
    ],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the direct painter on a hostile camera
def test_a_view_no_tile_holds_is_drawn_directly(cam):
    assert P._tile_for(cam, GW, GH, W, H) is None
    text = TEXTS[0]
    assert np.array_equal(P.camera_view(text, 5, W, H, cam), P.paint(text, 5, W, H, cam, P.CAMERA_SCALE, full=False))


def test_the_level_follows_the_zoom_and_a_pan_keeps_its_tile():
    """A zoom in moves to finer levels as it doubles; a pan within a tile keeps it, so a
    tile serves many frames."""
    levels = [P._tile_for(camera(zoom=z), GW, GH, W, H)[0] for z in (0.4, 0.9, 1.0, 1.9, 2.1, 3.9, 4.1)]
    assert levels == sorted(levels) and levels[0] < levels[2] < levels[4] < levels[6]
    tiles = {P._tile_for(camera(x=float(x)), GW, GH, W, H)[:3] for x in range(0, 100, 5)}
    assert len(tiles) == 1


def test_which_tile_serves_a_frame_depends_on_its_camera_alone():
    """The same camera gives the same bytes whether the tiles were drawn for earlier frames
    (a chain rendered whole) or not at all (a chain resumed from the cache at this frame)."""
    cams = [compose(camera(zoom=1.04**k), camera(x=7.0 * k), camera(angle=1.5 * k)) for k in range(0, 60, 3)]
    text = TEXTS[1]
    in_order = [P.camera_view(text, 9, W, H, c) for c in cams]
    for c, first in zip(reversed(cams), reversed(in_order)):
        P._TILES_KEPT.clear()
        assert np.array_equal(P.camera_view(text, 9, W, H, c), first)


def test_tiles_are_shared_and_cannot_be_changed():
    tile = P._tile(TEXTS[0], 5, W, H, 0, 0, 0)
    assert P._tile(TEXTS[0], 5, W, H, 0, 0, 0) is tile
    with pytest.raises(ValueError):
        tile[0, 0, 0] = 1.0


def test_non_square_frames_and_odd_grids():
    """Tiles and views for a 1280x720 film (tiles are not square there) and for a film whose
    size is not a multiple of CAMERA_SCALE."""
    for w, h in ((1280, 720), (200, 136)):
        cam = tuple(np.asarray(geometry.warp_matrix(w, h, zoom=1.3, x=40.0, angle=8.0), np.float64).ravel())
        gw, gh = max(1, w // P.CAMERA_SCALE), max(1, h // P.CAMERA_SCALE)
        found = P._tile_for(cam, gw, gh, w, h)
        assert found is not None
        view = P.camera_view(TEXTS[2], 3, w, h, cam)
        drawn = P.paint(TEXTS[2], 3, w, h, cam, P.CAMERA_SCALE, full=False)
        assert view.shape == drawn.shape
        assert np.abs(view - drawn).mean() < 2.0


def test_tiles_are_kept_within_a_budget_and_large_films_draw_directly():
    P._TILES_KEPT.clear()
    for k in range(40):  # 40 tiles of a 640x640 film: 76 MB, more than the budget
        P._tile(TEXTS[2], k, W, H, 0, 0, 0)
    assert sum(t.nbytes for t in P._TILES_KEPT.values()) <= P.ATLAS_BUDGET
    assert (TEXTS[2], 39, W, H, 0, 0, 0) in P._TILES_KEPT  # the newest stay
    P._TILES_KEPT.clear()
    size = 4096  # a tile would take 79 MB
    cam = tuple(np.asarray(geometry.warp_matrix(size, size, zoom=1.2, x=30.0), np.float64).ravel())
    assert P._tile_bytes(size, size) > P.ATLAS_TILE_LIMIT
    view = P.camera_view(TEXTS[0], 1, size, size, cam)
    assert np.array_equal(view, P.paint(TEXTS[0], 1, size, size, cam, P.CAMERA_SCALE, full=False))
    assert not P._TILES_KEPT
