"""`kscript import deforum`: a Deforum settings file -> a kscript film.

Three dialects (auto-detected, or named):

- ``a1111``: the settings `.txt` (JSON) the Automatic1111/Forge extension saves beside
  every render. Strength is how much of the previous frame is KEPT (the extension sends
  `denoising_strength = 1 - strength`), so kscript's strength is 1 minus it.
- ``notebook``: the Deforum notebook's settings (the older schedule reader: whole frames
  only, trailing commas tolerated). Strength is kept-strength as well.
- ``kandinsky``: Deforum-Kandinsky, as plain data: either its argument dictionaries
  (`DeforumArgs` + `DeforumAnimArgs`, the notebook's schedule reader) or its call
  (`prompts`, `animations`, `prompt_durations`, `accelerations`, `fps`), whose presets
  are kscript's standard effects. Strength goes straight to the pipeline as denoising.

Motion, 2D (`animation.py` `anim_frame_warp_2d`: `cv2.getRotationMatrix2D(centre, angle,
zoom) @ [[1, 0, tx], [0, 1, ty]]`, applied by `warpPerspective` from the previous frame to
the new one): a positive `angle` turns the picture counter-clockwise (kscript's `angle`
too); `zoom` > 1 enlarges it (kscript's `zoom` too); a positive `translation_x` moves the
picture right, which in kscript is a pan to the LEFT (`x` < 0: kscript's positive `x`
pans the camera right, the picture moves left); a positive `translation_y` moves the
picture down, which is kscript's positive `y` (the camera pans up). Deforum shifts the
picture before it rotates and zooms it; kscript pans after, so with a zoom z a pan differs
by the factor z (1 % for a zoom of 1.01 per frame) and with an angle it is turned by it.

Motion, 3D: kscript has no depth camera yet. The rotations have exact equivalents
(`rotation_3d_x` -> `tilt`, `rotation_3d_y` -> `turn`, `rotation_3d_z` -> `angle` with the
same sign: Deforum's 3D warp turns the picture counter-clockwise on screen for a positive
`rotation_3d_z`, as kscript's positive `angle` does, docs/language.md "Standard effects"); translation
needs depth and is listed in the warnings.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kscript.channels import DEFORUM_PRESETS
from kscript.importers.film import (
    Channel,
    Convert,
    FilmSpec,
    PromptKey,
    DEFAULT_DEPTH_MODEL,
    DEFORUM_SCENE_DISTANCE,
    SceneSpec,
    depth_move_scales,
    depth_move_warning,
    motion_convert,
    write_film,
)
from kscript.importers.numexpr_lang import ExprError, evaluate, format_number, parse
from kscript.importers.schedule import (
    Dialect,
    Schedule,
    ScheduleError,
    curve_points,
    nan_frames,
    parse_schedule,
    reference_series,
)


class NotSettings(ValueError):
    """The file is not a Deforum settings file (the message says why)."""


A1111_MARKERS = (
    "sd_model_name", "deforum_git_commit_id", "animation_prompts_positive", "animation_prompts_negative",
    "positive_prompts", "negative_prompts", "enable_steps_scheduling", "parseq_manifest", "cfg_scale_schedule",
    "motion_preview_mode", "sd_model_hash",
)
KANDINSKY_CALL = ("animations", "prompt_durations")
SETTINGS_MARKERS = (
    "max_frames", "animation_mode", "zoom", "angle", "translation_x", "strength_schedule", "prompts",
    "animation_prompts", "diffusion_cadence",
)

#: Deforum-Kandinsky's presets -> kscript's standard effects (the channel table's one definition)
KANDINSKY_PRESETS = DEFORUM_PRESETS

_COHERENCE = {
    "none": "none", "lab": "lab", "match frame 0 lab": "lab", "rgb": "rgb", "match frame 0 rgb": "rgb",
}


def load_settings(path: Path) -> dict[str, Any]:
    from kscript.importers import read_input

    text = read_input(path, NotSettings)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotSettings(f"it is not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(data, dict):
        raise NotSettings("it is JSON but not an object of settings")
    if not any(k in data for k in SETTINGS_MARKERS + KANDINSKY_CALL):
        if "rendered_frames" in data:
            raise NotSettings("it is a Parseq manifest: use `kscript import parseq`")
        raise NotSettings("it has none of Deforum's settings (max_frames, prompts, zoom, strength_schedule, ...)")
    return data


def detect_dialect(data: dict[str, Any]) -> str:
    if any(k in data for k in KANDINSKY_CALL):
        return "kandinsky"
    if any(k in data for k in A1111_MARKERS):
        return "a1111"
    if "prior_seed" in data or "kandinsky" in json.dumps(data).lower():
        return "kandinsky"
    return "notebook"


class _Ctx:
    def __init__(self, data: dict[str, Any], dialect: str):
        self.data = data
        self.dialect = dialect
        self.sched_dialect: Dialect = "a1111" if dialect == "a1111" else "notebook"
        self.warnings: list[str] = []
        self.missing: list[str] = []  # settings the file leaves out, taken at Deforum's defaults

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _num(ctx: _Ctx, key: str, default: float) -> float:
    v = ctx.get(key, default)
    try:
        return float(v)
    except (TypeError, ValueError):
        ctx.warn(f"{key} = {v!r} is not a number: {format_number(default)} used")
        return float(default)


def convert_deforum(path: Path, dialect: str | None = None) -> tuple[str, list[str]]:
    """The film's text and the warnings, for the settings file at `path`."""
    data = load_settings(path)
    d = dialect or detect_dialect(data)
    if d == "kandinsky" and any(k in data for k in KANDINSKY_CALL):
        return _kandinsky_call(path, data)
    ctx = _Ctx(data, d)
    return _settings(path, ctx)


