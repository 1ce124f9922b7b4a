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
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

from kscript.check.loader import LoadedFiles, file_span, standard_modules
from kscript.check.program import (
    CHANNELS,
    COHERENCE_MODES,
    FILM_SETTINGS,
    SCENE_SETTINGS,
    CheckedEffectUse,
    CheckedProgram,
    CheckedPrompt,
    CheckedScene,
    EffectInfo,
    FilmSettings,
)
from kscript.check.curve_compiler import BUILTIN_NAMES, CurveCompiler, Fn, duration_seconds
from kscript.diagnostics import Diagnostic, did_you_mean
from kscript.errors import ScriptErrors
from kscript.limits import MAX_FPS, MAX_FRAMES, MAX_SIZE, MIN_SIZE
from kscript.models import is_preview_model
from kscript.source import Span
from kscript.syntax import nodes as n

MAX_DURATION = 3600.0  # seconds: a scene of more than an hour is a typo
MAX_SEED = 2**32 - 1
_PLACEHOLDER = Fn(lambda c: 0.0)  # an effect parameter while checking the body on its own


class Namespace:
    """Lets visible in one layer (the film's files, or the standard library), compiled lazily.

    A let is compiled the first time it is used (or when the checker visits it); a let
    met again while it is being compiled is a cycle (E019).
    """

    def __init__(self, fps: float, report: Callable[[Diagnostic], None],
                 mark: Callable[[], int] = lambda: 0, taint: Callable[[], None] = lambda: None) -> None:
        self.fps = fps
        self.report = report
        self.mark = mark  # the checker's error count, to see whether compiling a let failed
        self.taint = taint  # called when a curve uses a broken let: the curve is broken too
        self.broken: set[str] = set()
        self.lets: dict[str, n.Let] = {}
        self.compiled: dict[str, Fn] = {}
        self._stack: list[str] = []
        self._cycles_reported: set[str] = set()
        self.effect_names: Callable[[], Iterable[str]] = lambda: ()

    def candidates(self) -> Iterable[str]:
        return self.lets.keys()

    def compiler(self, extra: dict[str, Fn] | None = None) -> CurveCompiler:
        """A curve compiler that resolves `extra` names (effect parameters) then lets."""
        extra = extra or {}

        def lookup(name: str, span: Span) -> Fn | None:
            if name in extra:
                return extra[name]
            return self.let(name)

        def candidates() -> Iterable[str]:
            return list(extra) + list(self.lets)

        return CurveCompiler(self.fps, lookup, candidates, self.report)

    def let(self, name: str) -> Fn | None:
        if name in self.compiled:
            if name in self.broken:
                self.taint()
            return self.compiled[name]
        decl = self.lets.get(name)
        if decl is None:
            return None
        if name in self._stack:
            chain = self._stack[self._stack.index(name):] + [name]
            first = chain[0]
            if first not in self._cycles_reported:
                self._cycles_reported.update(chain)
                head = self.lets[first]
                self.report(
                    Diagnostic(
                        "E019",
                        f"let '{first}' depends on itself: {' -> '.join(chain)}",
                        head.name_span,
                        hint="a let may use other lets, but not in a circle",
                    )
                )
            self.taint()
            return Fn.constant(0.0)
        self._stack.append(name)
        before = self.mark()
        try:
            fn = self.compiler().curve(decl.value)
        finally:
            self._stack.pop()
        self.compiled[name] = fn
        if self.mark() > before:
            self.broken.add(name)
            self.taint()
        return fn


