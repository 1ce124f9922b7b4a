"""Peak memory against input size: prompts, scenes and frames (issue #9.4).

    .venv/bin/python benchmarks/bench_memory.py [--quick]

Each case compiles one generated film (`kscript.compile.compile_source`, what `check` and
`build` run) in a fresh Python process and reports the peak resident set size above the
process's baseline (kscript imported, parser built), the time, and the outcome: "ok" or the
first diagnostic code (E034 for input past `kscript.limits`, which must stay cheap). Memory
should grow with the input roughly linearly and stay bounded where the limits refuse it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
from kscript.compile import compile_source
from kscript.errors import ScriptErrors
from kscript.syntax import parse_source
parse_source('film "a" { fps: 4 }\nscene a 1s { prompt "x" }\n')  # build the parser first
text = sys.stdin.read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    plan = compile_source(text, "bench.kscene")
    outcome = f"ok, {len(plan.frames)} frames"
except ScriptErrors as err:
    outcome = err.diagnostics[0].code
took = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mb": (peak - base) / 1024, "s": took, "outcome": outcome}))
"""

HEAD = 'film "bench" { size: 64x64 fps: 24 }\n'


def prompt_film(chars: int) -> str:
    return HEAD + 'scene a 1s { prompt "' + "a" * chars + '" }\n'


def scenes_film(n: int) -> str:
    return HEAD + "".join(f'scene s{i} 2f {{ prompt "scene {i}" }}\n' for i in range(n))


def frames_film(frames: int) -> str:
    # one-hour scenes at 240 fps hold 864,000 frames each; split the count over 24 fps scenes
    text, left, i = 'film "bench" { size: 64x64 fps: 24 }\n', frames, 0
    while left > 0:
        n = min(left, 3600 * 24)
        text += f'scene s{i} {n}f {{ prompt "x" zoom: 1.1 }}\n'
        left -= n
        i += 1
    return text


def run(text: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD], input=text, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    args = ap.parse_args()
    cases = [
        ("prompt chars", prompt_film, [1_000, 10_000, 100_000, 1_000_000]),
        ("scenes", scenes_film, [100, 1_000, 5_000, 5_001]),
        ("frames", frames_film, [1_000, 10_000, 100_000, 250_000, 2_000_000]),
    ]
    if args.quick:
        cases = [(k, f, sizes[:2]) for k, f, sizes in cases]
    print(f"{'input':<14}{'size':>12}{'source bytes':>14}{'peak RSS MB':>13}{'seconds':>9}  outcome")
    for kind, make, sizes in cases:
        for size in sizes:
            text = make(size)
            r = run(text)
            print(f"{kind:<14}{size:>12,}{len(text):>14,}{r['mb']:>13.1f}{r['s']:>9.2f}  {r['outcome']}")


if __name__ == "__main__":
    main()
