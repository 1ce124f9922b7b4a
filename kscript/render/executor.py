"""The executor: walks a render plan in order and makes every frame's images.

Each plan frame makes one *chain image* (what the next frame warps):

- ``generate``: `backend.text2image`; from an init image (`Frame.image`), the picture
  fitted to the film (`kscript.images.fit`), as it is at strength 0, else redrawn by
  `backend.img2img` at the frame's strength. The file is read when the frame renders and
  must still hold the bytes the plan's key names (its SHA-256), else the build stops.
- ``animate`` / ``continue``: warp the input chain image (the previous frame, or for
  ``continue`` the frame in `inputs`) by the frame's motion; fill what the warp revealed
  without a model (a band no model has painted yet, left by the frame it is made from, is
  refilled as one mirror of the painted picture, `warp.mirror_band`, so a chain of mirror
  fills never builds a comb); add seeded noise; then one model call: `backend.repaint` with the mask
  of the band the plan says this frame paints (`Frame.inpaint`, the last `Frame.reveal`
  warps composed), else `backend.img2img` at the frame's strength; match colours to the
  scene's first frame (coherence).
- ``warp``: warp and model-free fill only, no model call. A cadence in-between (a
  ``warp`` with ``inputs == [previous model frame, next model frame]``) is a blend of the
  two, each warped to it (`kscript.render.tween`): it reads the NEXT model frame too, so
  that one is rendered first. A model frame after in-betweens is made from the model frame
  before them, warped once by all their motions composed (`plan.warp_path`).
- a depth warp (`Frame.depth`, issue #11): the input chain image is moved through its depth
  map (`kscript.render.depth_warp.warp_and_fill`), made by the film's depth model once per
  chain image (`kscript.backends.depth.FilmDepth`, cached by the image's plan key, so at
  most one depth call per frame rendered); the mask of the one masked call
  (`backend.repaint`, which the plan sets on every depth-warp model frame) is what this
  warp actually revealed, joined with the band of the homography warps before it. The
  depth model is loaded before the first frame with the backend's model: a missing or
  wrong-kind model is a `ModelError` before anything is rendered.

The frame written to the video is the chain image, or during a crossfade transition
``(1 - w) * chain[from_frame] + w * chain[own]``, composited at output time and never cached.

Every chain image is stored in the frame cache under its plan key, `Frame.key`, which is
the key of the chain image (kscript/compile/keys.py: the frame's own inputs and the keys of
the frames it reads, not its crossfade), plus the engine version and the backend
fingerprint (`cache.address`). The executor derives no key of its own: the plan is the
contract. Before rendering, it works out which chain images the requested output needs and
which of those it must render; it loads from the cache only what is needed (a cached frame
k is loaded only when frame k is shown, is the source of a shown crossfade, or an uncached
frame is made from it; "shown" means handed to the sink: `build` leaves out the frames of
scenes whose encoded segment is cached, see `run(show=)`), so a rebuild of an unchanged film makes no model call, an edit
re-renders only the frames whose keys changed, and a change to a transition renders
nothing. Cancellation is checked at every frame boundary and every model step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Literal

import cv2
import numpy as np

from kscript import geometry
from kscript.errors import KscriptError, RenderError, UsageError
from kscript.plan import Frame, RenderPlan, depth_origins, is_in_between, warp_path
from kscript.render import coherence, depth_warp, tween, warp
from kscript.backends.interface import Backend, Request
from kscript.render.cache import BackgroundWriter, FrameCache, address

if TYPE_CHECKING:  # pragma: no cover
    from kscript.backends.depth import FilmDepth


class BuildCancelled(KscriptError):
    """The build was cancelled (`should_cancel()` said so, e.g. a newer save in watch mode).

    Finished frames stay in the cache; no output was written.
    """

    exit_code = 130

    def __init__(self, message: str = "the build was cancelled") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives, after each frame and each model step.

    Attributes:
        phase: "frame" when a frame is started, "step" after a model step, "done" when
            a frame of the output has been written, "status" when the backend says what it
            is doing between frames (`message`: loading a model, running the prior).
        frames_done: frames of the output finished so far.
        frames_total: frames of the output.
        frame: plan index of the frame being worked on (None before the first).
        step, steps: the current model call's step and step count (0, 0 outside a call).
        rendered, cached: chain images rendered / loaded from the cache so far.
        message: the backend's words, for "status".
    """

    phase: Literal["frame", "step", "done", "status"]
    frames_done: int
    frames_total: int
    frame: int | None
    step: int = 0
    steps: int = 0
    rendered: int = 0
    cached: int = 0
    message: str = ""


