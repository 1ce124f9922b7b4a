"""Deforum's schedule maths (numexpr syntax): our own parser, evaluator and translator.

Deforum evaluates the expressions of its schedules with `numexpr.evaluate`, which reads
Python syntax: `**` is power, `^` is exclusive or (numexpr applies it to true/false
values only), `&` `|` `~` are and/or/not, comparisons give true/false and bind looser
than `&` `|` `^` (as in Python: `t > 5 & t < 9` is `t > (5 & t) < 9`, an error there).
Names are the variables in scope where Deforum calls numexpr: `t` (the frame index),
`max_f` (the last frame index), `s` (the seed); the notebook's older parser knows `t` only.

No `eval` and no numexpr at run time: a small Pratt parser makes an AST, `evaluate`
computes it with numpy's float rules (a maths error gives NaN or inf, as numexpr does,
so that the reference interpolation can fill NaN frames as Deforum does), and
`to_kscript` writes the same maths as a kscript expression (`^` power, `if c then a
else b`, `F` for Deforum's `t`). A function kscript lacks (arcsin, arctan2, ...) raises
`Untranslatable`; the converter then writes that stretch frame by frame and says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping


class ExprError(ValueError):
    """A schedule expression Deforum could not evaluate either (a syntax error, an unknown
    name or function): the message says what, for a person."""


class Untranslatable(ValueError):
    """Valid Deforum maths that kscript cannot write as an expression (a function it lacks)."""


# ---------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Num:
    value: float
    text: str  # as written, so that `1.0025` stays `1.0025`


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "~"
    operand: "Node"


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<<", ">>"
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Compare:
    op: str  # "<", "<=", ">", ">=", "==", "!="
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple["Node", ...]


Node = Num | Name | Unary | Binary | Compare | Call


def names_in(node: Node) -> set[str]:
    """The variable names an expression reads."""
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Num):
        return set()
    if isinstance(node, Unary):
        return names_in(node.operand)
    if isinstance(node, (Binary, Compare)):
        return names_in(node.left) | names_in(node.right)
    out: set[str] = set()
    for a in node.args:
        out |= names_in(a)
    return out


# ---------------------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|//|<<|>>|<=|>=|==|!=|[-+*/%&|^~<>(),]))"
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise ExprError(f"'{bad}' cannot be read in the expression '{text.strip()}'")
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


# ---------------------------------------------------------------------------- parser

# Python's binding powers (numexpr parses Python): comparisons < | < ^ < & < shifts < + - < * / // % < unary < **
_BINARY = {
    "|": 3, "^": 4, "&": 5, "<<": 6, ">>": 6, "+": 7, "-": 7, "*": 8, "/": 8, "//": 8, "%": 8,
}
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}
_POWER = 10  # `**` binds tighter than a unary sign on its left, looser on its right: -2**-1
_UNARY = 9

#: numexpr's functions with their number of arguments
FUNCTIONS: dict[str, int] = {
    "sin": 1, "cos": 1, "tan": 1, "arcsin": 1, "arccos": 1, "arctan": 1, "arctan2": 2,
    "sinh": 1, "cosh": 1, "tanh": 1, "arcsinh": 1, "arccosh": 1, "arctanh": 1,
    "log": 1, "log10": 1, "log1p": 1, "exp": 1, "expm1": 1, "sqrt": 1, "abs": 1,
    "floor": 1, "ceil": 1, "where": 3,
}


class _Parser:
    def __init__(self, text: str):
        self.text = text.strip()
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        kind, val, _ = self.take()
        if val != op or kind != "op":
            found = f"'{val}'" if kind != "end" else "the end"
            raise ExprError(f"expected '{op}' but found {found} in '{self.text}'")

    def parse(self) -> Node:
        node = self.comparison()
        kind, val, _ = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected '{val}' in '{self.text}'")
        return node

    def comparison(self) -> Node:
        left = self.binary(0)
        kind, val, _ = self.peek()
        if kind == "op" and val in _COMPARE:
            self.take()
            right = self.binary(0)
            k2, v2, _ = self.peek()
            if k2 == "op" and v2 in _COMPARE:
                raise ExprError(f"a chained comparison ('{val}' then '{v2}') in '{self.text}': numexpr cannot read it")
            return Compare(val, left, right)
        return left

    def binary(self, min_bp: int) -> Node:
        left = self.unary()
        while True:
            kind, val, _ = self.peek()
            if kind != "op" or val not in _BINARY or _BINARY[val] < min_bp:
                break
            bp = _BINARY[val]
            self.take()
            right = self.binary(bp + 1)  # left-associative
            left = Binary(val, left, right)
        return left

    def unary(self) -> Node:
        kind, val, _ = self.peek()
        if kind == "op" and val in ("-", "+", "~"):
            self.take()
            return Unary(val, self.unary())
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        kind, val, _ = self.peek()
        if kind == "op" and val == "**":
            self.take()
            return Binary("**", base, self.unary())  # right side may carry a sign; right-associative
        return base

    def atom(self) -> Node:
        kind, val, _ = self.take()
        if kind == "num":
            return Num(float(val), val)
        if kind == "name":
            nk, nv, _ = self.peek()
            if nk == "op" and nv == "(":
                self.take()
                args: list[Node] = []
                if not (self.peek()[0] == "op" and self.peek()[1] == ")"):
                    args.append(self.comparison())
                    while self.peek()[0] == "op" and self.peek()[1] == ",":
                        self.take()
                        args.append(self.comparison())
                self.expect(")")
                if val not in FUNCTIONS:
                    raise ExprError(f"numexpr has no function '{val}' (in '{self.text}')")
                if len(args) != FUNCTIONS[val]:
                    raise ExprError(f"'{val}' takes {FUNCTIONS[val]} argument(s), {len(args)} given (in '{self.text}')")
                return Call(val, tuple(args))
            return Name(val)
        if kind == "op" and val == "(":
            node = self.comparison()
            self.expect(")")
            return node
        found = f"'{val}'" if kind != "end" else "the end"
        raise ExprError(f"expected a value but found {found} in '{self.text}'")


def parse(text: str) -> Node:
    """The AST of a numexpr expression, or `ExprError` saying what is wrong."""
    if not text.strip():
        raise ExprError("an empty expression")
    return _Parser(text).parse()


# ---------------------------------------------------------------------------- evaluation

NAN = float("nan")
INF = float("inf")


def _div(a: float, b: float) -> float:
    if b == 0:
        return NAN if a == 0 or a != a else math.copysign(INF, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0:
        return NAN
    return a - math.floor(a / b) * b  # numpy/Python: the sign of the divisor


def _pow(a: float, b: float) -> float:
    try:
        r = a**b
    except ZeroDivisionError:
        return INF
    except OverflowError:
        return INF
    if isinstance(r, complex):  # a negative base with a fractional power: numpy gives NaN
        return NAN
    return float(r)


def _safe(fn: Callable[[float], float], lo_ok: Callable[[float], bool], bad: float = NAN) -> Callable[[float], float]:
    def f(x: float) -> float:
        if x != x:
            return NAN
        if not lo_ok(x):
            return bad
        try:
            return fn(x)
        except OverflowError:
            return INF
        except ValueError:
            return NAN
    return f


def _log(x: float) -> float:
    if x != x or x < 0:
        return NAN
    if x == 0:
        return -INF
    return math.log(x) if x != INF else INF


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


_FN: dict[str, Callable[..., float]] = {
    "sin": _safe(math.sin, math.isfinite), "cos": _safe(math.cos, math.isfinite),
    "tan": _safe(math.tan, math.isfinite),
    "arcsin": _safe(math.asin, lambda x: -1 <= x <= 1), "arccos": _safe(math.acos, lambda x: -1 <= x <= 1),
    "arctan": _safe(math.atan, lambda x: True), "arctan2": lambda y, x: math.atan2(y, x),
    "sinh": _safe(math.sinh, lambda x: True), "cosh": _safe(math.cosh, lambda x: True),
    "tanh": _safe(math.tanh, lambda x: True), "arcsinh": _safe(math.asinh, lambda x: True),
    "arccosh": _safe(math.acosh, lambda x: x >= 1), "arctanh": _safe(math.atanh, lambda x: -1 < x < 1),
    "log": _log, "log10": lambda x: _log(x) / math.log(10), "log1p": lambda x: _log(1 + x),
    "exp": _exp, "expm1": lambda x: _exp(x) - 1, "sqrt": _safe(math.sqrt, lambda x: x >= 0),
    "abs": abs, "floor": _safe(math.floor, math.isfinite, NAN), "ceil": _safe(math.ceil, math.isfinite, NAN),
}


def evaluate(node: Node, env: Mapping[str, float]) -> float:
    """The value of `node` with numpy's float rules: NaN or inf where the maths fails.

    Truth values are 1.0 and 0.0. `^` `&` `|` `~` act on truth values, as numexpr allows."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        if node.name not in env:
            raise ExprError(f"unknown name '{node.name}' (Deforum's schedules know {', '.join(sorted(env))})")
        return float(env[node.name])
    if isinstance(node, Unary):
        v = evaluate(node.operand, env)
        if node.op == "-":
            return -v
        if node.op == "+":
            return v
        return 0.0 if v else 1.0
    if isinstance(node, Compare):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        return float({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[node.op])
    if isinstance(node, Binary):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        op = node.op
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return _div(a, b)
        if op == "//":
            q = _div(a, b)
            return math.floor(q) if math.isfinite(q) else q
        if op == "%":
            return _mod(a, b)
        if op == "**":
            return _pow(a, b)
        if op == "&":
            return float(bool(a) and bool(b))
        if op == "|":
            return float(bool(a) or bool(b))
        if op == "^":
            return float(bool(a) != bool(b))
        raise ExprError(f"numexpr does not shift ('{op}') floating-point values")
    args = [evaluate(a, env) for a in node.args]
    if node.func == "where":
        return args[1] if args[0] else args[2]
    if any(x != x for x in args):
        return NAN
    return float(_FN[node.func](*args))


def check_logic(node: Node) -> list[str]:
    """Things numexpr refuses that people write: `^` between numbers (meant as a power),
    `&` `|` `~` on numbers. Returned as messages; the value is still computed."""
    out: list[str] = []

    def is_bool(n: Node) -> bool:
        return isinstance(n, Compare) or (isinstance(n, Unary) and n.op == "~") or (
            isinstance(n, Binary) and n.op in "&|^" and len(n.op) == 1)

    def walk(n: Node) -> None:
        if isinstance(n, Binary):
            if n.op == "^" and not (is_bool(n.left) and is_bool(n.right)):
                out.append("'^' is exclusive or in Deforum (numexpr), not a power: write '**' for a power")
            elif n.op in ("&", "|") and not (is_bool(n.left) and is_bool(n.right)):
                out.append(f"'{n.op}' joins true/false values in numexpr, not numbers")
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Unary):
            walk(n.operand)
        elif isinstance(n, Compare):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)

    walk(node)
    return out


