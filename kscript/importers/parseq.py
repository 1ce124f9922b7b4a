"""`kscript import parseq`: a Parseq manifest -> a kscript film.

Read as Deforum's `parseq_adapter.py` reads it: every field is a per-frame series from
`rendered_frames` (a frame's value at its `frame` index; frames past the last one repeat
its value); the film has as many frames as `rendered_frames` has entries, at
`options.output_fps`, with `options.cadence` (Deforum's "Parseq overrides" default);
motion fields are read from their `*_delta` variants (Deforum's default, "use deltas"),
because Parseq's plain values are absolute positions while Deforum moves relative to the
previous frame. `strength` is kept-strength as in the extension (kscript's = 1 - it),
`scale` is the guidance, `seed` is truncated to a whole seed, `deforum_prompt` is
"positive --neg negative".

A manifest does not say the frame size, which the pans need (kscript pans in percent of
the frame): `--size` (default 512x512, Deforum's). Each series is written as keyframes
where it moves in straight lines and frame by frame where it curves, so that the plan's
per-frame values equal the manifest's.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kscript.importers.film import (
    DEFAULT_DEPTH_MODEL,
    Channel,
    Convert,
    FilmSpec,
    PromptKey,
    SceneSpec,
    depth_move_scales,
    depth_move_warning,
    motion_convert,
    write_film,
)
from kscript.importers.schedule import Point, SchedulePoints


class NotManifest(ValueError):
    """Not a Parseq manifest (the message says why)."""


MOTION_2D = (("zoom", "zoom", 1.0), ("angle", "angle", 1.0), ("translation_x", "x", -1.0), ("translation_y", "y", 1.0))
MOTION_3D = (("rotation_3d_x", "tilt", 1.0), ("rotation_3d_y", "turn", 1.0), ("rotation_3d_z", "angle", 1.0))


def load_manifest(path: Path) -> dict[str, Any]:
    from kscript.importers import read_input

    try:
        data = json.loads(read_input(path, NotManifest))
    except json.JSONDecodeError as err:
        raise NotManifest(f"it is not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rendered_frames"), list) or not data["rendered_frames"]:
        raise NotManifest("it has no 'rendered_frames' (Parseq's per-frame values)")
    if not all(isinstance(f, dict) and isinstance(f.get("frame"), (int, float)) for f in data["rendered_frames"]):
        raise NotManifest("its 'rendered_frames' are not objects with a 'frame' number")
    return data


def series(frames_data: list[dict[str, Any]], name: str, count: int, warnings: list[str]) -> list[float] | None:
    """`parseq_to_series`: the field's value per frame, None where the first frame lacks it."""
    if frames_data[0].get(name) is None:
        return None
    out = [math.nan] * count
    idx = 0
    for fr in frames_data:
        idx = int(fr["frame"])
        if 0 <= idx < count and fr.get(name) is not None:
            try:
                out[idx] = float(fr[name])
            except (TypeError, ValueError):
                pass
    last = frames_data[-1].get(name)
    while idx < count:  # frames past the last rendered one repeat its value
        if last is not None:
            out[idx] = float(last)
        idx += 1
    holes = [i for i, v in enumerate(out) if math.isnan(v)]
    if holes:
        warnings.append(f"{name}: no value on frame {', '.join(map(str, holes[:8]))}{' ...' if len(holes) > 8 else ''};"
                        " filled linearly from the neighbouring frames")
        valid = [i for i, v in enumerate(out) if not math.isnan(v)]
        for i in holes:
            before = [j for j in valid if j < i]
            after = [j for j in valid if j > i]
            if before and after:
                a, b = before[-1], after[0]
                out[i] = out[a] + (out[b] - out[a]) * (i - a) / (b - a)
            else:
                out[i] = out[(before or after)[-1 if before else 0]]
    return out


