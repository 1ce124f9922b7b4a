"""Prompt timelines: weights sum to 1 on every frame, whatever the times and blends."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kscript.check.program import CheckedPrompt
from kscript.compile.prompts import SAME_TIME, prompt_weights
from kscript.source import Span

SP = Span("<test>", 1, 1, 1, 2)


@st.composite
def timelines(draw):
    starts = sorted(set(draw(st.lists(st.integers(1, 400), max_size=6))))
    prompts = [CheckedPrompt("p0", 0.0, draw(st.integers(0, 100)) / 100, SP)]
    for i, s in enumerate(starts, 1):
        prompts.append(CheckedPrompt(f"p{i}", s / 100, draw(st.integers(0, 300)) / 100, SP))
    return prompts


@settings(max_examples=200)
@given(prompts=timelines(), t=st.floats(0, 5, allow_nan=False))
def test_weights_are_positive_and_sum_to_one(prompts, t):
    pairs = prompt_weights(prompts, t)
    assert 1 <= len(pairs) <= 2
    assert all(0 < w <= 1 for _, w in pairs)
    assert math.isclose(sum(w for _, w in pairs), 1.0, abs_tol=1e-9)


@given(prompts=timelines())
def test_after_its_blend_a_prompt_holds_alone(prompts):
    for p in prompts:
        later = [q.start for q in prompts if q.start > p.start]
        t = p.start + p.blend
        if not later or t < later[0] - SAME_TIME:  # a start within SAME_TIME has begun
            assert prompt_weights(prompts, t) == ((p.text, 1.0),)