class Checker:
    def __init__(self, files: LoadedFiles, allow_library: bool = False) -> None:
        self.files = files
        self.allow_library = allow_library
        self.diags: list[Diagnostic] = list(files.diagnostics)
        self.warnings: list[Diagnostic] = []
        self._broken: set[int] = set()  # effects whose definitions have errors
        self._tainted = 0  # uses of broken lets: counted like errors, reported once

    def _mark(self) -> int:
        """Grows whenever an error is found or a broken definition is used."""
        return len(self.diags) + self._tainted

    def _taint(self) -> None:
        self._tainted += 1

    def report(self, diag: Diagnostic) -> None:
        if diag.severity == "warning":
            self.warnings.append(diag)
        else:
            self.diags.append(diag)

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
        self.std = Namespace(fps, self.report, self._mark, self._taint)
        self.user = Namespace(fps, self.report, self._mark, self._taint)
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
        for ns in (self.std, self.user):
            ns.effect_names = lambda: self.effects.keys()

        film = self._film(film_block, main, path, fps)
        # Every let and effect is checked, used or not.
        for ns in (self.std, self.user):
            for name in list(ns.lets):
                ns.let(name)
        for info in self.effects.values():
            self._check_effect_body(info)
        scenes = self._scenes(main, film, path)
        return CheckedProgram(
            path=path,
            film=film,
            scenes=scenes,
            effects=self.effects,
            files=self.files.sources,
            warnings=self.warnings,
        )

    # ------------------------------------------------------------------ definitions
    def _define(self, mod: n.Module, ns: Namespace, effects: dict[str, EffectInfo], standard: bool) -> None:
        for let in mod.lets:
            if let.name in BUILTIN_NAMES:
                self.report(Diagnostic("E017", f"'{let.name}' is a built-in name and cannot be redefined",
                                       let.name_span, hint="choose another name for this let"))
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

    def _broken_effect(self, info: EffectInfo) -> bool:
        return id(info) in self._broken

    def _check_effect_body(self, info: EffectInfo) -> None:
        """Check an effect's parameters and body once, with placeholder parameter values."""
        before = self._mark()
        self._check_effect_body_(info)
        if self._mark() > before:
            self._broken.add(id(info))

    def _check_effect_body_(self, info: EffectInfo) -> None:
        defn = info.defn
        ns: Namespace = info.namespace  # type: ignore[assignment]
        seen: set[str] = set()
        for p in defn.params:
            if p.name in BUILTIN_NAMES:
                self.report(Diagnostic("E017", f"'{p.name}' is a built-in name and cannot be a parameter", p.span))
            elif p.name in seen:
                self.report(Diagnostic("E017", f"parameter '{p.name}' is declared twice", p.span))
            if p.default is not None:
                # A default may use the parameters before it: `speed = amount`.
                ns.compiler({q: _PLACEHOLDER for q in seen}).expr(p.default)
            seen.add(p.name)
        self._effect_channels(defn, ns, {p.name: _PLACEHOLDER for p in defn.params}, report_sets=True)

    def _effect_channels(self, defn: n.EffectDef, ns: Namespace, params: dict[str, Fn],
                         report_sets: bool = False) -> dict[str, Fn]:
        comp = ns.compiler(params)
        out: dict[str, Fn] = {}
        for a in defn.body:
            if a.name not in CHANNELS:
                if report_sets:
                    self.report(Diagnostic("E011", f"unknown channel '{a.name}' in effect '{defn.name}'",
                                           a.name_span, hint=did_you_mean(a.name, CHANNELS)))
                continue
            if a.name in out:
                if report_sets:
                    self.report(Diagnostic("E033", f"'{a.name}' is set twice in effect '{defn.name}'", a.name_span))
                continue
            if not _is_curve(a.value):
                if report_sets:
                    self.report(Diagnostic("E024", f"'{a.name}' needs a number or a curve", _span(a.value)))
                continue
            if report_sets:
                self._check_keys(a.value, None)
            out[a.name] = comp.curve(a.value)
        return out

    # ------------------------------------------------------------------ film
    def _peek_fps(self, block: n.FilmBlock | None) -> float:
        """The fps, needed before anything else to turn `96f` into seconds."""
        if block is not None:
            for a in block.settings:
                if a.name == "fps" and isinstance(a.value, n.Number) and 0 < a.value.value <= 240:
                    return float(a.value.value)
        return 24.0

    def _film(self, block: n.FilmBlock | None, main: n.Module | None, path: str, fps: float) -> FilmSettings:
        import os

        title = os.path.splitext(os.path.basename(path))[0] if path != "<string>" else "untitled"
        film = FilmSettings(title=block.title if block is not None else title, fps=fps)
        if block is None:
            return film
        film.span = block.span
        seen: dict[str, n.Assign] = {}
        comp = self.user.compiler()
        for a in block.settings:
            name = a.name
            if name in seen:
                self.report(Diagnostic("E033", f"'{name}' is set twice in the film block", a.name_span,
                                       notes=(f"first set at {seen[name].name_span}",)))
                continue
            seen[name] = a
            v = a.value
            if name == "size":
                if not isinstance(v, n.SizeLit):
                    self.report(Diagnostic("E024", "size is WIDTHxHEIGHT, such as 640x640", _span(v)))
                    continue
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
            elif name == "fps":
                value = self._constant(v, comp, "fps", number_only=True)
                if value is None:
                    continue
                if not (0 < value <= MAX_FPS):
                    self.report(Diagnostic("E023", f"fps must be more than 0 and at most {MAX_FPS:g}, not {_fmt(value)}",
                                           _span(v)))
                else:
                    film.fps = value
            elif name == "seed":
                value = self._constant(v, comp, "seed", number_only=True)
                if value is None:
                    continue
                if value != int(value) or not (0 <= value <= MAX_SEED):
                    self.report(Diagnostic("E023", f"seed must be a whole number from 0 to {MAX_SEED}, not {_fmt(value)}",
                                           _span(v)))
                else:
                    film.seed = int(value)
            elif name in ("model", "prior", "inpaint", "negative"):
                if not isinstance(v, n.StringLit):
                    self.report(Diagnostic("E024", f"{name} is a string in quotes", _span(v),
                                           hint=f'for example {name}: "..."'))
                    continue
                if name == "model" and not v.value.strip():
                    self.report(Diagnostic("E023", "model must not be empty", v.span,
                                           hint='use "preview" for the weightless preview painter'))
                    continue
                if name == "model" and is_preview_model(v.value):
                    film.model = "preview"  # "Preview" too: one spelling in the plan and its keys
                    continue
                setattr(film, name, v.value)
            elif name == "coherence":
                mode = self._coherence(v)
                if mode is not None:
                    film.coherence = mode
            elif name in CHANNELS:
                curve = self._channel_curve(name, v, comp, None)
                if curve is not None:
                    film.defaults[name] = curve
            else:
                self.report(Diagnostic("E011", f"unknown film setting '{name}'", a.name_span,
                                       hint=did_you_mean(name, FILM_SETTINGS + CHANNELS)))
        return film

    def _constant(self, v: n.Value, comp: CurveCompiler, what: str, number_only: bool = False) -> float | None:
        if isinstance(v, n.Duration) and number_only:
            self.report(Diagnostic("E022", f"{what} is a number, not a duration", v.span,
                                   hint=f"write {_fmt(v.value)} without the unit"))
            return None
        if not isinstance(v, (n.Number, n.Duration, n.Name, n.Unary, n.Binary, n.IfExpr, n.Call)):
            self.report(Diagnostic("E024", f"{what} is a number", _span(v)))
            return None
        fn = comp.expr(v)
        if fn.const is None:
            self.report(Diagnostic("E031", f"{what} must be a constant, not a value that changes with time", _span(v)))
            return None
        return fn.const

    def _channel_curve(
        self, name: str, v: n.Value, comp: CurveCompiler, duration: float | None
    ) -> tuple[Fn, Span] | None:
        """A channel's curve (film-wide default or scene's own), compiled; None when it has
        errors: a broken curve is left out, so it causes no cascade of errors downstream."""
        if not _is_curve(v):
            self.report(Diagnostic("E024", f"'{name}' needs a number or a curve", _span(v)))
            return None
        if isinstance(v, n.Duration):
            self.report(Diagnostic("E022", f"'{name}' is a number, not a duration", v.span,
                                   hint=f"write {_fmt(v.value)} without the unit"))
            return None
        before = self._mark()
        self._check_keys(v, duration)
        fn = comp.curve(v)
        if name == "cadence":
            self._cadence(fn, _span(v))
        elif name == "steps" and fn.const is not None and fn.const != int(fn.const):
            # A constant is meant as written: say so rather than round it. (A curve that
            # changes, `steps: 20 -> 40`, is rounded frame by frame, as docs/language.md says.)
            self.report(Diagnostic("E023", f"steps must be a whole number, not {_fmt(fn.const)}", _span(v),
                                   hint=f"denoising steps are counted whole: write {_fmt(math.floor(fn.const))} "
                                   f"or {_fmt(math.ceil(fn.const))}"))
        return (fn, _span(v)) if self._mark() == before else None

    def _coherence(self, v: n.Value) -> str | None:
        word = v.value if isinstance(v, n.StringLit) else v.name if isinstance(v, n.Name) else None
        if word not in COHERENCE_MODES:
            shown = f"'{word}'" if word is not None else "this"
            self.report(Diagnostic("E024", f"coherence is one of none, rgb, lab, not {shown}", _span(v),
                                   hint=did_you_mean(word, COHERENCE_MODES) if word else None))
            return None
        return word

    def _cadence(self, fn: Fn, span: Span) -> None:
        if fn.const is None:
            self.report(Diagnostic("E031", "cadence must be a constant, not a value that changes with time", span))
        elif fn.const != int(fn.const) or not (1 <= fn.const <= 1000):
            self.report(Diagnostic("E023", f"cadence must be a whole number from 1 to 1000, not {_fmt(fn.const)}",
                                   span, hint="cadence N runs the model on every Nth frame"))

    # ------------------------------------------------------------------ keys
    def _check_keys(self, value: n.Value, duration: float | None) -> None:
        if not isinstance(value, n.Keys):
            return
        prev: float | None = None
        for k in value.keys:
            s = duration_seconds(k.time, self.user.fps)
            if prev is not None and s <= prev:
                self.report(Diagnostic("E025", f"keyframe at {_dur(k.time)} is not after the one before it",
                                       k.time.span, hint="write keyframes in increasing time order"))
            elif s < 0 or (duration is not None and s > duration + 1e-9):
                self.report(Diagnostic("E025", f"keyframe at {_dur(k.time)} is outside the scene "
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
            if checked is not None:
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

    def _scene(self, scene: n.Scene, index: int, start_frame: int, film: FilmSettings) -> CheckedScene | None:
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
        duration = dur if dur is not None else frames / fps
        comp = self.user.compiler()
        prompts: list[CheckedPrompt] = []
        negative: str | None = None
        negative_span: Span | None = None
        continues: Span | None = None
        transition: n.Transition | None = None
        transition_frames = 0
        channels: dict[str, tuple[Fn, Span]] = {}
        channel_spans: dict[str, Span] = {}
        effects: list[CheckedEffectUse] = []
        coherence: str | None = None
        for item in scene.items:
            if isinstance(item, n.Prompt):
                at = 0.0
                if item.at is not None:
                    at_s = self._duration(item.at, "prompt time")
                    if at_s is not None and at_s >= duration - 1e-9 and at_s > 0:
                        self.report(Diagnostic("E026", f"the prompt starts at {_dur(item.at)}, "
                                                       f"after the scene ends ({_fmt(duration)}s)", item.at.span,
                                               hint="'at' is the time since the scene started"))
                        continue
                    at = at_s or 0.0
                blend = 0.0
                if item.blend is not None:
                    b = self._duration(item.blend, "blend time")
                    blend = b or 0.0
                    if blend > 0 and at + blend > duration + 1e-9:
                        self.report(Diagnostic(
                            "W003", f"the blend ends at {_fmt(round(at + blend, 3))}s, after the scene ends "
                            f"({_fmt(duration)}s): this prompt never fully takes over", item.blend.span,
                            severity="warning",
                            hint=f"blend over at most {_fmt(round(duration - at, 3))}s, or start the prompt earlier"))
                clash = next((p for p in prompts if abs(p.start - at) < 1e-9), None)
                if clash is not None:
                    self.report(Diagnostic("E033", f"two prompts start at {_fmt(at)}s in scene '{scene.name}'",
                                           item.span, notes=(f"the other one is at {clash.span}",),
                                           hint="give the later prompt a time: prompt \"...\" at 2s"))
                    continue
                prompts.append(CheckedPrompt(item.text, at, blend, item.span))
            elif isinstance(item, n.Negative):
                if negative_span is not None:
                    self.report(Diagnostic("E033", "negative is set twice in this scene", item.span,
                                           notes=(f"first set at {negative_span}",)))
                    continue
                negative, negative_span = item.text, item.span
            elif isinstance(item, n.Continue):
                if continues is not None:
                    self.report(Diagnostic("E033", "continue is written twice in this scene", item.span))
                elif index == 0:
                    self.report(Diagnostic("E028", "the first scene cannot continue: there is no scene before it",
                                           item.span, hint="remove 'continue'"))
                else:
                    continues = item.span
            elif isinstance(item, n.Transition):
                if transition is not None:
                    self.report(Diagnostic("E033", "transition is set twice in this scene", item.span,
                                           notes=(f"first set at {transition.span}",)))
                    continue
                transition = item
                if item.kind not in ("cut", "crossfade"):
                    self.report(Diagnostic("E024", f"unknown transition '{item.kind}'", item.kind_span,
                                           hint=did_you_mean(item.kind, ("cut", "crossfade")) or "transitions: cut, crossfade"))
                    transition = None
                    continue
                if item.kind == "crossfade":
                    if index == 0:
                        self.report(Diagnostic("E028", "the first scene cannot cross-fade: there is no scene before it",
                                               item.span, hint="remove the transition"))
                        transition = None
                        continue
                    if item.duration is None:
                        self.report(Diagnostic("E004", "a crossfade needs a duration", item.span,
                                               hint="for example: transition crossfade 12f"))
                        transition = None
                        continue
                    d = self._duration(item.duration, "crossfade time")
                    if d is None:
                        transition = None
                        continue
                    nf = int(math.floor(d * fps + 0.5 + 1e-9))
                    if nf < 1 or nf > frames:
                        self.report(Diagnostic("E023", f"the crossfade lasts {nf} frame{'s' if nf != 1 else ''}; "
                                                       f"it must last 1 to {frames} (the scene's length)",
                                               item.duration.span))
                        transition = None
                        continue
                    transition_frames = nf
            elif isinstance(item, n.EffectUse):
                use = self._effect_use(item, duration, frames, fps)
                if use is not None:
                    effects.append(use)
            elif isinstance(item, n.Assign):
                name = item.name
                if name in channel_spans:
                    self.report(Diagnostic("E033", f"'{name}' is set twice in scene '{scene.name}'", item.name_span,
                                           notes=(f"first set at {channel_spans[name]}",)))
                    continue
                channel_spans[name] = item.name_span
                if name == "coherence":
                    coherence = self._coherence(item.value) or coherence
                elif name == "negative":
                    if not isinstance(item.value, n.StringLit):
                        self.report(Diagnostic("E024", "negative is a string in quotes", _span(item.value)))
                    elif negative_span is not None:
                        self.report(Diagnostic("E033", "negative is set twice in this scene", item.span))
                    else:
                        negative, negative_span = item.value.value, item.span
                elif name in CHANNELS:
                    curve = self._channel_curve(name, item.value, comp, duration)
                    if curve is not None:
                        channels[name] = curve
                else:
                    self.report(Diagnostic("E011", f"unknown scene setting '{name}'", item.name_span,
                                           hint=did_you_mean(name, CHANNELS + SCENE_SETTINGS + ("prompt",))))
        prompts.sort(key=lambda p: p.start)
        if not prompts:
            self.report(Diagnostic("E027", f"scene '{scene.name}' has no prompt", scene.name_span,
                                   hint='add one: prompt "what the scene shows"'))
        elif prompts[0].start > 0:
            self.report(Diagnostic("E027", f"scene '{scene.name}' has no prompt at its start", prompts[0].span,
                                   hint="the first prompt of a scene starts at 0s: leave out its 'at' (or write 'at 0s')"))
        return CheckedScene(
            name=scene.name,
            index=index,
            duration=duration,
            frame_count=frames,
            start_frame=start_frame,
            prompts=prompts,
            negative=negative if negative is not None else film.negative,
            continues=continues is not None,
            transition=transition.kind if transition is not None and transition_frames else "cut",
            transition_frames=transition_frames,
            channels=channels,
            effects=effects,
            coherence=coherence or film.coherence,
            span=scene.span,
            name_span=scene.name_span,
        )

    def _duration(self, d: n.Duration, what: str) -> float | None:
        if not isinstance(d, n.Duration):
            self.report(Diagnostic("E004", f"the {what} must be a duration", _span(d),
                                   hint="write a unit: 4s, 500ms or 96f"))
            return None
        if d.unit not in ("s", "ms", "f"):
            self.report(Diagnostic("E004", f"the {what} must be a duration such as 4s, 500ms or 96f", d.span,
                                   hint=f"write {_fmt(d.value)}s for seconds or {_fmt(d.value)}f for frames"))
            return None
        s = duration_seconds(d, self.user.fps)
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

    def _effect_use(self, use: n.EffectUse, duration: float, frames: int, fps: float) -> CheckedEffectUse | None:
        info = self.effects.get(use.name)
        if info is None:
            self.report(Diagnostic("E012", f"unknown effect '{use.name}'", use.name_span,
                                   hint=did_you_mean(use.name, self.effects) or "kscript effects lists the standard effects"))
            for arg in use.args:  # still check what the arguments say
                self.user.compiler().expr(arg.value)
            return None
        defn = info.defn
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
        window = None
        window_frames = None
        if use.window_from is not None or use.window_to is not None:
            a = self._duration(use.window_from, "window start") if use.window_from is not None else 0.0
            b = self._duration(use.window_to, "window end") if use.window_to is not None else duration
            if a is None or b is None:
                ok = False
            elif b > duration + 1e-9:
                self.report(Diagnostic("E023", f"the effect window ends at {_fmt(b)}s, after the scene "
                                               f"({_fmt(duration)}s)", use.span))
                ok = False
            else:
                f0 = math.ceil(a * fps - 1e-9)
                f1 = math.ceil(b * fps - 1e-9) - 1  # frames with a <= f/fps < b
                if b >= duration - 1e-9:
                    f1 = frames - 1
                if b <= a or f1 < f0:
                    self.report(Diagnostic("E030", f"the effect window from {_fmt(a)}s to {_fmt(b)}s holds no frame",
                                           use.span, hint="the window is 'from START to END' with START before END"))
                    ok = False
                else:
                    window = (a, b)
                    window_frames = (f0, f1)
        # Bind: the arguments are compiled where the effect is used (the film's lets), the
        # defaults where it is defined.
        before = self._mark()
        scene_comp = self.user.compiler()
        ns: Namespace = info.namespace  # type: ignore[assignment]
        bound: dict[str, Fn] = {}
        for p in defn.params:
            if p.name in given:
                bound[p.name] = scene_comp.expr(given[p.name])
            elif p.default is not None:
                bound[p.name] = ns.compiler(dict(bound)).expr(p.default)
            else:
                bound[p.name] = Fn.constant(0.0)
        channels = self._effect_channels(defn, ns, bound)
        if not ok or self._mark() > before or self._broken_effect(info):
            return None
        return CheckedEffectUse(use.name, channels, window, use.span, window_frames)


# ----------------------------------------------------------------------------- helpers


def _is_curve(v: object) -> bool:
    return isinstance(v, (n.Number, n.Duration, n.Name, n.Unary, n.Binary, n.IfExpr, n.Call, n.Ramp, n.Keys))


def _span(node: object) -> Span:
    return getattr(node, "span")


def _head(item: object) -> Span:
    return getattr(item, "name_span", None) or _head_span(getattr(item, "span"))


def _head_span(span: Span) -> Span:
    if span.end_line != span.line:
        return Span(span.file, span.line, span.col, span.line, span.col + 1)
    return span


def _fmt(x: float) -> str:
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
