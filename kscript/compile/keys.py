"""Frame keys: the one definition of what a frame's content key covers.

`Frame.key` identifies the frame's *chain image* (the picture the frame renders, which the
next frame warps), not the picture shown in the video. It is SHA-256 over the canonical
JSON (`kscript.plan.content_key`) of `frame_key_data`: everything the executor reads to
render the chain image, and nothing else:

- the frame's own values: ``op``, ``motion``, ``strength``, ``guidance``, ``steps``,
  ``seed``, ``noise``, ``prompts`` (text and weight), ``negative``, ``coherence``,
  ``inpaint``, and the SHA-256 of its init image (``image``; null without one): the
  picture's bytes, not its path, so replacing the file re-renders the frames made from it
  and moving or renaming it renders nothing;
- the film's size and models (``width``, ``height``, ``model``, ``prior``, ``inpaint``);
- for a depth warp (`Frame.depth`) the film's depth model, as ``depth`` (absent from other
  frames' keys, so a film without depth keys as it did before the 3D camera, and a change
  of depth model changes the keys of the depth warps and of everything made from them);
- ``motion`` lists the motion channels in the table's order, leaving out those added after
  keys were first made (`Channel.keyed_at_default` False: `z`) while they are at their
  default;
- the keys of the frames whose chain images it reads: its ``inputs`` and its
  ``coherence_ref``. So a key changes when anything upstream of the frame changes.
  Under `cadence` an in-between reads both neighbouring model frames, the next one
  included, and its key names both; a frame whose warp spans several frames (a model
  frame after in-betweens, made from the model frame before them) has the motions of all
  of them in its key (`warp_path`).

Not covered: the frame's position (index, scene name, time, frame in scene), so lengthening
one scene leaves the keys of the scenes after it alone; and its ``crossfade``. A crossfade
is a composite made at output time, ``(1 - w) * chain[from_frame] + w * chain[self]``, from
two chain images that are each cached under their own key: an edit to the scene a
crossfade comes from re-renders that scene only, and a change to a transition re-encodes
the video but renders nothing.

The executor addresses the frame cache by this key (`kscript.render.cache.address` adds
the engine version and the backend's fingerprint) and derives no key of its own, so the
key must change whenever the executor would render the chain image differently:
tests/test_compile_keys.py checks every field the executor reads is covered.

The compiler writes this JSON directly with `KEY_TEMPLATE` rather than calling
`frame_key_data` per frame (json.dumps per frame was most of its run time);
tests/test_compile_keys.py checks the two agree on every example film.
"""

from __future__ import annotations

from typing import Sequence

from kscript.channels import CHANNELS, MOTION_CHANNELS
from kscript.plan import FilmInfo, Frame, content_key, warp_path

# The canonical JSON of `frame_key_data`: keys in sorted order, as canonical_json writes
# them. Filled in by the compiler, in this order: [negative, coherence], the coherence
# reference's key (quoted) or null, `depth_key_part` (empty or `"depth":"...",`), the film
# part, guidance, the init image's SHA-256 (quoted) or null, inpaint, the inputs' keys,
# motion, noise, op, prompts, seed, steps, strength.
KEY_TEMPLATE = (
    '{"coherence":%s,"coherence_ref":%s,%s"film":%s,"guidance":%s,"image":%s,"inpaint":%s,'
    '"inputs":%s,"motion":%s,"noise":%s,"op":"%s","prompts":%s,"seed":%d,"steps":%d,"strength":%s}'
)
#: the position of the inputs' keys among KEY_TEMPLATE's values (an in-between's are filled
#: in once its next model frame's key is known)
KEY_INPUTS = 7


def film_key_part(film: FilmInfo) -> list:
    """The film's share of every key: size and models (not title, fps or seed)."""
    return [film.width, film.height, film.model, film.prior, film.inpaint]


def motion_key(values: Sequence[float]) -> list[float]:
    """The key's motion list from the motion channels' values in the table's order."""
    return [v for name, v in zip(MOTION_CHANNELS, values)
            if CHANNELS[name].keyed_at_default or v != CHANNELS[name].default]


def depth_key_part(frame_depth: bool, film: FilmInfo) -> str:
    """The `"depth":"<model>",` member of a depth warp's key (KEY_TEMPLATE's third), else ''."""
    from kscript.plan import canonical_json

    return f'"depth":{canonical_json(film.depth)},' if frame_depth else ""


