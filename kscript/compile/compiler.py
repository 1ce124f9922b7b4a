"""The compiler: a checked program becomes a `RenderPlan`, one entry per frame.

Per frame, every channel is evaluated (docs/language.md, "How channels combine"), reading
the table of channels (`kscript.channels.CHANNELS`) for everything about it:

- The **base** of a channel is the scene's direct assignment (`strength: 0.45 -> 0.3`),
  else the film-wide value (`strength: 0.35` in the film block), else the table's default.
- Each **effect** applied to the scene contributes its curves by the channel's combine
  rule: `zoom` multiplies, the other camera rates add, `fov` and the generation channels
  are replaced inside the effect's window (the last effect written wins). Inside `from A
  to B` an effect counts only on frames with A <= t < B; there its `t`, `f`, `u` stay the
  scene's (so `sin(t)` does not jump when a window starts) and its ramps run over the window.
- A channel is evaluated at the time the table says (`Channel.sample`): a quantity at the
  frame's own time, a camera rate at the middle of the interval the frame's move covers,
  with its ramps over the scene's time, so the camera's position is the integral of its
  speed at any fps (`_LazyContexts.intervals`); the first move of a `continue` scene is
  the speed of the scene before at its end.
- The values are in the language's units (per second, % of the frame); the range of the
  table is checked there (naming the first frame out of range), then `Channel.to_frame`
  converts to the plan's per-frame values at the film's fps and size, a scene's `camera {}`
  positions add their change since the frame before, and the result is checked against
  what a camera can do in one frame (`Channel.frame_range`).
- **Seeds**: the `seed` channel when the scene, the film or an effect sets it, else film
  seed + the frame's index *in its scene*. Not the film frame index: then lengthening
  scene 1 would change every later frame's seed and so every later key.
- **Ops**: a scene's first frame is `generate` (or `continue` from the previous scene's
  last frame; with `image "photo.png"`, `generate` from that picture, its `image` set:
  redrawn by one img2img call at the frame's strength, under the same one-step guard
  below, or the picture itself at strength 0 or too faint a strength, which the plan
  then records as 0); later frames `animate`, or `warp` where strength is 0 or, under
  `cadence N`, where f % N != 0. An img2img call runs `int(steps * strength)` denoising
  steps; where that is 0 for an animate/continue frame, the frame's `steps` is raised to
  the smallest value giving one step, so every model call does some work. Past
  `MAX_STEPS` (a strength below about 1/500, as a ramp from 0 has on its first frames) no
  step count is sensible: the strength counts as 0 and the frame is `warp`.
- **In-betweens**: a run of frames that `cadence` made warps, ended by an `animate` frame
  n of the same scene, is blended from the frame before the run, p, and n: each has
  ``inputs == [p, n]``, and n is made from p (``inputs == [p]``, its warp composing the
  motions of p+1..n, all in its key). A run that the scene's end or a strength-0 frame
  ends stays warps of the frame before. The outpainting band is still carried one frame's
  motion at a time, the in-betweens' included, so n paints every border revealed since p.
- **Crossfade**: frame f < N of a scene with `transition crossfade N` has
  ``crossfade = {from_frame: previous scene's last frame, weight: (f + 1) / (N + 1)}``:
  the new scene's weight grows from 1/(N+1) and the frame after the fade is all its own.
- **Keys**: the key of the frame's chain image, defined in `kscript.compile.keys`:
  SHA-256 over the frame's own inputs, the keys of its `inputs` and coherence reference,
  and the film's size and models; not its position and not its crossfade (a composite of
  two chain images made at output time). An edit changes exactly the keys of the chain
  images it affects, and the frame cache is addressed by them.

Floats in the plan are rounded to 6 decimals so the JSON is stable.
"""

from __future__ import annotations

import gc
import hashlib
import math
from kscript.channels import CHANNEL_NAMES, CHANNELS, DEPTH_CHANNELS, MOTION_CHANNELS, Range
from kscript.check.program import CheckedProgram, CheckedScene
from kscript.compile.keys import KEY_INPUTS, KEY_TEMPLATE, depth_key_part, film_key_part, motion_key
from kscript.compile.prompts import prompt_weights
from kscript.check.curve_compiler import Fn, describe_math_error, math_errors
from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors
from kscript.geometry import band_is_material, carry, frame_polygon, is_identity, warp_matrix
from kscript.plan import (
    MAX_STEPS,
    PLAN_VERSION,
    Crossfade,
    Soundtrack,
    FilmInfo,
    Frame,
    InitImage,
    Motion,
    PromptSpan,
    RenderPlan,
    SceneInfo,
    SourceRef,
    Transition,
    WeightedPrompt,
    canonical_json,
)
from kscript.source import Span