# ---------------------------------------------------------------------------- settings files


def _size(ctx: _Ctx) -> tuple[int, int]:
    w, h = int(_num(ctx, "W", 512)), int(_num(ctx, "H", 512))
    out = []
    for name, v in (("W", w), ("H", h)):
        nv = min(max(v - v % 8, 64), 4096)
        if nv != v:
            ctx.warn(f"{name} = {v}: kscript sizes are multiples of 8 from 64 to 4096; {nv} used")
        out.append(nv)
    return out[0], out[1]


#: defaults of the settings that change a film, where a file leaves one out: the extension's
#: (args.py), the notebook's and Deforum-Kandinsky's (configs/animation_args.py)
DEFAULTS: dict[str, dict[str, str]] = {
    "a1111": {"noise_schedule": "0: (0.065)", "strength_schedule": "0: (0.65)", "cfg_scale_schedule": "0: (7)",
              "color_coherence": "LAB", "noise_type": "perlin", "fov_schedule": "0: (70)"},
    "notebook": {"noise_schedule": "0: (0.02)", "strength_schedule": "0: (0.65)", "color_coherence": "Match Frame 0 LAB",
                 "noise_type": "uniform"},
    "kandinsky": {"noise_schedule": "0: (0.0)", "strength_schedule": "0: (0.13)", "color_coherence": "None"},
}


def _setting(ctx: _Ctx, key: str, default: Any) -> Any:
    """The file's value, else Deforum's default for the dialect (said once, listing them)."""
    if key in ctx.data and ctx.data[key] is not None:
        return ctx.data[key]
    dflt = DEFAULTS.get(ctx.dialect, {}).get(key)
    if dflt is not None:
        ctx.missing.append(f"{key} = {dflt!r}")
        return dflt
    return default


def _schedule(ctx: _Ctx, key: str, default: str, frames: int, seed: float) -> Schedule | None:
    text = _setting(ctx, key, default)
    if text is None:
        text = default
    try:
        sched = parse_schedule(key, str(text), frames, seed, ctx.sched_dialect)
    except ScheduleError as err:
        ctx.warn(f"{key} = {str(text)!r}: {err}; not carried over (kscript's default used)")
        return None
    except ExprError as err:
        ctx.warn(f"{key} = {str(text)!r}: {err}; not carried over (kscript's default used)")
        return None
    for note in sched.notes:
        ctx.warn(f"{key} = {str(text)!r}: {note}")
    nans = nan_frames(sched, frames, seed)
    if nans:
        shown = ", ".join(str(n) for n in nans[:8]) + (" ..." if len(nans) > 8 else "")
        ctx.warn(
            f"{key} = {str(text)!r} is not a number on frame{'s' if len(nans) > 1 else ''} {shown}: "
            "Deforum fills those frames linearly from their neighbours, and so does this film (frame by frame)")
    return sched


def _is_default(sched: Schedule | None, value: float) -> bool:
    return sched is None or all(k.number is not None and k.number == value for k in sched.keys)


