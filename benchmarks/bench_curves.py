"""How fast the curve functions evaluate: calls per second, one Python process.

A 500-scene film of about 50 000 frames with a dozen channels evaluates an easing or a
built-in a few hundred thousand to a few million times while compiling, so each must cost
well under a microsecond. Run:

    .venv/bin/python benchmarks/bench_curves.py [--n 200000]

It prints one line per function: millions of calls per second and nanoseconds per call,
the loop's own cost included (a plain `lambda x: x` is listed for reference).
"""

from __future__ import annotations

import argparse
import time

from kscript.curves import EASINGS, FUNCTIONS, bezier, noise


def measure(fn, xs, repeat: int = 3) -> float:
    """Best seconds per call over `repeat` passes through `xs`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for x in xs:
            fn(x)
        best = min(best, time.perf_counter() - start)
    return best / len(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="calls per pass (default 200000)")
    args = parser.parse_args()
    xs = [i / args.n for i in range(args.n)]  # progress through a segment, 0..1
    ts = [i / 24.0 for i in range(args.n)]  # frame times at 24 fps, for oscillators

    cases = [
        ("(loop: lambda x: x)", lambda x: x, xs),
        ("linear", EASINGS["linear"], xs),
        ("ease_in_out (cubic)", EASINGS["ease_in_out"], xs),
        ("ease_in_out_sine", EASINGS["ease_in_out_sine"], xs),
        ("ease_out_elastic", EASINGS["ease_out_elastic"], xs),
        ("ease_out_bounce", EASINGS["ease_out_bounce"], xs),
        ("bezier(.42,0,.58,1)", bezier(0.42, 0.0, 0.58, 1.0), xs),
        ("bezier(.68,-.55,.27,1.55)", bezier(0.68, -0.55, 0.265, 1.55), xs),
        ("sin (builtin)", FUNCTIONS["sin"].fn, ts),
        ("tri (builtin)", FUNCTIONS["tri"].fn, ts),
        ("noise(t * 3)", lambda t: noise(t * 3.0), ts),
        ("noise(f) per frame", noise, [float(i) for i in range(args.n)]),
    ]
    print(f"{'function':28s} {'M calls/s':>10s} {'ns/call':>9s}")
    for name, fn, inputs in cases:
        per_call = measure(fn, inputs)
        print(f"{name:28s} {1e-6 / per_call:10.2f} {per_call * 1e9:9.0f}")


if __name__ == "__main__":
    main()
