"""Cadence in-between cost: `tween.blend` (both model frames warped to the in-between and
blended, with and without the optical flow between them) against one warp, on the CPU.

    .venv/bin/python benchmarks/bench_tween.py [--size 640] [--runs 10]

The two model frames are a smooth random texture and the same texture moved 3 px (what the
model moved between them), the camera a pan with a small turn, the in-between a third of the
way. No model call is made: this is all an in-between costs.
"""

from __future__ import annotations


import cv2
import numpy as np

from kscript.plan import Motion
from kscript.render import tween, warp

from bench_warp import frame_args, timed  # best of three, ms per call: the same timer as the warp's


def main() -> int:
    args, n, rng = frame_args(10)
    prev = cv2.GaussianBlur(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), (0, 0), 3)
    nxt = np.roll(prev, 3, axis=1)
    steps = [Motion(x=4 * n / 640, turn=0.3)] * 3
    forward, to_next = tween.compose(steps[:1], n, n), tween.compose(steps[1:], n, n)
    warp_ms = timed(lambda: warp.warp(prev, forward, border="reflect"), args.runs)
    plain_ms = timed(lambda: tween.blend(prev, nxt, forward, to_next, 1 / 3, flow=False), args.runs)
    flow_ms = timed(lambda: tween.blend(prev, nxt, forward, to_next, 1 / 3), args.runs)
    print(f"one warp {n}x{n}: {warp_ms:.1f} ms; in-between without flow: {plain_ms:.1f} ms; "
          f"with the DIS flow (at {min(n, tween.FLOW_SIDE)} px): {flow_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
