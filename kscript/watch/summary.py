"""What the page needs from a plan or from a failed compile, as plain JSON.

The page plots curves and draws a timeline; it should not have to know the plan's schema,
so `plan_summary` flattens the plan into scenes (start/end in seconds, prompts at absolute
times) and one list per curve (a value per frame). `diagnostics_payload` carries the exact
text the terminal shows plus the same diagnostics as records, for the overlay.
"""

from __future__ import annotations

from typing import Any

from kscript.channels import CHANNELS, DEPTH_CHANNELS, MOTION_CHANNELS, PLOTTED

# The plotted channels of the table, in the language's units (per second, % of the frame:
# what the film says), read back from the plan's per-frame values.
CURVES = PLOTTED
_MOTION_CURVES = tuple(c for c in CURVES if c in MOTION_CHANNELS)
_FRAME_CURVES = tuple(c for c in CURVES if c not in MOTION_CHANNELS)


def plan_summary(plan: Any) -> dict[str, Any]:
    """Scenes with start/end and prompts, and the per-frame curves, of a `RenderPlan`."""
    film = plan.film
    fps = float(film.fps)
    scenes = []
    for sc in plan.scenes:
        start = sc.start_frame / fps
        scenes.append(
            {
                "name": sc.name,
                "index": sc.index,
                "start_frame": sc.start_frame,
                "frame_count": sc.frame_count,
                "start": round(start, 6),
                "end": round((sc.start_frame + sc.frame_count) / fps, 6),
                "continues": bool(sc.continues),
                "transition": {"kind": sc.transition.kind, "frames": sc.transition.frames},
                "prompts": [
                    {"text": p.text, "start": round(start + p.start, 6), "blend": p.blend} for p in sc.prompts
                ],
                "negative": sc.negative,
                "source": {"file": sc.source.file, "line": sc.source.line, "col": sc.source.col},
            }
        )
    # the depth channels (z) only in a film with a depth model: elsewhere they cannot move
    shown = tuple(c for c in CURVES if film.depth is not None or c not in DEPTH_CHANNELS)
    motion_curves = tuple(c for c in _MOTION_CURVES if c in shown)
    curves: dict[str, list[float]] = {name: [] for name in shown}
    ops: list[str] = []
    for fr in plan.frames:
        for name in motion_curves:
            per_second = CHANNELS[name].from_frame(float(getattr(fr.motion, name)), fps, film.width, film.height)
            # The plan keeps per-frame values to 6 decimals, so a rate read back from them
            # carries that rounding times fps: 6 significant digits is what it can promise.
            curves[name].append(float(f"{per_second:.6g}"))
        for name in _FRAME_CURVES:
            curves[name].append(round(float(getattr(fr, name)), 7))
        ops.append(fr.op)
    curve_info = [[c, c, CHANNELS[c].unit, CHANNELS[c].default or 0.0] for c in shown]
    beats = _beat_frames(plan)
    if getattr(film, "audio", None) is not None:
        loud = _loudness(plan)
        if loud is not None:
            # The song under the curves, on the same time axis: its loudness per frame and
            # the beats (plotted last; the page draws it filled, with a mark on each beat).
            curves["audio"] = loud
            curve_info.append(["audio", "audio (loudness)", "0..1", 0.0])
    return {
        "film": {
            "title": film.title,
            "width": film.width,
            "height": film.height,
            "fps": fps,
            "frame_count": film.frame_count,
            "duration": film.duration,
            "model": film.model,
        },
        "scenes": scenes,
        "curves": curves,
        # What the page labels each plot with: [key, label, unit, the still value].
        "curve_info": curve_info,
        # frame indices of the beats at the film's bpm (none without a tempo)
        "beats": beats,
        "ops": ops,
    }


def _beat_frames(plan: Any) -> list[int]:
    film = plan.film
    bpm = getattr(film, "bpm", None)
    if not bpm:
        return []
    step = 60.0 / float(bpm) * float(film.fps)
    return [int(round(k * step)) for k in range(int(film.frame_count / step) + 1) if round(k * step) < film.frame_count]


def _loudness(plan: Any) -> list[float] | None:
    """The song's loudness per frame, from the analysis the check just made (the same
    bytes are decoded once per process: `kscript.audio`); None when it cannot be read now."""
    from kscript import audio

    film = plan.film
    try:
        analysis = audio.analyse(audio.read_audio(film.audio.path), film.audio.smooth)
    except audio.AudioError:
        return None
    fps = float(film.fps)
    return [round(analysis.at("loudness", film.audio.start + i / fps, fps), 4) for i in range(film.frame_count)]


def diagnostics_payload(err: BaseException) -> dict[str, Any]:
    """The terminal text of a user-facing error and, for script errors, each diagnostic."""
    render = getattr(err, "render", None)
    text = render() if callable(render) else f"error: {err}"
    items = []
    for d in getattr(err, "diagnostics", ()) or ():
        items.append(
            {
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "file": d.span.file,
                "line": d.span.line,
                "col": d.span.col,
                "end_line": d.span.end_line,
                "end_col": d.span.end_col,
                "hint": d.hint,
                "notes": list(d.notes),
            }
        )
    return {"text": text, "items": items, "kind": type(err).__name__}
