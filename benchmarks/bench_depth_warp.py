"""Depth warp cost: `depth_warp` (the 3D camera) against today's homography warp, on the CPU.

    .venv/bin/python benchmarks/bench_depth_warp.py [--size 640] [--runs 5]

Both move the same 640x640 RGB frame by the same camera (a pan, a forward move and a small
turn); the depth warp also gets a depth map (a far wall with a near box, so that the z-buffer
and the reveal mask have work to do). Printed: ms per frame of each, of the depth warp's
parts (forward splat + z-buffer, inverse trace, colour sampling are one call: see the
profile line), and how many pixels it revealed. The depth model's own cost is not here.

Then depth calls per video second: a 2 s film at 12 fps with `depth: "preview"` and a pan
and forward move, built with the preview painter at cadence 1 and 3, against its model frames
per second and the plan's estimate (`Estimate.depth_calls`).
"""

from __future__ import annotations


import cv2
import numpy as np

from kscript import geometry
from kscript.render import warp
from kscript.render.depth_warp import DepthMove, depth_warp, pan_for_pixels

from bench_warp import frame_args, timed  # best of three, ms per call: the same timer as today's warp's


def main() -> int:
    args, n, rng = frame_args(5)
    img = cv2.GaussianBlur(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), (0, 0), 3)
    far, near = 10.0, 3.0
    depth = np.full((n, n), far)
    depth[n // 3: 2 * n // 3, n // 3: 2 * n // 3] = near
    px = 1.5 * n / 640  # today's pan of 1.5 px at 640 wide, as a 3D move at the wall's depth
    move = DepthMove(x=pan_for_pixels(px, far, n), z=0.02 * far, turn=0.3)
    m = np.asarray(geometry.warp_matrix(n, n, x=px, turn=0.3, zoom=far / (far - move.z)))

    today_ms = timed(lambda: warp.warp(img, m), 20)
    today_mask_ms = timed(lambda: (warp.warp(img, m), warp._revealed_cached.__wrapped__(warp._key(m), n, n)), 10)
    depth_ms = timed(lambda: depth_warp(img, depth, move), args.runs)
    out = depth_warp(img, depth, move)
    print(f"today's warp (warpPerspective) {n}x{n}: {today_ms:.2f} ms/frame; with its revealed mask (uncached): {today_mask_ms:.2f} ms")
    print(f"depth warp {n}x{n} (splat + z-buffer + inverse trace + remap, masks): {depth_ms:.1f} ms/frame "
          f"({depth_ms / today_ms:.0f}x today's warp)")
    print(f"revealed by the depth warp: {int(out.revealed.sum())} px; hidden: {int(out.occluded.sum())} px")
    depth_calls_per_second()
    return 0


def depth_calls_per_second() -> None:
    import tempfile
    from pathlib import Path

    from kscript.compile import compile_source
    from kscript.compile.cost import estimate
    from kscript.render.build import BuildOptions, build

    for cadence in (1, 3):
        src = (f'film "bench" {{\n  size: 64x64\n  fps: 12\n  depth: "preview"\n  cadence: {cadence}\n}}\n'
               'scene s 2s {\n  prompt "a red house in a forest"\n  x: 10\n  z: 5\n}\n')
        plan = compile_source(src)
        model_frames = sum(1 for fr in plan.frames if fr.op != "warp")
        with tempfile.TemporaryDirectory() as tmp:
            report = build(plan, Path(tmp) / "out.mp4", BuildOptions(no_cache=True))
        seconds = report.video_seconds
        print(f"cadence {cadence}: depth calls {report.depth_calls / seconds:.1f} per video second "
              f"(plan's estimate {estimate(plan).depth_calls / seconds:.1f}; model frames {model_frames / seconds:.1f}, "
              f"frames {len(plan.frames) / seconds:.1f} per second)")


if __name__ == "__main__":
    raise SystemExit(main())
