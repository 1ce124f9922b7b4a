"""The pure mathematics of kscript curves: easings, oscillators, built-in functions.

Everything here is a plain function of floats using only `math`, so the checker and
compiler can import it without pulling in numpy or torch:

* `easing` — ``EASINGS`` (``linear``, ``step``, ``ease_in_out_sine`` …), ``bezier``,
  ``get_easing(name, args)``, ``EASING_DOCS``;
* `oscillators` — ``tri``, ``saw``, ``square``, ``pulse``, ``noise`` (period 1);
* `functions` — ``FUNCTIONS`` (the registry of built-ins callable in expressions),
  ``CONSTANTS`` (``pi``, ``e``) and ``CurveMathError``, the one error they raise.

See docs/curves.md for the list with values and formulas.
"""

from kscript.curves.easing import (
    EASING_DOCS,
    EASINGS,
    OVERSHOOTING,
    PARAMETRIC_EASINGS,
    Easing,
    bezier,
    easing_names,
    get_easing,
    in_out,
    reverse,
)
from kscript.curves.errors import CurveMathError
from kscript.curves.functions import CONSTANTS, FUNCTIONS, Builtin
from kscript.curves.oscillators import noise, pulse, saw, square, tri

__all__ = [
    "EASINGS",
    "EASING_DOCS",
    "OVERSHOOTING",
    "PARAMETRIC_EASINGS",
    "Easing",
    "bezier",
    "easing_names",
    "get_easing",
    "in_out",
    "reverse",
    "CurveMathError",
    "CONSTANTS",
    "FUNCTIONS",
    "Builtin",
    "tri",
    "saw",
    "square",
    "pulse",
    "noise",
]
