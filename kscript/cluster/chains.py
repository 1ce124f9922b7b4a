"""A plan split into independent chains, and what of each a worker must render.

A *chain* is a set of plan frames closed under "is made from": a scene that starts fresh
(its first frame is ``generate``) and every scene that ``continue``s from it, directly or
through another. Frames of different chains never read each other's chain images (a
crossfade reads the previous scene's last image, but only when the video is written, from
the cache, so it is no dependency), so chains can render at the same time on different
workers, while the frames of one chain render one after another on one worker.

This module is pure: no Ray, no images, no cache. The driver (`kscript.cluster.driver`)
asks it which frames to send where, given which frames the cache already holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kscript.plan import RenderPlan


@dataclass(frozen=True)
class Chain:
    """Frames (plan indices, ascending) that are made one from another.

    Attributes:
        number: the chain's place among the film's chains (0 for the first scene's).
        frames: every frame of the chain, ascending.
        scenes: the names of its scenes, in film order.
    """

    number: int
    frames: tuple[int, ...]
    scenes: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.scenes)


@dataclass
class ChainWork:
    """What one chain task asks of a worker.

    Attributes:
        chain: the chain.
        render: the chain images to render, ascending (the chain's frames that the build
            needs and the cache does not hold).
        start: frames not rendered whose images `render` reads (cached frames: the last
            one before a resumed stretch, a scene's first frame as a colour reference);
            the driver sends their images with the task.
    """

    chain: Chain
    render: list[int]  # a worker yields them in this order (it makes an in-between's next model frame first)
    start: list[int] = field(default_factory=list)


def split_chains(plan: RenderPlan, deps: list[list[int]]) -> list[Chain]:
    """The plan's chains: the connected parts of the "is made from" graph.

    Args:
        plan: the render plan.
        deps: per frame, the frames its chain image reads
            (`kscript.render.executor.dependencies`: earlier frames, and for a cadence
            in-between the next model frame, of the same scene and so the same chain).
    """
    parent = list(range(len(plan.frames)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, ds in enumerate(deps):
        for d in ds:
            a, b = root(i), root(d)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the root is the chain's first frame
    groups: dict[int, list[int]] = {}
    for i in range(len(plan.frames)):
        groups.setdefault(root(i), []).append(i)
    chains = []
    for number, first in enumerate(sorted(groups)):
        frames = groups[first]
        scenes: list[str] = []
        for i in frames:
            name = plan.frames[i].scene
            if not scenes or scenes[-1] != name:
                scenes.append(name)
        chains.append(Chain(number=number, frames=tuple(frames), scenes=tuple(scenes)))
    return chains


def needed(plan: RenderPlan, deps: list[list[int]], targets: list[int], cached: set[int]) -> set[int]:
    """The chain images a build of `targets` (the output frames) needs: the targets, the
    sources of their crossfades, and what every uncached one of them is made from."""
    need: set[int] = set()
    for t in targets:
        need.add(t)
        cf = plan.frames[t].crossfade
        if cf is not None:
            need.add(cf.from_frame)
    # Close the set over "is made from": a cadence in-between reads the next model frame,
    # a later one, so a reverse sweep would not do.
    todo = list(need)
    while todo:
        i = todo.pop()
        if i in cached:
            continue
        for d in deps[i]:
            if d not in need:
                need.add(d)
                todo.append(d)
    return need


def chain_work(chain: Chain, deps: list[list[int]], need: set[int], cached: set[int]) -> ChainWork | None:
    """What of `chain` a worker must render, or None when the cache holds all it needs.

    Frames already cached are never sent: a chain interrupted earlier resumes from its last
    cached frame, whose image goes with the task as a start image.
    """
    render = [i for i in chain.frames if i in need and i not in cached]
    if not render:
        return None
    return ChainWork(chain=chain, render=render, start=start_frames(render, deps))


def start_frames(render: list[int], deps: list[list[int]]) -> list[int]:
    """The frames `render` reads that it does not contain, ascending."""
    todo = set(render)
    return sorted({d for i in render for d in deps[i] if d not in todo})
