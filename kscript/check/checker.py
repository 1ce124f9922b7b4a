"""The checker: from parsed modules to a `CheckedProgram`, collecting every error.

Decisions (documented for users in docs/language.md):

- **One namespace per film.** Lets and effects defined in the film or in any file it
  imports (directly or not) are visible everywhere in it; each name may be defined once
  (E017). Lets and effects are separate namespaces (`effect NAME` only names effects).
- **Standard effects** (`stdlib_effects/*.kscene`) are visible in every file without an
  import. Their bodies see only the standard library's own lets. A user's effect of the
  same name replaces the standard one for that film, with warning W001: a film keeps its
  meaning when a new standard effect appears, and the user learns of the clash.
- **Imported files** contribute lets and effects; a film block or scenes in an imported
  file are ignored with warning W002.
- A scene needs a prompt that holds from its start (E027), also with `continue`.
- `transition crossfade` or `continue` in the first scene is E028 (`transition cut`, the
  default, is allowed anywhere).
- The channels' names, hints and rules (constant-only, whole numbers) are the table's,
  `kscript.channels`; the words of a setting with a fixed set of values (`coherence:
  none | rgb | lab`) are reserved: a `let` or parameter cannot take their names.

How it is built: each kind of item has its own handler — `_film_<setting>` for the film
block's settings, `_scene_<Node>` for a scene's items — and a step that can fail returns
None (or False). Whether compiling a curve failed is known from the `_Sink` its
diagnostics went through, never from counting errors before and after.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kscript.channels import CHANNEL_NAMES, CHANNELS, POSITIONS, meaning_hint, preset_alias, preset_hint
from kscript.check.curve_compiler import (
    BUILTIN_NAMES,
    CTX_TT,
    MUSIC_NAMES,
    CurveCompiler,
    Fn,
    Tempo,
    duration_seconds,
    no_tempo,
)
from kscript.check.loader import LoadedFiles, beside, file_span, standard_modules
from kscript.check.program import (
    COHERENCE_MODES,
    AudioSettings,
    FILM_SETTINGS,
    SCENE_SETTINGS,
    CheckedEffectUse,
    CheckedProgram,
    CheckedPrompt,
    CheckedScene,
    EffectInfo,
    FilmSettings,
    SceneImage,
)
from kscript.diagnostics import Diagnostic, did_you_mean
from kscript.errors import ScriptErrors
from kscript.limits import MAX_FPS, MAX_FRAMES, MAX_IMAGE_SIDE, MAX_SIZE, MIN_FPS, MIN_SIZE
from kscript.models import is_preview_model
from kscript.source import Span
from kscript.syntax import nodes as n

MAX_DURATION = 3600.0  # seconds: a scene of more than an hour is a typo
MIN_BPM, MAX_BPM = 1.0, 1000.0
_MUSIC_SETTINGS = ("audio", "audio_start", "audio_smooth", "bpm", "beats_per_bar")
MAX_SEED = 2**32 - 1
_PLACEHOLDER = Fn(lambda c: 0.0)  # an effect parameter while checking the body on its own
#: names that are values of a setting, not names a let or parameter may take
RESERVED_WORDS: tuple[str, ...] = COHERENCE_MODES


class _Sink:
    """Where the diagnostics of one step go: on to the checker, and remembered, so the
    step's result says whether it failed. `taint` marks the use of a broken definition
    (a let with errors), reported once where it is defined but failing every user."""

    __slots__ = ("_report", "failed")

    def __init__(self, report: Callable[[Diagnostic], None]) -> None:
        self._report = report
        self.failed = False

    def report(self, diag: Diagnostic) -> None:
        if diag.severity != "warning":
            self.failed = True
        self._report(diag)

    def taint(self) -> None:
        self.failed = True


class Namespace:
    """Lets visible in one layer (the film's files, or the standard library), compiled lazily.

    A let is compiled the first time it is used (or when the checker visits it); a let
    met again while it is being compiled is a cycle (E019). A let with errors is broken:
    every curve that uses it fails too (without repeating its errors).
    """

    def __init__(self, fps: float, report: Callable[[Diagnostic], None],
                 tempo: Tempo | None = None, music: dict[str, Fn] | None = None) -> None:
        self.fps = fps
        self.report = report
        self.tempo = tempo or Tempo()
        self.music = music or {}
        self.broken: set[str] = set()
        self.lets: dict[str, n.Let] = {}
        self.compiled: dict[str, Fn] = {}
        self._stack: list[str] = []
        self._cycles_reported: set[str] = set()

    def compiler(self, sink: _Sink, extra: dict[str, Fn] | None = None) -> CurveCompiler:
        """A curve compiler that resolves `extra` names (effect parameters) then lets,
        reporting through `sink`."""
        extra = extra or {}

        def lookup(name: str, span: Span) -> Fn | None:
            if name in extra:
                return extra[name]
            return self.let(name, sink)

        def candidates() -> Iterable[str]:
            return list(extra) + list(self.lets)

        return CurveCompiler(self.fps, lookup, candidates, sink.report, self.tempo, self.music)

    def let(self, name: str, user: _Sink) -> Fn | None:
        """The compiled let `name` (None when there is none); `user` fails when it is broken."""
        if name in self.compiled:
            if name in self.broken:
                user.taint()
            return self.compiled[name]
        decl = self.lets.get(name)
        if decl is None:
            return None
        if name in self._stack:
            chain = self._stack[self._stack.index(name):] + [name]
            first = chain[0]
            if first not in self._cycles_reported:
                self._cycles_reported.update(chain)
                self.report(Diagnostic("E019", f"let '{first}' depends on itself: {' -> '.join(chain)}",
                                       self.lets[first].name_span,
                                       hint="a let may use other lets, but not in a circle"))
            user.taint()
            return Fn.constant(0.0)
        own = _Sink(self.report)
        self._stack.append(name)
        try:
            fn = self.compiler(own).curve(decl.value)
        finally:
            self._stack.pop()
        self.compiled[name] = fn
        if own.failed:
            self.broken.add(name)
            user.taint()
        return fn


@dataclass
class _SceneState:
    """What a scene's items have said so far, while its handlers run."""

    scene: n.Scene
    index: int
    duration: float
    frames: int
    fps: float
    prompts: list[CheckedPrompt] = field(default_factory=list)
    negative: str | None = None
    negative_span: Span | None = None
    continues: Span | None = None
    transition: n.Transition | None = None
    transition_frames: int = 0
    channels: dict[str, tuple[Fn, Span]] = field(default_factory=dict)
    channel_spans: dict[str, Span] = field(default_factory=dict)
    effects: list[CheckedEffectUse] = field(default_factory=list)
    coherence: str | None = None
    camera: dict[str, tuple[Fn, Span]] = field(default_factory=dict)
    camera_spans: dict[str, Span] = field(default_factory=dict)
    image: n.InitImage | None = None


class Checker:
    def __init__(self, files: LoadedFiles, allow_library: bool = False) -> None:
        self.files = files
        self.allow_library = allow_library
        self.diags: list[Diagnostic] = [d for d in files.diagnostics if d.severity != "warning"]
        self.warnings: list[Diagnostic] = [d for d in files.diagnostics if d.severity == "warning"]
        self._effect_ok: dict[int, bool] = {}  # id(EffectInfo) -> its definition has no errors

    def report(self, diag: Diagnostic) -> None:
        if diag.severity == "warning":
            self.warnings.append(diag)
        else:
            self.diags.append(diag)

    def compile(self, ns: Namespace, node: n.Curve, extra: dict[str, Fn] | None = None) -> Fn | None:
        """A curve or expression compiled in `ns`; None when it (or a let it uses) has errors."""
        sink = _Sink(self.report)
        fn = ns.compiler(sink, extra).curve(node)
        return None if sink.failed else fn

    # ------------------------------------------------------------------ entry
    def run(self, path: str) -> CheckedProgram:
        modules = self.files.modules
        main = modules[0] if modules and modules[0].path == path else None
        film_block = main.films[0] if main is not None and main.films else None
        fps = self._peek_fps(film_block)

        # The standard library: its own namespace of lets.
        std_modules, std_sources, std_diags = standard_modules()
        for src in std_sources:
            self.files.sources.setdefault(src.path, src)
        self.diags.extend(std_diags)
        self.user = Namespace(fps, self.report)  # for bpm's constant, before the tempo is known
        tempo, music, audio = self._music(film_block, path, fps)
        self.std = Namespace(fps, self.report, tempo, music)
        self.user = Namespace(fps, self.report, tempo, music)
        self.effects: dict[str, EffectInfo] = {}
        std_effects: dict[str, EffectInfo] = {}
        for mod in std_modules:
            self._define(mod, self.std, std_effects, standard=True)
        self.effects.update(std_effects)
        user_effects: dict[str, EffectInfo] = {}
        for mod in modules:
            self._define(mod, self.user, user_effects, standard=False)
            if mod is not main:
                for item in mod.films + mod.scenes:
                    what = "film block" if isinstance(item, n.FilmBlock) else f"scene '{item.name}'"
                    self.report(
                        Diagnostic("W002", f"the {what} of an imported file is ignored", _head(item),
                                   severity="warning", hint="an imported file contributes its lets and effects")
                    )
        for name, info in user_effects.items():
            if name in std_effects:
                self.report(
                    Diagnostic("W001", f"effect '{name}' replaces the standard effect of the same name",
                               info.defn.name_span, severity="warning",
                               hint="rename it to keep the standard one available in this film")
                )
            self.effects[name] = info

        film = self._film(film_block, path, fps)
        film.audio, film.bpm, film.beats_per_bar = audio, tempo.bpm, tempo.beats_per_bar
        film.bpm_detected = self._bpm_detected
        # Every let and effect is checked, used or not.
        for ns in (self.std, self.user):
            for name in list(ns.lets):
                ns.let(name, _Sink(self.report))
        for info in self.effects.values():
            self._effect_ok[id(info)] = self._check_effect_body(info)
        self._path = path
        scenes = self._scenes(main, film, path)
        if film.depth is None:
            self._depth_needed(film, scenes)
        if audio is not None and scenes:
            self._song_covers_film(audio, sum(sc.frame_count for sc in scenes) / fps, fps)
        return CheckedProgram(
            path=path,
            film=film,
            scenes=scenes,
            effects=self.effects,
            files=self.files.sources,
            warnings=self.warnings,
        )

    def _depth_needed(self, film: FilmSettings, scenes: list[CheckedScene]) -> None:
        """E037 wherever a channel that moves the camera through a depth map (`z`) is
        written in a film without `depth:`: without depth the camera is a homography, which
        has no forward move. Reported where it is set: the film's default, a scene's channel
        or camera position, an effect's use."""
        from kscript.channels import DEPTH_CHANNELS

        hint = ('name a depth model in the film block, e.g. depth: "depth-anything/Depth-Anything-V2-Small-hf" '
                '(or depth: "preview" with the preview painter); without one use zoom, which scales the picture')
        found: list[tuple[str, Span]] = []
        for name in DEPTH_CHANNELS:
            if name in film.defaults:
                found.append((name, film.defaults[name][1]))
            for sc in scenes:
                for where in (sc.channels, sc.camera):
                    if name in where:
                        found.append((name, where[name][1]))
                for use in sc.effects:
                    if name in use.channels:
                        found.append((name, use.span))
        for name, span in found:
            self.report(Diagnostic("E037", f"{name} moves the camera through a depth map, but the film has no depth model",
                                   span, hint=hint))

    # ------------------------------------------------------------------ definitions
    def _define(self, mod: n.Module, ns: Namespace, effects: dict[str, EffectInfo], standard: bool) -> None:
        for let in mod.lets:
            if let.name in ns.music:
                self.report(Diagnostic("E017", f"'{let.name}' is a built-in name in a film with music and cannot be "
                                       "redefined", let.name_span, hint="choose another name for this let"))
                continue
            if let.name in BUILTIN_NAMES:
                self.report(Diagnostic("E017", f"'{let.name}' is a built-in name and cannot be redefined",
                                       let.name_span, hint="choose another name for this let"))
                continue
            if let.name in RESERVED_WORDS:
                self.report(Diagnostic("E017", f"'{let.name}' is a coherence mode and cannot be a let",
                                       let.name_span,
                                       hint=f"'coherence: {let.name}' always means the mode; choose another name"))
                continue
            if let.name in ns.lets:
                first = ns.lets[let.name]
                self.report(Diagnostic("E017", f"let '{let.name}' is defined twice", let.name_span,
                                       notes=(f"first defined at {first.name_span}",)))
                continue
            ns.lets[let.name] = let
        for eff in mod.effects:
            if eff.name in effects:
                first = effects[eff.name].defn
                self.report(Diagnostic("E017", f"effect '{eff.name}' is defined twice", eff.name_span,
                                       notes=(f"first defined at {first.name_span}",)))
                continue
            effects[eff.name] = EffectInfo(eff, standard, ns, mod.path)

    def _check_effect_body(self, info: EffectInfo) -> bool:
        """Check an effect's parameters and body once, with placeholder parameter values;
        whether the definition has no errors."""
        defn = info.defn
        ns: Namespace = info.namespace  # type: ignore[assignment]
        sink = _Sink(self.report)
        seen: set[str] = set()
        for p in defn.params:
            if p.name in BUILTIN_NAMES:
                sink.report(Diagnostic("E017", f"'{p.name}' is a built-in name and cannot be a parameter", p.span))
            elif p.name in RESERVED_WORDS:
                sink.report(Diagnostic("E017", f"'{p.name}' is a coherence mode and cannot be a parameter", p.span))
            elif p.name in seen:
                sink.report(Diagnostic("E017", f"parameter '{p.name}' is declared twice", p.span))
            if p.default is not None:
                # A default may use the parameters before it: `speed = amount`.
                ns.compiler(sink, {q: _PLACEHOLDER for q in seen}).expr(p.default)
            seen.add(p.name)
        self._effect_channels(defn, ns, {p.name: _PLACEHOLDER for p in defn.params}, sink, definition=True)
        return not sink.failed

    def _effect_channels(self, defn: n.EffectDef, ns: Namespace, params: dict[str, Fn], sink: _Sink,
                         definition: bool = False, use_span: Span | None = None) -> dict[str, Fn]:
        """An effect's channels compiled with `params`. At its `definition`, the body's
        own mistakes are reported; at a use (`use_span`), the table's rules for the values
        the arguments give."""
        comp = ns.compiler(sink, params)
        out: dict[str, Fn] = {}
        for a in defn.body:
            if a.name not in CHANNELS:
                if definition:
                    sink.report(Diagnostic("E011", f"unknown channel '{a.name}' in effect '{defn.name}'",
                                           a.name_span, hint=_channel_hint(a.name, CHANNEL_NAMES),
                                           notes=(_CHANNEL_LIST,)))
                continue
            if a.name in out:
                if definition:
                    sink.report(Diagnostic("E033", f"'{a.name}' is set twice in effect '{defn.name}'", a.name_span))
                continue
            if not _is_curve(a.value):
                if definition:
                    sink.report(Diagnostic("E024", f"'{a.name}' needs a number or a curve", _span(a.value),
                                           hint=_not_a_curve_hint(a.value)))
                continue
            if definition:
                self._check_keys(a.value, None, sink)
                if CHANNELS[a.name].constant_only and _changes_with_time(a.value, ns, params):
                    sink.report(Diagnostic("E031", f"{a.name} must be a constant, not a value that changes with time",
                                           _span(a.value), hint=f"in effect '{defn.name}' as in a scene"))
                    continue
            fn = comp.curve(a.value)
            if use_span is not None and not self._channel_rules(a.name, fn, use_span, sink,
                                                                f" (set by effect '{defn.name}')"):
                continue
            out[a.name] = fn
        return out

    def _channel_rules(self, name: str, fn: Fn, span: Span, sink: _Sink, where: str = "") -> bool:
        """The table's constant-only and whole-number rules for a compiled channel value."""
        rule = CHANNELS[name]
        if rule.constant_only and fn.const is None:
            sink.report(Diagnostic("E031", f"{name} must be a constant, not a value that changes with time{where}", span))
            return False
        if rule.whole and fn.const is not None and math.isfinite(fn.const) and fn.const != int(fn.const):
            if name == "steps":
                # A constant is meant as written: say so rather than round it. (A curve that
                # changes, `steps: 20 -> 40`, is rounded frame by frame, as docs/language.md says.)
                hint = (f"denoising steps are counted whole: write {_fmt(math.floor(fn.const))} "
                        f"or {_fmt(math.ceil(fn.const))}")
            else:
                hint = rule.range_hint
            message = f"{name} must be a whole number, not {_fmt(fn.const)}{where}"
            if name == "cadence" and not where:
                message = f"cadence must be a whole number from 1 to 1000, not {_fmt(fn.const)}"
            sink.report(Diagnostic("E023", message, span, hint=hint))
            return False
        if name == "cadence" and fn.const is not None and not where and not (1 <= fn.const <= 1000):
            sink.report(Diagnostic("E023", f"cadence must be a whole number from 1 to 1000, not {_fmt(fn.const)}",
                                   span, hint=rule.range_hint))
            return False
        return True

    # ------------------------------------------------------------------ music
    def _music(self, block: n.FilmBlock | None, path: str, fps: float
               ) -> tuple[Tempo, dict[str, Fn], AudioSettings | None]:
        """The film's tempo, music names and soundtrack, before any curve is compiled
        (`4b` and `bass` need them wherever they are written). The settings' handlers in
        the film block (`_film_audio`, ...) have nothing left to do."""
        self._bpm_detected = False
        found: dict[str, n.Assign] = {}
        for a in block.settings if block is not None else ():
            if a.name in _MUSIC_SETTINGS:
                found.setdefault(a.name, a)
        if not found:
            return Tempo(), {}, None
        bpm: float | None = None
        per_bar = 4
        if "beats_per_bar" in found:
            v = self._constant(found["beats_per_bar"].value, "beats_per_bar")
            if v is not None and (v != int(v) or not 1 <= v <= 64):
                self.report(Diagnostic("E023", f"beats_per_bar must be a whole number from 1 to 64, not {_fmt(v)}",
                                       _span(found["beats_per_bar"].value)))
            elif v is not None:
                per_bar = int(v)
        if "bpm" in found:
            v = self._constant(found["bpm"].value, "bpm")
            if v is not None and not (MIN_BPM <= v <= MAX_BPM):
                self.report(Diagnostic("E023", f"bpm must be from {MIN_BPM:g} to {MAX_BPM:g}, not {_fmt(v)}",
                                       _span(found["bpm"].value)))
            elif v is not None:
                bpm = v
        start = self._music_seconds(found.get("audio_start"), 0.0, fps)
        smooth = self._music_seconds(found.get("audio_smooth"), None, fps)
        audio: AudioSettings | None = None
        music: dict[str, Fn] = {}
        if "audio" in found:
            audio = self._read_audio(found["audio"], path, start or 0.0, smooth)
        elif "audio_start" in found or "audio_smooth" in found:
            a = found.get("audio_start") or found["audio_smooth"]
            self.report(Diagnostic("E036", f"{a.name} without audio", a.name_span,
                                   hint='set audio: "song.mp3" in the film block'))
        if audio is not None:
            from kscript.audio import CURVE_NAMES, detect_bpm

            analysis = audio.analysis
            if bpm is None:
                detected = detect_bpm(analysis)  # type: ignore[arg-type]
                if detected is not None:
                    bpm, self._bpm_detected = round(detected, 2), True
            offset = audio.start
            for name in CURVE_NAMES:
                music[name] = Fn(lambda c, name=name: analysis.at(name, offset + c[CTX_TT], fps))  # type: ignore[union-attr]
        if bpm is not None:
            per_second = bpm / 60.0
            music["beat"] = Fn(lambda c: c[CTX_TT] * per_second)
        return Tempo(bpm, per_bar), music, audio

    def _music_seconds(self, a: n.Assign | None, default: float | None, fps: float) -> float | None:
        """`audio_start: 12s`, `audio_smooth: 50ms`: a duration in s, ms or f, from 0 to an hour."""
        if a is None:
            return default
        v = a.value
        if not isinstance(v, n.Duration) or v.unit not in ("s", "ms", "f"):
            self.report(Diagnostic("E022" if isinstance(v, n.Duration) else "E024",
                                   f"{a.name} is a duration in seconds, such as 12s or 50ms", _span(v)))
            return default
        s = duration_seconds(v, fps)
        if not (0 <= s <= MAX_DURATION):
            self.report(Diagnostic("E023", f"{a.name} must be from 0s to an hour", v.span))
            return default
        return s

    def _read_audio(self, a: n.Assign, path: str, start: float, smooth: float | None) -> AudioSettings | None:
        text = self._film_text(None, a)  # type: ignore[arg-type]
        if text is None:
            return None
        from kscript import audio as audio_mod

        full = beside(path, text)  # as watch mode watches it (loader.named_files)
        try:
            track = audio_mod.read_audio(full)
        except audio_mod.AudioError as err:
            self.report(Diagnostic("E035", f"cannot use the audio '{text}': {err.reason}", a.value.span,
                                   hint="the path is relative to the film's folder; any format FFmpeg decodes "
                                   "(WAV, MP3, FLAC, Ogg, Opus, M4A)"))
            return None
        if start >= track.duration:
            self.report(Diagnostic("E035", f"audio_start is past the end of '{text}' ({track.duration:.2f}s long)",
                                   a.value.span))
            return None
        smooth = audio_mod.DEFAULT_SMOOTH if smooth is None else smooth
        return AudioSettings(path=full, sha256=track.sha256, start=start, smooth=smooth, duration=track.duration,
                             span=a.value.span, analysis=audio_mod.analyse(track, smooth))

    def _song_covers_film(self, audio: AudioSettings, film_seconds: float, fps: float) -> None:
        """E035 when the song (from audio_start) ends more than half a frame before the film."""
        left = audio.duration - audio.start
        if left + 0.5 / fps < film_seconds:
            self.report(Diagnostic(
                "E035", f"the song is shorter than the film: {left:.2f}s of audio from audio_start "
                f"{audio.start:g}s, for a film of {film_seconds:.2f}s", audio.span,
                hint="shorten the scenes, move audio_start earlier, or use a longer song "
                "(the audio is cut to the film's length, never padded with silence)"))

    def _film_audio(self, film: FilmSettings, a: n.Assign) -> None:
        """Read before anything else (`_music`)."""

    _film_audio_start = _film_audio_smooth = _film_bpm = _film_beats_per_bar = _film_audio

    # ------------------------------------------------------------------ film
    def _peek_fps(self, block: n.FilmBlock | None) -> float:
        """The fps, needed before anything else to turn `96f` into seconds."""
        if block is not None:
            for a in block.settings:
                if a.name == "fps" and isinstance(a.value, n.Number) and MIN_FPS <= a.value.value <= MAX_FPS:
                    return float(a.value.value)
        return 24.0

    def _film(self, block: n.FilmBlock | None, path: str, fps: float) -> FilmSettings:
        title = os.path.splitext(os.path.basename(path))[0] if path != "<string>" else "untitled"
        film = FilmSettings(title=block.title if block is not None else title, fps=fps)
        if block is None:
            return film
        film.span = block.span
        seen: dict[str, n.Assign] = {}
        for a in block.settings:
            if a.name in seen:
                self.report(Diagnostic("E033", f"'{a.name}' is set twice in the film block", a.name_span,
                                       notes=(f"first set at {seen[a.name].name_span}",)))
                continue
            seen[a.name] = a
            # A film setting first (the film's `seed` is a setting), then a channel's default.
            if a.name in FILM_SETTINGS:
                getattr(self, f"_film_{a.name}")(film, a)
            elif a.name in CHANNELS:
                self._film_channel(film, a)
            else:
                self._film_unknown(film, a)
        return film

    def _film_size(self, film: FilmSettings, a: n.Assign) -> None:
        v = a.value
        if not isinstance(v, n.SizeLit):
            self.report(Diagnostic("E024", "size is WIDTHxHEIGHT, such as 640x640", _span(v)))
            return
        ok = True
        for dim, label in ((v.width, "width"), (v.height, "height")):
            if not MIN_SIZE <= dim <= MAX_SIZE:
                self.report(Diagnostic("E023", f"the {label} {dim} is out of range: sizes go from {MIN_SIZE} to {MAX_SIZE}",
                                       v.span))
                ok = False
            elif dim % 8:
                near = max(64, int(round(dim / 8.0)) * 8)
                self.report(Diagnostic("E023", f"the {label} {dim} is not a multiple of 8", v.span,
                                       hint=f"the models work on multiples of 8: try {near}"))
                ok = False
        if ok:
            film.width, film.height = v.width, v.height

    def _film_fps(self, film: FilmSettings, a: n.Assign) -> None:
        value = self._constant(a.value, "fps")
        if value is None:
            return
        if not (MIN_FPS <= value <= MAX_FPS):
            # At least one frame an hour (a scene lasts at most an hour and at least a frame).
            self.report(Diagnostic("E023", f"fps must be from 1/3600 (a frame an hour) to {MAX_FPS:g}, not {_fmt(value)}",
                                   _span(a.value)))
            return
        film.fps = value

    def _film_seed(self, film: FilmSettings, a: n.Assign) -> None:
        value = self._constant(a.value, "seed")
        if value is None:
            return
        if value != int(value) or not (0 <= value <= MAX_SEED):
            self.report(Diagnostic("E023", f"seed must be a whole number from 0 to {MAX_SEED}, not {_fmt(value)}",
                                   _span(a.value)))
            return
        film.seed = int(value)

    def _film_text(self, film: FilmSettings, a: n.Assign) -> str | None:
        """A setting that is a string in quotes; None (reported) when it is not."""
        if not isinstance(a.value, n.StringLit):
            self.report(Diagnostic("E024", f"{a.name} is a string in quotes", _span(a.value),
                                   hint=f'for example {a.name}: "..."'))
            return None
        return a.value.value

    def _film_model(self, film: FilmSettings, a: n.Assign) -> None:
        name = self._film_model_name(film, a, 'use "preview" for the weightless preview painter')
        if name is not None:
            film.model = name

    def _film_prior(self, film: FilmSettings, a: n.Assign) -> None:
        text = self._film_text(film, a)
        if text is not None:
            film.prior = text

    def _film_inpaint(self, film: FilmSettings, a: n.Assign) -> None:
        text = self._film_text(film, a)
        if text is not None:
            film.inpaint = text

    def _film_depth(self, film: FilmSettings, a: n.Assign) -> None:
        name = self._film_model_name(
            film, a, 'name a transformers depth estimator (a folder or hub id), or "preview"')
        if name is not None:
            film.depth = name

    def _film_model_name(self, film: FilmSettings, a: n.Assign, hint: str) -> str | None:
        """A setting that names a model (`model:`, `depth:`): a non-empty string, "preview"
        in any case spelled one way in the plan and its keys; None (reported) otherwise."""
        text = self._film_text(film, a)
        if text is None:
            return None
        if not text.strip():
            self.report(Diagnostic("E023", f"{a.name} must not be empty", a.value.span, hint=hint))
            return None
        return "preview" if is_preview_model(text) else text

    def _film_negative(self, film: FilmSettings, a: n.Assign) -> None:
        text = self._film_text(film, a)
        if text is not None:
            film.negative = text

    def _film_coherence(self, film: FilmSettings, a: n.Assign) -> None:
        mode = self._coherence(a.value)
        if mode is not None:
            film.coherence = mode

    def _film_channel(self, film: FilmSettings, a: n.Assign) -> None:
        curve = self._channel_curve(a.name, a.value, None)
        if curve is not None:
            film.defaults[a.name] = curve

    def _film_unknown(self, film: FilmSettings, a: n.Assign) -> None:
        if a.name == "title":
            hint = 'the title is written after `film`: film "My title" { ... }'
        else:
            hint = _channel_hint(a.name, CHANNEL_NAMES, FILM_SETTINGS)
        self.report(Diagnostic("E011", f"unknown film setting '{a.name}'", a.name_span, hint=hint,
                               notes=("film settings: " + ", ".join(FILM_SETTINGS) + "; and every channel",)))

    def _constant(self, v: n.Value, what: str) -> float | None:
        """A number that does not change with time (fps, seed); None (reported) otherwise."""
        if isinstance(v, n.Duration):
            self.report(Diagnostic("E022", f"{what} is a number, not a duration", v.span,
                                   hint=f"write {_fmt(v.value)} without the unit"))
            return None
        if not isinstance(v, (n.Number, n.Name, n.Unary, n.Binary, n.IfExpr, n.Call)):
            self.report(Diagnostic("E024", f"{what} is a number", _span(v)))
            return None
        fn = self.compile(self.user, v)
        if fn is None:
            return None
        if fn.const is None:
            self.report(Diagnostic("E031", f"{what} must be a constant, not a value that changes with time", _span(v)))
            return None
        return fn.const

    def _channel_curve(self, name: str, v: n.Value, duration: float | None) -> tuple[Fn, Span] | None:
        """A channel's curve (film-wide default or scene's own), compiled; None when it has
        errors: a broken curve is left out, so it causes no cascade of errors downstream."""
        if not _is_curve(v):
            self.report(Diagnostic("E024", f"'{name}' needs a number or a curve", _span(v),
                                   hint=_not_a_curve_hint(v)))
            return None
        if isinstance(v, n.Duration):
            self.report(Diagnostic("E022", f"'{name}' is a number, not a duration", v.span,
                                   hint=f"write {_fmt(v.value)} without the unit"))
            return None
        sink = _Sink(self.report)
        self._check_keys(v, duration, sink)
        fn = self.user.compiler(sink).curve(v)
        if not self._channel_rules(name, fn, _span(v), sink):
            return None
        return None if sink.failed else (fn, _span(v))

    def _coherence(self, v: n.Value) -> str | None:
        word = v.value if isinstance(v, n.StringLit) else v.name if isinstance(v, n.Name) else None
        if word not in COHERENCE_MODES:
            shown = f"'{word}'" if word is not None else "this"
            self.report(Diagnostic("E024", f"coherence is one of none, rgb, lab, not {shown}", _span(v),
                                   hint=did_you_mean(word, COHERENCE_MODES) if word else None))
            return None
        return word

    # ------------------------------------------------------------------ keys
    def _check_keys(self, value: n.Value, duration: float | None, sink: _Sink) -> None:
        if not isinstance(value, n.Keys):
            return
        prev: float | None = None
        for k in value.keys:
            if k.time.unit in ("b", "bar") and self.user.tempo.bpm is None:
                return  # E036, reported where the curve is compiled
            s = duration_seconds(k.time, self.user.fps, self.user.tempo)
            if prev is not None and s <= prev:
                sink.report(Diagnostic("E025", f"keyframe at {_dur(k.time)} is not after the one before it",
                                       k.time.span, hint="write keyframes in increasing time order"))
            elif s < 0 or (duration is not None and s > duration + 1e-9):
                sink.report(Diagnostic("E025", f"keyframe at {_dur(k.time)} is outside the scene "
                                               f"(0s to {_fmt(duration or 0)}s)", k.time.span))
            prev = s if prev is None else max(prev, s)

    # ------------------------------------------------------------------ scenes
    def _scenes(self, main: n.Module | None, film: FilmSettings, path: str) -> list[CheckedScene]:
        if main is None:
            return []
        out: list[CheckedScene] = []
        names: dict[str, n.Scene] = {}
        start = 0
        for scene in main.scenes:
            if scene.name in names:
                self.report(Diagnostic("E018", f"there is already a scene named '{scene.name}'", scene.name_span,
                                       notes=(f"first defined at {names[scene.name].name_span}",),
                                       hint="scene names must be unique: they name the frames in the plan"))
            else:
                names[scene.name] = scene
            checked = self._scene(scene, len(out), start, film)
            if start + checked.frame_count > MAX_FRAMES:
                # Refused before the compiler spends a kilobyte a frame on it (#9.4).
                self.report(Diagnostic("E034", f"the film would have more than {MAX_FRAMES:,} frames "
                                       f"with scene '{scene.name}' ({start + checked.frame_count:,})",
                                       scene.duration.span, hint="a film may last "
                                       f"{MAX_FRAMES:,} frames: {MAX_FRAMES / 24 / 3600:.1f} hours at 24 fps"))
                break
            out.append(checked)
            start += checked.frame_count
        if not main.scenes and not (self.allow_library and not main.films):
            span = film.span if film.span is not None else file_span(path)
            self.report(Diagnostic("E029", "the film has no scenes", _head_span(span),
                                   hint='add one: scene opening 4s { prompt "..." }'))
        return out

    def _scene(self, scene: n.Scene, index: int, start_frame: int, film: FilmSettings) -> CheckedScene:
        fps = film.fps
        dur = self._duration(scene.duration, "scene duration")
        frames = 1
        if dur is not None:
            frames = int(math.floor(dur * fps + 0.5 + 1e-9))
            if frames < 1:
                self.report(Diagnostic("E023", f"scene '{scene.name}' is shorter than one frame at {_fmt(fps)} fps",
                                       scene.duration.span))
                frames = 1
                dur = None
        st = _SceneState(scene, index, dur if dur is not None else frames / fps, frames, fps)
        for item in scene.items:
            getattr(self, f"_scene_{type(item).__name__}")(item, st)
        image = self._scene_image(st)
        prompts = sorted(st.prompts, key=lambda p: p.start)
        if not prompts:
            self.report(Diagnostic("E027", f"scene '{scene.name}' has no prompt", scene.name_span,
                                   hint='add one: prompt "what the scene shows"'))
        elif prompts[0].start > 0:
            self.report(Diagnostic("E027", f"scene '{scene.name}' has no prompt at its start", prompts[0].span,
                                   hint="the first prompt of a scene starts at 0s: leave out its 'at' (or write 'at 0s')"))
        return CheckedScene(
            name=scene.name,
            index=index,
            duration=st.duration,
            frame_count=frames,
            start_frame=start_frame,
            prompts=prompts,
            negative=st.negative if st.negative is not None else film.negative,
            continues=st.continues is not None,
            transition=st.transition.kind if st.transition is not None and st.transition_frames else "cut",
            transition_frames=st.transition_frames,
            channels=st.channels,
            effects=st.effects,
            coherence=st.coherence or film.coherence,
            span=scene.span,
            name_span=scene.name_span,
            camera=st.camera,
            image=image,
        )

    def _scene_InitImage(self, item: n.InitImage, st: _SceneState) -> None:
        if st.image is not None:
            self.report(Diagnostic("E033", "image is written twice in this scene", item.span,
                                   notes=(f"first written at {st.image.span}",)))
            return
        st.image = item

    def _scene_image(self, st: _SceneState) -> SceneImage | None:
        """The scene's init image, read and checked now (E038), before anything renders."""
        item = st.image
        if item is None:
            return None
        if st.continues is not None:
            self.report(Diagnostic("E038", "a scene that continues cannot also start from an image", item.span,
                                   notes=(f"continue is at {st.continues}",),
                                   hint="a scene starts from the previous scene's last frame (continue) or "
                                   "from a picture (image), not both"))
            return None
        text = item.path
        if not text.strip():
            self.report(Diagnostic("E038", "the image's path is empty", item.path_span,
                                   hint='write the picture\'s file, relative to the film: image "photo.png"'))
            return None
        from kscript import images

        full = beside(self._path, text)  # as watch mode watches it (loader.named_files)
        try:
            picture = images.read_image(full)
        except images.ImageError as err:
            self.report(Diagnostic("E038", f"cannot use the image '{text}': {err.reason}", item.path_span,
                                   hint="the path is relative to the film's folder; a PNG, JPEG or WebP picture of "
                                   f"at most {MAX_IMAGE_SIDE} pixels a side"))
            return None
        return SceneImage(path=full, sha256=picture.sha256, width=picture.width, height=picture.height,
                          span=item.span)

    def _scene_Prompt(self, item: n.Prompt, st: _SceneState) -> None:
        duration = st.duration
        at = 0.0
        if item.at is not None:
            at_s = self._duration(item.at, "prompt time")
            if at_s is not None and at_s >= duration - 1e-9 and at_s > 0:
                self.report(Diagnostic("E026", f"the prompt starts at {_dur(item.at)}, "
                                               f"after the scene ends ({_fmt(duration)}s)", item.at.span,
                                       hint="'at' is the time since the scene started"))
                return
            at = at_s or 0.0
        blend = 0.0
        if item.blend is not None:
            blend = self._duration(item.blend, "blend time") or 0.0
            if blend > 0 and at + blend > duration + 1e-9:
                self.report(Diagnostic(
                    "W003", f"the blend ends at {_fmt(round(at + blend, 3))}s, after the scene ends "
                    f"({_fmt(duration)}s): this prompt never fully takes over", item.blend.span,
                    severity="warning",
                    hint=f"blend over at most {_fmt(round(duration - at, 3))}s, or start the prompt earlier"))
        clash = next((p for p in st.prompts if abs(p.start - at) < 1e-9), None)
        if clash is not None:
            self.report(Diagnostic("E033", f"two prompts start at {_fmt(at)}s in scene '{st.scene.name}'",
                                   item.span, notes=(f"the other one is at {clash.span}",),
                                   hint="give the later prompt a time: prompt \"...\" at 2s"))
            return
        st.prompts.append(CheckedPrompt(item.text, at, blend, item.span))

    def _scene_Continue(self, item: n.Continue, st: _SceneState) -> None:
        if st.continues is not None:
            self.report(Diagnostic("E033", "continue is written twice in this scene", item.span))
        elif st.index == 0:
            self.report(Diagnostic("E028", "the first scene cannot continue: there is no scene before it",
                                   item.span, hint="remove 'continue'"))
        else:
            st.continues = item.span

    def _scene_Transition(self, item: n.Transition, st: _SceneState) -> None:
        if st.transition is not None:
            self.report(Diagnostic("E033", "transition is set twice in this scene", item.span,
                                   notes=(f"first set at {st.transition.span}",)))
            return
        frames = self._transition_frames(item, st)
        if frames is not None:
            st.transition, st.transition_frames = item, frames

    def _transition_frames(self, item: n.Transition, st: _SceneState) -> int | None:
        """The transition's length in frames (0 for a cut); None (reported) when it is wrong."""
        if item.kind not in ("cut", "crossfade"):
            self.report(Diagnostic("E024", f"unknown transition '{item.kind}'", item.kind_span,
                                   hint=did_you_mean(item.kind, ("cut", "crossfade")) or "transitions: cut, crossfade"))
            return None
        if item.kind == "cut":
            return 0
        if st.index == 0:
            self.report(Diagnostic("E028", "the first scene cannot cross-fade: there is no scene before it",
                                   item.span, hint="remove the transition"))
            return None
        if item.duration is None:
            self.report(Diagnostic("E004", "a crossfade needs a duration", item.span,
                                   hint="for example: transition crossfade 12f"))
            return None
        d = self._duration(item.duration, "crossfade time")
        if d is None:
            return None
        nf = int(math.floor(d * st.fps + 0.5 + 1e-9))
        if nf < 1 or nf > st.frames:
            self.report(Diagnostic("E023", f"the crossfade lasts {nf} frame{'s' if nf != 1 else ''}; "
                                           f"it must last 1 to {st.frames} (the scene's length)", item.duration.span))
            return None
        return nf

    def _scene_EffectUse(self, item: n.EffectUse, st: _SceneState) -> None:
        use = self._effect_use(item, st.duration, st.frames, st.fps)
        if use is not None:
            st.effects.append(use)

    def _scene_Assign(self, item: n.Assign, st: _SceneState) -> None:
        name = item.name
        if name in st.channel_spans:
            self.report(Diagnostic("E033", f"'{name}' is set twice in scene '{st.scene.name}'", item.name_span,
                                   notes=(f"first set at {st.channel_spans[name]}",)))
            return
        st.channel_spans[name] = item.name_span
        if name == "coherence":
            st.coherence = self._coherence(item.value) or st.coherence
        elif name == "negative":
            if not isinstance(item.value, n.StringLit):
                self.report(Diagnostic("E024", "negative is a string in quotes", _span(item.value)))
            else:  # set twice is caught above, like any setting (the old `negative "x"` is an Assign too)
                st.negative, st.negative_span = item.value.value, item.span
        elif name in CHANNELS:
            curve = self._channel_curve(name, item.value, st.duration)
            if curve is not None:
                st.channels[name] = curve
        elif name == "image":
            self.report(Diagnostic("E001", "'image' takes no colon", item.name_span,
                                   hint='write image "photo.png": a statement, like continue'))
        else:
            # (`prompt:`, `effect:` ... never get here: the parser reads them as their
            # statements and reports the colon, E001.)
            hint = _channel_hint(name, CHANNEL_NAMES, SCENE_SETTINGS)
            self.report(Diagnostic("E011", f"unknown scene setting '{name}'", item.name_span, hint=hint,
                                   notes=(_CHANNEL_LIST + "; scene settings: " + ", ".join(SCENE_SETTINGS),)))

    def _scene_Camera(self, item: n.Camera, st: _SceneState) -> None:
        """`camera { zoom: keys {...} }`: where the camera is, per channel (POSITIONS)."""
        for a in item.positions:
            if a.name not in POSITIONS:
                hint = (f"{a.name} is not a camera position: set it as a channel of the scene ({a.name}: ...)"
                        if a.name in CHANNELS else _channel_hint(a.name, POSITIONS))
                self.report(Diagnostic("E011", f"unknown camera position '{a.name}'", a.name_span, hint=hint,
                                       notes=("camera positions: " + ", ".join(POSITIONS),)))
                continue
            if a.name in st.camera_spans:
                self.report(Diagnostic("E033", f"the camera's {a.name} is set twice in scene '{st.scene.name}'",
                                       a.name_span, notes=(f"first set at {st.camera_spans[a.name]}",)))
                continue
            st.camera_spans[a.name] = a.name_span
            curve = self._channel_curve(a.name, a.value, st.duration)
            if curve is not None:
                st.camera[a.name] = curve

    def _duration(self, d: n.Duration, what: str) -> float | None:
        if not isinstance(d, n.Duration):
            self.report(Diagnostic("E004", f"the {what} must be a duration", _span(d),
                                   hint="write a unit: 4s, 500ms or 96f"))
            return None
        if d.unit in ("b", "bar") and self.user.tempo.bpm is None:
            self.report(no_tempo(d))
            return None
        if d.unit not in ("s", "ms", "f", "b", "bar"):
            self.report(Diagnostic("E004", f"the {what} must be a duration such as 4s, 500ms or 96f", d.span,
                                   hint=f"write {_fmt(d.value)}s for seconds or {_fmt(d.value)}f for frames"))
            return None
        s = duration_seconds(d, self.user.fps, self.user.tempo)
        if not math.isfinite(s) or s < 0:
            self.report(Diagnostic("E023", f"the {what} must not be negative", d.span))
            return None
        if s > MAX_DURATION:
            self.report(Diagnostic("E023", f"the {what} {_dur(d)} is longer than an hour", d.span))
            return None
        if what == "scene duration" and s <= 0:
            self.report(Diagnostic("E023", "a scene must last more than 0s", d.span))
            return None
        return s

    # ------------------------------------------------------------------ effect uses
    def _effect_use(self, use: n.EffectUse, duration: float, frames: int, fps: float) -> CheckedEffectUse | None:
        info = self.effects.get(use.name)
        if info is None and (alias := preset_alias(use.name)) is not None:
            # a Deforum-Kandinsky preset name is an alias of its standard effect
            # (kscript.channels.DEFORUM_PRESETS), unless the film defines that name itself
            info = self.effects.get(alias)
        if info is None:
            hint = (preset_hint(use.name) or did_you_mean(use.name, self.effects)
                    or "kscript effects lists the standard effects")
            self.report(Diagnostic("E012", f"unknown effect '{use.name}'", use.name_span, hint=hint))
            for arg in use.args:  # still check what the arguments say
                self.compile(self.user, arg.value)
            return None
        defn = info.defn
        given = self._effect_arguments(use, defn)
        window = self._effect_window(use, duration, frames, fps)
        # Bind: the arguments are compiled where the effect is used (the film's lets), the
        # defaults where it is defined.
        sink = _Sink(self.report)
        ns: Namespace = info.namespace  # type: ignore[assignment]
        bound: dict[str, Fn] = {}
        for p in defn.params:
            if given is not None and p.name in given:
                bound[p.name] = self.user.compiler(sink).expr(given[p.name])
            elif p.default is not None:
                bound[p.name] = ns.compiler(sink, dict(bound)).expr(p.default)
            else:
                bound[p.name] = Fn.constant(0.0)
        defined = self._effect_ok.get(id(info), False)
        channels = self._effect_channels(defn, ns, bound, sink, use_span=use.span if defined else None)
        if given is None or window is None or sink.failed or not defined:
            return None
        span_window, frame_window = window
        return CheckedEffectUse(use.name, channels, span_window, use.span, frame_window)

    def _effect_arguments(self, use: n.EffectUse, defn: n.EffectDef) -> dict[str, n.Expr] | None:
        """The arguments by parameter name; None (reported) when they do not fit the parameters."""
        params = {p.name: p for p in defn.params}
        order = [p.name for p in defn.params]
        given: dict[str, n.Expr] = {}
        ok = True
        positional = 0
        for arg in use.args:
            if arg.name is None:
                if positional >= len(order):
                    if positional == len(order):  # report once, at the first one too many
                        count = sum(1 for a in use.args if a.name is None)
                        self.report(Diagnostic("E016", f"effect '{use.name}' takes {len(order)} argument"
                                                       f"{'s' if len(order) != 1 else ''}, not {count}", arg.span,
                                               hint=_signature(defn)))
                    ok = False
                    positional += 1
                    continue
                pname = order[positional]
                positional += 1
            else:
                pname = arg.name
                if pname not in params:
                    self.report(Diagnostic("E015", f"effect '{use.name}' has no parameter '{pname}'", arg.span,
                                           hint=did_you_mean(pname, order) or _signature(defn)))
                    ok = False
                    continue
            if pname in given:
                self.report(Diagnostic("E016", f"parameter '{pname}' is given twice", arg.span))
                ok = False
                continue
            given[pname] = arg.value
        missing = [p.name for p in defn.params if p.default is None and p.name not in given]
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            self.report(Diagnostic("E016", f"effect '{use.name}' needs a value for {names}", use.span,
                                   hint=_signature(defn)))
            ok = False
        if not ok:
            # Still compile what was given, for its own errors.
            for value in given.values():
                self.compile(self.user, value)
            return None
        return given

    def _effect_window(self, use: n.EffectUse, duration: float, frames: int, fps: float
                       ) -> tuple[tuple[float, float] | None, tuple[int, int] | None] | None:
        """(seconds, frames) of `from A to B` ((None, None) without one); None (reported) when wrong."""
        if use.window_from is None and use.window_to is None:
            return None, None
        a = self._duration(use.window_from, "window start") if use.window_from is not None else 0.0
        b = self._duration(use.window_to, "window end") if use.window_to is not None else duration
        if a is None or b is None:
            return None
        if b > duration + 1e-9:
            self.report(Diagnostic("E023", f"the effect window ends at {_fmt(b)}s, after the scene "
                                           f"({_fmt(duration)}s)", use.span))
            return None
        f0 = math.ceil(a * fps - 1e-9)
        f1 = math.ceil(b * fps - 1e-9) - 1  # frames with a <= f/fps < b
        if b >= duration - 1e-9:
            f1 = frames - 1
        if b <= a or f1 < f0:
            self.report(Diagnostic("E030", f"the effect window from {_fmt(a)}s to {_fmt(b)}s holds no frame",
                                   use.span, hint="the window is 'from START to END' with START before END"))
            return None
        return (a, b), (f0, f1)


# ----------------------------------------------------------------------------- helpers

_CHANNEL_LIST = "channels: " + ", ".join(CHANNEL_NAMES)


def _channel_hint(name: str, channels: Iterable[str], settings: Iterable[str] = ()) -> str | None:
    """A hint for an unknown channel or setting: by meaning first (`rotation` -> angle),
    then by spelling."""
    return meaning_hint(name) or did_you_mean(name, tuple(channels) + tuple(settings))


def _changes_with_time(value: n.Value, ns: Namespace, params: dict[str, Fn]) -> bool:
    """Whether a curve of an effect's body depends on time whatever its arguments are:
    compiled quietly with every parameter a constant (its errors are reported elsewhere)."""
    one = Fn.constant(1.0)
    quiet = _Sink(lambda d: None)

    def lookup(name: str, span: Span) -> Fn | None:
        return one if name in params else ns.let(name, quiet)

    return CurveCompiler(ns.fps, lookup, lambda: (), quiet.report, ns.tempo, ns.music).curve(value).const is None


def _is_curve(v: object) -> bool:
    return isinstance(v, (n.Number, n.Duration, n.Name, n.Unary, n.Binary, n.IfExpr, n.Call, n.Ramp, n.Keys))


def _not_a_curve_hint(v: object) -> str | None:
    """Help for a string where a curve belongs: most often a Deforum schedule pasted in."""
    if isinstance(v, n.StringLit):
        return ("write a curve without quotes: a number, an expression or keys { 0s: 1, 2s: 1.2 }; "
                "`kscript import deforum` converts Deforum schedules such as \"0:(1.02)\"")
    return None


def _span(node: object) -> Span:
    return getattr(node, "span")


def _head(item: object) -> Span:
    return getattr(item, "name_span", None) or _head_span(getattr(item, "span"))


def _head_span(span: Span) -> Span:
    if span.end_line != span.line:
        return Span(span.file, span.line, span.col, span.line, span.col + 1)
    return span


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "infinite" if not math.isnan(x) else "not a number"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _dur(d: n.Duration) -> str:
    return f"{_fmt(d.value)}{d.unit}"


def _signature(defn: n.EffectDef) -> str:
    parts = []
    for p in defn.params:
        parts.append(p.name if p.default is None else f"{p.name} = ...")
    return f"{defn.name}({', '.join(parts)})"


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    out = []
    for d in diags:
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def collect(
    files: LoadedFiles, path: str, allow_library: bool = False
) -> tuple[CheckedProgram | None, list[Diagnostic], list[Diagnostic]]:
    """Check parsed files without raising: (program, errors, warnings).

    The program is None only when the film itself could not be parsed. With errors, it
    is still a usable program: each broken curve, effect use or setting is left out (so
    the compiler can still look for range errors elsewhere without cascades).
    With `allow_library`, a file with neither a film block nor scenes (lets and effects
    for others to import) is fine, and its program has no scenes.
    """
    checker = Checker(files, allow_library)
    try:
        program: CheckedProgram | None = checker.run(path)
    except RecursionError:
        checker.diags.append(Diagnostic("E024", "the script nests too deeply to check", file_span(path)))
        program = None
    main_parsed = bool(files.modules) and files.modules[0].path == path
    if not main_parsed:
        program = None
    return program, _dedupe(checker.diags), _dedupe(checker.warnings)


def check_files(files: LoadedFiles, path: str) -> CheckedProgram:
    """Check parsed files; raise `ScriptErrors` with every error (and warning) found."""
    program, errors, warnings = collect(files, path)
    if errors or program is None:
        raise ScriptErrors(errors + warnings, files.sources)
    program.warnings = warnings
    return program
