"""The checked program: what the checker hands the compiler.

Everything here is already validated: names resolved, durations in seconds, frame counts
known, every curve compiled to an `Fn` (`kscript.check.curve_compiler`). The compiler only
evaluates per frame and assembles the plan; the only errors left for it are those that
need per-frame values (a curve leaving its range, a non-finite value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kscript.check.curve_compiler import Fn
from kscript.diagnostics import Diagnostic
from kscript.source import SourceFile, Span
from kscript.syntax import nodes as n

# The channels (names, defaults, rules) are `kscript.channels.CHANNELS`: one table.

# Film settings that are not channels.
FILM_SETTINGS: tuple[str, ...] = (
    "size", "fps", "seed", "model", "negative", "coherence", "prior", "inpaint", "depth",
    "audio", "audio_start", "audio_smooth", "bpm", "beats_per_bar",
)
# Scene settings that are not channels (`negative` also has the `negative "..."` form).
SCENE_SETTINGS: tuple[str, ...] = ("coherence", "negative")
COHERENCE_MODES: tuple[str, ...] = ("none", "rgb", "lab")


@dataclass
class FilmSettings:
    """The film block, checked; defaults where the film does not say."""

    title: str
    width: int = 640
    height: int = 640
    fps: float = 24.0
    seed: int = 0
    model: str = "preview"
    prior: str | None = None
    inpaint: str | None = None
    #: the 3D camera's depth model ("preview", a folder relative to the film, or a hub id)
    depth: str | None = None
    negative: str = ""
    coherence: str = "none"
    # Film-wide channel defaults: name -> (compiled curve, span of the value).
    defaults: dict[str, tuple[Fn, Span]] = field(default_factory=dict)
    span: Span | None = None
    # Music (docs/language.md, "Music"): the soundtrack, when the film has one.
    audio: "AudioSettings | None" = None
    bpm: float | None = None
    bpm_detected: bool = False
    beats_per_bar: int = 4


@dataclass
class AudioSettings:
    """The film's soundtrack, read and analysed by the checker (`kscript.audio`)."""

    path: str  # the film's folder (as its path was given) joined with `audio:`
    sha256: str
    start: float  # seconds into the song at the film's first frame
    smooth: float  # seconds: the release of the curves' follower
    duration: float  # the song's length in seconds
    span: Span  # the `audio:` value, where problems with the file are reported
    analysis: object = None  # kscript.audio.Analysis (kept loose: numpy arrays)


@dataclass
class SceneImage:
    """A scene's init image (`image "photo.png"`), read and checked by the checker
    (`kscript.images`)."""

    path: str  # the film's folder (as its path was given) joined with the statement's path
    sha256: str  # of the file's bytes
    width: int  # upright (after its EXIF orientation)
    height: int
    span: Span  # the statement, where problems with the file are reported


@dataclass
class EffectInfo:
    """An effect definition and where its body's names resolve."""

    defn: n.EffectDef
    standard: bool
    namespace: object  # kscript.check.checker.Namespace (kept loose: no import cycle)
    file: str


@dataclass
class CheckedEffectUse:
    """`effect drift(speed = 2) from 1s to 3s`, bound: the body compiled with its arguments."""

    name: str
    channels: dict[str, Fn]
    # (from, to) in seconds: the effect contributes to frames with from <= t < to.
    window: tuple[float, float] | None
    span: Span
    # The window as frame indices of the scene, first and last inclusive.
    frames: tuple[int, int] | None = None


@dataclass
class CheckedPrompt:
    text: str
    start: float
    blend: float
    span: Span


@dataclass
class CheckedScene:
    name: str
    index: int
    duration: float
    frame_count: int
    start_frame: int
    prompts: list[CheckedPrompt]
    negative: str
    continues: bool
    transition: str  # "cut" or "crossfade"
    transition_frames: int
    channels: dict[str, tuple[Fn, Span]]
    effects: list[CheckedEffectUse]
    coherence: str
    span: Span
    name_span: Span
    # `camera { }` positions: channel -> (compiled position curve, span of the value).
    camera: dict[str, tuple[Fn, Span]] = field(default_factory=dict)
    image: SceneImage | None = None  # `image "photo.png"`: the scene starts from it


@dataclass
class CheckedProgram:
    """A film whose every name, unit and setting is known to be right."""

    path: str
    film: FilmSettings
    scenes: list[CheckedScene]
    effects: dict[str, EffectInfo]
    files: dict[str, SourceFile]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return sum(s.frame_count for s in self.scenes)
