"""Preview speed: the whole `kscript build` process on a 640x640, 24 fps film, fresh cache.

Prints seconds of video per second of wall time (aim: >= 4x real time on 2 CPU cores).

    .venv/bin/python benchmarks/bench_preview.py [FILM] [--runs N] [--seconds S]

FILM defaults to examples/mini_film.kscene when it exists, else a generated three-scene
plan (zoom, pan + roll with a prompt blend and a crossfade, continue + zoom out with LAB
coherence) of S seconds (default 10) saved as JSON. Each run is a fresh process with a fresh
cache, timed from start to exit: imports, compile, render, encode, cache writes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def synthetic_plan(seconds: float, path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from plan_factory import SceneSpec, make_plan  # noqa: E402

    from kscript.plan import Motion

    fps = 24
    n = int(seconds * fps) // 3
    plan = make_plan(
        [
            SceneSpec("park", n, "a misty autumn park at dawn, oil painting", motion=Motion(zoom=1.01)),
            SceneSpec("street", n, "a neon city street at night, rain", later_prompts=[("the same street at sunrise", n // 2, fps)],
                      motion=Motion(x=1.5, angle=0.3), crossfade=12),
            SceneSpec("sea", n, "stormy sea, dramatic light, oil painting", motion=Motion(zoom=0.99, turn=0.2), continues=True, coherence="lab"),
        ],
        width=640,
        height=640,
        fps=fps,
    )
    path.write_text(plan.to_json(), encoding="utf-8")
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("film", nargs="?")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default=None)
    ap.add_argument("--synthetic", action="store_true", help="use the generated plan even when examples/ exists")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kscript-bench-"))
    try:
        if args.film:
            # The film's folder goes along: films import their neighbours.
            src = Path(args.film).resolve()
            shutil.copytree(src.parent, work / "films", ignore=shutil.ignore_patterns(".kscript", "*.mp4", "*.webm"))
            film = work / "films" / src.name
        elif (ROOT / "examples" / "mini_film.kscene").exists() and not args.synthetic:
            shutil.copytree(ROOT / "examples", work / "films", ignore=shutil.ignore_patterns(".kscript", "*.mp4", "*.webm"))
            film = work / "films" / "mini_film.kscene"
        else:
            film = synthetic_plan(args.seconds, work / "film.json")
        kscript = [sys.executable, "-m", "kscript"]
        results = []
        for run in range(args.runs):
            shutil.rmtree(film.parent / ".kscript", ignore_errors=True)
            cmd = [*kscript, "build", str(film), "--quiet", "--report", str(work / "report.json")]
            if args.preset:
                cmd += ["--preset", args.preset]
            t0 = time.perf_counter()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, check=True, cwd=work, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            report = json.loads((work / "report.json").read_text())
            video = report["frames_total"] / report["fps"]
            results.append((wall, video, report, cpu))
            print(
                f"run {run + 1}: {report['frames_total']} frames {report['width']}x{report['height']} @ {report['fps']:g} fps "
                f"= {video:.2f} s of video in {wall:.2f} s wall (build() {report['seconds']:.2f} s): "
                f"{video / wall:.2f}x real time, {wall / report['frames_total'] * 1000:.1f} ms/frame; "
                f"CPU {cpu:.2f} s ({cpu / report['frames_total'] * 1000:.1f} ms/frame, {video / cpu:.2f}x real time per core)"
            )
        best = min(results, key=lambda r: r[0])
        print(f"best: {best[1] / best[0]:.2f}x real time (whole process, fresh cache; {best[1] / best[3]:.2f}x per CPU second), cores: {os.cpu_count()}, "
              f"load average: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
