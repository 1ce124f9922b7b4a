"""The render plan: the contract between the language and the render engine.

A `RenderPlan` lists every frame of the film with everything its rendering depends on. The
compiler (`kscript.compile`) makes it; the executor (`kscript.render`) only reads it. It is
deterministic: the same source gives byte-identical JSON (`to_json`).

Operations (`Frame.op`), each frame makes one *chain image* that the next frame warps:

- ``generate``: the first frame of a scene, text-to-image from the frame's prompts; or,
  with `image` (the scene's `image "photo.png"`), from that picture fitted to the film's
  size (`kscript.images.fit`): at `strength` 0 the chain image is the picture itself, above
  0 one img2img call redraws it (the compiler guarantees `int(steps * strength) >= 1`, or
  sets `strength` to 0 where no step count up to `MAX_STEPS` gives one).
- ``continue``: the first frame of a scene with `continue`: the previous scene's last
  chain image, warped by this frame's motion and redrawn (inpaint + img2img) with this
  scene's prompts. ``inputs == [index of that frame]``.
- ``animate``: warp the previous chain image by `motion`, fill the revealed border
  (inpaint where the backend has it), redraw by img2img at `strength`.
- ``warp``: warp only: no model call (strength 0, or under `cadence` the frames after a
  scene's last model frame). The revealed border is filled without a model.
- A cadence *in-between* is a ``warp`` with ``inputs == [p, n]``, the model frames before
  and after it in its scene: p warped forward and n warped backward to its view, blended
  by its position ``(index - p) / (n - p)`` along the optical flow between them
  (`kscript.render.tween`). It is the one frame that reads a LATER frame; n reads only
  frames before p + 1, so there is no cycle. The model frame n is made from p
  (``inputs == [p]``), warped once by the motions of frames p+1..n composed (`warp_path`).

`Frame.inpaint` says whether the frame paints the band its warps revealed: the compiler
composes the warps of the chain since the last frame that painted (or the scene's first
frame), one warp per frame, the in-betweens' included, and, on the first
``animate``/``continue`` frame where that band is at least
`kscript.geometry.BAND_PX` wide, sets `inpaint` and `reveal` (how many warps, this frame's
included, the band comes from). Such a frame makes ONE masked model call instead of its
img2img call: the band painted from noise, the rest redrawn at the frame's strength, in the
frame's own denoising steps (`kscript.compile.cost`). A narrower band is filled without a
model and redrawn by the frame's img2img, and keeps growing until a frame paints it.

A *depth warp* (`Frame.depth`, issue #11): in a film with a `depth:` model
(`FilmInfo.depth`), every frame made from a chain image whose motion moves the camera
(`x`, `y` or `z` not 0) is warped through the depth map of that image
(`kscript.render.depth_warp`): parallax, a forward move, and near things hiding and
revealing what lies behind them. What such a warp reveals depends on the picture's depth,
which the compiler cannot know, so the decision moves to the executor, and the plan says
exactly what it will do: every depth-warp ``animate``/``continue`` frame has `inpaint`
set (`reveal` counts the warps since the last frame that painted, as for the homography)
and makes its one masked call with the mask of what its own warp revealed joined with the
band of the warps before it (an empty mask redraws it all at the frame's strength, as
img2img). A warp-only depth warp's depth is its input's moved by the same warp
(`depth_origins`), so the depth model runs on model frames' pictures only. The camera's turns and zoom alone
(`turn`, `tilt`, `angle`, `zoom`) stay homographies: a rotation about the camera needs no
depth. Without a depth model no frame is a depth warp, and `z` is an error (E037).

A transition is a composite over the chain image, not an operation of its own: frames in
the first N frames of a scene with `transition crossfade N` have `crossfade` set, and the
frame shown in the video is ``(1 - w) * chain[from_frame] + w * chain[self]`` with
``w = crossfade.weight``, made at output time from two chain images that are each cached
under their own key. The chain (what the next frame warps) stays the scene's own image.

Values the compiler guarantees (kscript/compile/compiler.py says why):

- ``steps``: an img2img call runs ``int(steps * strength)`` denoising steps; for an
  ``animate``/``continue`` frame where that would be 0, ``steps`` is raised to the smallest
  value giving 1, so every model call does some work, but never past ``MAX_STEPS``: a
  strength too faint for one step in ``MAX_STEPS`` (below about 0.002) is treated as 0, and
  the frame is ``warp`` (no model call).
- ``crossfade.weight`` of a scene's frame f (f < N, `transition crossfade N`) is
  ``(f + 1) / (N + 1)``: never 0 (the first frame already shows some of the new scene)
  and never 1 inside the fade.
- ``seed``: the `seed` channel where set, else film seed + `scene_frame` (not the film
  index, so lengthening one scene does not change every later frame's seed and key).
- ``prompts``: weights sum to 1 (to 6 decimals); zero weights are left out.
- Floats are rounded to 6 decimals.

`Frame.key` is the key of the frame's *chain image*, and the frame cache stores each chain
image under it: SHA-256 over canonical JSON of everything rendering the chain image reads:
the frame's op, motion, strength, guidance, steps, seed, noise, prompts with weights,
negative, coherence and inpaint flag, the SHA-256 of its init image (not its path: a
moved file with the same bytes renders nothing again), for a depth warp the film's depth
model, the film's size and models, and the keys of the frames it reads (`inputs` and
`coherence_ref`), so a change anywhere upstream changes it; where its warp composes several
frames' motions (`warp_path`), all of them. An in-between's key names both neighbours.
Not its index, time or scene name (lengthening a scene leaves later keys alone), and not its
`crossfade`: the shown frame of a crossfade is ``(1 - w) * chain[from_frame] + w *
chain[self]``, made from two cached chain images, so an edit to the scene a crossfade comes
from re-renders only that scene, and a change to a transition re-encodes the video but
renders nothing. An edit changes exactly the keys of the chain images it affects.
`kscript.compile.keys` is the one definition (`frame_key_data` shows exactly what is
hashed); the executor derives no key of its own.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kscript.channels import MAX_SEED, MAX_STEPS  # the table of channels owns the steps range
from kscript.limits import MAX_FPS, MAX_FRAMES, MAX_SIZE, MAX_STRING_CHARS, MIN_FPS, MIN_SIZE
from kscript.models import is_preview_model  # noqa: F401  (re-exported for the render stage)

PLAN_VERSION = 1

Op = Literal["generate", "continue", "animate", "warp"]
Coherence = Literal["none", "rgb", "lab"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Field types that hold a plan loaded from JSON (`kscript build plan.json`) to what the
# compiler guarantees (#9.6): finite numbers, the language's ranges. The compiler builds
# plans with `model_construct`, which skips them; `kscript.plan_file` adds the checks that
# span fields (indices, references, keys).
Finite = Annotated[float, Field(allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Index = Annotated[int, Field(ge=0, lt=MAX_FRAMES)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Text = Annotated[str, Field(max_length=MAX_STRING_CHARS)]
Dimension = Annotated[int, Field(ge=MIN_SIZE // 2, le=MAX_SIZE)]  # backends resize sizes the models cannot take


class SourceRef(_Model):
    """Where a plan entry came from in the source."""

    file: str
    line: int
    col: int


class Soundtrack(_Model):
    """The film's audio: muxed into the video from `start` for the film's length. The
    curves computed from it are already in the frames' values (and so in their keys)."""

    path: Text = Field(description="the song: the film's folder joined with its audio: path")
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    start: Seconds = Field(description="seconds into the song at the film's first frame")
    smooth: Seconds = Field(description="release of the audio curves' follower, seconds")


