"""Executor overhead with a real (tiny) diffusers pipeline, and prior calls per second of video.

Builds a three-scene film (a blend, a `continue`, a pan that reveals a border to outpaint)
with a tiny random-weight Kandinsky 2.2 (prior, decoder, decoder-inpaint) through
`kscript.render.build.build`, the same path as `kscript build`, and prints:

- overhead: build time / time spent inside diffusers pipeline calls (aim: <= 1.05). Pipeline
  time is measured by wrapping the pipeline classes' `__call__`; everything else (loading,
  warps, masks, embedding blends, cache writes, encoding, the executor itself) is overhead.
  Printed for the whole build (model loading included) and for the render loop alone.
- prior calls per second of video: kscript runs the prior once per distinct prompt per
  build; Deforum-Kandinsky runs it for every generated frame (each frame is a Combined
  pipeline call). Printed side by side, with the prior time that saves.

Usage:
    .venv/bin/python benchmarks/bench_executor_overhead.py [--size 96] [--seconds 2] [--steps 4] [--fps 12] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tiny_pipelines lives with the tests

FILM = """\
film "overhead" {{
  size: {size}x{size}
  fps: {fps}
  seed: 3
  model: "{model}"
  steps: {steps}
  guidance: 4
  strength: 0.5
  negative: "blurry"
}}

scene forest {third}s {{
  prompt "a forest path in autumn, oil painting"
  zoom: 1.02
}}

scene river {third}s {{
  continue
  prompt "a forest path in autumn, oil painting"
  prompt "a river under the stars, oil painting" at 0.5s blend 1s
  x: 1.5
}}

scene sea {third}s {{
  prompt "a stormy sea at dusk"
  angle: 0.5
  transition crossfade 4f
}}
"""

CALL_CLASSES = [
    "KandinskyV22PriorPipeline",
    "KandinskyV22Pipeline",
    "KandinskyV22Img2ImgPipeline",
    "KandinskyV22InpaintPipeline",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="frame width and height (default 96)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the film (default 2)")
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="builds to run, the best is reported")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import diffusers

    import tiny_pipelines
    from kscript.compile import compile_file
    from kscript.render.build import BuildOptions, build

    work = Path(tempfile.mkdtemp(prefix="kscript-bench-overhead-"))
    models = tiny_pipelines.build_all(work / "models")
    film = work / "film.kscene"
    film.write_text(
        FILM.format(
            size=args.size, fps=args.fps, steps=args.steps, model=models["kandinsky_decoder"], third=args.seconds / 3
        )
    )
    plan = compile_file(film)

    inside = {"seconds": 0.0, "calls": {name: 0 for name in CALL_CLASSES}, "by_class": {name: 0.0 for name in CALL_CLASSES}}
    for name in CALL_CLASSES:
        cls = getattr(diffusers, name)
        original = cls.__call__

        def timed(pipe, *a, _original=original, _name=name, **kw):
            start = time.perf_counter()
            try:
                return _original(pipe, *a, **kw)
            finally:
                spent = time.perf_counter() - start
                inside["seconds"] += spent
                inside["by_class"][_name] += spent
                inside["calls"][_name] += 1

        cls.__call__ = timed

    # Time the backend's load separately: it is a one-off per build, not per frame.
    from kscript.backends import create_backend

    results = []
    for _ in range(args.repeat):
        inside["seconds"] = 0.0
        inside["calls"] = {name: 0 for name in CALL_CLASSES}
        inside["by_class"] = {name: 0.0 for name in CALL_CLASSES}
        backend = create_backend(plan.film, device="cpu")
        t0 = time.perf_counter()
        backend.load()
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = build(plan, work / "film.mp4", BuildOptions(no_cache=True, backend=backend))
        loop_s = time.perf_counter() - t1
        results.append((load_s + loop_s, loop_s, load_s, inside["seconds"], dict(inside["calls"]), report))
        by_class = dict(inside["by_class"])

    best = min(results, key=lambda r: r[0] / max(r[3], 1e-9))
    total_s, loop_s, load_s, pipe_s, calls, report = best
    video_s = plan.film.duration
    model_frames = sum(1 for f in plan.frames if f.op in ("generate", "continue", "animate"))
    prior_calls = calls["KandinskyV22PriorPipeline"]
    prior_each = _prior_seconds(backend)

    print(f"film: {len(plan.frames)} frames of {args.size}x{args.size} at {args.fps} fps ({video_s:.2f} s), {args.steps} steps")
    print(f"model calls: {report.model_calls} (plan: {plan.model_calls()})")
    print(f"time inside pipeline calls: {pipe_s:.3f} s")
    print("  last run by pipeline: " + ", ".join(f"{n} {calls[n]} x {by_class[n] / max(calls[n], 1) * 1000:.0f} ms" for n in CALL_CLASSES))
    print(f"build (load + render + encode): {total_s:.3f} s   load: {load_s:.3f} s   render loop: {loop_s:.3f} s")
    print(f"overhead, whole build:  {total_s / pipe_s:.3f}  (aim <= 1.05)")
    print(f"overhead, render loop:  {loop_s / pipe_s:.3f}  (aim <= 1.05)")
    print(f"runs (build/pipeline): {', '.join(f'{r[0] / r[3]:.3f}' for r in results)}")
    print(f"prior calls: kscript {prior_calls} ({prior_calls / video_s:.2f} per second of video), "
          f"Deforum-Kandinsky {model_frames} ({model_frames / video_s:.2f} per second of video)")
    if prior_each is not None:
        saved = (model_frames - prior_calls) * prior_each
        print(f"prior call: {prior_each * 1000:.1f} ms here; one per frame would add {saved:.2f} s to this build")
    slow, fast = _mask_seconds()
    print(f"Kandinsky inpaint mask at 640x640 (80x80 latents): diffusers {slow * 1000:.1f} ms, "
          f"kscript's vectorised one {fast * 1000:.2f} ms, per inpaint call")
    return 0


def _mask_seconds() -> tuple[float, float]:
    """Median time of diffusers' per-pixel `prepare_mask` and of `prepare_mask_fast` on the
    latent mask of a 640x640 frame with a 24-pixel revealed border."""
    import copy

    import torch
    from diffusers.pipelines.kandinsky2_2 import pipeline_kandinsky2_2_inpainting as module

    from kscript.backends.common import prepare_mask_fast

    mask = torch.ones(1, 1, 80, 80)
    mask[..., :, :3] = 0  # repaint a 3-latent (24-pixel) border on the left
    out = []
    for fn in (module.prepare_mask, prepare_mask_fast):
        times = []
        for _ in range(5):
            m = copy.deepcopy(mask)
            start = time.perf_counter()
            fn(m)
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
    return out[0], out[1]


def _prior_seconds(backend) -> float | None:
    """The median time of one prior call with the backend's prior (25 steps, CFG)."""
    from kscript.backends.kandinsky import PRIOR_GUIDANCE, PRIOR_STEPS

    prior = getattr(backend, "prior", None)
    if prior is None:
        return None
    times = []
    for i in range(5):
        start = time.perf_counter()
        prior(prompt=f"probe {i}", num_inference_steps=PRIOR_STEPS, guidance_scale=PRIOR_GUIDANCE)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
