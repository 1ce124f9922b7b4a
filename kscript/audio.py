"""A film's soundtrack: read it, decode it, and turn it into curves and a tempo.

Read once, at check time, when a film says `audio: "song.mp3"` (docs/language.md, "Music"):

- `read_audio` reads the file through `kscript.source.read_bytes` (a regular file within
  `limits.MAX_AUDIO_BYTES`: the same checks as a film's source) and decodes it with PyAV
  (anything FFmpeg decodes: WAV, MP3, FLAC, Ogg/Opus, AAC...) to mono float samples at
  `ANALYSIS_RATE`. PyAV is imported here, inside the function: a film without audio never
  imports it (`check`/`plan` stay light).
- `analyse` turns the samples into envelopes on a ~5.8 ms grid (`HOP` samples): loudness
  (RMS), onset strength (positive spectral flux), and the energy of three bands (bass
  20-250 Hz, mid 250-4000 Hz, high 4000 Hz and up). Each is smoothed by an attack/release
  follower and normalised to 0..1 by its maximum over the whole song (so lengthening the
  film or moving `audio_start` never rescales the frames already there).
- `detect_bpm` finds the tempo from the onset envelope's autocorrelation: the strongest
  beat period between 60 and 200 BPM (weighted towards 120 to choose between a tempo and
  its double or half), refined at the largest multiple of the period the song holds, so a
  one-hop error is divided by that multiple (within 0.2% on click tracks of 6 s or more).

Why numpy and not librosa: the features needed here are a short-time FFT, a flux, three
band sums and an autocorrelation, some 100 lines of numpy; librosa would add numba, scipy,
scikit-learn and soundfile to the install and a second of import time to every `check` of
a film with music, for no better answer on these features.

Errors are `AudioError(reason)`; the checker reports them at the `audio:` setting (E035).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from kscript.limits import MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS
from kscript.source import Unreadable, Unusable, read_bytes

ANALYSIS_RATE = 22050  # Hz: the analysis works on mono samples at this rate
HOP = 128  # samples between envelope points (5.8 ms)
WINDOW = 1024  # FFT window (46 ms)
ONSET_LAG = 3  # hops (see `analyse`)
BANDS: dict[str, tuple[float, float]] = {"bass": (20.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, 11025.0)}
#: the curves a film with audio can use, by name (docs/language.md, "Music")
CURVE_NAMES: tuple[str, ...] = ("loudness", "onset", "bass", "mid", "high")
SILENCE = 1e-4  # a peak below this (-80 dBFS) is a silent file
MIN_BPM, MAX_BPM = 60.0, 200.0
DEFAULT_SMOOTH = 0.05  # seconds: the release of the follower (attack is a fifth of it)


class AudioError(Unusable):
    """A soundtrack that cannot be used; `reason` says why in a few words."""


@dataclass(frozen=True)
class Track:
    """A decoded song: mono samples at `rate`, and the SHA-256 of the file's bytes."""

    samples: np.ndarray
    rate: int
    sha256: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


def read_audio(path: str | os.PathLike[str]) -> Track:
    """Read and decode the song at `path` to mono float32 at `ANALYSIS_RATE`.

    Raises:
        AudioError: missing, unreadable, too large, not decodable, no audio stream, silent.
    """
    try:
        data = read_bytes(path, MAX_AUDIO_BYTES)
    except Unreadable as err:
        raise AudioError(err.reason) from None
    sha = hashlib.sha256(data).hexdigest()
    if sha in _TRACKS:  # the same bytes as a song decoded before (watch mode re-checks on every save)
        return _TRACKS[sha]
    samples = _decode(data)
    if samples.size == 0:
        raise AudioError("it holds no audio samples")
    if float(np.max(np.abs(samples))) < SILENCE:
        raise AudioError("it is silent (no sample above -80 dBFS)")
    track = Track(samples, ANALYSIS_RATE, sha)
    _remember(_TRACKS, sha, track)
    return track


# The last few songs decoded and analysed in this process, by content: a 3-minute song takes
# seconds to decode and analyse (benchmarks/bench_audio.py), and `kscript watch` checks the
# film again on every save. Keyed by the bytes' SHA-256 (and the smoothing), never by path.
_TRACKS: dict[str, "Track"] = {}
_ANALYSES: dict[tuple[str, float], "Analysis"] = {}
_KEEP = 2


def write_mono(path: str | os.PathLike[str], samples: np.ndarray, rate: int, codec: str) -> None:
    """Encode mono float samples in -1..1 as 16-bit audio with PyAV's `codec` (the container
    from `path`'s suffix): the synthetic songs of the tests and of benchmarks/bench_audio.py."""
    import av

    with av.open(os.fspath(path), "w") as c:
        stream = c.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((samples[None, :] * 32767).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)


def _remember(store: dict, key, value) -> None:  # noqa: ANN001
    store.pop(key, None)
    store[key] = value
    while len(store) > _KEEP:
        store.pop(next(iter(store)))


