"""The preview shows the camera's motion truthfully (issue 10.1).

Measured the way a user's trial measured it: frames blurred until only the layout and the
large shapes are left, then the homography between them found by ECC (OpenCV's
`findTransformECC`) and compared with the camera's own, step by step and first frame
against last. The error is how far grid points land from where the camera puts them, as a
share of how far the camera moves them: within 10% at the default strength 0.35.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from plan_factory import SceneSpec, make_plan  # noqa: E402

from kscript import geometry
from kscript.backends.preview import PreviewBackend
from kscript.plan import Motion
from kscript.render.executor import Executor

SIZE = 192
FRAMES = 24
BLUR = 6.0
MARGIN = 32


def render(plan) -> list[np.ndarray]:
    out: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend()).run(lambda i, im: out.__setitem__(i, im))
    return [out[i] for i in sorted(out)]


def layout(image: np.ndarray, blur: float = BLUR) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.GaussianBlur(grey, (0, 0), blur)


def followed(a: np.ndarray, b: np.ndarray, motion: Motion, steps: int) -> float:
    """What share of the camera's move from frame a to frame b the layout made.

    The share alpha whose move (the motion's parameters times alpha, `steps` times) best
    takes a's blurred layout onto b's, searched over 0..1.6 (least squares over the interior:
    the borders a move reveals are painted, not moved). 1 is truthful; the issue measured
    0.56-0.88 for mid-sized shapes and about 0.15 for a long pan's layout.
    """
    la, lb = layout(a), layout(b)
    inner = (slice(MARGIN, SIZE - MARGIN), slice(MARGIN, SIZE - MARGIN))
    best, best_alpha = np.inf, 0.0
    for alpha in np.arange(0.0, 1.6001, 0.02):
        m = truth(scaled(motion, alpha), steps)
        moved = cv2.warpPerspective(la, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = float(((moved[inner] - lb[inner]) ** 2).mean())
        if err < best:
            best, best_alpha = err, float(alpha)
    return best_alpha


def scaled(motion: Motion, alpha: float) -> Motion:
    return Motion(
        zoom=motion.zoom**alpha, angle=motion.angle * alpha, x=motion.x * alpha, y=motion.y * alpha,
        turn=motion.turn * alpha, tilt=motion.tilt * alpha, fov=motion.fov,
    )


MOTIONS = {
    "pan": Motion(x=2.0),
    "pan_up": Motion(y=2.0),
    "spin": Motion(angle=2.0),
    "zoom": Motion(zoom=1.03),
    "turn": Motion(turn=1.0),
    "tilt": Motion(tilt=1.0),
}
PROMPT = "the moon over a lake at night, a forest on the shore"


def truth(motion: Motion, steps: int) -> np.ndarray:
    m = np.asarray(geometry.warp_matrix(SIZE, SIZE, **motion.model_dump()))
    return np.linalg.matrix_power(m, steps)


@pytest.mark.parametrize("name", list(MOTIONS))
def test_the_layout_follows_the_camera_within_ten_percent(name):
    motion = MOTIONS[name]
    plan = make_plan([SceneSpec("s", FRAMES, PROMPT, motion=motion)], width=SIZE, height=SIZE)
    frames = render(plan)
    steps = [followed(frames[k], frames[k + 1], motion, 1) for k in range(FRAMES - 1)]
    whole = followed(frames[0], frames[-1], motion, FRAMES - 1)
    assert abs(whole - 1.0) <= 0.10, (name, whole)
    assert max(abs(s - 1.0) for s in steps) <= 0.10, (name, steps)
    # the painter before issue 10 lagged 7-20% on average (0.93 of a pan, 0.81 of a zoom)
    assert abs(float(np.mean(steps)) - 1.0) <= 0.05, (name, steps)


def test_a_continue_carries_the_motion_across_scenes():
    motion = Motion(x=2.0)
    plan = make_plan(
        # the second scene has its own seed: the painter must keep drawing the first one's
        [SceneSpec("a", 6, PROMPT, motion=motion), SceneSpec("b", 6, PROMPT, motion=motion, continues=True)],
        width=SIZE,
        height=SIZE,
    )
    frames = render(plan)
    across = followed(frames[5], frames[7], motion, 2)
    whole = followed(frames[0], frames[-1], motion, 11)
    assert abs(across - 1.0) <= 0.10 and abs(whole - 1.0) <= 0.10, (across, whole)


def test_prompts_still_steer_colour_under_a_moving_camera():
    motion = Motion(x=2.0)
    plan = make_plan(
        [SceneSpec("a", 2, PROMPT, motion=motion), SceneSpec("b", 10, "red fire, a sunset in the desert", motion=motion, continues=True)],
        width=64,
        height=64,
    )
    frames = render(plan)
    before, after = frames[1].reshape(-1, 3).mean(0), frames[-1].reshape(-1, 3).mean(0)
    assert after[0] - after[2] > before[0] - before[2] + 15  # redder than the night lake


def test_no_snap_on_a_still_scene():
    """A still camera: the layout stays where text2image put it (the issue saw ~20 px snaps)."""
    plan = make_plan([SceneSpec("s", 8, PROMPT, motion=Motion())], width=SIZE, height=SIZE)
    frames = render(plan)
    first, last = layout(frames[0]), layout(frames[-1])
    shift, _ = cv2.phaseCorrelate(first.astype(np.float64), last.astype(np.float64))
    assert np.hypot(*shift) < 0.5
    assert float(np.abs(first - last).mean()) < 3.0
