"""How long compile_source takes on a 500-scene film (4 s each at 24 fps: 48,000 frames).

Run: .venv/bin/python benchmarks/bench_compile.py [SCENES]

Prints the best of a few runs (wall time, and CPU time, which a busy machine disturbs less) for the whole of compile_source, and the split into
parse + check (`load_source`) and per-frame compilation (`compile_program`). The target is
"well under a second" for 500 scenes.
"""

from __future__ import annotations

import gc
import sys
import time


def film(scenes: int) -> str:
    parts = [
        'film "bench" {\n  size: 512x512\n  fps: 24\n  seed: 7\n  strength: 0.4\n}\n',
        "let wobble = 0.5 * sin(2 * pi * t / 3s)\n",
        "effect drift(speed = 1.5, sway = 0) {\n  x: speed\n  angle: sway * sin(2 * pi * t / 2s)\n}\n",
    ]
    for i in range(scenes):
        kind = i % 4
        body = [f'  prompt "scene number {i}, a misty landscape, oil painting"']
        if kind == 0:
            body.append("  effect zoom_in")
            body.append("  strength: 0.45 -> 0.3 ease_in_out")
        elif kind == 1:
            body.append(f'  prompt "scene {i} at night" at 2s blend 1s')
            body.append("  zoom: keys { 0s: 1.0, 2s: 1.03 ease_out, 4s: 1.0 }")
            body.append("  effect drift(speed = 2)")
            body.append("  transition crossfade 12f")
        elif kind == 2:
            body.append("  continue")
            body.append("  effect spin_left(rate = 2) from 1s to 3s")
            body.append("  angle: wobble")
        else:
            body.append("  cadence: 3")
            body.append("  x: 2 * sin(t)")
        parts.append(f"scene s{i} 4s {{\n" + "\n".join(body) + "\n}\n")
    return "".join(parts)


def main() -> None:
    from kscript.check import load_source
    from kscript.compile import compile_program, compile_source

    scenes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    text = film(scenes)
    compile_source(text)  # warm up: imports, grammar, standard effects
    best = best_check = best_compile = best_cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = compile_source(text)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        gc.disable()  # as compile_source does
        t0 = time.perf_counter()
        program = load_source(text)
        t1 = time.perf_counter()
        compile_program(program)
        t2 = time.perf_counter()
        gc.enable()
        best_check = min(best_check, t1 - t0)
        best_compile = min(best_compile, t2 - t1)
    print(f"{scenes} scenes, {len(plan.frames)} frames")
    print(f"compile_source: {best:.3f} s wall, {best_cpu:.3f} s CPU (best of 3)")
    print(f"  parse + check: {best_check:.3f} s")
    print(f"  compile frames: {best_compile:.3f} s")


if __name__ == "__main__":
    main()
