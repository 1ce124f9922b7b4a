"""Frame cache entry formats: bytes and milliseconds per 640x640 frame, lossless only.

Renders the first frames of examples/mini_film.kscene with the preview painter at 640x640
and stores each frame the ways a cache entry could be stored, printing per format the
bytes per frame (and the ratio to the raw pixels), the milliseconds to encode (what the
cache writer thread spends per frame: compress + SHA-256) and to decode (compress back +
verify) on this machine, one thread, median over the frames.

The painter's frames are smooth (gradients and soft shapes), so they compress better than
a model's; `--grain S` adds seeded Gaussian noise of standard deviation S (8-bit levels) as
a stand-in for the fine texture of a diffusion model's output (run with 0 and with 3-6 to
bracket it). Formats:

- raw: today's 1.2 MB entry (header + the pixels), the reference.
- zlib-1 raw: zlib level 1 of the pixels as they are.
- zlib-1 delta: zlib level 1 of the pixels after a left-neighbour difference per row
  (PNG's "Sub" filter done in numpy, mod 256).
- png-1, png-3: OpenCV's PNG at compression levels 1 and 3 (adaptive filters, zlib inside).
- lz4 delta: LZ4 frame of the delta pixels, when the `lz4` package is installed (it is not
  a dependency of kscript).
- kscript entry (KSF2): what the cache stores (`cache.encode_entry`: each row minus the row
  above, zlib level 1 with the run-length strategy, SHA-256, the header with the address).

Measured here (2 shared cores, 24 frames): raw 1,228,832 B; KSF2 233,200 B (19%) at 21 ms
encode / 12 ms decode, and 711,665 B (58%) at 49 / 22 ms with `--grain 4`; PNG level 1
268,549 B / 784,553 B at 30 / 48 ms (docs/rendering.md has the whole table).

    .venv/bin/python benchmarks/bench_cache.py [--frames 24] [--size 640] [--grain 0]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def frames(count: int, size: int) -> list:
    from kscript.backends.preview import PreviewBackend
    from kscript.compile import compile_file
    from kscript.render.executor import Executor

    plan = compile_file(ROOT / "examples" / "mini_film.kscene")
    plan = plan.model_copy(update={
        "film": plan.film.model_copy(update={"width": size, "height": size}),
        "frames": plan.frames[:count],
    })
    out: list = []
    Executor(plan, PreviewBackend()).run(lambda _i, img: out.append(img))
    return out


def formats():
    import cv2
    import numpy as np

    from kscript.render import cache

    def delta(image):
        d = image.astype(np.int16)
        d[:, 1:] -= d[:, :-1].copy()
        return (d & 0xFF).astype(np.uint8)

    def undelta(d):
        return np.cumsum(d, axis=1, dtype=np.uint8)

    def sha(b):
        return hashlib.sha256(b).digest()

    out = {
        "raw": (lambda im: (lambda p: sha(p) + p)(im.tobytes()),
                lambda b, shape: np.frombuffer(b[32:], np.uint8).reshape(shape) if sha(b[32:]) == b[:32] else None),
        "zlib-1 raw": (lambda im: zlib.compress(im.tobytes(), 1),
                       lambda b, shape: np.frombuffer(zlib.decompress(b), np.uint8).reshape(shape)),
        "zlib-1 delta": (lambda im: zlib.compress(delta(im).tobytes(), 1),
                         lambda b, shape: undelta(np.frombuffer(zlib.decompress(b), np.uint8).reshape(shape))),
        "png-1": (lambda im: cv2.imencode(".png", im, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes(),
                  lambda b, shape: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)),
        "png-3": (lambda im: cv2.imencode(".png", im, [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes(),
                  lambda b, shape: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)),
        "kscript entry (KSF2)": (lambda im: cache.encode_entry("0" * 64, im),
                                 lambda b, shape: cache.decode_entry("0" * 64, b)),
    }
    try:
        import lz4.frame

        out["lz4 delta"] = (lambda im: lz4.frame.compress(delta(im).tobytes()),
                            lambda b, shape: undelta(np.frombuffer(lz4.frame.decompress(b), np.uint8).reshape(shape)))
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--grain", type=float, default=0.0, help="std of added noise (model-like texture)")
    args = ap.parse_args()
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    images = frames(args.frames, args.size)
    if args.grain:
        rng = np.random.default_rng(0)
        images = [np.clip(im + rng.normal(0, args.grain, im.shape), 0, 255).astype(np.uint8) for im in images]
    raw = images[0].nbytes
    print(f"{len(images)} frames of {args.size}x{args.size} (preview painter, grain {args.grain}); raw pixels {raw:,} bytes")
    print(f"{'format':<22}{'bytes/frame':>13}{'of raw':>8}{'encode ms':>11}{'decode ms':>11}")
    for name, (enc, dec) in formats().items():
        sizes, t_enc, t_dec = [], [], []
        for im in images:
            t0 = time.perf_counter()
            blob = enc(im)
            t1 = time.perf_counter()
            back = dec(blob, im.shape)
            t2 = time.perf_counter()
            if back is None or not np.array_equal(back, im):
                sys.exit(f"{name}: not lossless")
            sizes.append(len(blob))
            t_enc.append((t1 - t0) * 1000)
            t_dec.append((t2 - t1) * 1000)
        mean = statistics.mean(sizes)
        print(f"{name:<22}{mean:>13,.0f}{mean / raw:>8.1%}{statistics.median(t_enc):>11.2f}{statistics.median(t_dec):>11.2f}")


if __name__ == "__main__":
    main()
