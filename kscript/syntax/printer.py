"""AST back to kscene text: the inverse of the parser.

`to_source(module)` writes a module in a canonical layout (two-space indents, one item
per line, the fewest parentheses that keep its meaning). Parsing what it writes gives
the same AST again, spans aside; the property tests hold the grammar and the printer to
each other that way (an expression printed with too few parentheses would parse to
another tree), and it is the base of a formatter.
"""

from __future__ import annotations

import math
from decimal import Decimal

from kscript.syntax import nodes as n

# Binding strength of each expression form, loosest first (the grammar's precedence).
_IF, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _SIGN, _POWER, _ATOM = range(10)
_BINARY_LEVEL = {
    "or": _OR,
    "and": _AND,
    "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE, ">=": _COMPARE, "==": _COMPARE, "!=": _COMPARE,
    "+": _SUM, "-": _SUM,
    "*": _PRODUCT, "/": _PRODUCT, "%": _PRODUCT,
    "^": _POWER,
}


def to_source(module: n.Module) -> str:
    """The module as kscene text."""
    return "\n".join(item_source(item) for item in module.items) + "\n"


def item_source(item: n.TopItem) -> str:
    if isinstance(item, n.FilmBlock):
        return f"film {string(item.title)} " + _block([assign(a) for a in item.settings])
    if isinstance(item, n.Import):
        return f"import {string(item.path)}"
    if isinstance(item, n.Let):
        return f"let {item.name} = {curve(item.value)}"
    if isinstance(item, n.EffectDef):
        doc = "".join(f"# {line}\n" if line else "#\n" for line in (item.doc or "").split("\n")) if item.doc else ""
        params = ""
        if item.params:
            params = "(" + ", ".join(p.name + (f" = {expr(p.default)}" if p.default is not None else "") for p in item.params) + ")"
        return f"{doc}effect {item.name}{params} " + _block([assign(a) for a in item.body])
    if isinstance(item, n.Scene):
        return f"scene {item.name} {duration(item.duration)} " + _block([scene_item(i) for i in item.items])
    raise TypeError(f"not a top-level item: {item!r}")


def scene_item(item: n.SceneItem) -> str:
    if isinstance(item, n.Prompt):
        text = f"prompt {string(item.text)}"
        if item.at is not None:
            text += f" at {duration(item.at)}"
        if item.blend is not None:
            text += f" blend {duration(item.blend)}"
        return text
    if isinstance(item, n.EffectUse):
        text = f"effect {item.name}"
        if item.args:
            text += "(" + ", ".join((f"{a.name} = " if a.name else "") + expr(a.value) for a in item.args) + ")"
        if item.window_from is not None and item.window_to is not None:
            text += f" from {duration(item.window_from)} to {duration(item.window_to)}"
        return text
    if isinstance(item, n.Assign):
        return assign(item)
    if isinstance(item, n.Continue):
        return "continue"
    if isinstance(item, n.Transition):
        return f"transition {item.kind}" + (f" {duration(item.duration)}" if item.duration is not None else "")
    if isinstance(item, n.InitImage):
        return f"image {string(item.path)}"
    if isinstance(item, n.Camera):
        return "camera { " + ", ".join(assign(a) for a in item.positions) + " }"
    raise TypeError(f"not a scene item: {item!r}")


def assign(item: n.Assign) -> str:
    return f"{item.name}: {value(item.value)}"


def value(v: n.Value) -> str:
    if isinstance(v, n.SizeLit):
        return f"{v.width}x{v.height}"
    if isinstance(v, n.StringLit):
        return string(v.value)
    return curve(v)


def curve(c: n.Curve) -> str:
    if isinstance(c, n.Ramp):
        return f"{expr(c.start)} -> {expr(c.end)}" + (f" {easing(c.easing)}" if c.easing else "")
    if isinstance(c, n.Keys):
        keys = [f"{duration(k.time)}: {expr(k.value)}" + (f" {easing(k.easing)}" if k.easing else "") for k in c.keys]
        return "keys { " + ", ".join(keys) + " }"
    return expr(c)


def easing(e: n.Easing) -> str:
    return e.name + ("(" + ", ".join(expr(a) for a in e.args) + ")" if e.args else "")


def expr(e: n.Expr, weakest: int = _IF) -> str:
    """`e` as text, in parentheses if it binds more loosely than `weakest` allows."""
    level, text = _expr(e)
    return f"({text})" if level < weakest else text


def _expr(e: n.Expr) -> tuple[int, str]:
    if isinstance(e, n.Number):
        return _ATOM, number(e.value)
    if isinstance(e, n.Duration):
        return _ATOM, duration(e)
    if isinstance(e, n.Name):
        return _ATOM, e.name
    if isinstance(e, n.Call):
        return _ATOM, f"{e.func}(" + ", ".join(expr(a) for a in e.args) + ")"
    if isinstance(e, n.Unary):
        if e.op == "not":
            return _NOT, f"not {expr(e.operand, _NOT)}"
        return _SIGN, f"{e.op}{expr(e.operand, _SIGN)}"
    if isinstance(e, n.Binary):
        level = _BINARY_LEVEL[e.op]
        if e.op == "^":  # right-associative; its left side must be an atom
            return level, f"{expr(e.left, _ATOM)} ^ {expr(e.right, _SIGN)}"
        if level == _COMPARE:  # comparisons do not chain
            return level, f"{expr(e.left, _SUM)} {e.op} {expr(e.right, _SUM)}"
        return level, f"{expr(e.left, level)} {e.op} {expr(e.right, level + 1)}"
    if isinstance(e, n.IfExpr):
        return _IF, f"if {expr(e.cond)} then {expr(e.then)} else {expr(e.otherwise)}"
    raise TypeError(f"not an expression: {e!r}")


def number(x: float) -> str:
    """A number literal; never negative or non-finite (the parser makes neither)."""
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"no literal for {x!r}")
    if x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def duration(d: n.Duration) -> str:
    x = d.value
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"no duration literal for {x!r}")
    if x == int(x) and x < 1e16:
        text = str(int(x))
    else:  # no exponent in a duration literal: the exact decimal expansion instead
        text = repr(x) if "e" not in repr(x) else format(Decimal(x), "f")
    return text + d.unit


def string(text: str) -> str:
    if "\n" in text:
        raise ValueError("a kscene string cannot hold a newline")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _block(lines: list[str]) -> str:
    if not lines:
        return "{\n}"
    return "{\n" + "".join(f"  {line}\n" for line in lines) + "}"