class FilmInfo(_Model):
    title: Text
    width: Dimension
    height: Dimension
    fps: Annotated[float, Field(ge=MIN_FPS, le=MAX_FPS, allow_inf_nan=False)]
    seed: Seed
    model: Text = Field(description='"preview", a local folder or a hub id')
    prior: Text | None = Field(default=None, description="Kandinsky 2.2 prior model, when named")
    inpaint: Text | None = Field(default=None, description="inpainting model, when named")
    # Absent (not null) in the JSON of a film without it, so older plans read the same.
    depth: Text | None = Field(
        default=None, description='depth model of the 3D camera: "preview", a local folder (the film\'s folder '
        "first) or a hub id of a transformers depth estimator; None: the camera is a homography")
    negative: Text = ""
    coherence: Coherence = "none"
    frame_count: Annotated[int, Field(ge=1, le=MAX_FRAMES)]
    duration: Seconds = Field(description="seconds")
    # Music: absent (not null) in the JSON of a film without it, so older plans read the same.
    audio: Soundtrack | None = None
    bpm: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] | None = None
    bpm_detected: bool = False
    beats_per_bar: Annotated[int, Field(ge=1, le=64)] = 4


class Transition(_Model):
    kind: Literal["cut", "crossfade"] = "cut"
    frames: Annotated[int, Field(ge=0, le=MAX_FRAMES)] = 0