def _r(x: float) -> float:
    """Round for the plan: 6 decimals, and never -0.0."""
    return round(x, 6) + 0.0


class _Compiler:
    def __init__(self, program: CheckedProgram) -> None:
        self.p = program
        self.diags: list[Diagnostic] = []
        self.reported: set[tuple[Span, str]] = set()
        self._reveals: dict[tuple, bool] = {}
        self._motions: dict[tuple, Motion] = {}
        self._prompts: dict[tuple, list[WeightedPrompt]] = {}

    # ------------------------------------------------------------------ channels
    def _report(self, code: str, span: Span, channel: str, message: str, hint: str | None = None) -> None:
        if (span, channel) in self.reported:
            return
        self.reported.add((span, channel))
        self.diags.append(Diagnostic(code, message, span, hint=hint))

    def channel(self, scene: CheckedScene, name: str, ctxs: "_LazyContexts", into_next: bool = False,
                carried: dict[str, float] | None = None) -> list[float] | None:
        """The channel's per-frame plan value on every frame of the scene; None for an unset `seed`.

        Evaluated in the language's unit at the time the table says (`Channel.sample`: a
        camera rate at the middle of each frame's interval, `_LazyContexts.intervals`),
        combined by the table's rule, range-checked, then converted to the plan's per-frame
        unit (`Channel.to_frame`) and checked against what a camera can do between two
        frames (`Channel.frame_range`).

        A rate's first move in a scene that continues is `carried[name]`, the move the
        scene before made into it; when `into_next` (the next scene continues from this
        one) this scene's move into the next scene's first frame is left in `carried`.
        """
        ch = CHANNELS[name]
        n = scene.frame_count
        interval = ch.sample == "interval"
        count = n + 1 if interval and into_next else n
        values = self._values(scene, name, ctxs, ctxs.intervals(into_next) if interval else ctxs.items(), count)
        if values is None or not interval:
            return values
        if carried is not None:
            before = carried.pop(name, None)
            if scene.continues and before is not None:
                values[0] = before
            if count > n:
                carried[name] = values[n]
        return values[:n]

    def _values(self, scene: CheckedScene, name: str, ctxs: "_LazyContexts", items: list[tuple],
                count: int) -> list[float] | None:
        """`channel`'s values at `count` positions (the frames, and for a rate that moves into
        the next scene, that move), evaluated in the contexts `items` (a `camera { }`
        position at the frames' own times, `ctxs.items()`)."""
        film = self.p.film
        ch = CHANNELS[name]
        n = count  # positions; the scene's frames are `frames`
        interval = ch.sample == "interval"
        frames = scene.frame_count
        direct = scene.channels.get(name)
        film_default = film.defaults.get(name)
        contributions = [(use, use.channels[name]) for use in scene.effects if name in use.channels]
        base_values: list[float] | None = None
        if direct is not None:
            base, span = direct
        elif film_default is not None:
            base, span = film_default
        elif ch.default is None:  # seed: film seed + frame index in the scene
            if not contributions:
                return None
            base, span = Fn.constant(0.0), None
            base_values = [float(film.seed + f) for f in range(n)]
        else:
            base, span = Fn.constant(ch.default), None
        if span is None and contributions:
            span = contributions[0][0].span
        fallback = [ch.to_frame(ch.default if ch.default is not None else 0.0, film.fps, film.width, film.height)] * n
        try:
            if base_values is not None:
                values = base_values
            elif base.const is not None:
                values = [base.const] * n
            else:
                fn = base.fn
                values = [fn(c) for c in items]
            window_ctx = _window_interval_ctx if interval else _window_ctx
            for use, fn_ in contributions:
                lo, hi = _window_positions(use.frames, n, interval)
                if fn_.const is not None:
                    got = [fn_.const] * (hi - lo + 1)
                else:
                    g = fn_.fn
                    wctx = items[lo:hi + 1]
                    if use.frames is not None:
                        # Inside a window, ramps run over the window: the progress slot.
                        wctx = [window_ctx(c, *use.frames) for c in wctx]
                    got = [g(c) for c in wctx]
                if ch.combine == "multiply":
                    for f, v in zip(range(lo, hi + 1), got):
                        values[f] *= v
                elif ch.combine == "add":
                    for f, v in zip(range(lo, hi + 1), got):
                        values[f] += v
                else:  # replace: the effect's value holds inside its window
                    values[lo:hi + 1] = got
        except RecursionError:
            self._report("E024", span or scene.span, name,
                         f"{name} nests too deeply to evaluate (lets or operators hundreds of levels deep)")
            return fallback
        except math_errors() as err:
            where = span or scene.span
            f = _failing_frame(base, contributions, items, n, interval)
            at = " " + _on_frame(f, frames, film.fps) if f is not None else ""
            self._report("E032", where, name,
                         f"{name} has no finite value{at} of scene '{scene.name}': {describe_math_error(err)}")
            return fallback
        if not all(map(math.isfinite, values)):
            f = next(i for i, v in enumerate(values) if not math.isfinite(v))
            self._report("E032", span or scene.span, name,
                         f"{name} is not a finite number {'at the end' if f >= frames else f'on frame {f}'} "
                         f"of scene '{scene.name}'")
            return fallback
        if ch.whole:
            values = [float(math.floor(v + 0.5)) for v in values]
        rng = ch.range
        if rng is not None:
            f = _first_out_of_range(rng, values)
            if f is not None:
                self._report(
                    "E023", span or scene.span, name,
                    f"{name} is {_fmt(values[f])} {_on_frame(f, frames, film.fps)} of scene "
                    f"'{scene.name}'; it must stay {rng.words}",
                    hint=ch.range_hint,
                )
                return fallback
        if ch.conversion != "same":
            to_frame = ch.to_frame
            fps, w, h = film.fps, film.width, film.height
            if values.count(values[0]) == n:
                values = [to_frame(values[0], fps, w, h)] * n
            else:
                values = [to_frame(v, fps, w, h) for v in values]
        position = scene.camera.get(name)
        if position is not None:
            moves = self.camera_moves(scene, name, position, ctxs)
            if moves is None:
                return fallback
            # the move into the next scene is that scene's: no position of this one
            moves += [1.0 if ch.combine == "multiply" else 0.0] * (n - frames)
            if direct is None and film_default is None:
                span = position[1]  # a move too fast comes from the position here
            if ch.combine == "multiply":
                values = [v * m for v, m in zip(values, moves)]
            else:
                values = [v + m for v, m in zip(values, moves)]
        limit = ch.frame_limit(film.width, film.height)
        if limit is not None:
            f = _first_out_of_range(limit, values)
            if f is not None:
                low = ch.from_frame(limit.low, film.fps, film.width, film.height)
                high = ch.from_frame(limit.high, film.fps, film.width, film.height)
                raw = ch.from_frame(values[f], film.fps, film.width, film.height)
                self._report(
                    "E023", span or scene.span, name,
                    f"{name} {'is ' + _fmt(_sig(raw)) if math.isfinite(raw) else 'overflows'} {_on_frame(f, frames, film.fps)} of scene "
                    f"'{scene.name}'; at {_fmt(film.fps)} fps it must stay between {_fmt(_sig(low))} "
                    f"and {_fmt(_sig(high))} ({limit.words}): past that the picture collapses or leaves the frame",
                    hint=ch.range_hint,
                )
                return fallback
        return values

    def camera_moves(self, scene: CheckedScene, name: str, position: tuple, ctxs: "_LazyContexts") -> list[float] | None:
        """Each frame's move (plan units) from a `camera { }` position curve: the change of the
        position since the frame before (a ratio for zoom); none on the scene's first frame,
        so the positions are reached exactly at their times. None (reported) when the curve
        has no finite value or the camera's zoom is not above 0."""
        film = self.p.film
        ch = CHANNELS[name]
        fn, span = position
        try:
            at = [fn.const] * scene.frame_count if fn.const is not None else [fn.fn(c) for c in ctxs.items()]
        except math_errors() as err:
            self._report("E032", span, "camera " + name,
                         f"the camera's {name} has no finite value in scene '{scene.name}': {describe_math_error(err)}")
            return None
        bad = next((f for f, v in enumerate(at) if not math.isfinite(v) or (ch.combine == "multiply" and v <= 0)), None)
        if bad is not None:
            t = _fmt(round(bad / film.fps, 3))
            if math.isfinite(at[bad]):
                self._report("E023", span, "camera " + name,
                             f"the camera's {name} is {_fmt(at[bad])} on frame {bad} ({t}s) of scene '{scene.name}'; "
                             "it must stay above 0", hint="the camera's zoom is a scale: 1 as at the scene's start")
            else:
                self._report("E032", span, "camera " + name,
                             f"the camera's {name} is not a finite number on frame {bad} of scene '{scene.name}'")
            return None
        # A change of position per frame is a rate of one frame: the table's conversion at fps 1.
        w, h = film.width, film.height
        if ch.combine == "multiply":
            steps = [1.0] + [b / a for a, b in zip(at, at[1:])]
        else:
            steps = [0.0] + [b - a for a, b in zip(at, at[1:])]
        return [ch.to_frame(d, 1.0, w, h) for d in steps]

    # ------------------------------------------------------------------ frames
    def ops(self, scene: CheckedScene, strength: list, steps: list, cadence: list, prev_last: int | None):
        """Each frame's op and step count, and whether `cadence` made it a warp (an in-between).

        A scene's first frame is `generate`, or `continue` from `prev_last`; a later frame is
        `warp` where its strength is 0 or, under `cadence N`, where f % N != 0, else
        `animate`. An img2img call runs `int(steps * strength)` steps: where that is 0 the
        step count is raised to give one, and past `MAX_STEPS` the frame is `warp`.
        """
        n = scene.frame_count
        ops: list[str] = []
        counts: list[int] = []
        between: list[bool] = []
        for f in range(n):
            st = strength[f]
            stp = int(steps[f])
            cadenced = False
            if f == 0:
                if scene.continues and prev_last is not None:
                    op = "continue" if st > 0 else "warp"
                else:
                    op = "generate"
            else:
                cad = int(cadence[f])
                cadenced = st > 0 and cad > 1 and bool(f % cad)
                op = "warp" if st <= 0 or cadenced else "animate"
            if op in ("animate", "continue") and int(stp * st) < 1:
                stp = max(stp, int(math.ceil(1.0 / st)))
                while int(stp * st) < 1:
                    stp += 1
                if stp > MAX_STEPS:  # too faint for one step: warp only, as strength 0
                    op, stp = "warp", int(steps[f])
            ops.append(op)
            counts.append(stp)
            between.append(cadenced)
        return ops, counts, between

    def matrix(self, motion: tuple):
        """The warp matrix of a motion (None when it cannot be made), once per motion."""
        if motion not in self._reveals:
            film = self.p.film
            try:
                m = warp_matrix(film.width, film.height, **dict(zip(MOTION_CHANNELS, motion)))
            except (ValueError, ZeroDivisionError, OverflowError):
                m = None
            self._reveals[motion] = m
        return self._reveals[motion]

    def band(self, painted, motion: tuple):
        """The painted region after this frame's warp (`geometry.carry`), and whether the
        band outside it is material (`geometry.band_is_material`, `BAND_PX` deep)."""
        m = self.matrix(motion)
        if m is None:
            return None, True
        if not is_identity(m):
            painted = carry(painted, m, self.p.film.width, self.p.film.height)
        return painted, band_is_material(painted, self.p.film.width, self.p.film.height)

    def motion(self, motion: tuple) -> tuple[Motion, str]:
        """The plan's `Motion` and its canonical JSON, made once per distinct motion."""
        m = self._motions.get(motion)
        if m is None:
            m = (construct(Motion, dict(zip(MOTION_CHANNELS, motion))), canonical_json(motion_key(motion)))
            self._motions[motion] = m
        return m

    def prompts(self, pairs: tuple) -> tuple[list[WeightedPrompt], str]:
        lst = self._prompts.get(pairs)
        if lst is None:
            lst = ([construct(WeightedPrompt, {"text": t, "weight": w}) for t, w in pairs], canonical_json(pairs))
            self._prompts[pairs] = lst
        return lst

    def check_film_defaults(self) -> None:
        """A constant film-wide default out of range is an error even where every scene sets
        its own value: it is a mistake waiting for the next scene that does not."""
        for name, (fn, span) in self.p.film.defaults.items():
            ch = CHANNELS[name]
            rng = ch.range
            if rng is None or fn.const is None or not math.isfinite(fn.const):
                continue
            if not rng.holds(fn.const):
                self._report("E023", span, name, f"the film's {name} is {_fmt(fn.const)}; it must be {rng.words}",
                             hint=ch.range_hint)

    def run(self) -> RenderPlan:
        p = self.p
        film = p.film
        fps = film.fps
        film_json = canonical_json(film_key_part(film))
        depth_json = depth_key_part(True, film)  # type: ignore[arg-type] - the checked film's depth
        frames: list[Frame] = []
        scenes: list[SceneInfo] = []
        keys: list[str] = []
        prev_last: int | None = None
        sha256 = hashlib.sha256
        whole = frame_polygon(film.width, film.height)
        painted, since = whole, 0  # the chain's painted region, and the warps since it was whole
        self.check_film_defaults()
        # a depth warp: a film with a depth model, a move that translates the camera
        depth_film = film.depth is not None
        translation = [MOTION_CHANNELS.index(c) for c in ("x", "y", *DEPTH_CHANNELS)]
        carried: dict[str, float] = {}
        for i, scene in enumerate(p.scenes):
            n = scene.frame_count
            s0 = scene.start_frame
            dur = scene.duration
            ctxs = _LazyContexts(n, s0, fps, dur)
            # A rate's move into a continued scene is the speed of the scene before at its
            # end (`Channel.sample`): each scene leaves its move in `carried` for the next.
            into_next = i + 1 < len(p.scenes) and p.scenes[i + 1].continues
            vals = {name: _rounded(self.channel(scene, name, ctxs, into_next, carried)) for name in CHANNEL_NAMES}
            strength, guidance, steps, noise, seeds, cadence = (
                vals[c] for c in ("strength", "guidance", "steps", "noise", "seed", "cadence")
            )
            # One tuple per frame in the table's motion order: the plan's `Motion` fields and
            # the key's "motion" list (kscript.compile.keys) are in the same order.
            motions = list(zip(*(vals[c] for c in MOTION_CHANNELS)))
            negative = scene.negative
            coherence = scene.coherence
            scene_json = canonical_json([negative, coherence])
            xfade = scene.transition == "crossfade" and prev_last is not None
            nx = scene.transition_frames
            name = scene.name
            prompt_list = scene.prompts
            last_pairs: tuple | None = None
            single = ((prompt_list[0].text, 1.0),) if len(prompt_list) == 1 else None
            if not prompt_list:  # only in a program with errors (E027), compiled for its other errors
                single = ()
            pw: tuple = ()
            ops, step_counts, between = self.ops(scene, strength, steps, cadence, prev_last)
            # Under a depth model, cadence's warp-only frames stay a chain of depth warps,
            # each carrying its input's depth (`plan.depth_origins`): blended in-betweens are
            # homographies of the two model frames and would lose the parallax.
            tweens = _in_betweens(ops, between) if film.depth is None else [None] * n
            pending: list[tuple[int, int, tuple]] = []  # in-betweens waiting for their next model frame's key
            init = None
            if scene.image is not None and not scene.continues:
                init = InitImage.model_construct(path=scene.image.path, sha256=scene.image.sha256)
            for f in range(n):
                index = s0 + f
                mot = motions[f]
                st = strength[f]
                op, stp = ops[f], step_counts[f]
                tween = tweens[f]
                if f == 0:
                    inputs = [prev_last] if op != "generate" else []
                elif tween is not None:
                    inputs = [s0 + tween[0], s0 + tween[1]]  # the model frames before and after
                elif op == "animate" and f > 1 and tweens[f - 1] is not None:
                    inputs = [s0 + tweens[f - 1][0]]  # made from the model frame before the in-betweens
                else:
                    inputs = [index - 1]
                image = init if f == 0 and op == "generate" else None
                if image is not None and st > 0 and int(stp * st) < 1:
                    # from the picture: the same one-step guard as an img2img frame
                    stp = max(stp, int(math.ceil(1.0 / st)))
                    while int(stp * st) < 1:
                        stp += 1
                    if stp > MAX_STEPS:  # too faint for one step: the picture itself
                        st, stp = 0.0, int(steps[f])
                # Outpainting: the band the chain's warps revealed since the last frame that
                # painted one is painted by the first model frame where it is material. A
                # depth warp's reveal depends on the picture's depth: every depth-warp model
                # frame paints, with the mask of its own warp (kscript.plan, "depth warp").
                reveal = 0
                depth = op != "generate" and depth_film and any(mot[i] != 0.0 for i in translation)
                if op == "generate":
                    painted, since = whole, 0
                else:
                    painted, wide = self.band(painted, mot)
                    since += 1
                    if (wide or depth) and op != "warp":
                        reveal = since
                        painted, since = whole, 0
                inpaint = reveal > 0
                seed = int(seeds[f]) if seeds is not None else film.seed + f
                pairs = single if single is not None else prompt_weights(prompt_list, f / fps)
                if pairs != last_pairs:
                    pw = self.prompts(pairs)
                    last_pairs = pairs
                cref = s0 if coherence != "none" and f > 0 else None
                cross = None
                if xfade and f < nx:
                    w = _r((f + 1) / (nx + 1))
                    cross = construct(Crossfade, {"from_frame": prev_last, "weight": w})
                g = guidance[f]
                nz = noise[f]
                motion_obj, motion_json = self.motion(mot)
                if inputs and inputs[0] < index - 1:
                    # The warp composes the motions of every frame since its first input
                    # (the in-betweens'): all of them are in the key (`keys.warp_path`).
                    motion_json = "[%s]" % ",".join(self.motion(motions[j - s0])[1] for j in range(inputs[0] + 1, index + 1))
                # The chain image's key: canonical JSON of `compile.keys.frame_key_data`,
                # written out directly because json.dumps per frame was most of the compile
                # time (tests/test_compile_keys.py checks the two agree). No crossfade: it
                # is a composite of two chain images, each keyed on its own.
                parts = (
                    scene_json,
                    f'"{keys[cref]}"' if cref is not None else "null",
                    depth_json if depth else "",
                    film_json,
                    repr(g),
                    f'"{image.sha256}"' if image is not None else "null",
                    str(reveal) if inpaint else "false",
                    '["%s"]' % keys[inputs[0]] if inputs else "[]",  # KEY_INPUTS
                    motion_json,
                    repr(nz),
                    op,
                    pw[1],
                    seed,
                    stp,
                    repr(st),
                )
                if tween is not None:
                    # An in-between reads the next model frame too, whose key comes later:
                    # its key is made once that one's is known.
                    pending.append((index, inputs[0], parts))
                    key = ""
                else:
                    key = sha256((KEY_TEMPLATE % parts).encode("utf-8")).hexdigest()
                keys.append(key)
                frames.append(
                    construct(
                        Frame,
                        {
                            "index": index,
                            "scene": name,
                            "scene_frame": f,
                            "time": _r(index / fps),
                            "op": op,
                            "motion": motion_obj,
                            "strength": st,
                            "guidance": g,
                            "steps": stp,
                            "seed": seed,
                            "noise": nz,
                            "prompts": pw[0],
                            "negative": negative,
                            "coherence": coherence,
                            "coherence_ref": cref,
                            "inputs": inputs,
                            "inpaint": inpaint,
                            "reveal": reveal,
                            "depth": depth,
                            "crossfade": cross,
                            "image": image,
                            "key": key,
                        },
                    )
                )
                if pending and tween is None:
                    for j, first, parts in pending:  # this frame is their next model frame
                        both = '["%s","%s"]' % (keys[first], key)
                        at = KEY_INPUTS
                        keys[j] = sha256((KEY_TEMPLATE % (parts[:at] + (both,) + parts[at + 1:])).encode("utf-8")).hexdigest()
                        frames[j].__dict__["key"] = keys[j]
                    pending = []
            scenes.append(
                SceneInfo.model_construct(
                    name=scene.name,
                    index=scene.index,
                    start_frame=s0,
                    frame_count=n,
                    start_time=_r(s0 / fps),
                    duration=_r(scene.duration),
                    continues=scene.continues,
                    transition=Transition.model_construct(
                        kind="crossfade" if xfade else "cut", frames=nx if xfade else 0
                    ),
                    prompts=[PromptSpan.model_construct(text=q.text, start=_r(q.start), blend=_r(q.blend))
                             for q in scene.prompts],
                    negative=negative,
                    coherence=coherence,
                    source=SourceRef.model_construct(file=scene.span.file, line=scene.span.line, col=scene.span.col),
                )
            )
            prev_last = s0 + n - 1
        if self.diags:
            raise ScriptErrors(self.diags, p.files)
        total = len(frames)
        info = FilmInfo.model_construct(
            title=film.title,
            width=film.width,
            height=film.height,
            fps=film.fps,
            seed=film.seed,
            model=film.model,
            prior=film.prior,
            inpaint=film.inpaint,
            depth=film.depth,
            negative=film.negative,
            coherence=film.coherence,
            frame_count=total,
            duration=_r(total / fps),
            audio=None if film.audio is None else Soundtrack.model_construct(
                path=film.audio.path, sha256=film.audio.sha256, start=film.audio.start, smooth=film.audio.smooth),
            bpm=film.bpm,
            bpm_detected=film.bpm_detected,
            beats_per_bar=film.beats_per_bar,
        )
        return RenderPlan.model_construct(version=PLAN_VERSION, film=info, scenes=scenes, frames=frames)