def _decode(data: bytes) -> np.ndarray:
    import io

    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("it has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)
            chunks: list[np.ndarray] = []
            total = 0
            limit = MAX_AUDIO_SECONDS * ANALYSIS_RATE
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                if total > limit:
                    raise AudioError(f"it is longer than a soundtrack may be ({MAX_AUDIO_SECONDS // 60} minutes)")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, EOFError) as err:
        raise AudioError(f"it cannot be decoded as audio ({_short(err)})") from None
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _short(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.split(": '")[0][:120]


# ---------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class Analysis:
    """Envelopes of a song on a grid of `hop_seconds`, each normalised to 0..1."""

    curves: dict[str, np.ndarray]
    hop_seconds: float
    onset_raw: np.ndarray  # the unsmoothed onset envelope (tempo detection reads it)

    def at(self, name: str, time: float, fps: float) -> float:
        """The curve `name` for the frame shown at song time `time` (seconds) at `fps`:
        the peak of the envelope within half a frame of it, [time - 0.5/fps, time + 0.5/fps),
        so a click between two frame times shows on the frame nearest to it. Rounded to 6
        digits: the value goes into the plan and its keys, and must not flicker in the last bits."""
        env = self.curves[name]
        a = int(round((time - 0.5 / fps) / self.hop_seconds, 6))
        b = max(a + 1, int(round((time + 0.5 / fps) / self.hop_seconds, 6)))
        a = min(max(a, 0), len(env) - 1)
        seg = env[a:min(max(b, a + 1), len(env))]
        return round(float(seg.max()), 6) if seg.size else 0.0


def _stft_power(x: np.ndarray) -> np.ndarray:
    """|STFT|^2, frames centred on multiples of HOP (rows: time, columns: bins)."""
    pad = np.concatenate([np.zeros(WINDOW // 2, np.float32), x, np.zeros(WINDOW // 2, np.float32)])
    n = 1 + (len(pad) - WINDOW) // HOP
    window = np.hanning(WINDOW).astype(np.float32)
    out = np.empty((n, WINDOW // 2 + 1), np.float32)
    step = 4096  # frames per block: bounded memory on a long song
    idx = np.arange(WINDOW)
    for s in range(0, n, step):
        e = min(n, s + step)
        frames = pad[(np.arange(s, e)[:, None] * HOP) + idx[None, :]] * window
        spec = np.fft.rfft(frames, axis=1)
        out[s:e] = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    return out


def _follow(env: np.ndarray, hop_s: float, release: float) -> np.ndarray:
    """An attack/release envelope follower (one-pole each way): rises with time constant
    `release / 5`, falls with `release`; `release` 0 leaves the envelope as it is."""
    if release <= 0:
        return env
    a_up = 1.0 - np.exp(-hop_s / (release / 5.0))
    a_down = 1.0 - np.exp(-hop_s / release)
    out = np.empty_like(env)
    y = 0.0
    for i, v in enumerate(env.tolist()):
        y += (a_up if v > y else a_down) * (v - y)
        out[i] = y
    return out


def _norm(env: np.ndarray) -> np.ndarray:
    peak = float(env.max()) if env.size else 0.0
    return (env / peak).astype(np.float32) if peak > 0 else np.zeros_like(env, np.float32)


def analyse(track: Track, smooth: float = DEFAULT_SMOOTH) -> Analysis:
    """The song's envelopes (see the module docstring); `smooth` is the release in seconds."""
    key = (track.sha256, float(smooth))
    if key in _ANALYSES:
        return _ANALYSES[key]
    power = _stft_power(track.samples)
    hop_s = HOP / track.rate
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / track.rate)
    loud = np.sqrt(power.mean(axis=1))
    logmag = np.log1p(1000.0 * np.sqrt(power))
    flux = np.maximum(0.0, np.diff(logmag, axis=0, prepend=logmag[:1])).sum(axis=1)
    # The flux rises as soon as a click enters the window's leading edge: its peak comes
    # ONSET_LAG hops before the click (measured on clicks: 17 ms). Shift it onto the click.
    flux = np.concatenate([np.zeros(ONSET_LAG, flux.dtype), flux[:-ONSET_LAG]])
    raw = {"loudness": loud, "onset": flux}
    for name, (lo, hi) in BANDS.items():
        sel = (freqs >= lo) & (freqs < hi)
        raw[name] = np.sqrt(power[:, sel].sum(axis=1))
    curves = {name: _norm(_follow(env.astype(np.float32), hop_s, smooth)) for name, env in raw.items()}
    result = Analysis(curves, hop_s, flux.astype(np.float32))
    _remember(_ANALYSES, key, result)
    return result


def detect_bpm(analysis: Analysis) -> float | None:
    """The tempo in beats per minute, or None when the song has no steady beat."""
    env = analysis.onset_raw.astype(np.float64)
    env = env - env.mean()
    n = len(env)
    hop = analysis.hop_seconds
    if n < 8 or not np.any(env):
        return None
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(env, size)
    acf = np.fft.irfft(spec * np.conj(spec), size)[:n]
    acf = acf / np.arange(n, 0, -1)  # unbiased: long lags are not penalised for overlapping less
    if acf[0] <= 0:
        return None
    lo = int(60.0 / MAX_BPM / hop)
    hi = min(n // 2, int(np.ceil(60.0 / MIN_BPM / hop)) + 1)
    if hi <= lo + 2:
        return None
    lags = np.arange(lo, hi)
    bpms = 60.0 / (lags * hop)
    prior = np.exp(-0.5 * (np.log2(bpms / 120.0) / 1.0) ** 2)
    score = acf[lo:hi] * prior
    best = int(lags[int(np.argmax(score))])
    if acf[best] <= 0.05 * acf[0]:
        return None
    # Refine at the largest multiple of the period whose lag the song still covers twice.
    mult = max(1, int((n // 2) / best))
    period = float(best)
    for m in range(2, mult + 1):
        centre = int(round(period * m))
        w = max(2, int(round(period * 0.1)))
        a, b = max(1, centre - w), min(n - 2, centre + w)
        if b <= a:
            break
        k = a + int(np.argmax(acf[a:b + 1]))
        y0, y1, y2 = acf[k - 1], acf[k], acf[k + 1]
        den = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / den if den != 0 else 0.0
        period = (k + float(np.clip(frac, -0.5, 0.5))) / m
    return 60.0 / (period * hop)