def _perspective_flip(ctx: _Ctx, frames: int, seed: float, names: dict[str, str], fps: float, width: int,
                      height: int, add, moves: bool) -> None:
    """Deforum's 2D perspective flip: `perspective_flip_phi` is kscript's `flip` (the same
    homography, `kscript.geometry.flip_matrix`, with Deforum-Kandinsky's field of view of
    56 degrees); theta and gamma have no channel and are warned."""
    phi = _schedule(ctx, "perspective_flip_phi", "0:(0)", frames, seed)
    if not _is_default(phi, 0.0):
        add(_channel(ctx, "flip", "perspective_flip_phi", phi, motion_convert("flip", fps, width, height), frames,
                     seed, names, "degrees per frame of Deforum's 2D perspective flip; kscript flip: degrees per "
                     "second"))
        fv = _schedule(ctx, "perspective_flip_fv", "0:(56)" if ctx.dialect == "kandinsky" else "0:(53)", frames, seed)
        if not _is_default(fv, 56.0):
            ctx.warn(f"perspective_flip_fv = {ctx.get('perspective_flip_fv', 53)!r}: kscript's flip uses "
                     "Deforum-Kandinsky's field of view of 56 degrees, so the flip's keystone differs a little")
        if moves:
            ctx.warn("translation with the perspective flip on: Deforum's 2D warp then drops its translation "
                     "(np.matmul(bM, rot_mat, trans_mat) writes into trans_mat instead of using it); kscript "
                     "keeps the pans")
    for key in ("perspective_flip_theta", "perspective_flip_gamma"):
        sc = _schedule(ctx, key, "0:(0)", frames, seed)
        if not _is_default(sc, 0.0):
            ctx.warn(f"{key} = {ctx.get(key)!r}: kscript's flip has only Deforum's phi (the picture plane pitched "
                     "about a horizontal line); not carried over")


def _channel(ctx: _Ctx, name: str, key: str, sched: Schedule | None, conv: Convert, frames: int, seed: float,
             names: dict[str, str], unit: str) -> Channel | None:
    if sched is None:
        return None
    try:
        pts = curve_points(sched, frames, seed, names)
    except ScheduleError as err:  # an expression with no finite value on any frame
        ctx.warn(f"{key} = {sched.source.strip()!r}: {err}; not carried over (kscript's default used)")
        return None
    for why in pts.sampled:
        if "Deforum fills them" not in why:  # NaN frames: said by _schedule already
            ctx.warn(f"{key}: {why}; written frame by frame")
    return Channel(name, pts, conv, names, comment=f"Deforum {key}: {sched.source.strip()} ({unit})",
                   values=reference_series(sched, frames, seed))


_LORA = re.compile(r"<(lora|lyco|hypernet):[^>]*>", re.IGNORECASE)
_WEIGHT = re.compile(r"\([^()]*:\s*[-+]?[0-9.]+\s*\)")
_BACKTICK = re.compile(r"`[^`]*`")


def _clean_prompt(ctx: _Ctx, text: str, frame: int, frames: int, where: str) -> str:
    def tick(m: re.Match[str]) -> str:
        expr = m.group(0)[1:-1]
        try:
            v = evaluate(parse(expr), {"t": float(frame), "max_f": float(frames - 1)})
        except ExprError as err:
            ctx.warn(f"{where}: backtick maths {m.group(0)} cannot be read ({err}); left out")
            return ""
        ctx.warn(
            f"{where}: backtick maths {m.group(0)} changes on every frame in Deforum; kscript prompts are "
            f"text, so its value at frame {frame} ({format_number(round(v, 6))}) is written")
        return format_number(round(v, 6))

    out = _BACKTICK.sub(tick, text)
    loras = _LORA.findall(out)
    if loras:
        tags = ", ".join(m.group(0) for m in _LORA.finditer(out))
        ctx.warn(f"{where}: {tags}: kscript loads no LoRA or hypernetwork from a prompt; the tag is left out")
        out = _LORA.sub("", out)
    weights = _WEIGHT.findall(out)
    if weights:
        ctx.warn(
            f"{where}: {', '.join(weights[:3])}{' ...' if len(weights) > 3 else ''}: A1111's attention weights; "
            "kscript passes prompts to the model as they are written, so these are kept as plain text")
    if " AND " in out:
        ctx.warn(f"{where}: ' AND ' (A1111's composable prompts) is kept as plain text")
    return re.sub(r"\s+", " ", out).strip().strip(",").strip()