def _in_betweens(ops: list[str], between: list[bool]) -> list[tuple[int, int] | None]:
    """Per frame of a scene, its two neighbouring model frames (scene frame numbers) when
    it is an in-between, else None.

    An in-between is a frame that `cadence` made a warp, in a run of such frames that an
    `animate` frame of the same scene ends: it is blended from the frame before the run
    and that model frame (docs/rendering.md, "Cadence"). A run that the scene's end or a
    strength-0 frame ends has no next model frame: its frames are warps of the frame
    before, as at strength 0.
    """
    out: list[tuple[int, int] | None] = [None] * len(ops)
    f = 1
    while f < len(ops):
        if not between[f]:
            f += 1
            continue
        end = f
        while end < len(ops) and between[end]:
            end += 1
        if end < len(ops) and ops[end] == "animate":
            for j in range(f, end):
                out[j] = (f - 1, end)
        f = end
    return out


def _first_out_of_range(rng: Range, values: list[float]) -> int | None:
    """The first frame whose value leaves `rng`, or None."""
    holds = rng.holds
    if values and values.count(values[0]) == len(values):
        return None if holds(values[0]) else 0
    return next((f for f, v in enumerate(values) if not holds(v)), None)


def _on_frame(f: int, frames: int, fps: float) -> str:
    """Where a value is, for messages: "on frame 3 (0.125s)", or for a rate's move into the
    next scene (position `frames`, `_LazyContexts.intervals`) "at the end (2s)"."""
    where = "at the end" if f >= frames else f"on frame {f}"
    return f"{where} ({_fmt(round(f / fps, 3))}s)"