# ---------------------------------------------------------------------------- translation

# kscript's binding powers (docs/language.md, "Expressions"): if < or < and < not <
# comparisons < + - < * / % < sign < ^
_K_IF, _K_OR, _K_AND, _K_NOT, _K_CMP, _K_SUM, _K_PROD, _K_SIGN, _K_POW, _K_ATOM = range(10)


def format_number(v: float) -> str:
    """A number as a person would write it: `1.0025`, `0.5`, `12`, `-3`, `1e-07`."""
    if v != v or v in (INF, -INF):
        raise ValueError(f"not a finite number: {v}")
    if v == 0:
        return "0"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.10g}"
    if "e" in text:
        mant, exp = text.split("e")
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        text = f"{mant}e{int(exp)}"
    elif "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_kscript(node: Node, names: Mapping[str, str]) -> str:
    """The same maths as a kscript expression. `names` maps Deforum's variables to kscript
    text (`t` -> `F`, `max_f` -> `max_f`, `s` -> the seed)."""
    text, _ = _tr(node, names)
    return text


def _wrap(part: tuple[str, int], need: int) -> str:
    text, prec = part
    return f"({text})" if prec < need else text


def _num_text(node: Num) -> str:
    t = node.text
    if t.startswith("."):
        t = "0" + t
    if re.fullmatch(r"\d+\.", t):
        t = t[:-1]
    return t