def _prompts(ctx: _Ctx, frames: int) -> list[tuple[int, str, str]]:
    raw = ctx.get("prompts", ctx.get("animation_prompts"))
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = {"0": raw}
    if isinstance(raw, list):
        raw = {str(i): p for i, p in enumerate(raw)}
    if not isinstance(raw, dict) or not raw:
        ctx.warn("no prompts in the file: a placeholder prompt is written")
        return [(0, "a placeholder: write your prompt here", "")]
    pos_extra = ctx.get("animation_prompts_positive")
    neg_extra = ctx.get("animation_prompts_negative")
    keyed: dict[int, str] = {}
    for k, v in raw.items():
        ks = str(k).strip()
        if ks.isdigit():
            f = int(ks)
        else:
            if "max_f" in ks:
                ctx.warn(f"prompt key {ks!r}: Deforum's extension has no max_f where it reads prompt keys "
                         f"(render.py; its older prompt interpolation took max_f = max_frames); read with "
                         f"max_f = {frames - 1}, the last frame's index, as in schedules")
            try:
                f = int(evaluate(parse(ks), {"max_f": float(frames - 1), "t": 0.0}))
            except (ExprError, ValueError, OverflowError) as err:
                ctx.warn(f"prompt key {ks!r} is not a frame ({err}); that prompt is left out")
                continue
        if f >= frames or f < 0:
            ctx.warn(f"prompt at frame {ks} is outside the film's {frames} frames; left out (as Deforum does)")
            continue
        val = str(v)
        if pos_extra is not None or neg_extra is not None:
            # args.py process_args: f"{positive} {val} {'' if '--neg' in val else '--neg'} {negative}"
            pe = str(pos_extra or "")
            ne = str(neg_extra or "").replace("--neg", "")
            val = f"{pe} {val} {'' if '--neg' in val else '--neg'} {ne}"
        keyed[f] = val
    if not keyed:
        return [(0, "a placeholder: write your prompt here", "")]
    out: list[tuple[int, str, str]] = []
    for i, f in enumerate(sorted(keyed)):
        pos, *negs = keyed[f].split("--neg")
        neg = " ".join(negs)
        frame = 0 if i == 0 else f  # the first prompt holds from frame 0 (Deforum's bfill)
        pos = _clean_prompt(ctx, pos, f, frames, f"prompt at frame {f}")
        neg = _clean_prompt(ctx, neg, f, frames, f"negative prompt at frame {f}")
        if out and out[-1][1] == pos and out[-1][2] == neg:
            continue
        out.append((frame, pos, neg))
    return out


def _seed_text(ctx: _Ctx, seed: int, cadence: int, frames: int, scenes: int) -> tuple[str | None, list[str]]:
    """The seed curve of Deforum's seed behaviour, as kscript text (None: kscript's default)."""
    def plus(expr: str) -> str:
        return expr if seed == 0 else f"{seed} + {expr}"

    beh = str(ctx.get("seed_behavior", "iter")).lower()
    n = int(_num(ctx, "seed_iter_N", 1)) if beh == "iter" else 1
    k = "F" if cadence == 1 else f"floor(F / {cadence})"
    if beh == "iter":
        if n <= 1:
            if cadence == 1 and scenes == 1:
                return None, []
            return plus(k), []
        return plus(f"ceil({k} / {n})"), []
    if beh == "fixed":
        return str(seed), []
    if beh == "alternate":
        return plus(f"{k} % 2"), []
    if beh == "ladder":
        return plus(f"floor({k} / 2) + 2 * ({k} % 2)"), []
    if beh == "random":
        ctx.warn("seed_behavior = 'random': Deforum draws a new random seed per frame; kscript's seeds are "
                 "reproducible, so the frames use the film seed + the frame index")
        return (None if cadence == 1 and scenes == 1 else plus("F")), []
    if beh == "schedule":
        return "schedule", []
    ctx.warn(f"seed_behavior = {beh!r} is not one kscript knows; film seed + frame index used")
    return None, []


