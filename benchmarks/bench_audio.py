"""Music analysis: seconds to read and analyse a 3-minute song (`kscript.audio`).

Makes a synthetic 3-minute track at 44.1 kHz (a kick every beat at 128 BPM, hi-hats on the
off-beats, a quiet chord), encodes it as FLAC and as MP3 with PyAV into a temporary folder,
then times what `kscript check` does for a film with `audio:`: `read_audio` (read, SHA-256,
decode to mono 22050 Hz), `analyse` (STFT, loudness, onset, three bands, smoothing) and
`detect_bpm`. Best of `--repeat` runs each, with OMP/MKL/OpenBLAS threads set to `--threads`
(2 by default: the 2-core machine the targets are for).

Measured here (2 shared cores, 3 threads busy elsewhere): see docs/language.md "Music" and
the report of the `music` branch.

    .venv/bin/python benchmarks/bench_audio.py [--seconds 180] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from kscript import audio

    rate, bpm = 44100, 128.0
    n = int(args.seconds * rate)
    x = np.zeros(n, np.float32)
    kt = np.arange(int(0.2 * rate)) / rate
    kick = (np.sin(2 * np.pi * 55 * kt) * np.exp(-kt / 0.08)).astype(np.float32)
    hat = (np.random.default_rng(1).standard_normal(int(0.03 * rate)) * 0.1).astype(np.float32)
    beat = 60.0 / bpm
    for k in range(int(args.seconds / beat)):
        i = int(k * beat * rate)
        x[i:i + len(kick)] += 0.7 * kick[: n - i]
        j = int((k + 0.5) * beat * rate)
        x[j:j + len(hat)] += hat[: max(0, n - j)]
    x += (0.05 * np.sin(2 * np.pi * 330 * np.arange(n) / rate)).astype(np.float32)
    x /= np.abs(x).max()
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, codec in ((".flac", "flac"), (".mp3", "libmp3lame")):
            path = Path(tmp) / f"song{suffix}"
            audio.write_mono(path, x, rate, codec)
            best = {"read": 1e9, "analyse": 1e9, "bpm": 1e9}
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                track = audio.read_audio(path)
                t1 = time.perf_counter()
                an = audio.analyse(track)
                t2 = time.perf_counter()
                found = audio.detect_bpm(an)
                t3 = time.perf_counter()
                for key, v in (("read", t1 - t0), ("analyse", t2 - t1), ("bpm", t3 - t2)):
                    best[key] = min(best[key], v)
            total = sum(best.values())
            print(f"{suffix[1:]:>4} {path.stat().st_size / 1e6:5.1f} MB, {args.seconds:g} s: read+decode "
                  f"{best['read']:.2f} s, analyse {best['analyse']:.2f} s, bpm {best['bpm']:.3f} s "
                  f"(found {found:.2f}, true {bpm:g}); total {total:.2f} s")


if __name__ == "__main__":
    main()
