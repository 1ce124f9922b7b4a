"""Warp speed: OpenCV warpPerspective (what the executor uses) against torch grid_sample.

    .venv/bin/python benchmarks/bench_warp.py [--size 640] [--runs 200]

Both warp the same 640x640 RGB frame by the same homography (zoom, roll, pan and a small
camera turn, from kscript.geometry), bilinear with a zero border; the script prints the time
per frame of each and how far apart their images are (in grey levels).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from kscript.plan import Motion
from kscript.render import warp


def timed(fn, runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(runs):
            fn()
        best = min(best, (time.perf_counter() - t) / runs)
    return best * 1000


def frame_args(runs: int) -> tuple[argparse.Namespace, int, np.random.Generator]:
    """--size and --runs, the frame side, and the seeded generator of the warp benchmarks'
    test frames (this one, bench_tween, bench_depth_warp); OpenCV on OMP_NUM_THREADS (1)."""
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--runs", type=int, default=runs)
    args = ap.parse_args()
    cv2.setNumThreads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return args, args.size, np.random.default_rng(0)


def main() -> int:
    args, n, rng = frame_args(100)
    img = cv2.GaussianBlur(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), (0, 0), 3)
    motion = Motion(zoom=1.02, angle=0.5, x=1.5, y=-0.5, turn=0.3)
    m = warp.matrix(motion, n, n)

    cv_ms = timed(lambda: warp.warp(img, m), args.runs)
    out_cv = warp.warp(img, m)
    reflect_ms = timed(lambda: warp.warp_and_fill(img, motion), args.runs)
    print(f"opencv warpPerspective {n}x{n} RGB uint8: {cv_ms:.2f} ms/frame")
    print(f"opencv warp + revealed mask + reflect fill: {reflect_ms:.2f} ms/frame")

    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("torch not installed: no grid_sample comparison")
        return 0
    torch.set_grad_enabled(False)
    # grid_sample samples the source at normalised coordinates of each output pixel:
    # build that grid once from the inverse homography (align_corners=True, pixel centres).
    inv = np.linalg.inv(m)
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)], -1) @ inv.T
    src = pts[..., :2] / pts[..., 2:3]
    grid = torch.from_numpy((src / (n - 1) * 2 - 1).astype(np.float32))[None]

    def torch_warp(grid=grid):
        t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
        o = F.grid_sample(t, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return o[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()

    def torch_warp_with_grid():
        # What a per-frame warp costs when the grid changes every frame (motion curves).
        theta = torch.from_numpy(inv.astype(np.float32))
        base = torch.stack(torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="xy"), -1)
        p = torch.cat([base, torch.ones(n, n, 1)], -1) @ theta.T
        g = (p[..., :2] / p[..., 2:3]) / (n - 1) * 2 - 1
        return torch_warp(g[None])

    th_ms = timed(torch_warp, max(10, args.runs // 5))
    th_grid_ms = timed(torch_warp_with_grid, max(10, args.runs // 5))
    out_th = torch_warp()
    inner = slice(4, n - 4)
    diff = np.abs(out_cv[inner, inner].astype(int) - out_th[inner, inner].astype(int))
    print(f"torch grid_sample (grid precomputed), threads={torch.get_num_threads()}: {th_ms:.2f} ms/frame")
    print(f"torch grid_sample (grid per frame): {th_grid_ms:.2f} ms/frame")
    print(f"opencv is {th_ms / cv_ms:.1f}x faster (grid precomputed), {th_grid_ms / cv_ms:.1f}x (grid per frame)")
    print(f"difference: mean {diff.mean():.3f}, max {diff.max()} grey levels (away from the border)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