def _sig(x: float) -> float:
    """`x` to 6 significant digits, for messages (a bound converted to per second)."""
    return float(f"{x:.6g}")


def _window_ctx(c: tuple, lo: int, hi: int) -> tuple:
    """A frame context inside an effect window `lo..hi`: ramps run over the window, so the
    progress slot is the progress through the window and `frames` the window's frames."""
    width = hi - lo
    return c[:6] + ((c[1] - lo) / width if width else 0.0, float(width + 1))


def _window_interval_ctx(c: tuple, lo: int, hi: int) -> tuple:
    """An interval context (`_LazyContexts.intervals`) inside the window of frames `lo..hi`:
    the window holds the time from frame lo to frame hi + 1, so its ramps run over that
    time, from 0 at its start to 1 at its end; the interval before it starts at 0."""
    return c[:6] + (max(c[1] - 0.5 - lo, 0.0) / (hi - lo + 1), float(hi - lo + 1))


def _window_positions(frames: tuple[int, int] | None, count: int, interval: bool) -> tuple[int, int]:
    """The positions (first, last) an effect's window covers among `count`.

    Frames lo..hi are those shown at A <= t < B. A rate moves the frames whose interval's
    middle lies in that time: lo + 1 .. hi + 1 (and the scene's start when lo is 0), so a
    window moves the camera from A to B at any fps, not a frame early."""
    if frames is None:
        return 0, count - 1
    lo, hi = frames
    if not interval:
        return lo, hi
    return (0 if lo == 0 else lo + 1), min(hi + 1, count - 1)


