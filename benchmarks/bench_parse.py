"""How long parsing takes: a film of 500 scenes, and the grammar's one-time build.

    .venv/bin/python benchmarks/bench_parse.py [SCENES]

Prints CPU time of this process (the machine is shared, so wall time is noisy); the
target is "well under a second" for 500 scenes. The grammar's build is cached by Lark in
the temp folder after the first run of a grammar version.
"""

from __future__ import annotations

import sys
import time


def film(scenes: int) -> str:
    parts = ['film "Benchmark" {\n  size: 640x640\n  fps: 24\n  seed: 1\n}\n', "let wobble = 0.8 * sin(2 * pi * t / 3s)\n"]
    for i in range(scenes):
        parts.append(
            f"scene s{i} 2s {{\n"
            f'  prompt "scene number {i}, oil painting"\n'
            f'  prompt "scene number {i} at night" at 1s blend 500ms\n'
            f"  zoom: keys {{ 0s: 1.0, 1s: 1.02 ease_out, 2s: 1.0 }}\n"
            f"  angle: wobble + 0.1 * tri(t / 1s)\n"
            f"  effect pan_right(rate = 0.5) from 0.5s to 1.5s\n"
            f"  strength: 0.45 -> 0.3 ease_in_out\n"
            f"}}\n"
        )
    return "".join(parts)


def main() -> None:
    scenes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    start = time.process_time()
    from kscript.syntax import parse_source
    from kscript.syntax.parser import lark_parser

    lark_parser()
    build = time.process_time() - start
    text = film(scenes)
    runs = []
    for _ in range(5):
        t0 = time.process_time()
        module = parse_source(text, "bench.kscene")
        runs.append(time.process_time() - t0)
    assert len(module.scenes) == scenes
    print(f"import + grammar build: {build * 1000:.0f} ms")
    print(f"parse {scenes} scenes ({len(text.splitlines())} lines, {len(text) // 1024} KiB): best {min(runs) * 1000:.0f} ms, median {sorted(runs)[2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
