"""How far a pan easing to rest moves at 12 and at 60 fps (docs/language.md, "Units").

Compiles a 2 s scene with `effect pan_right` (9.375 % of the width per second at its start,
easing to rest at the scene's end) followed by a scene that continues from it, at each fps,
and adds up the plan's per-frame x (pixels) up to 1 s and up to 2 s (the next scene's
first frame), as a percent of the width. The exact integral of the speed is 7.03125 % and
9.375 %. No rendering: a few milliseconds.

    .venv/bin/python benchmarks/motion_fps.py
"""

from __future__ import annotations

from kscript.compile import compile_source


def pan(fps: int) -> tuple[float, float]:
    src = (f'film "t" {{\n  size: 640x640\n  fps: {fps}\n}}\n'
           'scene s 2s {\n  prompt "p"\n  effect pan_right\n}\n'
           'scene after 1s {\n  prompt "p"\n  continue\n}\n')
    plan = compile_source(src)
    xs = [fr.motion.x for fr in plan.frames]
    return sum(xs[1:fps + 1]) / 640 * 100, sum(xs[1:2 * fps + 1]) / 640 * 100


if __name__ == "__main__":
    for fps in (12, 24, 30, 60):
        a, b = pan(fps)
        print(f"{fps:2d} fps: {a:.4f} % of the width at 1 s, {b:.4f} % at 2 s")
