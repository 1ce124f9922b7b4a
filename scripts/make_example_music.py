"""Make examples/pulse.ogg: the example film's soundtrack, 8 seconds at 120 BPM.

A synthetic track the project owns (no licence to worry about): a kick drum on every beat
(a 55 Hz sine falling from 110 Hz, in the `bass` band), a hi-hat on every off-beat (filtered
noise, `high`), and a chord that changes every bar (`mid`), quiet under the drums. Written
as Opus at 48 kbps by PyAV (about 50 KB). The samples are the same every run (a fixed noise
seed); the bytes are not quite (Ogg gives each stream a random serial number).

    .venv/bin/python scripts/make_example_music.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np

RATE = 48000
BPM = 120.0
SECONDS = 8.0


def track() -> np.ndarray:
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n, np.float64)
    beat = 60.0 / BPM
    rng = np.random.default_rng(7)
    kick_t = np.arange(int(0.25 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (55 * kick_t + 55 * 0.03 * (1 - np.exp(-kick_t / 0.03)))) * np.exp(-kick_t / 0.09)
    hat = np.diff(rng.standard_normal(int(0.05 * RATE) + 1)) * np.exp(-np.arange(int(0.05 * RATE)) / RATE / 0.012)
    for k in range(int(SECONDS / beat)):
        i = int(k * beat * RATE)
        out[i:i + len(kick)] += 0.8 * kick[: n - i]
        j = int((k + 0.5) * beat * RATE)
        if j < n:
            out[j:j + len(hat)] += 0.15 * hat[: n - j]
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    bar = 4 * beat
    for k, chord in enumerate(chords):
        a, b = int(k * bar * RATE), min(n, int((k + 1) * bar * RATE))
        seg = t[a:b] - t[a]
        env = np.minimum(1.0, seg / 0.05) * np.exp(-seg / 1.5)
        out[a:b] += 0.08 * env * sum(np.sin(2 * np.pi * f * seg) for f in chord)
    return (out / max(1.0, np.abs(out).max())).astype(np.float32)


def write(path: Path, x: np.ndarray) -> None:
    with av.open(str(path), "w", format="ogg") as c:
        s = c.add_stream("libopus", rate=RATE)
        s.layout = "mono"
        s.bit_rate = 48000
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = RATE
        frame.pts = 0
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "examples" / "pulse.ogg"
    write(out, track())
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {SECONDS:g} s at {BPM:g} BPM)")


if __name__ == "__main__":
    main()