ProgressCallback = Callable[[Progress], None]
FrameSink = Callable[[int, np.ndarray], None]


def select_frames(plan: RenderPlan, scene: str | None) -> list[int]:
    """The plan indices of the frames in the output: all, or one scene's."""
    if scene is None:
        return [f.index for f in plan.frames]
    names = [s.name for s in plan.scenes]
    if scene not in names:
        from kscript.diagnostics import did_you_mean

        guess = did_you_mean(scene, names)
        raise UsageError(
            f"the film has no scene '{scene}'",
            hint=guess or "scenes: " + ", ".join(names),
        )
    return [f.index for f in plan.frames if f.scene == scene]


def _geometry_matrix(frame: Frame, width: int, height: int):  # noqa: ANN202 - a geometry.Matrix
    """The homography of the frame's own motion, as the compiler computes it for the band."""
    m = frame.motion
    return geometry.warp_matrix(width, height, zoom=m.zoom, angle=m.angle, x=m.x, y=m.y, turn=m.turn,
                                tilt=m.tilt, flip=m.flip, fov=m.fov, z=m.z)


def dependencies(frame: Frame, depth_root: int | None = None) -> list[int]:
    """The chain images rendering `frame` reads (not counting its crossfade partner).

    Only frames the key covers (`inputs`, `coherence_ref`, and for a depth warp whose input
    is a warp-only depth warp the model frame whose picture's depth it carries, `depth_roots`:
    upstream of its input, so under its key too): a dependency the key did not name could
    change without changing the key. All are earlier in the plan but one: a cadence
    in-between reads the next model frame (`Executor` checks that one reads only frames
    before the in-between, so there is no cycle).
    """
    deps: list[int] = []
    if frame.op in ("animate", "warp", "continue"):
        if not frame.inputs:
            raise RenderError(f"plan frame {frame.index} ({frame.op}) is made from no frame: its inputs are empty")
        deps.append(frame.inputs[0])
        if is_in_between(frame):
            deps.append(frame.inputs[1])
    if _coherence_ref(frame) is not None:
        deps.append(_coherence_ref(frame))  # type: ignore[arg-type]
    if depth_root is not None and depth_root not in deps:
        deps.append(depth_root)
    return deps


def depth_roots(frames: list[Frame]) -> list[int | None]:
    """For each depth warp whose input is a warp-only depth warp, the frame whose picture's
    depth that input carries (the model frame the warp-only run started from); else None.
    The depth of a warp-only frame's picture is its input's moved (`Executor._depth_of`), so
    the executor needs that frame's picture to make it when the frames between are cached."""
    origin = depth_origins(frames)
    out: list[int | None] = [None] * len(frames)
    for i, fr in enumerate(frames):
        src = fr.inputs[0] if fr.inputs and 0 <= fr.inputs[0] < i else None
        if src is not None and fr.depth and _carries_depth(frames[src]):
            out[i] = origin[src]
    return out


def _carries_depth(frame: Frame) -> bool:
    """A warp-only depth warp: its picture's depth is its input's, carried by its move."""
    return frame.op == "warp" and frame.depth and bool(frame.inputs)


def _coherence_ref(frame: Frame) -> int | None:
    if frame.op in ("animate", "continue") and frame.coherence != "none":
        ref = frame.coherence_ref
        if ref is not None and ref != frame.index:
            return ref
    return None


def chain_starts(plan: RenderPlan) -> list[int]:
    """For each frame, the index of its chain's first frame: a `generate` frame starts a
    chain (as does a frame whose input is not an earlier frame); every other frame is in
    the chain of `inputs[0]` (a `continue` carries it across scenes)."""
    starts: list[int] = []
    for fr in plan.frames:
        if fr.op == "generate" or not fr.inputs or not 0 <= fr.inputs[0] < fr.index:
            starts.append(fr.index)
        else:
            starts.append(starts[fr.inputs[0]])
    return starts