def _tr(node: Node, names: Mapping[str, str]) -> tuple[str, int]:
    if isinstance(node, Num):
        return _num_text(node), _K_ATOM
    if isinstance(node, Name):
        if node.name not in names:
            raise ExprError(f"unknown name '{node.name}'")
        text = names[node.name]
        return text, (_K_ATOM if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|\d+(\.\d+)?", text) else _K_SUM)
    if isinstance(node, Unary):
        if node.op == "~":
            return f"not {_wrap(_tr(node.operand, names), _K_NOT)}", _K_NOT
        return f"{node.op}{_wrap(_tr(node.operand, names), _K_SIGN)}", _K_SIGN
    if isinstance(node, Compare):
        return f"{_wrap(_tr(node.left, names), _K_SUM)} {node.op} {_wrap(_tr(node.right, names), _K_SUM)}", _K_CMP
    if isinstance(node, Binary):
        op = node.op
        L, R = _tr(node.left, names), _tr(node.right, names)
        if op in ("+", "-"):
            return f"{_wrap(L, _K_SUM)} {op} {_wrap(R, _K_PROD)}", _K_SUM
        if op in ("*", "/", "%"):
            return f"{_wrap(L, _K_PROD)} {op} {_wrap(R, _K_SIGN)}", _K_PROD
        if op == "//":
            return f"floor({L[0]} / {_wrap(R, _K_SIGN)})" if L[1] >= _K_PROD else f"floor(({L[0]}) / {_wrap(R, _K_SIGN)})", _K_ATOM
        if op == "**":
            return f"{_wrap(L, _K_ATOM)} ^ {_wrap(R, _K_SIGN)}", _K_POW
        if op == "&":
            return f"{_wrap(L, _K_NOT)} and {_wrap(R, _K_NOT)}", _K_AND
        if op == "|":
            return f"{_wrap(L, _K_AND)} or {_wrap(R, _K_AND)}", _K_OR
        if op == "^":  # exclusive or of two truth values
            return f"({L[0]}) != ({R[0]})", _K_CMP
        raise Untranslatable(f"kscript has no bit shift ('{op}')")
    f = node.func
    a = [_tr(x, names) for x in node.args]
    direct = {"sin", "cos", "tan", "abs", "floor", "ceil", "sqrt", "exp", "log"}
    if f in direct:
        return f"{f}({a[0][0]})", _K_ATOM
    if f == "where":
        return f"if {a[0][0]} then {a[1][0]} else {a[2][0]}", _K_IF
    x = a[0][0]
    xs = _wrap(a[0], _K_SIGN)
    table = {
        "log10": f"log({x}, 10)",
        "log1p": f"log(1 + {_wrap(a[0], _K_PROD)})",
        "sinh": f"(exp({x}) - exp(-{xs})) / 2",
        "cosh": f"(exp({x}) + exp(-{xs})) / 2",
        "arcsinh": f"log({_wrap(a[0], _K_SUM)} + sqrt({_wrap(a[0], _K_ATOM)} ^ 2 + 1))",
        "arccosh": f"log({_wrap(a[0], _K_SUM)} + sqrt({_wrap(a[0], _K_ATOM)} ^ 2 - 1))",
        "arctanh": f"log((1 + {_wrap(a[0], _K_PROD)}) / (1 - {_wrap(a[0], _K_PROD)})) / 2",
    }
    if f == "expm1":
        return f"exp({x}) - 1", _K_SUM
    if f in table:
        return table[f], (_K_PROD if f in ("sinh", "cosh", "arctanh") else _K_ATOM)
    raise Untranslatable(f"kscript has no '{f}'")
