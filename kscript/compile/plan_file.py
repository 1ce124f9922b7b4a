"""Reading a render plan saved by `kscript plan --json`: as strict as compiling one (#9.6).

`kscript build plan.json` renders a plan file without its film, so the file is all there
is: a hand edit or a stranger's plan must not reach the render engine unless it is a plan
the compiler could have made. Three layers:

1. the file: a regular file within `kscript.limits.MAX_PLAN_BYTES`, read by the same
   reader as films (`kscript.source.SourceFile.read`);
2. each field (`kscript.plan`'s pydantic types): finite numbers, the language's ranges,
   sizes, fps, frame counts;
3. what spans fields (`problems` here): frame indices in order, every frame reading only
   the frame before it, crossfades from the previous scene's last frame, scenes that tile
   the frames, motion a camera can make.

Keys are then recomputed by `kscript.compile.keys.plan_keys`, the one definition, and the
recomputed keys are used. A key in the file is derived data, not an input: a plan edited by
hand (say, one frame's strength) must render the edited frame, not fetch the old one from
the cache under the stale key, and nobody can be asked to recompute SHA-256 by hand. The
number of keys that were stale is returned, so the build can say it.

Light: no numpy or torch (build imports them only once the plan is known good).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from kscript.channels import CHANNELS, MOTION_CHANNELS
from kscript.errors import UsageError
from kscript.limits import MAX_PLAN_BYTES, size_text
from kscript.plan import Frame, RenderPlan

#: problems listed in the error (the rest are counted)
SHOWN = 5
HINT = "save a plan with `kscript plan FILM --json > plan.json`, or build the .kscene film"


def _without_estimate(text: str) -> str:
    """The plan JSON without the `estimate` that `kscript plan --json` writes beside the
    plan (a summary of its cost, derived from the frames: never read back)."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return text  # pydantic reports what is wrong with it
    if isinstance(data, dict) and "estimate" in data:
        data.pop("estimate")
        return json.dumps(data)
    return text


def load_plan(path: str | Path) -> tuple[RenderPlan, int]:
    """The plan in a JSON file, validated, with its keys recomputed; and how many keys in
    the file differed from the recomputed ones.

    Raises:
        UsageError: the file cannot be read, or is not a plan the compiler could make.
    """
    from pydantic import ValidationError

    text = _read(path)
    try:
        plan = RenderPlan.model_validate_json(_without_estimate(text))
    except ValidationError as err:
        errors = err.errors(include_url=False)
        shown = [f"{'.'.join(str(p) for p in e['loc']) or '(the whole file)'}: {e['msg']}" for e in errors[:SHOWN]]
        raise _not_a_plan(path, shown, len(errors)) from None
    except ValueError as err:  # pragma: no cover - pydantic reports bad JSON as ValidationError
        raise UsageError(f"cannot read the plan '{path}': {err}") from None
    found = problems(plan)
    if found:
        raise _not_a_plan(path, found[:SHOWN], len(found))
    from kscript.compile.keys import plan_keys

    keys = plan_keys(plan.frames, plan.film)
    stale = sum(1 for fr, k in zip(plan.frames, keys) if fr.key != k)
    if stale:
        frames = [fr.model_copy(update={"key": k}) for fr, k in zip(plan.frames, keys)]
        plan = plan.model_copy(update={"frames": frames})
    return plan, stale


def _read(path: str | Path) -> str:
    from kscript.source import MISSING, NotUTF8, SourceFile, Unreadable

    try:
        return SourceFile.read(path, limit=MAX_PLAN_BYTES).text
    except Unreadable as err:
        if err.reason.startswith(MISSING):
            raise UsageError(err.message) from None
        raise UsageError(f"cannot read the plan '{path}': {err.reason}") from None
    except NotUTF8 as err:
        raise UsageError(f"cannot read the plan '{path}': {err.message} (at {err.span})") from None


def _not_a_plan(path: str | Path, shown: list[str], total: int) -> UsageError:
    more = f" (and {total - len(shown)} more)" if total > len(shown) else ""
    return UsageError(f"'{path}' is not a render plan: " + "; ".join(shown) + more, hint=HINT)


def problems(plan: RenderPlan) -> list[str]:
    """What makes a field-valid plan one the compiler could not have made, in words."""
    out: list[str] = []
    film = plan.film
    n = len(plan.frames)
    if film.frame_count != n:
        out.append(f"film.frame_count is {film.frame_count} but the plan has {n} frames")
    # Scenes tile the frames, in order.
    start = 0
    names: set[str] = set()
    for i, sc in enumerate(plan.scenes):
        where = f"scenes.{i}"
        if sc.index != i:
            out.append(f"{where}.index is {sc.index}, not {i}")
        if sc.start_frame != start:
            out.append(f"{where}.start_frame is {sc.start_frame}; the scenes before it end at frame {start}")
        if sc.name in names:
            out.append(f"{where}: a second scene named '{sc.name}'")
        names.add(sc.name)
        if i == 0 and sc.continues:
            out.append(f"{where}: the first scene cannot continue a previous one")
        start += sc.frame_count
    if start != n:
        out.append(f"the scenes have {start} frames but the plan has {n}")
    owner = _scene_of_frames(plan)
    for i, fr in enumerate(plan.frames):
        out.extend(_frame_problems(plan, fr, i, owner))
        if len(out) > 100:
            break
    return out