def points_of(values: list[float]) -> SchedulePoints:
    """Keyframes reproducing `values` exactly: a key wherever the straight line bends."""
    pts = [Point(0, values[0])]
    n = len(values)
    a = 0
    i = 1
    while i < n:
        b = i
        # extend the segment a..b while every frame between lies on the line a->b
        while b + 1 < n and _on_line(values, a, b + 1):
            b += 1
        pts.append(Point(b, values[b]))
        a = b
        i = b + 1
    # drop a final hold that repeats the value before it (kscript holds after the last key)
    while len(pts) > 1 and pts[-1].value == pts[-2].value and all(v == pts[-1].value for v in values[pts[-2].frame:]):
        pts.pop()
    return SchedulePoints(pts, [])


def _on_line(v: list[float], a: int, b: int) -> bool:
    for j in range(a + 1, b):
        want = v[a] + (v[b] - v[a]) * (j - a) / (b - a)
        if abs(v[j] - want) > 1e-9 * (1 + abs(v[j])):
            return False
    return True


_SIZE = re.compile(r"^(\d+)x(\d+)$")


def convert_parseq(path: Path, size: str | None = None, mode: str | None = None, deltas: bool = True) -> tuple[str, list[str]]:
    data = load_manifest(path)
    warnings: list[str] = []
    frames_data = sorted(data["rendered_frames"], key=lambda f: f["frame"])
    count = len(frames_data)
    top = int(max(f["frame"] for f in frames_data))
    if top + 1 != count:
        warnings.append(f"the manifest has {count} frames but its highest frame is {top}: some frames are "
                        "missing or doubled (Deforum warns the same)")
    options = data.get("options") or {}
    fps = float(options.get("output_fps") or 20)
    if "output_fps" not in options:
        warnings.append("options.output_fps missing: 20 fps used")
    if fps.is_integer():
        fps = float(int(fps))
    cadence = int(options.get("cadence") or 1)
    if size is None:
        width, height = 512, 512
        warnings.append("a Parseq manifest does not give the frame size: 512x512 used (pass --size WxH)")
    else:
        m = _SIZE.match(size.strip())
        if not m:
            raise NotManifest(f"--size {size!r}: write it like 512x512")
        width, height = int(m.group(1)), int(m.group(2))
    first = frames_data[0]

    def field(name: str, motion: bool = False) -> list[float] | None:
        key = name + "_delta" if (motion and deltas and first.get(name + "_delta") is not None) else name
        return series(frames_data, key, count, warnings)

    if mode is None:
        three = any(any(abs(float(f.get(k) or 0)) > 0 for f in frames_data)
                    for k in ("translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z"))
        mode = "3D" if three else "2D"
    channels: list[Channel] = []
    names = {"t": "F"}
    moves_through_depth = False

    def add(name: str, values: list[float] | None, conv: Convert, comment: str) -> None:
        if values is None:
            return
        channels.append(Channel(name, points_of(values), conv, names, comment=comment, values=values))

    if mode == "2D":
        zoom, angle = field("zoom", motion=True), field("angle", motion=True)
        # Deforum shifts before it zooms: under a steady zoom z (and no angle) a pan is z times kscript's
        z = zoom[0] if zoom and len(set(zoom)) == 1 else (1.0 if zoom is None else None)
        steady = z is not None and (angle is None or set(angle) == {0.0})
        pans = {"translation_x", "translation_y"}
        for key, kname, sign in MOTION_2D:
            vals = {"zoom": zoom, "angle": angle}.get(key) or field(key, motion=True)
            k = sign * (z if steady and key in pans and z is not None else 1.0)
            add(kname, vals, motion_convert(kname, fps, width, height, k),
                f"Parseq {key}{'_delta' if deltas else ''} (per frame)")
        if not steady and any(v and any(x != 0 for x in v) for v in (field("translation_x", True),
                                                                      field("translation_y", True))):
            warnings.append("translation with a changing zoom or an angle: Deforum shifts the picture before "
                            "zooming and turning it, kscript pans after (docs/import.md)")
    else:
        for key, kname, sign in MOTION_3D:
            add(kname, field(key, motion=True), motion_convert(kname, fps, width, height, sign),
                f"Parseq {key}{'_delta' if deltas else ''} (degrees per frame)")
        # moves through depth, as `kscript import deforum` converts them (docs/import.md, "3D")
        fovs = field("fov") or [40.0]
        for key, (kname, scale) in depth_move_scales(fps, fovs[0]).items():
            vals = field(key, motion=True)
            if vals is not None and any(v != 0 for v in vals):
                moves_through_depth = True
                warnings.append(depth_move_warning(key, None, kname,
                                                   fovs[0] if len(set(fovs)) > 1 else None))
                add(kname, vals, Convert(scale=scale), f"Parseq {key}{'_delta' if deltas else ''} "
                    "(Deforum depth units / 200 per frame)")
        add("fov", field("fov"), Convert(), "Parseq fov (degrees)")
    for key in ("perspective_flip_theta", "perspective_flip_phi", "perspective_flip_gamma"):
        vals = field(key, motion=True)
        if vals is not None and any(v != 0 for v in vals):
            warnings.append(f"{key}: kscript has no perspective flip; not carried over")
    add("strength", field("strength"), Convert(scale=-1.0, offset=1.0, clamp=(0.0, 1.0)),
        "Parseq strength: how much is kept; kscript strength = 1 - it")
    add("guidance", field("scale"), Convert(clamp=(0.0, 50.0)), "Parseq scale (guidance)")
    add("noise", field("noise"), Convert(clamp=(0.0, 1.0)), "Parseq noise")
    steps = field("steps_schedule") or field("steps")
    add("steps", steps, Convert(clamp=(1.0, 500.0), floor=True), "Parseq steps")
    seeds = field("seed")
    if seeds is not None:
        if any(not float(s).is_integer() for s in seeds):
            warnings.append("seed: Parseq's fractional seeds blend into the next seed (subseed strength); "
                            "kscript uses the whole part")
        add("seed", [float(max(0, int(s))) for s in seeds], Convert(), "Parseq seed (whole part)")
    for key in ("contrast", "antiblur_kernel", "antiblur_sigma", "antiblur_amount", "antiblur_threshold",
                "near", "far", "subseed_strength"):
        vals = field(key)
        if vals is not None and key not in ("subseed_strength",) and len(set(vals)) > 1:
            warnings.append(f"{key}: kscript has no such channel; not carried over")

    # prompts: a switch where the prompt changes; a linear cross-fade (A: 1-w AND B: w, w growing
    # steadily from 0 to 1) becomes kscript's `blend`; other weighted prompts show their heaviest part
    per_frame: list[tuple[list[tuple[str, float]], str] | None] = []
    for i in range(count):
        fr = next((f for f in frames_data if int(f["frame"]) == i), frames_data[min(i, count - 1)])
        text = fr.get("deforum_prompt")
        if text is None:
            per_frame.append(None)
            continue
        pos, *negs = str(text).split("--neg")
        neg, _ = _heaviest(" ".join(negs))
        per_frame.append((_parts(pos), neg))
    keys: list[tuple[int, str, str, int]] = []  # frame, positive, negative, blend frames
    heaviest = False
    i = 0
    while i < count:
        entry = per_frame[i]
        if entry is None:
            i += 1
            continue
        parts, neg = entry
        cur = (keys[-1][1], keys[-1][2]) if keys else None
        if len(parts) == 2 and cur is not None and parts[0][0] == cur[0] and neg == cur[1]:
            fade = _fade(per_frame, i, keys[-1][0])
            if fade is not None:
                start, length, end = fade
                keys.append((start, parts[1][0], neg, length))
                i = end
                continue
        if len(parts) == 1:
            text = parts[0][0]
        else:
            text = max(parts, key=lambda p: p[1])[0]
            heaviest = True
        if cur != (text, neg):
            keys.append((i, text, neg, 0))
        i += 1
    if heaviest:
        warnings.append("deforum_prompt: weighted prompts (A: w AND B: w) that are not a steady cross-fade show "
                        "their heaviest part on each frame (kscript's `blend` fades linearly)")
    if not keys:
        warnings.append("the manifest has no deforum_prompt: a placeholder prompt is written")
        keys = [(0, "a placeholder: write your prompt here", "", 0)]
    keys[0] = (0, keys[0][1], keys[0][2], 0)
    scenes: list[SceneSpec] = []
    for f, pos, neg, blend in keys:
        if not scenes or scenes[-1].negative != neg:
            if scenes:
                scenes[-1].end = f
            scenes.append(SceneSpec(f, count, [PromptKey(f, pos)], neg))
        else:
            scenes[-1].prompts.append(PromptKey(f, pos, blend))
    settings: dict[str, str] = {}
    if moves_through_depth:
        settings["depth"] = f'"{DEFAULT_DEPTH_MODEL}"'
    if cadence > 1:
        settings["cadence"] = str(cadence)
    seed0 = int(seeds[0]) if seeds else 0
    if seeds is None and len(scenes) > 1:
        for sc in scenes:  # kscript's default counts from each scene's start; Deforum's from the film's
            sc.extra.append("seed: F")
    warnings[:] = list(dict.fromkeys(warnings))  # a field read twice says its gaps once
    spec = FilmSpec(
        title=path.stem, source=f"Parseq manifest {path.name}", width=width, height=height, fps=fps,
        seed=max(0, seed0), frames=count, scenes=scenes, channels=channels, settings=settings, warnings=warnings,
    )
    return write_film(spec), warnings


