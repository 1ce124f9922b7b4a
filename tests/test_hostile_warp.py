"""Issue #9.3: the warp is safe against any matrix a plan can hand it.

OpenCV's mirrored border folds a sample coordinate back into the frame one reflection at a
time, so `zoom: 0.000001` or `x: 1e9` stuck a 24-frame 64x64 build for ever. `warp` must
return in bounded time for every matrix, finite or not, and still give OpenCV's image for
ordinary camera moves.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from kscript import geometry
from kscript.plan import Motion
from kscript.render import warp

from plan_factory import SceneSpec, make_plan

W = H = 64
HOSTILE = [
    Motion(zoom=0.000001),
    Motion(zoom=1e300),
    Motion(x=1e9),
    Motion(y=1e15),
    Motion(zoom=1e308, x=-1e308),
    Motion(turn=89.99),
    Motion(tilt=179.0, turn=-120.0),
    Motion(x=500.0, angle=1e9),
]


def _image() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("motion", HOSTILE, ids=lambda m: ",".join(f"{k}={v:g}" for k, v in m.model_dump().items() if v != Motion().model_dump()[k]))
@pytest.mark.parametrize("mode", ["reflect", "telea"])
def test_a_hostile_motion_warps_and_fills_in_a_fraction_of_a_second(motion, mode):
    img = _image()
    t = time.perf_counter()
    out, mask = warp.warp_and_fill(img, motion, mode=mode, with_mask=True)
    soft = warp.soft_revealed(warp.matrix(motion, W, H), W, H)
    took = time.perf_counter() - t
    assert took < 0.5, f"{motion} took {took:.2f} s"
    assert out.shape == img.shape and out.dtype == np.uint8
    assert mask is not None and mask.shape == (H, W) and np.isfinite(soft).all()


@pytest.mark.parametrize("bad", [np.full((3, 3), np.nan), np.zeros((3, 3)),
                                 np.array([[np.inf, 0, 0], [0, 1, 0], [0, 0, 1]]),
                                 np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0.0]])])
def test_a_matrix_that_is_not_finite_or_not_invertible_shows_nothing_and_reveals_everything(bad):
    img = _image()
    assert math.isinf(warp.sample_extent(bad, W, H))
    for border in ("constant", "reflect"):
        assert not warp.warp(img, bad, border=border).any()
    assert warp.revealed(bad, W, H).all()
    assert geometry.reveals(tuple(map(tuple, bad.tolist())), W, H)


def test_the_safe_path_gives_opencvs_image_where_both_can_run():
    img = _image()
    m = warp.matrix(Motion(zoom=0.5, angle=10, x=3, turn=5), W, H)
    assert warp.sample_extent(m, W, H) <= warp.SAFE_EXTENT
    for reflect, border in ((True, "reflect"), (False, "constant")):
        fast = warp.warp(img, m, border=border).astype(int)
        slow = warp._remap(img, m, reflect=reflect).astype(int)
        assert np.abs(fast - slow).max() <= 2 and np.abs(fast - slow).mean() < 0.05


def test_a_far_pan_with_a_mirrored_border_is_the_mirrored_image():
    # x = 2(W-1) pixels is one whole period of the mirror: the same picture again, whether
    # OpenCV folds it (near) or the safe path does (a thousand periods out).
    img = _image()
    near = warp.warp(img, warp.matrix(Motion(x=2 * (W - 1)), W, H), border="reflect")
    far_m = warp.matrix(Motion(x=2 * (W - 1) * 1000), W, H)
    assert warp.sample_extent(far_m, W, H) > warp.SAFE_EXTENT
    far = warp.warp(img, far_m, border="reflect")
    assert np.array_equal(near, img) and np.abs(far.astype(int) - img).max() <= 1


def test_a_build_of_hostile_frames_finishes_quickly():
    from kscript.backends.preview import PreviewBackend
    from kscript.render.executor import Executor

    plan = make_plan([SceneSpec(f"s{i}", 3, motion=m, strength=0.3 if i % 2 else 0.0) for i, m in enumerate(HOSTILE)])
    out: dict[int, np.ndarray] = {}
    t = time.perf_counter()
    Executor(plan, PreviewBackend()).run(lambda i, img: out.__setitem__(i, img))
    assert len(out) == len(plan.frames)
    assert time.perf_counter() - t < 10
