"""Hand-made render plans for render-engine tests, independent of the compiler.

`make_plan([SceneSpec(...), ...])` gives a `RenderPlan` whose frames follow the plan
contract (kscript/plan.py): a scene's first frame is ``generate`` (or ``continue`` from the
previous scene's last frame), the rest ``animate`` (or ``warp`` where the strength is 0 or
under cadence), `inpaint` from `geometry.reveals`, crossfades over a scene's first frames,
a coherence reference (the scene's first frame) on the frames after the first, and keys
computed by the compiler's own key function (`kscript.compile.keys.plan_keys`), so that the
render engine is tested against the one definition of a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from kscript import geometry
from kscript.compile.keys import plan_keys
from kscript.plan import (
    Crossfade,
    FilmInfo,
    Frame,
    Motion,
    PromptSpan,
    RenderPlan,
    SceneInfo,
    SourceRef,
    Transition,
    WeightedPrompt,
)

MotionFn = Callable[[int], Motion]


@dataclass
class SceneSpec:
    name: str
    frames: int
    prompt: str = "a misty autumn park at dawn"
    #: (text, start frame, blend frames) prompts after the first
    later_prompts: list[tuple[str, int, int]] = field(default_factory=list)
    motion: Motion | MotionFn = field(default_factory=lambda: Motion(zoom=1.02))
    strength: float = 0.35
    cadence: int = 1
    noise: float = 0.0
    seed: int | None = None
    continues: bool = False
    crossfade: int = 0
    coherence: str = "none"
    negative: str = ""


def _prompts(spec: SceneSpec, f: int) -> list[WeightedPrompt]:
    current = [(spec.prompt, 1.0)]
    for text, start, blend in spec.later_prompts:
        if f >= start + blend:
            current = [(text, 1.0)]
        elif f >= start:
            w = (f - start + 1) / (blend + 1)
            current = [(t, wt * (1 - w)) for t, wt in current] + [(text, w)]
    return [WeightedPrompt(text=t, weight=round(w, 6)) for t, w in current if w > 0]


def make_plan(
    scenes: list[SceneSpec],
    *,
    width: int = 64,
    height: int = 64,
    fps: float = 12,
    seed: int = 7,
    model: str = "preview",
    file: str = "film.kscene",
    title: str = "test film",
) -> RenderPlan:
    frames: list[Frame] = []
    infos: list[SceneInfo] = []
    index = 0
    for s_i, spec in enumerate(scenes):
        start = index
        for f in range(spec.frames):
            motion = spec.motion(f) if callable(spec.motion) else spec.motion
            inputs: list[int] = []
            crossfade = None
            if f == 0:
                if spec.continues and frames:
                    op, inputs = "continue", [index - 1]
                else:
                    op = "generate"
                if spec.crossfade and start > 0:
                    crossfade = Crossfade(from_frame=start - 1, weight=round((f + 1) / (spec.crossfade + 1), 6))
            else:
                inputs = [index - 1]
                model_frame = spec.strength > 0 and f % max(spec.cadence, 1) == 0
                op = "animate" if model_frame else "warp"
                if spec.crossfade and f < spec.crossfade and start > 0:
                    crossfade = Crossfade(from_frame=start - 1, weight=round((f + 1) / (spec.crossfade + 1), 6))
            m = geometry.warp_matrix(width, height, **motion.model_dump())
            reveals = op != "generate" and geometry.reveals(m, width, height)
            prompts = _prompts(spec, f)
            seed_f = spec.seed if spec.seed is not None else seed + s_i
            coherence_ref = start if spec.coherence != "none" and f > 0 else None
            frames.append(
                Frame(
                    index=index,
                    scene=spec.name,
                    scene_frame=f,
                    time=index / fps,
                    op=op,
                    motion=motion,
                    strength=spec.strength if op != "warp" else 0.0,
                    guidance=4.0,
                    steps=4,
                    seed=seed_f,
                    noise=spec.noise,
                    prompts=prompts,
                    negative=spec.negative,
                    coherence=spec.coherence,
                    coherence_ref=coherence_ref,
                    inputs=inputs,
                    inpaint=reveals,
                    crossfade=crossfade,
                    key="",  # set below, once the film is known
                )
            )
            index += 1
        infos.append(
            SceneInfo(
                name=spec.name,
                index=s_i,
                start_frame=start,
                frame_count=spec.frames,
                start_time=start / fps,
                duration=spec.frames / fps,
                continues=spec.continues,
                transition=Transition(kind="crossfade" if spec.crossfade else "cut", frames=spec.crossfade),
                prompts=[PromptSpan(text=spec.prompt, start=0.0)]
                + [PromptSpan(text=t, start=st / fps, blend=b / fps) for t, st, b in spec.later_prompts],
                negative=spec.negative,
                coherence=spec.coherence,  # type: ignore[arg-type]
                source=SourceRef(file=file, line=1 + s_i, col=1),
            )
        )
    film = FilmInfo(
        title=title,
        width=width,
        height=height,
        fps=fps,
        seed=seed,
        model=model,
        frame_count=index,
        duration=index / fps,
    )
    keys = plan_keys(frames, film)
    frames = [fr.model_copy(update={"key": k}) for fr, k in zip(frames, keys)]
    return RenderPlan(film=film, scenes=infos, frames=frames)


def three_scenes(**kw) -> RenderPlan:
    """A small film like the examples' mini-film: zoom, a prompt blend, continue, crossfade."""
    return make_plan(
        [
            SceneSpec("park", 6, "a misty autumn park at dawn, oil painting", motion=Motion(zoom=1.04)),
            SceneSpec(
                "street",
                6,
                "a neon city street at night, rain",
                later_prompts=[("the same street at sunrise", 2, 2)],
                motion=Motion(x=2.0, angle=1.0),
                crossfade=3,
            ),
            SceneSpec("sea", 6, "stormy sea, dramatic light", motion=Motion(zoom=0.97), continues=True, coherence="lab"),
        ],
        **kw,
    )