def cameras(plan: RenderPlan) -> tuple[list[tuple[float, ...]], list[int]]:
    """Each frame's accumulated camera move since its chain's first frame, and that frame's seed.

    A `generate` frame starts a chain (the identity, its own seed); every other frame is
    made from `inputs[0]` by the motions of its `warp_path` (its own, or under cadence those
    since the model frame before), so its camera is that warp composed with that frame's
    camera (a `continue` carries it across scenes). Derived from plan values only
    (the motions and the seed of the chain's generate frame, all under the frame's key), so
    the cache stays exact. The preview painter draws its painting through it.
    """
    w, h = plan.film.width, plan.film.height
    cams: list[np.ndarray] = []
    seeds: list[int] = []
    for fr in plan.frames:
        if fr.op == "generate" or not fr.inputs or not 0 <= fr.inputs[0] < fr.index:
            cams.append(np.eye(3))
            seeds.append(fr.seed)
            continue
        src = fr.inputs[0]
        path = warp_path(fr)
        step = warp.matrix(fr.motion, w, h) if len(path) == 1 else tween.compose(
            [plan.frames[j].motion for j in path], w, h)
        m = step @ cams[src]
        cams.append(m / m[2, 2] if abs(m[2, 2]) > 1e-12 else m)
        seeds.append(seeds[src])
    return [tuple(float(v) for v in m.ravel()) for m in cams], seeds


@dataclass
class ExecStats:
    frames_total: int = 0
    frames_rendered: int = 0
    frames_cached: int = 0
    frames_loaded: int = 0
    depth_calls: int = 0  # depth maps made for depth warps (`FilmDepth.calls`)


