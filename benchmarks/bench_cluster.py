"""Cluster speed-up: a film of 8 independent scenes on 1, 2 and 4 CPU worker actors.

The backend is a stand-in that sleeps per denoising step like a GPU (a model frame's time
is spent on the device, not on the host's CPUs) and paints the preview painter's pixels, so
the frames and the video are real and the cluster's video can be checked against the local
build's bytes. Sleeping workers do not compete for the 2 cores of this machine, so 4 actors
can show a 4x speed-up here as 4 GPUs would.

For each worker count, on a local Ray instance started once (its start-up and the actors'
are left out: a warm-up build starts them), it builds the film from an empty cache and
prints:

- speed-up: the local build's time (`kscript.render.build.build`, same backend, same
  encode) / the cluster build's time; aim: at least 0.9 x N for N workers while there are
  at least N chains (8 here).
- driver overhead per frame: the driver's time per received frame (fetch, cache write,
  bookkeeping), and the cluster build's time beyond ideal (local / N), per frame.

Measured on the 2-core machine (docs/cluster.md has the table): local 16.03 s; 1 worker
1.03x, 2 workers 1.93x (96% of ideal), 4 workers 3.88x (97%); the driver's own work
0.05-0.2 ms per frame; every video byte-identical to the local build's.

Usage:
    .venv/bin/python benchmarks/bench_cluster.py [--frames 8] [--step-ms 25] [--workers 1,2,4] [--size 64]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kscript.backends.preview import PreviewBackend  # noqa: E402

PROMPTS = ["a misty park", "a neon city street", "a stormy sea", "a pine forest in snow",
           "a desert at sunset", "a galaxy of stars", "a field of red flowers", "a mountain lake"]


def film_text(frames: int, size: int) -> str:
    scenes = "\n".join(
        f'scene s{n} {frames}f {{\n  prompt "{p}"\n  zoom: 1.02\n}}' for n, p in enumerate(PROMPTS)
    )
    return f'film "bench" {{\n  size: {size}x{size}\n  fps: 12\n  seed: 5\n  model: "preview"\n  steps: 20\n  strength: 0.4\n}}\n{scenes}\n'


class GpuLike(PreviewBackend):
    """The preview painter's pixels, after sleeping `step` seconds per denoising step."""

    step = 0.025

    def text2image(self, req):
        time.sleep(self.step * req.steps)
        return super().text2image(req)

    def img2img(self, image, req):
        time.sleep(self.step * max(int(req.steps * req.strength), 1))
        return super().img2img(image, req)


def make_factory(step: float):
    def factory(plan):
        backend = GpuLike()
        backend.step = step
        return backend

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per scene (8 scenes)")
    parser.add_argument("--step-ms", type=float, default=25.0, help="sleep per denoising step, ms")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    step = args.step_ms / 1000.0

    import ray

    from kscript.cluster.driver import Cluster
    from kscript.compile import compile_source
    from kscript.render.build import BuildOptions, build

    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        film = tmp / "bench.kscene"
        text = film_text(args.frames, args.size)
        film.write_text(text)
        plan = compile_source(text, str(film))
        n_frames = len(plan.frames)

        backend = make_factory(step)(plan)
        backend.load()
        began = time.perf_counter()
        report = build(plan, tmp / "local.mp4", BuildOptions(cache_dir=tmp / "local-cache", backend=backend))
        local = time.perf_counter() - began
        reference = hashlib.sha256(Path(report.output).read_bytes()).hexdigest()
        print(f"film: 8 scenes x {args.frames} frames = {n_frames} frames at {args.size}x{args.size}, "
              f"{args.step_ms:g} ms per step (7 steps an img2img frame, 20 a first frame)")
        print(f"local build: {local:.2f} s ({local / n_frames * 1000:.1f} ms/frame)")

        ray.init(address="local", num_cpus=max(counts), include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
        try:
            for n in counts:
                with Cluster("local", workers=n, backend_factory=make_factory(step)) as cluster:
                    warm = compile_source(text.replace('seed: 5', 'seed: 6'), str(film))
                    cluster.build(warm, tmp / f"warm{n}.mp4", BuildOptions(cache_dir=tmp / f"warm-cache{n}"))
                    began = time.perf_counter()
                    out = cluster.build(plan, tmp / f"cluster{n}.mp4", BuildOptions(cache_dir=tmp / f"cache{n}"))
                    took = time.perf_counter() - began
                    same = hashlib.sha256(Path(out.output).read_bytes()).hexdigest() == reference
                    stats = cluster.stats
                speedup = local / took
                beyond = (took - local / n) / n_frames * 1000
                print(f"{n} worker(s): {took:.2f} s, speed-up {speedup:.2f}x (aim >= {0.9 * n:.1f}x, "
                      f"{speedup / n:.0%} of ideal); driver {stats.driver_seconds / max(stats.frames_received, 1) * 1000:.2f} ms/frame, "
                      f"beyond ideal {beyond:.2f} ms/frame; video identical to local: {same}")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
