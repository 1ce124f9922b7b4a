"""The AST: frozen dataclasses, declared by their fields, each carrying its `Span`.

`kscript.syntax.builder` makes these from Lark's parse tree; nothing downstream ever sees a
Lark tree. Durations keep their unit: only the checker knows the film's fps, so it alone
turns `96f` into seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from kscript.diagnostics import Diagnostic
from kscript.source import Span

# ----------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class Duration:
    """`4s`, `1.5s`, `500ms`, `96f`. In expressions a duration is in seconds."""

    value: float
    unit: Literal["s", "ms", "f", "b", "bar"]  # b, bar: beats and bars of the film's bpm
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A reference: a let, an effect parameter or a built-in (t f u T F dur fps pi e)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: Literal["-", "+", "not"]
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: Literal["+", "-", "*", "/", "^", "%", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class IfExpr:
    """`if c then a else b`."""

    cond: "Expr"
    then: "Expr"
    otherwise: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`sin(x)`, `pulse(x, 0.2)`. Functions are built-ins only; `func_span` covers the name."""

    func: str
    args: tuple["Expr", ...]
    span: Span
    func_span: Span


Expr = Union[Number, Duration, Name, Unary, Binary, IfExpr, Call]

# ----------------------------------------------------------------------------- curves


@dataclass(frozen=True, slots=True)
class Easing:
    """`ease_in_out`, `bezier(0.4, 0, 0.2, 1)`; `args` is empty for named easings."""

    name: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Ramp:
    """`a -> b [easing]` over the whole scene (or effect window)."""

    start: Expr
    end: Expr
    easing: Easing | None
    span: Span


@dataclass(frozen=True, slots=True)
class Key:
    """One keyframe `2s: 1.03 ease_out`; the easing shapes the segment that ends here."""

    time: Duration
    value: Expr
    easing: Easing | None
    span: Span


@dataclass(frozen=True, slots=True)
class Keys:
    """`keys { 0s: 1.0, 2s: 1.03 ease_out, 4s: 1.0 }`."""

    keys: tuple[Key, ...]
    span: Span


Curve = Union[Expr, Ramp, Keys]

# ----------------------------------------------------------------------------- values of settings


@dataclass(frozen=True, slots=True)
class SizeLit:
    """`640x640`."""

    width: int
    height: int
    span: Span


@dataclass(frozen=True, slots=True)
class StringLit:
    value: str
    span: Span


Value = Union[SizeLit, StringLit, Ramp, Keys, Number, Duration, Name, Unary, Binary, IfExpr, Call]

# ----------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Assign:
    """`name: value` — a film setting, a scene channel curve or setting, an effect channel.

    The old colon-less `negative "text"` is an Assign too (the builder warns, W004), so
    that a setting has one shape downstream whichever way it was written.
    """

    name: str
    value: Value
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Prompt:
    """`prompt "text" [at 2s] [blend 1s]`."""

    text: str
    at: Duration | None
    blend: Duration | None
    span: Span


@dataclass(frozen=True, slots=True)
class Arg:
    """An argument of an effect use: `speed = 2` (named) or `2` (positional, name None)."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class EffectUse:
    """`effect drift(speed = 2) from 1s to 3s`; `args` is empty without parentheses."""

    name: str
    args: tuple[Arg, ...]
    window_from: Duration | None
    window_to: Duration | None
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Continue:
    """`continue`: the scene starts from the previous scene's last frame."""

    span: Span


@dataclass(frozen=True, slots=True)
class Transition:
    """`transition crossfade 12f` or `transition cut`."""

    kind: str
    duration: Duration | None
    span: Span
    kind_span: Span


@dataclass(frozen=True, slots=True)
class Camera:
    """`camera { zoom: keys { 0s: 1, 2s: 1.5 } x: 20 * t }`: where the camera is (absolute
    positions over the scene's time), not how fast it moves."""

    positions: tuple[Assign, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class InitImage:
    """`image "photo.png"`: the scene starts from that picture (a path relative to the
    film's file), not from text-to-image."""

    path: str
    span: Span
    path_span: Span


SceneItem = Union[Prompt, EffectUse, Assign, Continue, Transition, Camera, InitImage]

# ----------------------------------------------------------------------------- top level


@dataclass(frozen=True, slots=True)
class FilmBlock:
    title: str
    settings: tuple[Assign, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Import:
    """`import "shared_moves.kscene"`, a path relative to the importing file."""

    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Curve
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Param:
    """An effect parameter, `speed = 1.5` (default) or `speed` (required)."""

    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class EffectDef:
    """`effect drift(speed = 1.5, sway = 0) { x: speed ... }`."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Assign, ...]
    span: Span
    name_span: Span
    doc: str | None = None  # the comment lines right above the definition, if any


@dataclass(frozen=True, slots=True)
class Scene:
    name: str
    duration: Duration
    items: tuple[SceneItem, ...]
    span: Span
    name_span: Span


TopItem = Union[FilmBlock, Import, Let, EffectDef, Scene]


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file, its items in source order.

    `warnings` are the parser's (W004, an old form that still reads); they are not part
    of what the file means, so two modules with the same items compare equal.
    """

    path: str
    items: tuple[TopItem, ...]
    span: Span
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)

    @property
    def films(self) -> list[FilmBlock]:
        return [i for i in self.items if isinstance(i, FilmBlock)]

    @property
    def imports(self) -> list[Import]:
        return [i for i in self.items if isinstance(i, Import)]

    @property
    def lets(self) -> list[Let]:
        return [i for i in self.items if isinstance(i, Let)]

    @property
    def effects(self) -> list[EffectDef]:
        return [i for i in self.items if isinstance(i, EffectDef)]

    @property
    def scenes(self) -> list[Scene]:
        return [i for i in self.items if isinstance(i, Scene)]