class PromptSpan(_Model):
    """A prompt of a scene as written: for timelines (the watch page)."""

    text: Text
    start: Seconds = Field(description="seconds since the scene started")
    blend: Seconds = Field(default=0.0, description="seconds of cross-fade from the previous prompt")


class SceneInfo(_Model):
    name: Text
    index: Index
    start_frame: Index
    frame_count: Annotated[int, Field(ge=1, le=MAX_FRAMES)]
    start_time: Seconds
    duration: Seconds
    continues: bool = False
    transition: Transition = Transition()
    prompts: list[PromptSpan]
    negative: Text
    coherence: Coherence = "none"
    source: SourceRef


class Motion(_Model):
    """Camera motion applied to the previous chain image to make this frame's.

    Per FRAME, in what the warp applies (the language's per-second units are converted by
    the compiler through `kscript.channels`): zoom: scale per frame (1 still, > 1 moves
    in); angle: roll in degrees per frame, positive counter-clockwise; x, y: pan in pixels
    per frame, positive x pans right, positive y pans up (on a depth warp, `Frame.depth`:
    the camera moves sideways so far that the picture shifts by these pixels on average,
    nearer things more); z: forward move, a fraction of the scene's distance per frame
    (only on a depth warp; `kscript.render.depth_warp.scene_distance`); turn: yaw, degrees per frame,
    positive turns right; tilt: pitch, degrees per frame, positive tilts up; flip: Deforum's
    2D perspective flip of the picture plane, degrees per frame, positive tips its top edge
    away (`kscript.geometry.flip_matrix`); fov: field of view in degrees for turn/tilt. The fields are the motion channels of
    `kscript.channels.CHANNELS`, in its order and with its defaults (tests/test_channels.py).
    """

    zoom: float = 1.0
    angle: float = 0.0
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    turn: float = 0.0
    tilt: float = 0.0
    flip: float = 0.0
    fov: float = 40.0


class InitImage(_Model):
    """A scene's init image, read by its first frame (`image "photo.png"`)."""

    path: Text = Field(description="the picture: the film's folder joined with the path written")
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] = Field(description="of the file's bytes (in the key)")


class WeightedPrompt(_Model):
    text: Text
    weight: Unit


class Crossfade(_Model):
    from_frame: Index = Field(description="index of the previous scene's last frame")
    weight: Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)] = Field(
        description="weight of this scene's own image, 0..1")