def _settings(path: Path, ctx: _Ctx) -> tuple[str, list[str]]:
    frames = int(_num(ctx, "max_frames", 120))
    if frames < 1:
        raise NotSettings(f"max_frames = {frames}: a film needs at least one frame")
    fps_default = 15 if ctx.dialect == "a1111" else (24 if ctx.dialect == "kandinsky" else 12)
    if "fps" not in ctx.data:
        ctx.warn(f"the file gives no fps: {fps_default} used (Deforum's default for its video)")
    fps = _num(ctx, "fps", fps_default)
    if not (0 < fps <= 240):
        ctx.warn(f"fps = {format_number(fps)} is outside kscript's 0..240: {fps_default} used")
        fps = float(fps_default)
    if float(fps).is_integer():
        fps = float(int(fps))
    width, height = _size(ctx)
    seed_raw = int(_num(ctx, "seed", -1))
    seed = seed_raw
    if seed_raw < 0 or seed_raw > 2**32 - 1:
        seed = 0 if seed_raw < 0 else seed_raw % 2**32
        ctx.warn(f"seed = {seed_raw} means a random seed in Deforum; kscript films are reproducible: seed {seed} used")
    mode = str(ctx.get("animation_mode", "2D"))
    if mode not in ("2D", "3D"):
        ctx.warn(f"animation_mode = {mode!r}: kscript animates in 2D or with camera rotations; converted as 2D"
                 + (" without motion" if mode == "None" else ""))
    names = {"t": "F", "max_f": "max_f", "s": str(seed_raw)}
    channels: list[Channel] = []
    settings: dict[str, str] = {}
    lets: dict[str, str] = {}

    def add(ch: Channel | None) -> None:
        if ch is not None:
            channels.append(ch)

    if mode in ("2D", "Video Input", "Interpolation"):
        zoom = _schedule(ctx, "zoom", "0:(1)", frames, seed_raw)
        angle = _schedule(ctx, "angle", "0:(0)", frames, seed_raw)
        tx = _schedule(ctx, "translation_x", "0:(0)", frames, seed_raw)
        ty = _schedule(ctx, "translation_y", "0:(0)", frames, seed_raw)
        if not _is_default(zoom, 1.0):
            add(_channel(ctx, "zoom", "zoom", zoom, motion_convert("zoom", fps, width, height), frames, seed_raw,
                         names, "a factor per frame; kscript's zoom is per second: the factor to the power fps"))
        if not _is_default(angle, 0.0):
            add(_channel(ctx, "angle", "angle", angle, motion_convert("angle", fps, width, height), frames,
                         seed_raw, names, "degrees per frame; kscript: degrees per second"))
        # Deforum shifts the picture before it zooms and turns it (rot_mat @ trans_mat), kscript
        # pans after: with a steady zoom z and no angle, Deforum's shift is z times kscript's.
        zc = None
        if zoom is None:
            zc = 1.0
        elif all(k.number is not None for k in zoom.keys) and len({k.number for k in zoom.keys}) == 1:
            zc = zoom.keys[0].number
        steady = zc is not None and _is_default(angle, 0.0)
        pan = zc if steady else 1.0
        also = f", times the zoom {format_number(pan)} (Deforum pans before it zooms)" if pan != 1.0 else ""
        if not _is_default(tx, 0.0):
            add(_channel(ctx, "x", "translation_x", tx, motion_convert("x", fps, width, height, sign=-pan), frames,
                         seed_raw, names, "pixels per frame, + moves the picture right; kscript x: % of the width "
                         f"per second, + pans the camera right{also}"))
        if not _is_default(ty, 0.0):
            add(_channel(ctx, "y", "translation_y", ty, motion_convert("y", fps, width, height, sign=pan), frames,
                         seed_raw, names, "pixels per frame, + moves the picture down; kscript y: % of the height per "
                         f"second, + pans the camera up{also}"))
        for key in ("transform_center_x", "transform_center_y"):
            sc = _schedule(ctx, key, "0:(0.5)", frames, seed_raw)
            if not _is_default(sc, 0.5):
                ctx.warn(f"{key} = {ctx.get(key)!r}: kscript turns and zooms about the frame's centre")
        if not steady and (not _is_default(tx, 0.0) or not _is_default(ty, 0.0)):
            ctx.warn("translation with a changing zoom or an angle: Deforum shifts the picture before zooming and "
                     "turning it, kscript pans after, so the pans differ by the frame's zoom factor (and are "
                     "turned by its angle)")
        if ctx.get("enable_perspective_flip", ctx.get("flip_2d_perspective", False)):
            _perspective_flip(ctx, frames, seed_raw, names, fps, width, height, add,
                              moves=not _is_default(tx, 0.0) or not _is_default(ty, 0.0))
    elif mode == "3D":
        for key, kname, sign in (("rotation_3d_x", "tilt", 1.0), ("rotation_3d_y", "turn", 1.0),
                                 ("rotation_3d_z", "angle", 1.0)):
            sc = _schedule(ctx, key, "0:(0)", frames, seed_raw)
            if not _is_default(sc, 0.0):
                add(_channel(ctx, kname, key, sc, motion_convert(kname, fps, width, height, sign=sign), frames,
                             seed_raw, names, "degrees per frame; kscript: degrees per second"))
        fov = (_schedule(ctx, "fov_schedule", "0:(70)", frames, seed_raw)
               if "fov_schedule" in ctx.data or ctx.dialect == "a1111" else None)
        if fov is None and "fov" in ctx.data:
            fov = parse_schedule("fov", f"0:({_num(ctx, 'fov', 40)})", frames, seed_raw, ctx.sched_dialect)
        # The camera's moves through depth (docs/rendering.md, "Deforum's 3D parameters"): at
        # the scene's distance Deforum's on-screen motion is kept, with kscript's depth warp.
        fov_series = reference_series(fov, frames, seed_raw) if fov is not None else [40.0]
        moved = False
        for key, (kname, scale) in depth_move_scales(fps, fov_series[0]).items():
            sc = _schedule(ctx, key, "0:(0)", frames, seed_raw)
            if _is_default(sc, 0.0):
                continue
            moved = True
            ctx.warn(depth_move_warning(key, ctx.get(key), kname, fov_series[0] if len(set(fov_series)) > 1 else None))
            unit = (f"Deforum depth units / 200 per frame; kscript {kname}: "
                    + ("% of the scene's distance per second, as fast on screen at the scene's distance"
                       if kname == "z" else f"% of the {'width' if kname == 'x' else 'height'} per second at the "
                       "scene's distance"))
            add(_channel(ctx, kname, key, sc, Convert(scale=scale), frames, seed_raw, names, unit))
        if moved:
            settings["depth"] = f'"{DEFAULT_DEPTH_MODEL}"'
            for key in ("near_schedule", "far_schedule", "midas_weight"):
                if key in ctx.data:
                    ctx.warn(f"{key} = {ctx.get(key)!r}: does not change kscript's depth warp (docs/rendering.md)")
        if fov is not None and channels:
            add(_channel(ctx, "fov", "fov_schedule", fov, Convert(), frames, seed_raw, names, "degrees"))
    if mode == "3D" and ctx.get("enable_perspective_flip", ctx.get("flip_2d_perspective", False)):
        ctx.warn("enable_perspective_flip in 3D mode: Deforum's 3D warp does not flip (only its 2D warp does), "
                 "so neither does the film")

    # generation channels
    kept = ctx.dialect != "kandinsky"
    strength = _schedule(ctx, "strength_schedule", "0:(0.65)", frames, seed_raw)
    if strength is not None:
        conv = Convert(scale=-1.0, offset=1.0, clamp=(0.0, 1.0)) if kept else Convert(clamp=(0.0, 1.0))
        unit = ("how much of the frame is kept; kscript strength = 1 - it, how much is redrawn" if kept
                else "denoising strength, as kscript's strength")
        add(_channel(ctx, "strength", "strength_schedule", strength, conv, frames, seed_raw, names, unit))
    if "cfg_scale_schedule" in ctx.data:
        cfg = _schedule(ctx, "cfg_scale_schedule", "0:(7)", frames, seed_raw)
    else:
        cfg = parse_schedule("scale", f"0:({_num(ctx, 'scale', 7)})", frames, seed_raw, ctx.sched_dialect)
    add(_channel(ctx, "guidance", "cfg_scale_schedule", cfg, Convert(clamp=(0.0, 50.0)), frames, seed_raw, names,
                 "classifier-free guidance"))
    if ctx.get("enable_steps_scheduling", False):
        steps = _schedule(ctx, "steps_schedule", "0:(25)", frames, seed_raw)
        add(_channel(ctx, "steps", "steps_schedule", steps, Convert(clamp=(1.0, 500.0), floor=True), frames,
                     seed_raw, names, "denoising steps, truncated to whole steps as Deforum does"))
    else:
        steps_v = int(_num(ctx, "steps", 25))
        add(Channel("steps", curve_points(parse_schedule("steps", f"0:({steps_v})", frames, 0), frames, 0, names),
                    Convert(clamp=(1.0, 500.0)), names))
    noise = _schedule(ctx, "noise_schedule", "0:(0.02)", frames, seed_raw)
    if not _is_default(noise, 0.0):
        add(_channel(ctx, "noise", "noise_schedule", noise, Convert(clamp=(0.0, 1.0)), frames, seed_raw, names,
                     "noise amount"))
        nt = _setting(ctx, "noise_type", "uniform")
        ctx.warn(f"noise_type = {nt!r}: kscript adds its own seeded noise of the same amount, not Deforum's "
                 f"{nt} noise")
    contrast = _schedule(ctx, "contrast_schedule", "0:(1)", frames, seed_raw) if "contrast_schedule" in ctx.data else None
    if not _is_default(contrast, 1.0):
        ctx.warn(f"contrast_schedule = {ctx.get('contrast_schedule')!r}: kscript has no contrast channel")

    cadence_raw = ctx.get("diffusion_cadence", 1)
    try:
        cadence = int(cadence_raw)
    except (TypeError, ValueError):
        cadence = 1
        ctx.warn(f"diffusion_cadence = {cadence_raw!r} is not a whole number: 1 used")
    if cadence > 1:
        settings["cadence"] = str(min(cadence, 1000))
        ctx.warn(f"diffusion_cadence = {cadence}: kscript blends the two model frames around each in-between, "
                 "each warped to it and along the optical flow between them; Deforum warps both forward "
                 "(the next one arrives a cadence late) and follows the flow only with optical_flow_cadence")
    coh_raw = str(_setting(ctx, "color_coherence", "None"))
    coh = _COHERENCE.get(coh_raw.lower())
    if coh is None:
        coh = "lab"
        ctx.warn(f"color_coherence = {coh_raw!r}: kscript matches colours in RGB or LAB; 'lab' used"
                 if "hsv" in coh_raw.lower() else
                 f"color_coherence = {coh_raw!r}: kscript matches colours to the scene's first frame only; 'lab' used")
    if coh != "none":
        settings["coherence"] = coh

    model = ctx.get("sd_model_name") or ctx.get("model_checkpoint")
    if model:
        ctx.warn(f"sd_model_name = {model!r}: name a diffusers model folder or hub id in `model:` "
                 "(the film uses the preview painter)")
    sampler = ctx.get("sampler")
    if sampler:
        ctx.warn(f"sampler = {sampler!r}: kscript uses the model's own scheduler")
    for flag, what in (("hybrid_composite", "hybrid video"), ("use_mask", "masks"), ("use_init", "an init image"),
                       ("use_looper", "guided images")):
        if ctx.get(flag) is True:
            ctx.warn(f"{flag} = true: {what} are not carried over")
    if str(ctx.get("parseq_manifest", "") or "").strip():
        ctx.warn("parseq_manifest: the settings name a Parseq manifest; import it with `kscript import parseq`")

    if ctx.missing:
        ctx.warn(f"the file leaves out {', '.join(dict.fromkeys(ctx.missing))}: Deforum's defaults used")

    # prompts and scenes
    prompts = _prompts(ctx, frames)
    scenes: list[SceneSpec] = []
    for i, (f, pos, neg) in enumerate(prompts):
        if not scenes or scenes[-1].negative != neg:
            scenes.append(SceneSpec(f, frames, [PromptKey(f, pos)], neg))
            if len(scenes) > 1:
                scenes[-2].end = f
        else:
            scenes[-1].prompts.append(PromptKey(f, pos))
    if len(scenes) > 1:
        ctx.warn(f"the negative prompt changes at frame {', '.join(str(s.start) for s in scenes[1:])}: one scene "
                 "per negative, each continuing from the one before")
        if cadence > 1 and any(s.start % cadence for s in scenes[1:]):
            ctx.warn(f"kscript's cadence counts from each scene's start; a scene starting between Deforum's "
                     f"model frames (every {cadence}) moves the model frames after it")

    seed_text, _ = _seed_text(ctx, seed, cadence, frames, len(scenes))
    if seed_text == "schedule":
        ss = _schedule(ctx, "seed_schedule", "0:(s)", frames, seed_raw)
        seed_text = None
        if ss is not None:
            ch = _channel(ctx, "seed", "seed_schedule", ss, Convert(floor=True), frames, seed_raw, names, "seeds")
            if min(reference_series(ss, frames, seed_raw)) < 0:
                ctx.warn("seed_schedule gives -1 (random) on some frames: kscript's seeds are reproducible; "
                         "those frames use the film seed + the frame index instead")
                seed_text = f"{seed} + F"
            else:
                add(ch)
    if seed_text is not None and seed + 2 * frames > 2**32 - 1:
        ctx.warn(f"seed = {seed}: the seeds of later frames pass kscript's largest seed (4294967295); they wrap to 0")
        seed_text = f"({seed_text}) % 4294967296"
    for sc in scenes:
        if seed_text is not None:
            sc.extra.append(f"seed: {seed_text}")

    if "max_f" in _used_names(channels):
        lets["max_f"] = f"{frames - 1}  # Deforum's max_f: the last frame's index"
    spec = FilmSpec(
        title=path.stem, source=f"Deforum settings {path.name} ({_DIALECT_WORDS[ctx.dialect]})",
        width=width, height=height, fps=fps, seed=seed, frames=frames, scenes=scenes, channels=channels,
        settings=settings, lets=lets, warnings=ctx.warnings,
    )
    return write_film(spec), ctx.warnings


