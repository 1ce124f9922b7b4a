"""How true the preview's atlas is: a moving camera's 1/8-size view sampled from atlas tiles
(`preview.camera_view`) against the view drawn point by point, both against the painting
drawn at full size, at the 1/16-size layout img2img pulls toward; and what each costs.

    .venv/bin/python benchmarks/preview_atlas.py

Prints, per camera move (relative to the chain's first frame) and averaged over four
prompts, the mean absolute error in grey levels of each view's layout, and how many of the
prompt-camera pairs the sampled view is the further off in.
"""

from __future__ import annotations

import timeit

import cv2
import numpy as np

from kscript import geometry
from kscript.backends import preview as P

W = H = 640
TEXTS = ["a misty autumn park at dawn, oil painting", "a neon city street at night, rain",
         "stormy sea, dramatic light", "a dense forest"]


def camera(**motion: float) -> tuple[float, ...]:
    return tuple(np.asarray(geometry.warp_matrix(W, H, **motion), np.float64).ravel())


MOVES = {
    "still": camera(), "pan 200 px": camera(x=200.0), "pan 2000 px": camera(x=2000.0, y=-900.0),
    "zoom in 1.5x": camera(zoom=1.5), "zoom in 3x": camera(zoom=3.0), "zoom in 5x": camera(zoom=5.0),
    "zoom in 20x": camera(zoom=20.0), "zoom out 0.7x": camera(zoom=0.7), "zoom out 0.3x": camera(zoom=0.3),
    "spin 30": camera(angle=30.0), "spin 45, zoom 2x": camera(angle=45.0, zoom=2.0),
    "turn 10": camera(turn=10.0), "tilt 10": camera(tilt=10.0), "turn 40": camera(turn=40.0),
}


def layout(view: np.ndarray) -> np.ndarray:
    return P.Painting(view, (W, H)).small


def main() -> None:
    cv2.setNumThreads(1)
    worse = pairs = 0
    print(f"{'camera':18s} {'tile':>12s} {'sampled':>8s} {'drawn':>8s}   (mean abs error, grey levels)")
    for name, cam in MOVES.items():
        found = P._tile_for(cam, W // P.CAMERA_SCALE, H // P.CAMERA_SCALE, W, H)
        errs = []
        for text in TEXTS:
            truth = P._shrink(cv2.convertScaleAbs(P.paint(text, 3, W, H, cam, 1, full=False)), (W // 16, H // 16))
            truth = truth.astype(np.float32)
            sampled = np.abs(layout(P.camera_view(text, 3, W, H, cam)) - truth).mean()
            drawn = np.abs(layout(P.paint(text, 3, W, H, cam, P.CAMERA_SCALE, full=False)) - truth).mean()
            errs.append((sampled, drawn))
            worse += sampled > drawn
            pairs += 1
        e = np.array(errs)
        where = "drawn" if found is None else f"L{found[0]} ({found[1]},{found[2]})"
        print(f"{name:18s} {where:>12s} {e[:, 0].mean():8.2f} {e[:, 1].mean():8.2f}")
    print(f"the sampled view is the further off in {worse} of {pairs} pairs")
    cam, text = MOVES["zoom in 1.5x"], TEXTS[0]
    P.camera_view(text, 3, W, H, cam)
    n = 300
    print(f"sampled view {timeit.timeit(lambda: P.camera_view(text, 3, W, H, cam), number=n) / n * 1e3:.3f} ms, "
          f"drawn view {timeit.timeit(lambda: P.paint(text, 3, W, H, cam, P.CAMERA_SCALE, full=False), number=n) / n * 1e3:.3f} ms, "
          f"one tile {timeit.timeit(lambda: (P._TILES_KEPT.clear(), P._tile(text, 3, W, H, 1, 1, 1)), number=10) / 10 * 1e3:.1f} ms "
          "(one thread)")


if __name__ == "__main__":
    main()
