"""Music: a film's soundtrack, its tempo, beat units, audio curves, and the muxed sound.

Every track is made here with numpy and encoded with PyAV: clicks at a known BPM, tones in
one band, silence. Films are 64x64 at 8 fps, songs a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kscript import api
from kscript.audio import write_mono
from kscript.errors import ScriptErrors

av = pytest.importorskip("av")

SR = 44100
FPS = 8


def clicks(bpm: float, seconds: float, first: float = 0.25, freq: float = 1000.0) -> np.ndarray:
    """Short tone bursts (7 ms) every beat from `first` seconds."""
    x = np.zeros(int(seconds * SR), np.float32)
    n = 300
    burst = 0.8 * np.hanning(n) * np.sin(2 * np.pi * freq * np.arange(n) / SR)
    t = first
    while t < seconds:
        i = int(round(t * SR))
        x[i:i + n] += burst[: len(x[i:i + n])]
        t += 60.0 / bpm
    return x


def tone(freq: float, seconds: float) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def write_audio(path: Path, x: np.ndarray) -> Path:
    """Encode mono samples by the suffix: .wav (PCM), .mp3, .flac, .ogg (Opus), .m4a (AAC)."""
    codec, rate = {".wav": ("pcm_s16le", SR), ".mp3": ("libmp3lame", SR), ".flac": ("flac", SR),
                   ".ogg": ("libopus", 48000), ".m4a": ("aac", SR)}[path.suffix]
    if rate != SR:
        x = np.interp(np.arange(int(len(x) * rate / SR)) * SR / rate, np.arange(len(x)), x).astype(np.float32)
    write_mono(path, x, rate, codec)
    return path


def film(tmp_path: Path, settings: str, scenes: str, name: str = "film.kscene") -> Path:
    path = tmp_path / name
    path.write_text(f'film "m" {{ size: 64x64 fps: {FPS} model: "preview" {settings} }}\n{scenes}', encoding="utf-8")
    return path


def errors(path: Path) -> list:
    with pytest.raises(ScriptErrors) as info:
        api.plan(path)
    return info.value.diagnostics


# ------------------------------------------------------------------------ tempo
@pytest.mark.parametrize("bpm", [96.0, 120.0, 143.0])
def test_the_bpm_detected_from_clicks_is_within_one_percent(tmp_path, bpm):
    write_audio(tmp_path / "song.wav", clicks(bpm, 7.0))
    plan = api.plan(film(tmp_path, 'audio: "song.wav"', 'scene a 6s { prompt "x" }\n'))
    assert plan.film.bpm_detected
    assert abs(plan.film.bpm - bpm) / bpm < 0.01


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".m4a"])
def test_any_format_pyav_decodes_is_a_soundtrack(tmp_path, suffix):
    write_audio(tmp_path / f"song{suffix}", clicks(120.0, 6.0))
    plan = api.plan(film(tmp_path, f'audio: "song{suffix}"', 'scene a 4s { prompt "x" }\n'))
    assert abs(plan.film.bpm - 120.0) < 1.2


def test_kscript_plan_prints_the_detected_bpm(tmp_path):
    write_audio(tmp_path / "song.wav", clicks(120.0, 5.0))
    path = film(tmp_path, 'audio: "song.wav"', 'scene a 4s { prompt "x" }\n')
    out = subprocess.run([sys.executable, "-m", "kscript", "plan", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.strip().startswith("bpm "))
    assert line.endswith("(detected from the audio), 4 beats per bar")
    assert abs(float(line.split()[1]) - 120.0) < 1.2


def test_beats_and_bars_are_durations_at_the_films_bpm(tmp_path):
    plan = api.plan(film(tmp_path, "bpm: 120 beats_per_bar: 3",
                         'scene a 4b { prompt "x" strength: keys { 0s: 0.1, 2b: 0.5 } }\n'
                         'scene b 1bar { prompt "y" strength: 0.1 + beat / 100 }\n'))
    a, b = plan.scenes
    assert a.frame_count == 16 and b.frame_count == 12  # 4 beats = 2 s, a bar of 3 beats = 1.5 s
    assert plan.frames[8].strength == pytest.approx(0.5)  # the key at 2b = 1 s
    # beat: beats since the film started (as T is its time): frame 16 is at 2 s = beat 4
    assert plan.frames[16].strength == pytest.approx(0.14)
    assert plan.frames[20].strength == pytest.approx(0.15)


def test_beats_without_a_tempo_are_an_error_at_their_place(tmp_path):
    diags = errors(film(tmp_path, "", 'scene a 4b { prompt "x" strength: 0.2 + beat }\n'))
    assert [d.code for d in diags] == ["E036", "E036"]
    assert (diags[0].span.line, diags[0].span.col) == (2, 9)
    assert "tempo" in diags[0].message


# ------------------------------------------------------------------------ curves
def test_an_onset_pulse_peaks_on_the_beat_frames(tmp_path):
    write_audio(tmp_path / "song.wav", clicks(120.0, 4.5))  # beats at 0.25, 0.75, ... s
    plan = api.plan(film(tmp_path, 'audio: "song.wav" bpm: 120 audio_smooth: 20ms',
                         'scene a 4s { prompt "x" strength: 0.1 + 0.8 * onset }\n'))
    peaks = [f.index for f in plan.frames if f.strength > 0.5]
    assert peaks == [2 + 4 * k for k in range(8)]  # 0.25 s + k * 0.5 s at 8 fps
    # a 20 ms release: gone by the next frame (with the 50 ms default it is still ~0.3 there)
    assert all(f.strength < 0.2 for f in plan.frames if f.index not in peaks)


@pytest.mark.parametrize("band,freq", [("bass", 80.0), ("mid", 1000.0), ("high", 8000.0)])
def test_band_curves_respond_to_their_band_only(tmp_path, band, freq):
    # one second of silence-free noise floor, then a tone in one band for 2 s, then another band
    other = 8000.0 if band != "high" else 80.0
    x = np.concatenate([tone(freq, 2.0), tone(other, 2.0)])
    write_audio(tmp_path / "song.wav", x)
    settings = 'audio: "song.wav" bpm: 120'
    values = {}
    for name in ("bass", "mid", "high"):
        plan = api.plan(film(tmp_path, settings, f'scene a 4s {{ prompt "x" strength: 0.9 * {name} }}\n',
                             name=f"{name}.kscene"))
        values[name] = [f.strength for f in plan.frames]
    # during the tone (frames 2..13, clear of the smoothing at the edges)
    assert min(values[band][2:14]) > 0.8
    for name in ("bass", "mid", "high"):
        if name != band:
            assert max(values[name][2:14]) < 0.2, name


def test_a_new_song_changes_only_the_keys_of_frames_whose_values_change(tmp_path):
    scenes = ('scene a 2s { prompt "x" strength: 0.2 + 0.6 * onset }\n'
              'scene b 2s { prompt "y" strength: 0.3 }\n')
    write_audio(tmp_path / "one.wav", clicks(120.0, 4.5))
    write_audio(tmp_path / "two.wav", clicks(120.0, 4.5, first=0.5))
    one = api.plan(film(tmp_path, 'audio: "one.wav"', scenes))
    two = api.plan(film(tmp_path, 'audio: "two.wav"', scenes))
    assert one.film.audio.sha256 != two.film.audio.sha256
    changed = [i for i, (p, q) in enumerate(zip(one.frames, two.frames)) if p.key != q.key]
    valued = [i for i, (p, q) in enumerate(zip(one.frames, two.frames)) if p.strength != q.strength]
    assert changed and all(i < 16 for i in changed)  # scene b's frames keep their keys
    assert changed[0] == valued[0]  # the first frame whose value changed, and not before


# ------------------------------------------------------------------------ the output's sound
def _decode_audio(path: Path) -> tuple[np.ndarray, float, float, int]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        chunks, first = [], None
        for frame in c.decode(stream):
            if first is None:
                first = float(frame.pts * frame.time_base)
            chunks.append(frame.to_ndarray()[0])
        frames = sum(1 for _ in av.open(str(path)).decode(video=0))
    return np.concatenate(chunks), first or 0.0, stream.rate, frames


@pytest.mark.parametrize("output,no_cache", [("film.mp4", False), ("film.webm", True), ("direct.mp4", True)])
def test_the_output_has_the_song_in_sync_for_the_films_length(tmp_path, output, no_cache):
    write_audio(tmp_path / "song.wav", clicks(120.0, 6.0, first=1.25))
    path = film(tmp_path, 'audio: "song.wav" audio_start: 1s',
                'scene a 1s { prompt "x" }\nscene b 2s { prompt "y" }\n')
    report = api.build(path, tmp_path / output, no_cache=no_cache)
    samples, first, rate, frames = _decode_audio(Path(report.output))
    assert frames == 24
    assert abs(len(samples) / rate - 3.0) < 1 / FPS  # cut to the film's length
    click = first + int(np.argmax(np.abs(samples) > 0.1)) / rate
    assert abs(click - 0.25) < 1 / FPS  # 1.25 s into the song is 0.25 s into the film


def test_png_frames_have_no_sound_and_a_film_without_audio_has_no_audio_stream(tmp_path):
    report = api.build(film(tmp_path, "", 'scene a 1s { prompt "x" }\n'), tmp_path / "plain.mp4")
    with av.open(report.output) as c:
        assert not c.streams.audio


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("make,words", [
    (lambda p: None, "no such file"),
    (lambda p: write_audio(p, np.zeros(SR * 5, np.float32)), "silent"),
    (lambda p: p.write_bytes(b"ID3 this is not an mp3 at all" * 100), "cannot be decoded"),
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: write_audio(p, clicks(120.0, 2.0)), "shorter than the film"),
])
def test_an_unusable_song_is_e035_at_the_audio_setting(tmp_path, make, words):
    make(tmp_path / "song.wav")
    path = tmp_path / "film.kscene"
    path.write_text('film "m" {\n  fps: 8\n  audio: "song.wav"\n}\nscene a 4s { prompt "x" }\n', encoding="utf-8")
    diags = errors(path)
    assert [d.code for d in diags] == ["E035"]
    assert (diags[0].span.line, diags[0].span.col) == (3, 10)
    assert words in diags[0].message


def test_audio_curves_without_audio_are_e036(tmp_path):
    diags = errors(film(tmp_path, "", 'scene a 1s { prompt "x" strength: bass }\n'))
    assert [d.code for d in diags] == ["E036"] and "audio" in diags[0].hint


def test_check_of_a_film_without_audio_imports_no_pyav(tmp_path):
    path = film(tmp_path, "bpm: 120", 'scene a 4b { prompt "x" strength: 0.2 + beat / 10 }\n')
    code = (f"import sys; from kscript import api; api.plan({str(path)!r}); "
            "print('av' in sys.modules); sys.exit('av' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_watch_mode_watches_the_song_and_a_new_song_rebuilds(tmp_path):
    import time

    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    song = write_audio(tmp_path / "song.wav", clicks(120.0, 2.5))
    path = film(tmp_path, 'audio: "song.wav"', 'scene a 2s { prompt "x" strength: 0.2 + 0.5 * onset }\n')
    state = LiveState()
    watcher = FilmWatcher(path, KscriptPipeline(preview=True), state, log=lambda line: None).start()

    def wait(pred, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            time.sleep(0.02)
        return pred()

    try:
        assert wait(lambda: state.build >= 1 and state.status == "idle")
        assert song.resolve() in watcher.watched_files()
        first = state.video().id
        write_audio(song, clicks(120.0, 2.5, first=0.5))
        assert wait(lambda: state.status == "idle" and state.video() is not None and state.video().id > first)
        assert 0 < state.last_result["frames_rendered"] < 16  # only the frames whose values changed
    finally:
        watcher.stop()


def test_the_watch_page_summary_has_the_songs_loudness_and_the_beats(tmp_path):
    from kscript.watch.summary import plan_summary

    write_audio(tmp_path / "song.wav", clicks(120.0, 2.5, first=0.0))
    summary = plan_summary(api.plan(film(tmp_path, 'audio: "song.wav" audio_smooth: 20ms',
                                         'scene a 2s { prompt "x" }\n')))
    assert summary["beats"] == [0, 4, 8, 12]  # 120 BPM at 8 fps: a beat every 4 frames
    assert summary["curve_info"][-1][0] == "audio"
    loud = summary["curves"]["audio"]
    assert len(loud) == 16 and [i for i, v in enumerate(loud) if v > 0.5] == [0, 4, 8, 12]


def test_a_camera_rate_reads_the_song_over_the_interval_its_frame_moves(tmp_path):
    """A rate is read at the middle of the interval the frame's move covers (kscript/channels.py,
    `Sample`), and an audio curve there is the peak within that interval: a click at 0.28 s
    (+ k * 0.5 s) pushes the move from 0.25 s to 0.375 s, frame 3's, while strength, read at
    each frame's own time, peaks on the frame nearest the click, frame 2 (0.25 s)."""
    write_audio(tmp_path / "song.wav", clicks(120.0, 4.5, first=0.28))
    plan = api.plan(film(tmp_path, 'audio: "song.wav" bpm: 120 audio_smooth: 20ms',
                         'scene a 4s { prompt "x" strength: 0.1 + 0.8 * onset\n  x: 50 * onset }\n'))
    unit = 50 / 100 * 64 / FPS  # pixels per frame at onset 1
    assert [f.index for f in plan.frames if f.strength > 0.5] == [2 + 4 * k for k in range(8)]
    assert [f.index for f in plan.frames if f.motion.x > 0.5 * unit] == [3 + 4 * k for k in range(8)]