class Executor:
    """Renders a plan's frames with a backend, through a frame cache (see module docstring).

    Args:
        plan: the render plan.
        backend: a loaded backend.
        cache: the frame cache, or None for `--no-cache`.
        scene: render only this scene's frames (and what they are made from).
        progress: called with a `Progress` after each frame and model step.
        should_cancel: polled at every frame boundary and model step; True raises
            `BuildCancelled`.
        on_frame: called with (plan index, image) for every frame of the output as it is
            written (the watch page shows frames as they finish); frames left out of
            `run`'s `show` (their scene's encoded segment is cached) are not reported.
        prepare: called once before the first frame is rendered, and not at all when every
            frame comes from the cache (`build` passes `backend.load`: a rebuild of an
            unchanged film does not even load the model).
        depth: where the depth warps' depth maps come from (`kscript.backends.depth.FilmDepth`;
            `build` passes one that reads relative folders from the film's folder). Default:
            the film's `depth:` model, read from the working folder, when the plan has depth
            warps; loaded before the first frame, like `prepare`.
    """

    def __init__(
        self,
        plan: RenderPlan,
        backend: Backend,
        cache: FrameCache | None = None,
        *,
        scene: str | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
        on_frame: FrameSink | None = None,
        prepare: Callable[[], None] | None = None,
        depth: "FilmDepth | None" = None,
    ) -> None:
        self.plan = plan
        self.backend = backend
        self.cache = cache
        self.progress = progress
        self.should_cancel = should_cancel
        self.on_frame = on_frame
        self.frames = plan.frames
        for i, fr in enumerate(self.frames):
            if fr.index != i:
                raise RenderError(f"plan frame {i} has index {fr.index}: the plan is not in order")
        self.targets = select_frames(plan, scene)
        self.shape = (plan.film.height, plan.film.width, 3)
        roots = depth_roots(self.frames)
        self.deps = [dependencies(fr, roots[i]) for i, fr in enumerate(self.frames)]
        for fr, ds in zip(self.frames, self.deps):
            for d in ds:
                if 0 <= d < fr.index:
                    continue
                # Only an in-between reads a later frame, its next model frame, which must
                # read only frames before the in-between (no cycle) and warp along its path.
                ok = (is_in_between(fr) and d == fr.inputs[1] and d < len(self.frames)
                      and not is_in_between(self.frames[d]) and self.frames[d].op != "generate"
                      and all(e < fr.index for e in dependencies(self.frames[d]))
                      and self.frames[d].inputs[0] == fr.inputs[0])
                if not ok:
                    raise RenderError(f"plan frame {fr.index} is made from frame(s) {ds}: only earlier frames "
                                      "can be, or for a cadence in-between the next model frame")
        #: the last frame that reads each chain image (-1: none)
        self.last_reader = [-1] * len(self.frames)
        for fr, ds in zip(self.frames, self.deps):
            for d in ds:
                self.last_reader[d] = max(self.last_reader[d], fr.index)
        self.addr = [address(fr.key, backend.fingerprint) for fr in self.frames]
        self.camera, self.origin_seed = cameras(plan)
        #: each frame's chain start, and the fitted init images of the chains that start
        #: from one, by SHA-256 (read once, when a frame first needs it)
        self.chain_start = chain_starts(plan)
        self._pictures: dict[str, np.ndarray] = {}
        self._regions: dict[int, "geometry.Polygon | None"] = {}  # what a model painted, per chain image
        self.mem: dict[int, np.ndarray] = {}
        self.cached: set[int] = set()
        self.stats = ExecStats(frames_total=len(self.targets))
        self._ref_cdfs: dict[tuple[int, str], np.ndarray] = {}
        self._done = 0
        self._current: int | None = None
        self._writer: BackgroundWriter | None = None
        self._prepare = prepare
        self._last_use: dict[int, int] = {}
        if progress is not None:
            backend.status = self._status
        if depth is None and plan.film.depth is not None and any(fr.depth for fr in self.frames):
            from kscript.backends.depth import FilmDepth

            depth = FilmDepth(plan.film.depth, backend)
        self.depth = depth

    # -- planning ------------------------------------------------------------------------------

    def _needs(self, shown: list[int]) -> tuple[list[int], dict[int, int]]:
        """Which chain images to load or render, in order, and when each is last used."""
        if self.cache is not None:
            self.cached = {i for i in range(len(self.frames)) if self.cache.has(self.addr[i])}
        need: set[int] = set()
        last_use: dict[int, int] = {}
        for t in shown:
            need.add(t)
            last_use[t] = max(last_use.get(t, -1), t)
            cf = self.frames[t].crossfade
            if cf is not None:
                need.add(cf.from_frame)
                last_use[cf.from_frame] = max(last_use.get(cf.from_frame, -1), t)
        # Close the set over "is made from" (an in-between reads a later frame too).
        todo = list(need)
        while todo:
            i = todo.pop()
            if i in self.cached:
                continue
            for d in self.deps[i]:
                last_use[d] = max(last_use.get(d, -1), i)
                if d not in need:
                    need.add(d)
                    todo.append(d)
        for i in need:
            # kept at least until its own turn: a next model frame is made before the
            # in-betweens that read it, and must not be dropped and made again
            last_use[i] = max(last_use.get(i, -1), i)
        return sorted(need), last_use

    # -- running -------------------------------------------------------------------------------

    def run(self, sink: FrameSink, show: set[int] | None = None) -> ExecStats:
        """Make every output frame in order and hand it to `sink(index, image)`.

        Args:
            sink: receives (plan index, shown image) for every output frame in `show`.
            show: the output frames to hand over (default: all). The others are not even
                loaded unless an uncached frame is made from them: `build` leaves out the
                frames of scenes whose encoded segment is already cached. They count as
                done in the progress reports.
        """
        shown = self.targets if show is None else [t for t in self.targets if t in show]
        depth_calls_before = self.depth.calls if self.depth is not None else 0
        order, last_use = self._needs(shown)
        targets = set(shown)
        self._done = len(self.targets) - len(shown)
        # Output frames left out and not needed otherwise come from the cache as encoded
        # video: reused, not rendered, and never read as pixels.
        self.stats.frames_cached += len(set(self.targets) - targets - set(order))
        if any(i not in self.cached for i in order):
            self._prepared()  # load the model before any frame, so a bad model fails at once
            if self.depth is not None and any(self.frames[i].depth for i in order if i not in self.cached):
                self.depth.load()  # so does the depth model
            self._embed(order)
        self._writer = BackgroundWriter(self.cache) if self.cache is not None else None
        writer = self._writer
        self._last_use = last_use
        try:
            self._run(order, last_use, targets, sink)
        except BaseException:
            # Frames finished before a failure or a cancel stay cached; a cache write error
            # must not hide the reason the build stopped.
            if writer is not None:
                writer.close(raise_error=False)
            raise
        finally:
            self._writer = None
        if writer is not None:
            writer.close()
        # this run's own: a depth source kept between builds (watch mode) counts them all
        self.stats.depth_calls = self.depth.calls - depth_calls_before if self.depth is not None else 0
        return self.stats

    def render_chain(self, order: list[int], start: dict[int, np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """Render the chain images `order` (plan indices, ascending) and yield each as it is made.

        The unit of work of a cluster worker (`kscript.cluster`): it has no frame cache, so
        `start` holds the images of the frames that `order` is made from but does not
        contain (the last cached frame a chain resumes from, a coherence reference). An image
        is dropped from memory once no later frame of `order` reads it. Nothing is cached or
        shown here; the caller does that with what is yielded.

        Raises:
            RenderError: a frame of `order` is made from a frame that is neither in `order`
                (earlier) nor in `start`.
        """
        todo = set(order)
        last_use: dict[int, int] = {i: i for i in order}  # a next model frame made early waits for its turn
        for i in order:
            for d in self.deps[i]:
                if d not in todo and d not in start:
                    raise RenderError(f"plan frame {i} is made from frame {d}, which is neither rendered nor given")
                last_use[d] = max(last_use.get(d, -1), i)
        self.mem.update(start)
        try:
            for i in order:
                self._check_cancel()
                self._current = i
                self._report("frame")
                image = self._ensure(i)
                yield i, image
                for j in [j for j in self.mem if last_use.get(j, -1) <= i]:
                    del self.mem[j]
        finally:
            self.mem.clear()

    def _run(self, order: list[int], last_use: dict[int, int], targets: set[int], sink: FrameSink) -> None:
        for i in order:
            self._check_cancel()
            self._current = i
            self._report("frame")
            self._ensure(i)
            if i in targets:
                image = self._composite(i)
                sink(i, image)
                if self.on_frame is not None:
                    self.on_frame(i, image)
                self._done += 1
                self._report("done")
            for j in [j for j in self.mem if last_use.get(j, -1) <= i]:
                del self.mem[j]

    def _ensure(self, i: int) -> np.ndarray:
        """Chain image i in memory: loaded from the cache, or rendered (and its inputs first)."""
        stack = [i]
        while stack:
            j = stack[-1]
            if j in self.mem:
                stack.pop()
                continue
            if j in self.cached and self.cache is not None:
                image = self.cache.get(self.addr[j])
                if image is not None and image.shape == self.shape:
                    self.mem[j] = image
                    self.stats.frames_cached += 1
                    self.stats.frames_loaded += 1
                    stack.pop()
                    continue
                # Corrupt, truncated or vanished: render it after all.
                self.cached.discard(j)
            missing = [d for d in self.deps[j] if d not in self.mem]
            if missing:
                stack.extend(missing)
                continue
            self._check_cancel()
            self._prepared()  # a corrupt entry may need the model after all
            image = self._render(self.frames[j])
            if self._writer is not None:
                self._writer.put(self.addr[j], image)
            elif self.cache is not None:
                self.cache.put(self.addr[j], image)
            self.mem[j] = image
            # Keep what was rendered until the last frame that reads it: the plan counted
            # on loading its later readers from the cache, but an entry found corrupt or gone
            # there would need this image again, and render it again with its whole chain
            # (k corrupt entries in a row would cost k(k+1)/2 renders instead of k).
            self._last_use[j] = max(self._last_use.get(j, -1), self.last_reader[j])
            self.stats.frames_rendered += 1
            stack.pop()
        return self.mem[i]

    def _embed(self, order: list[int]) -> None:
        """Tell the backend every prompt the frames to render need (it may encode them all
        and free its prompt encoder); an error there is a ModelError before any frame."""
        from kscript.backends.common import call_error

        pairs = {(p.text, fr.negative) for fr in (self.frames[i] for i in order if i not in self.cached)
                 if fr.op != "warp" for p in fr.prompts}
        try:
            self.backend.embed_prompts(pairs)
        except (BuildCancelled, RenderError, UsageError):
            raise
        except Exception as err:  # noqa: BLE001 - told to the user as a ModelError
            raise call_error(err, "embedding the prompts (before the first frame)") from None

    def _status(self, message: str) -> None:
        """The backend's `status`: what it does between frames, to the progress display."""
        if self.progress is not None:
            self.progress(Progress("status", self._done, self.stats.frames_total, self._current, message=message))

    def _prepared(self) -> None:
        if self._prepare is not None:
            prepare, self._prepare = self._prepare, None
            prepare()

    def _render(self, fr: Frame) -> np.ndarray:
        """The frame's chain image. An error inside a model call (a shape mismatch, the GPU
        out of memory, a flagged frame) is a `ModelError` naming the frame; the frames
        finished before it are already in the cache."""
        from kscript.backends.common import call_error

        try:
            return self._render_frame(fr)
        except (BuildCancelled, RenderError, UsageError):
            raise
        except Exception as err:  # noqa: BLE001 - told to the user as a ModelError
            raise call_error(err, f"frame {fr.index} (scene '{fr.scene}', {fr.time:g}s, {fr.op})") from None

    def _render_frame(self, fr: Frame) -> np.ndarray:
        req = self._request(fr)
        be = self.backend
        if fr.op == "generate" and fr.image is not None:
            image = self._init_image(fr)
            if fr.strength > 0:
                image = be.img2img(image, req)
        elif fr.op == "generate":
            image = be.text2image(req)
        elif is_in_between(fr):
            image = self._in_between(fr)
        else:
            src = self.mem[self.deps[fr.index][0]]
            revealed = None
            if fr.depth:
                image, revealed = self._depth_warp(fr, src)
            else:
                # Every band is filled without a model first: a painting frame then paints it
                # from noise in its one masked call; a narrower one is redrawn by img2img.
                m = self._path_matrix(fr, src.shape[1], src.shape[0])
                image = warp.warp(src, m, border="reflect")  # warped and mirror-filled at once
                if not (fr.op != "warp" and fr.inpaint):  # a band that stays: one mirror, no comb
                    image = self._one_mirror(fr, image, m)
            if fr.op != "warp":
                if fr.noise > 0:
                    image = coherence.add_noise(image, fr.noise, fr.seed)
                if fr.inpaint:
                    h, w = image.shape[:2]
                    mask = self._band_mask(fr, w, h) if revealed is None or fr.reveal > 1 else None
                    if revealed is not None:  # what the depth warp revealed, from the warp itself
                        own = warp.soften_fast(revealed)
                        mask = own if mask is None else np.maximum(mask, own)
                    image = be.repaint(image, mask, req)
                else:
                    image = be.img2img(image, req)
                ref = _coherence_ref(fr)
                if ref is not None:
                    image = coherence.match(image, self._cdfs(ref, fr.coherence), fr.coherence)
        return self._checked(image, fr)

    def _path_matrix(self, fr: Frame, width: int, height: int) -> np.ndarray:
        """The warp from the frame's input to it along its `warp_path`: its own motion, or
        after in-betweens all their motions composed into one warp (one resampling, and
        none of the borders the in-betweens revealed and the camera brought back)."""
        path = warp_path(fr)
        if len(path) == 1:
            return warp.matrix(fr.motion, width, height)
        return tween.compose([self.frames[j].motion for j in path], width, height)

    def _one_mirror(self, fr: Frame, image: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The warped image with the band no model has painted yet refilled as one mirror of
        the painted picture (`warp.mirror_band`), when the frame it is made from had such a
        band too; else the warp's own mirrored border already is one mirror, and stays.

        Only the strip this warp revealed is refilled: the rest of the band came in with the
        picture it was warped from, whose band was already one mirror (this rule, a frame
        before) and moved with its painted region. The whole band at 640x640 cost about
        1.6 ms a frame, a sixth of a preview frame. `m`: the warp that made `image`
        (`_path_matrix`)."""
        h, w = image.shape[:2]
        if self._painted(fr.inputs[0], w, h) == geometry.frame_polygon(w, h):
            return image
        seen = geometry.carry(geometry.frame_polygon(w, h), m, w, h)  # what the warp moved in
        return warp.mirror_band(image, self._painted(fr.index, w, h), keep=seen)

    def _painted(self, index: int, width: int, height: int) -> "geometry.Polygon | None":
        """The region of chain image `index` a model painted (pixel centres; None when part of
        it went behind the camera), as the compiler tracks it for `Frame.inpaint`
        (`geometry.carry`, one frame's motion at a time): the whole frame for a frame that
        paints it all (generated, its band painted, a depth warp, a cadence in-between's
        blend), else the region of the frame it is made from carried along its warp path.
        A pure function of the plan, so a frame is the same rendered now or from the cache."""
        walk: list[int] = []
        i = index
        while i not in self._regions:
            fr = self.frames[i]
            if (fr.op == "generate" or fr.inpaint or fr.depth or is_in_between(fr) or not fr.inputs
                    or not 0 <= fr.inputs[0] < i):
                self._regions[i] = geometry.frame_polygon(width, height)
                break
            walk.append(i)
            i = fr.inputs[0]
        for k in reversed(walk):
            region = self._regions[self.frames[k].inputs[0]]
            for j in warp_path(self.frames[k]):
                region = geometry.carry(region, _geometry_matrix(self.frames[j], width, height), width, height)
            self._regions[k] = region
        return self._regions[index]

    def _in_between(self, fr: Frame) -> np.ndarray:
        """A cadence in-between: the model frames before and after it, each warped to it,
        blended by its position between them (`kscript.render.tween`)."""
        p, n = fr.inputs
        h, w = self.shape[:2]
        forward = tween.compose([self.frames[j].motion for j in range(p + 1, fr.index + 1)], w, h)
        to_next = tween.compose([self.frames[j].motion for j in range(fr.index + 1, n + 1)], w, h)
        return tween.blend(self.mem[p], self.mem[n], forward, to_next, (fr.index - p) / (n - p))
    def _depth_warp(self, fr: Frame, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The depth warp of `src` (frame `fr`'s input) by `fr.motion`: the filled image and
        the hard mask of what it revealed. A warp-only frame also keeps its picture's depth,
        its input's carried by the move, for the frame after it (`_depth_of`)."""
        if self.depth is None:
            raise RenderError(f"plan frame {fr.index} is a depth warp, but the film names no depth model")
        depth = self._depth_of(self.deps[fr.index][0])
        move = depth_warp.plan_move(fr.motion, depth, self.plan.film.width)
        carry = _carries_depth(fr)
        image, revealed, carried = depth_warp.warp_fill_and_carry(src, depth, move, carry=carry)
        if carried is not None:
            self.depth.keep(fr.key, carried)
        return image, revealed

    def _depth_of(self, j: int) -> np.ndarray:
        """The depth of chain image j: estimated from the image (`FilmDepth`, once per key),
        except for a warp-only depth warp, whose picture is its input's moved without a model
        call: its depth is its input's, carried by the same move (`depth_warp.carry_depth`).
        So the depth model runs on model frames' pictures only, and the depth of every chain
        image is a pure function of the plan (the same whether a frame was rendered now or
        came from the cache)."""
        assert self.depth is not None
        walk: list[int] = []
        while self.depth.kept(self.frames[j].key) is None and _carries_depth(self.frames[j]):
            walk.append(j)
            j = self.frames[j].inputs[0]
        depth = self.depth.kept(self.frames[j].key)
        if depth is None:
            image = self.mem[j] if j in self.mem else self._ensure(j)
            depth = self.depth.depth(self.frames[j].key, image, self._request(self.frames[j]))
        for k in reversed(walk):
            fr = self.frames[k]
            depth = depth_warp.carry_depth(depth, depth_warp.plan_move(fr.motion, depth, self.plan.film.width))
            self.depth.keep(fr.key, depth)
        return depth

    def _band_mask(self, fr: Frame, width: int, height: int) -> np.ndarray:
        """The feathered mask of the band this frame paints: the frame outside the region
        still painted after the last `reveal` warps up to this frame's (`geometry.carry`,
        the compiler's own rule, one frame's motion at a time), 1 where the model paints.
        The warps are those of the chain's frames, the in-betweens' included: a model frame
        after in-betweens paints every border revealed since the model frame before."""
        chain = [fr]
        here = fr
        while len(chain) < max(1, fr.reveal) and here.inputs:
            # back along the frame's warp path, then on from its first input
            for j in reversed(warp_path(here)[:-1]):
                chain.append(self.frames[j])
            here = self.frames[here.inputs[0]]
            chain.append(here)
        chain = chain[:max(1, fr.reveal)]
        painted = geometry.frame_polygon(width, height)
        for step in reversed(chain):
            painted = geometry.carry(painted, _geometry_matrix(step, width, height), width, height)
        hard = np.ones((height, width), np.uint8)
        if painted is not None and len(painted) >= 3:
            # pixels whose centre is inside the painted region keep their content
            pts = np.round(np.asarray(painted, dtype=np.float64) * 16).astype(np.int32)
            cv2.fillConvexPoly(hard, pts, 0, lineType=cv2.LINE_8, shift=4)
        return warp.soften_fast(hard.astype(np.float32))

    def _init_image(self, fr: Frame) -> np.ndarray:
        """The frame's init image fitted to the film: a copy the frame may own."""
        return self._fitted(fr).copy()

    def _fitted(self, fr: Frame) -> np.ndarray:
        """The frame's init image fitted to the film, checked against the plan's SHA-256;
        read once per build and kept read-only."""
        from kscript import images

        ref = fr.image
        assert ref is not None
        kept = self._pictures.get(ref.sha256)
        if kept is not None:
            return kept
        try:
            picture = images.read_image(ref.path)
        except images.ImageError as err:
            raise RenderError(f"cannot use the image {ref.path} of scene '{fr.scene}': {err.reason}",
                              hint="check the film again (kscript check) once the file is back") from None
        if picture.sha256 != ref.sha256:
            raise RenderError(f"the image {ref.path} of scene '{fr.scene}' changed since the plan was made",
                              hint="make the plan again (kscript plan / build the film): its frames' keys "
                              "name the picture's bytes")
        fitted = np.array(images.fit(picture.pixels, self.plan.film.width, self.plan.film.height))
        fitted.setflags(write=False)
        self._pictures[ref.sha256] = fitted
        return fitted

    def _checked(self, image: np.ndarray, fr: Frame) -> np.ndarray:
        image = np.asarray(image)
        if image.shape != self.shape or image.dtype != np.uint8:
            raise RenderError(
                f"the {self.backend.name} backend returned an image of shape {image.shape} ({image.dtype}) "
                f"for frame {fr.index}, expected {self.shape} (uint8)"
            )
        return np.ascontiguousarray(image)

    def _cdfs(self, ref: int, mode: str) -> np.ndarray:
        key = (ref, mode)
        if key not in self._ref_cdfs:
            self._ref_cdfs[key] = coherence.reference_cdfs(self.mem[ref], mode)
        return self._ref_cdfs[key]

    def _composite(self, i: int) -> np.ndarray:
        own = self.mem[i]
        cf = self.frames[i].crossfade
        if cf is None:
            return own
        w = min(max(float(cf.weight), 0.0), 1.0)
        prev = self._ensure(cf.from_frame)
        return cv2.addWeighted(prev, 1.0 - w, own, w, 0.0)

    def _request(self, fr: Frame) -> Request:
        return Request(
            prompts=tuple((p.text, float(p.weight)) for p in fr.prompts),
            negative=fr.negative,
            seed=fr.seed,
            steps=fr.steps,
            guidance=fr.guidance,
            strength=fr.strength,
            width=self.plan.film.width,
            height=self.plan.film.height,
            on_step=self._on_step,
            camera=self.camera[fr.index],
            origin_seed=self.origin_seed[fr.index],
            **self._origin_image(fr),
            parallax=fr.depth,
        )

    def _origin_image(self, fr: Frame) -> dict:
        """`origin_image` and its key for a frame whose chain starts from an init image (the
        preview paints from it; loaded only for a backend that reads it)."""
        start = self.frames[self.chain_start[fr.index]]
        if start.image is None or not getattr(self.backend, "reads_origin_image", False):
            return {}
        return {"origin_image": self._fitted(start), "origin_image_key": start.image.sha256}

    def _on_step(self, step: int, total: int) -> None:
        self._check_cancel()
        self._report("step", step, total)

    def _check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise BuildCancelled()

    def _report(self, phase: str, step: int = 0, steps: int = 0) -> None:
        if self.progress is None:
            return
        self.progress(
            Progress(
                phase=phase,  # type: ignore[arg-type]
                frames_done=self._done,
                frames_total=len(self.targets),
                frame=self._current,
                step=step,
                steps=steps,
                rendered=self.stats.frames_rendered,
                cached=self.stats.frames_cached,
            )
        )