def _failing_frame(base: Fn, contributions: list, items: list, n: int, interval: bool = False) -> int | None:
    """The first frame of a scene whose channel value raises a maths error. Only on the
    error path, so frame by frame: the diagnostic names the frame, as for range errors."""
    window_ctx = _window_interval_ctx if interval else _window_ctx
    for f in range(n):
        try:
            if base.const is None:
                base.fn(items[f])
            for use, fn_ in contributions:
                if fn_.const is not None:
                    continue
                lo, hi = _window_positions(use.frames, n, interval)
                if use.frames is None:
                    fn_.fn(items[f])
                elif lo <= f <= hi:
                    fn_.fn(window_ctx(items[f], *use.frames))
        except math_errors():
            return f
    return None


class _LazyContexts:
    """The contexts a scene's curves are evaluated in, made on first use (constant channels
    never need them): (t, f, u, T, F, dur, p, frames), the `CTX_*` slots.

    `items()` are the frames' own times (a channel sampled at "frame": t = f / fps, `u` and
    the ramps' progress `p` from 0 on the first frame to 1 on the last). `intervals()` are
    for a channel sampled at "interval" (`kscript.channels.Sample`, the camera's rates):
    position f is the middle of the interval that frame f's move covers, t = (f - 1/2) / fps,
    with `u` and `p` the part of the scene's time n / fps gone by then (a ramp reaches its
    end at the scene's end); position 0 is the scene's start (t = 0) and position n, made
    only when the next scene continues from this one, the middle of the interval into the
    next scene's first frame. `f` and `F` stay the frames' whole indices.
    """

    __slots__ = ("n", "s0", "fps", "dur", "_items", "_intervals")

    def __init__(self, n: int, s0: int, fps: float, dur: float) -> None:
        self.n, self.s0, self.fps, self.dur = n, s0, fps, dur
        self._items: list[tuple] | None = None
        self._intervals: list[tuple] | None = None

    def items(self) -> list[tuple]:
        if self._items is None:
            n, s0, fps, dur = self.n, self.s0, self.fps, self.dur
            last = n - 1
            self._items = [
                (f / fps, float(f), (f / last if last else 0.0), (s0 + f) / fps, float(s0 + f), dur,
                 (f / last if last else 0.0), float(n))
                for f in range(n)
            ]
        return self._items

    def intervals(self, into_next: bool) -> list[tuple]:
        """Positions 0..n-1, and n when `into_next` (the next scene continues from this one)."""
        if self._intervals is None:
            n, s0, fps, dur = self.n, self.s0, self.fps, self.dur
            self._intervals = [(0.0, 0.0, 0.0, s0 / fps, float(s0), dur, 0.0, float(n))] + [
                ((f - 0.5) / fps, float(f), (f - 0.5) / n, (s0 + f - 0.5) / fps, float(s0 + f), dur,
                 (f - 0.5) / n, float(n))
                for f in range(1, n + 1)
            ]
        return self._intervals if into_next else self._intervals[:self.n]