class Frame(_Model):
    index: Index
    scene: Text
    scene_frame: Index = Field(description="frame index within the scene (f)")
    time: Seconds = Field(description="seconds since the film started (T)")
    op: Op
    motion: Motion
    strength: Unit
    guidance: Annotated[float, Field(ge=0.0, le=50.0, allow_inf_nan=False)]
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)]
    seed: Seed
    noise: Unit = 0.0
    prompts: Annotated[list[WeightedPrompt], Field(min_length=1, max_length=64)]
    negative: Text
    coherence: Coherence = "none"
    coherence_ref: Index | None = Field(default=None, description="frame whose colours to match")
    inputs: Annotated[list[Index], Field(max_length=2)] = Field(
        default_factory=list,
        description="frames this one is made from: an in-between under cadence reads the model frames before and after it")
    inpaint: bool = Field(
        default=False,
        description="paint the band the last `reveal` warps revealed, in one masked model call",
    )
    reveal: int = Field(default=0, description="warps (this frame's and earlier ones) whose band this frame paints")
    # Absent from the JSON when False, so plans of films without depth read as before.
    depth: bool = Field(
        default=False,
        description="a depth warp: the input chain image is moved through its depth map (the film's depth "
        "model), and an animate/continue frame paints what the warp revealed in its one masked call",
    )
    crossfade: Crossfade | None = None
    # absent (not null) in the JSON of a frame without one, so older plans read the same
    image: InitImage | None = Field(default=None, description="the picture a generate frame starts from")
    key: Annotated[str, Field(pattern="^([0-9a-f]{64})?$")]


class RenderPlan(_Model):
    version: Literal[1] = PLAN_VERSION
    film: FilmInfo
    scenes: Annotated[list[SceneInfo], Field(min_length=1, max_length=MAX_FRAMES)]
    frames: Annotated[list[Frame], Field(min_length=1, max_length=MAX_FRAMES)]

    def to_json(self) -> str:
        """Deterministic JSON: the same plan gives the same bytes."""
        data = self.model_dump(mode="json")
        film = data["film"]
        if film.get("audio") is None and film.get("bpm") is None:
            for name in ("audio", "bpm", "bpm_detected", "beats_per_bar"):
                film.pop(name, None)
        # The 3D camera's fields are left out where unused: a film without depth has the
        # plan it had before they existed.
        if film.get("depth") is None:
            film.pop("depth", None)
        for fr in data["frames"]:
            if fr.get("image", 0) is None:
                del fr["image"]
            if not fr.get("depth"):
                fr.pop("depth", None)
            if fr["motion"].get("z") == 0:
                fr["motion"].pop("z", None)
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def model_calls(self) -> dict[str, int]:
        """Model calls by kind a build from nothing makes (the prior's aside: see
        `kscript.compile.cost.estimate`): text2image per `generate`, img2img per
        `animate`/`continue` frame, or one masked "inpaint" call instead where it paints."""
        from kscript.compile.cost import estimate

        calls = estimate(self, family="stable-diffusion").model_calls
        return {k: calls[k] for k in ("text2image", "img2img", "inpaint")}


def warp_path(frame: Frame) -> list[int]:
    """The frames whose motions the frame's warp of its first input composes, in order.

    A frame made from the frame before it warps by its own motion: ``[index]``. Under
    `cadence`, a model frame after in-betweens is made from the model frame before them,
    and an in-between from that model frame too (and the next one): the warp from the
    first input composes the motions of every frame after it up to this one. A
    `generate` frame warps nothing: ``[index]``.
    """
    if not frame.inputs or frame.inputs[0] >= frame.index:
        return [frame.index]
    return list(range(frame.inputs[0] + 1, frame.index + 1))


def is_in_between(frame: Frame) -> bool:
    """Whether the frame is a cadence in-between: a `warp` made from the model frames
    before and after it (``inputs == [before, after]``)."""
    return frame.op == "warp" and len(frame.inputs) == 2


def depth_origins(frames: "list[Frame]") -> list[int]:
    """For each chain image, the frame whose picture the depth model estimates its depth from:
    its own, except for a warp-only depth warp (`op` "warp", `depth`), whose picture is its
    input's moved without a model, and whose depth is its input's moved the same way (so the
    depth model runs on model frames' pictures only). The executor (`_depth_of`) and the cost
    estimate (`kscript.compile.cost.depth_calls`) both read it."""
    origin = list(range(len(frames)))
    for i, fr in enumerate(frames):
        if fr.op == "warp" and fr.depth and fr.inputs and 0 <= fr.inputs[0] < i:
            origin[i] = origin[fr.inputs[0]]
    return origin


def canonical_json(data: Any) -> str:
    """The one serialisation used for hashing: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_key(data: Any) -> str:
    """SHA-256 of the canonical JSON of `data`, as hex."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