def frame_key_data(frame: Frame, film: FilmInfo, keys: Sequence[str], frames: Sequence[Frame] | None = None) -> dict:
    """What a frame's key is the hash of.

    Args:
        frame: the frame.
        film: the plan's film (its size and models are in every key).
        keys: the keys of the plan's frames by index; only those of the frames this one
            reads (`inputs`, `coherence_ref`) are used.
        frames: the plan's frames; needed only where the frame's warp spans several
            frames (`warp_path`), whose motions are then in its key.

    `negative` and `coherence` go in as one pair under "coherence", the film's size and
    models as "film", the keys of the frames it is made from as "inputs" and
    "coherence_ref"; never its index, time, scene name or crossfade. "motion" is the
    frame's own motion (a list in the table's order), or where its warp composes several
    frames' motions (`warp_path`), the list of those. An in-between's second input, the
    next model frame, covers the rest of the way through its key.
    """
    m = frame.motion
    path = warp_path(frame)
    if len(path) > 1:
        if frames is None:
            raise ValueError(f"frame {frame.index} warps across frames {path}: their motions are needed for its key")
        motion: list = [motion_key([getattr(frames[j].motion, name) for name in MOTION_CHANNELS]) for j in path]
    else:
        motion = motion_key([getattr(m, name) for name in MOTION_CHANNELS])  # the table's order
    data = {
        "coherence": [frame.negative, frame.coherence],
        "coherence_ref": keys[frame.coherence_ref] if frame.coherence_ref is not None else None,
        "film": film_key_part(film),
        "guidance": frame.guidance,
        "image": frame.image.sha256 if frame.image is not None else None,
        # how many warps' band the frame paints (false when it paints none)
        "inpaint": frame.reveal if frame.reveal else frame.inpaint,
        "inputs": [keys[i] for i in frame.inputs],
        "motion": motion,
        "noise": frame.noise,
        "op": frame.op,
        "prompts": [[p.text, p.weight] for p in frame.prompts],
        "seed": frame.seed,
        "steps": frame.steps,
        "strength": frame.strength,
    }
    if frame.depth:
        data["depth"] = film.depth  # the depth model this frame's warp reads
    return data


def frame_key(frame: Frame, film: FilmInfo, keys: Sequence[str], frames: Sequence[Frame] | None = None) -> str:
    """The key of a frame's chain image (see the module docstring); arguments as in `frame_key_data`."""
    return content_key(frame_key_data(frame, film, keys, frames))


def plan_keys(frames: Sequence[Frame], film: FilmInfo) -> list[str]:
    """The key of every frame, in order, computed afresh (ignoring their `key` fields).

    For plans made without the compiler (tests, tools): each frame's references must point
    at earlier frames, except an in-between's second input (`warp`, two inputs), the next
    model frame, which must itself read only frames before the in-between.
    """
    keys: list[str] = [""] * len(frames)
    later: list[int] = []
    deferred: set[int] = set()
    for i, fr in enumerate(frames):
        refs = list(fr.inputs) + ([fr.coherence_ref] if fr.coherence_ref is not None else [])
        tween = fr.op == "warp" and len(fr.inputs) == 2
        if tween and i < fr.inputs[1] < len(frames):
            refs.remove(fr.inputs[1])
            later.append(i)  # its key needs the next model frame's
            deferred.add(i)
        if any(not 0 <= r < i for r in refs):
            raise ValueError(f"frame {i} reads frame(s) {refs}: a frame can only read earlier frames")
        if deferred and any(r in deferred for r in refs):
            raise ValueError(f"frame {i} reads frame(s) {refs}: no frame is made from a cadence in-between")
        if not later or later[-1] != i:
            keys[i] = frame_key(fr, film, keys, frames)
    for i in later:
        nxt = frames[frames[i].inputs[1]]
        reads = list(nxt.inputs) + ([nxt.coherence_ref] if nxt.coherence_ref is not None else [])
        if nxt.op == "warp" or any(r >= i for r in reads):
            raise ValueError(f"frame {i} is made from frame {nxt.index} ({nxt.op}, reading frames {reads}): "
                             "an in-between's next model frame reads only frames before it")
        keys[i] = frame_key(frames[i], film, keys, frames)
    return keys