_DIALECT_WORDS = {
    "a1111": "the Automatic1111/Forge extension",
    "notebook": "the Deforum notebook",
    "kandinsky": "Deforum-Kandinsky",
}


def _used_names(channels: list[Channel]) -> set[str]:
    from kscript.importers.numexpr_lang import names_in

    out: set[str] = set()
    for ch in channels:
        for p in ch.points.points:
            if not isinstance(p.value, float):
                out |= names_in(p.value)
    return out


# ---------------------------------------------------------------------------- Deforum-Kandinsky's call


def _kandinsky_call(path: Path, data: dict[str, Any]) -> tuple[str, list[str]]:
    ctx = _Ctx(data, "kandinsky")
    prompts = data.get("prompts")
    animations = data.get("animations")
    durations = data.get("prompt_durations")
    if isinstance(prompts, str):
        prompts = [prompts]
    if not (isinstance(prompts, list) and isinstance(animations, list) and isinstance(durations, list)):
        raise NotSettings("a Deforum-Kandinsky call needs the lists prompts, animations and prompt_durations")
    if not (len(prompts) == len(animations) == len(durations)) or not prompts:
        raise NotSettings("prompts, animations and prompt_durations must be lists of the same length (one per part)")
    negs = data.get("negative_prompts") or [""] * len(prompts)
    if isinstance(negs, str):
        negs = [negs] * len(prompts)
    accs = data.get("accelerations") or [1.0] * len(prompts)
    fps = float(data.get("fps", 24))
    if fps.is_integer():
        fps = float(int(fps))
    width, height = _size(ctx)
    seed_raw = int(_num(ctx, "seed", -1))
    seed = seed_raw if 0 <= seed_raw <= 2**32 - 1 else 0
    if seed != seed_raw:
        ctx.warn(f"seed = {seed_raw} means a random seed in Deforum-Kandinsky; seed {seed} used")
    # inference.py: max_frames = int(sum(durations) * fps) + 1; prompt i starts at int(sum(durations[:i]) * fps)
    frames = int(sum(float(x) for x in durations) * fps) + 1
    starts = []
    elapsed = 0.0
    for dd in durations:
        starts.append(int(elapsed * fps))
        elapsed += float(dd)
    scenes = []
    for i, p in enumerate(prompts):
        end = starts[i + 1] if i + 1 < len(starts) else frames
        sc = SceneSpec(starts[i], end, [PromptKey(starts[i], _clean_prompt(ctx, str(p), starts[i], frames,
                                                                            f"prompt {i + 1}"))],
                       _clean_prompt(ctx, str(negs[i] if i < len(negs) else ""), starts[i], frames,
                                     f"negative prompt {i + 1}"))
        anim = str(animations[i]).strip().lower()
        effect = KANDINSKY_PRESETS.get(anim)
        acc = float(accs[i]) if i < len(accs) else 1.0
        if effect is None:
            ctx.warn(f"animation {animations[i]!r} (part {i + 1}) is not one of Deforum-Kandinsky's presets; "
                     "the part has no motion")
        else:
            sc.extra.append(f"effect {effect}" + (f"(rate = {format_number(acc)})" if acc != 1.0 else ""))
        scenes.append(sc)
    settings: dict[str, str] = {}
    names = {"t": "F", "max_f": "max_f", "s": str(seed_raw)}
    channels: list[Channel] = []
    if "strength_schedule" in data:
        ss = _schedule(ctx, "strength_schedule", "0:(0.13)", frames, seed_raw)
        ch = _channel(ctx, "strength", "strength_schedule", ss, Convert(clamp=(0.0, 1.0)), frames, seed_raw, names,
                      "denoising strength, as kscript's strength")
        if ch is not None:
            channels.append(ch)
    cad = int(_num(ctx, "diffusion_cadence", 1)) if "diffusion_cadence" in data else 1
    if cad > 1:
        settings["cadence"] = str(cad)
    if "scale" in data:
        settings["guidance"] = format_number(min(max(_num(ctx, "scale", 4), 0), 50))
    if "steps" in data:
        settings["steps"] = str(min(max(int(_num(ctx, "steps", 30)), 1), 500))
    ctx.warn("settings the call does not give (strength, cadence, steps, ...) take kscript's defaults, not "
             "Deforum-Kandinsky's (docs/import.md)")
    ctx.warn("Deforum-Kandinsky's presets run in its 3D mode; kscript's standard effects reproduce them without "
             "depth (docs/language.md, 'Standard effects')")
    spec = FilmSpec(
        title=path.stem, source=f"Deforum-Kandinsky call {path.name}", width=width, height=height, fps=fps,
        seed=seed, frames=frames, scenes=scenes, channels=channels, settings=settings, warnings=ctx.warnings,
    )
    return write_film(spec), ctx.warnings