_PART = re.compile(r"^(?P<text>.*?)\s*:\s*(?P<w>[-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*$", re.IGNORECASE | re.DOTALL)


def _parts(text: str) -> list[tuple[str, float]]:
    """A Parseq prompt as (text, weight) parts: `a: 0.7 AND b: 0.3`, or one part of weight 1."""
    parts = [p.strip() for p in text.split(" AND ")]
    if len(parts) == 1:
        return [(re.sub(r"\s+", " ", text).strip(), 1.0)]
    out = []
    for p in parts:
        m = _PART.match(p)
        t, w = (m.group("text"), float(m.group("w"))) if m else (p, 1.0)
        out.append((re.sub(r"\s+", " ", t).strip(), w))
    return out


def _fade(per_frame: list, i: int, prev_key: int) -> tuple[int, int, int] | None:
    """A steady cross-fade from frame i: the new part's weight w(f) = (f - start) / length on
    every frame of the run, reaching 1 (the new prompt alone) on the frame after it. Returns
    (start, length, first frame after the run), or None."""
    a, b = per_frame[i][0][0][0], per_frame[i][0][1][0]
    j = i
    while j < len(per_frame) and per_frame[j] is not None and len(per_frame[j][0]) == 2 \
            and (per_frame[j][0][0][0], per_frame[j][0][1][0]) == (a, b) and per_frame[j][1] == per_frame[i][1]:
        j += 1
    if j >= len(per_frame) or per_frame[j] is None or per_frame[j][0] != [(b, 1.0)]:
        return None
    w0 = per_frame[i][0][1][1]
    slope = (1.0 - w0) / (j - i)
    if slope <= 0:
        return None
    length = 1.0 / slope
    start = i - w0 / slope
    if abs(length - round(length)) > 1e-3 or abs(start - round(start)) > 1e-3:
        return None
    length, start = int(round(length)), int(round(start))
    if start <= prev_key or start + length != j:
        return None
    for f in range(i, j):
        w = per_frame[f][0][1][1]
        if abs(w - (f - start) / length) > 1e-4 or abs(per_frame[f][0][0][1] - (1 - w)) > 1e-4:
            return None
    return start, length, j


def _heaviest(text: str) -> tuple[str, bool]:
    parts = [p.strip() for p in text.split(" AND ")]
    if len(parts) == 1:
        return re.sub(r"\s+", " ", text).strip(), False
    best, best_w = parts[0], -math.inf
    for p in parts:
        m = _PART.match(p)
        t, w = (m.group("text"), float(m.group("w"))) if m else (p, 1.0)
        if w > best_w:
            best, best_w = t, w
    return re.sub(r"\s+", " ", best).strip(), True