def _rounded(values: list[float] | None) -> list[float] | None:
    """Round a channel for the plan, once when it is constant over the scene."""
    if values is None:
        return None
    first = values[0]
    if values.count(first) == len(values):
        return [_r(first)] * len(values)
    return [round(v, 6) + 0.0 for v in values]


def construct(cls: type, values: dict) -> object:
    """`cls.model_construct(**values)` without its per-field loop: `values` has every field.

    The compiler makes tens of thousands of frames from data it has already checked;
    pydantic's `model_construct` spends most of its time looking for aliases and defaults
    these models do not have. tests/test_compile_plan.py checks the result validates.
    """
    m = cls.__new__(cls)
    _setattr(m, "__dict__", values)
    _setattr(m, "__pydantic_fields_set__", set(values))
    _setattr(m, "__pydantic_extra__", None)
    _setattr(m, "__pydantic_private__", None)
    return m


_setattr = object.__setattr__


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "infinite" if not math.isnan(x) else "not a number"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def compile_program(program: CheckedProgram) -> RenderPlan:
    """The render plan of a checked program; `ScriptErrors` for per-frame range errors."""
    # The plan is tens of thousands of small objects that all live on: the cyclic garbage
    # collector would walk them again and again for nothing (a third of the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Compiler(program).run()
    finally:
        if enabled:
            gc.enable()