def _scene_of_frames(plan: RenderPlan) -> list[tuple[str, int]]:
    """(scene name, its start frame) for each frame index, as the scenes list says."""
    owner: list[tuple[str, int]] = []
    for sc in plan.scenes:
        owner.extend([(sc.name, sc.start_frame)] * min(sc.frame_count, len(plan.frames) - len(owner)))
    return owner


def _frame_problems(plan: RenderPlan, fr: Frame, i: int, owner: list[tuple[str, int]]) -> list[str]:
    out: list[str] = []
    where = f"frames.{i}"
    if fr.index != i:
        out.append(f"{where}.index is {fr.index}, not {i}")
    if i < len(owner):
        name, start = owner[i]
        if fr.scene != name:
            out.append(f"{where}.scene is '{fr.scene}', but the scenes list puts frame {i} in '{name}'")
        if fr.scene_frame != i - start:
            out.append(f"{where}.scene_frame is {fr.scene_frame}, not {i - start}")
        first = i == start
        if first and fr.op not in ("generate", "continue"):
            out.append(f"{where}: the first frame of a scene is 'generate' or 'continue', not '{fr.op}'")
        if not first and fr.op in ("generate", "continue"):
            out.append(f"{where}: only the first frame of a scene can be '{fr.op}'")
        if fr.crossfade is not None and fr.crossfade.from_frame != start - 1:
            out.append(f"{where}.crossfade.from_frame is {fr.crossfade.from_frame}; a crossfade comes from the "
                       f"previous scene's last frame, {start - 1}" if start else
                       f"{where}: the first scene cannot fade from a previous one")
    if fr.image is not None and fr.op != "generate":
        out.append(f"{where}: only a 'generate' frame starts from an image, not a '{fr.op}' frame")
    want = [] if fr.op == "generate" else [i - 1]
    between = _in_between_run(plan, fr, i)
    if between is not None:
        want = between  # a cadence in-between, or the model frame after in-betweens
    if fr.inputs != want:
        out.append(f"{where}.inputs is {fr.inputs}; a '{fr.op}' frame reads {want or 'no frame'}")
    if fr.coherence_ref is not None and not 0 <= fr.coherence_ref < i:
        out.append(f"{where}.coherence_ref is {fr.coherence_ref}; a frame matches the colours of an earlier frame")
    if fr.coherence_ref is not None and fr.coherence == "none":
        out.append(f"{where}: a coherence_ref without coherence")
    total = sum(p.weight for p in fr.prompts)
    if abs(total - 1.0) > 1e-4:
        out.append(f"{where}: prompt weights sum to {total:g}, not 1")
    if fr.op in ("animate", "continue") and fr.strength <= 0:
        out.append(f"{where}: an '{fr.op}' frame redraws with a strength above 0")
    if fr.depth and (plan.film.depth is None or fr.op == "generate"):
        out.append(f"{where}: a depth warp " + ("in a film without a depth model (film.depth)"
                                                 if plan.film.depth is None else "cannot be a 'generate' frame"))
    if fr.motion.z and not fr.depth and fr.op != "generate":
        out.append(f"{where}.motion.z is {fr.motion.z:g}, but only a depth warp moves forward (frames.{i}.depth)")
    out.extend(f"{where}.motion.{m}" for m in motion_problems(fr, plan.film.width, plan.film.height))
    return out


def _in_between_run(plan: RenderPlan, fr: Frame, i: int) -> list[int] | None:
    """The inputs a frame of a run of cadence in-betweens must have, as the compiler makes
    them, or None when the frame claims no such run. In-betweens ``[p, n]`` are the frames
    p+1..n-1, all `warp` in one scene; n is an `animate` frame of that scene made from p."""
    frames = plan.frames
    if fr.op == "warp" and len(fr.inputs) == 2:
        p, n = fr.inputs
    elif fr.op == "animate" and len(fr.inputs) == 1 and fr.inputs[0] < i - 1:
        p, n = fr.inputs[0], i
    else:
        return None
    if not (0 <= p < i <= n < len(frames)) or n - p < 2:
        return None
    run = frames[p + 1:n]
    ok = (frames[n].op == "animate" and frames[n].inputs == [p] and frames[p].scene == frames[n].scene
          and all(f.op == "warp" and f.inputs == [p, n] and f.scene == fr.scene for f in run))
    if not ok:
        return None
    return [p] if i == n else [p, n]


def motion_problems(fr: Frame, width: int, height: int) -> list[str]:
    """A motion field that no camera makes between two frames, by the channel table's
    per-frame ranges (`Channel.frame_range`, else its `range`): the warp is safe against any
    matrix, but a plan should not ask for one that shows nothing."""
    m = fr.motion
    out = [f"{name} is {value!r}, not a finite number" for name, value in m.model_dump().items()
           if not isinstance(value, (int, float)) or not math.isfinite(value)]
    if out:
        return out
    for name in MOTION_CHANNELS:
        ch = CHANNELS[name]
        value = getattr(m, name)
        limit = ch.frame_limit(width, height) or ch.range
        if limit is not None and not limit.holds(value):
            out.append(f"{name} is {value:g}; it must be {limit.words}")
    return out


def is_plan_file(path: str | Path) -> bool:
    return os.fspath(path).lower().endswith(".json")
