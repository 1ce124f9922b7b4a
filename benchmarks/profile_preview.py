"""Where a preview build's time goes: `kscript build` of a film in this process, with the CPU
time of each stage on the thread it runs on (`time.thread_time`), per frame.

    .venv/bin/python benchmarks/profile_preview.py [FILM] [--runs N]

FILM defaults to examples/mini_film.kscene (copied to a temporary folder, fresh cache each
run). Prints, for the best run by wall time: the wall time from interpreter start to the
build's end, the process's CPU time, each thread's CPU time, and on the build thread the
stages of a frame (warp, the one-mirror band fill, the painter's img2img and its camera
painting, inpaint), the imports and the compile. The x264 threads are the process's CPU
time less the Python threads' (they are not Python threads).

The stage timers cost about 1 us a call; the figures are for comparing stages, the whole
process's speed is `bench_preview.py`'s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line sets it (kscript.cli.one_blas_thread)
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("film", nargs="?", default=str(ROOT / "examples" / "mini_film.kscene"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    src = Path(args.film).resolve()
    work = Path(tempfile.mkdtemp(prefix="kscript-profile-"))
    try:
        shutil.copytree(src.parent, work / "films", ignore=shutil.ignore_patterns(".kscript", "*.mp4", "*.webm"))
        film = work / "films" / src.name
        t0 = time.perf_counter()
        import kscript.cli
        from kscript.backends import preview
        from kscript.render import build as render_build
        from kscript.render import executor, worker

        imports = time.perf_counter() - t0
        stages: Counter[str] = Counter()
        calls: Counter[str] = Counter()
        threads: dict[str, float] = {}

        def timed(owner, name: str, label: str) -> None:  # noqa: ANN001 - a class or module
            fn = getattr(owner, name)

            def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
                c = time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    stages[label] += time.thread_time() - c
                    calls[label] += 1

            setattr(owner, name, wrapper)

        timed(executor.Executor, "_render_frame", "frame (all of it)")
        timed(preview.PreviewBackend, "img2img", "img2img (with its painting)")
        timed(preview.PreviewBackend, "painting", "camera painting")
        timed(preview.PreviewBackend, "inpaint", "inpaint")
        timed(executor.warp, "warp", "warp")
        timed(executor.Executor, "_one_mirror", "one-mirror band fill")
        timed(render_build, "build", "render.build (all of it)")
        work_fn = worker.BackgroundWorker._work

        def _work(self) -> None:  # noqa: ANN001
            try:
                work_fn(self)
            finally:
                threads[threading.current_thread().name] = threads.get(threading.current_thread().name, 0.0) + time.thread_time()

        worker.BackgroundWorker._work = _work
        best = None
        for _ in range(args.runs):
            shutil.rmtree(film.parent / ".kscript", ignore_errors=True)
            stages.clear()
            calls.clear()
            threads.clear()
            w0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
            try:
                kscript.cli.main(["build", str(film), "--quiet", "-o", str(work / "out.mp4")])
            except SystemExit:
                pass
            run = (time.perf_counter() - w0, time.process_time() - c0, time.thread_time() - m0, dict(stages),
                   dict(calls), dict(threads))
            if best is None or run[0] < best[0]:
                best = run
        wall, cpu, main_cpu, st, n, th = best
        frames = n.get("frame (all of it)", 1)
        print(f"{film.name}: {frames} frames; kscript's imports {imports:.2f} s (once, before the runs); "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"best of {args.runs}: build wall {wall:.2f} s, process CPU {cpu:.2f} s")
        print(f"  build thread {main_cpu:.2f} s CPU ({main_cpu / frames * 1e3:.2f} ms/frame), of which:")
        for label, secs in sorted(st.items(), key=lambda kv: -kv[1]):
            print(f"    {label:28s} {secs:6.3f} s  {secs / frames * 1e3:6.2f} ms/frame  ({n[label]} calls)")
        other = cpu - main_cpu - sum(th.values())
        for name, secs in sorted(th.items()):
            print(f"  {name:30s} {secs:6.3f} s CPU ({secs / frames * 1e3:.2f} ms/frame)")
        print(f"  {'x264 threads (the rest)':30s} {other:6.3f} s CPU ({other / frames * 1e3:.2f} ms/frame)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
