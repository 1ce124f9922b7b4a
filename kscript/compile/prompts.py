"""Prompt timelines: which prompts a frame shows, with weights that sum to 1.

A scene's prompts are sorted by their start (`at`, 0 when absent). At scene time t the
current prompt is the last one that has started. With `blend b` it fades in linearly over
[at, at + b) from the prompt before it: weight ``(t - at) / b`` for the new prompt and the
rest for the old one. Zero weights are left out, so a frame shows one prompt except while
a blend runs. A blend on the first prompt has nothing to fade from and is ignored.
"""

from __future__ import annotations

from typing import Sequence

from kscript.check.program import CheckedPrompt

#: times closer than this are the same instant: a frame's time is f / fps in floating point,
#: so a prompt `at 3.1s` starts on the frame whose time computes as 3.0999999999999996
SAME_TIME = 1e-9


def prompt_weights(prompts: Sequence[CheckedPrompt], t: float) -> tuple[tuple[str, float], ...]:
    """The (text, weight) pairs shown at scene time `t`, weights rounded to 6 decimals."""
    current = 0
    for i, p in enumerate(prompts):
        if p.start <= t + SAME_TIME:
            current = i
        else:
            break
    cur = prompts[current]
    if current > 0 and cur.blend > 0 and t < cur.start + cur.blend - SAME_TIME:
        w = round(max(0.0, (t - cur.start) / cur.blend), 6)
        old = prompts[current - 1]
        if w <= 0.0:
            return ((old.text, 1.0),)
        rest = round(1.0 - w, 6)
        if old.text == cur.text:
            return ((cur.text, 1.0),)
        return ((old.text, rest), (cur.text, w))
    return ((cur.text, 1.0),)
