"""What a plan costs in model work: calls and denoising steps by kind, before anything runs.

One definition, read by `kscript plan` (its summary and `--json`'s `estimate`) and by the
build summary, so the two show the same numbers, and by the backends (the one-step guard,
the prior's step count). Plan-level: no torch, no diffusers; a model's scheduler is read
from its `scheduler/scheduler_config.json` (JSON only) when the model is on disk.

A *denoising step* is one forward of the denoiser: the decoder's UNet for text2image,
img2img and inpaint, the prior transformer for the prior. A classifier-free-guidance batch
(the prompt and the negative side by side) is one forward, so one step. What the build
counts with a hook on those forwards (`BuildReport.denoising_steps`) equals this estimate
for a build from nothing with the same model.

How many forwards a call makes depends on the scheduler, which diffusers' pipelines ask
for `num_inference_steps` timesteps and then run from `t_start = steps - int(steps *
strength)`:

- most schedulers (DDIM, DDPM, Euler, DPM-Solver, UniPC, LMS, UnCLIP, ...) give one
  timestep per step: `int(steps * strength)` forwards for img2img, `steps` otherwise;
- PNDM with `skip_prk_steps` (Stable Diffusion 1.5's) repeats one timestep: one forward
  more (7 for 6 steps, 2 for a 1-step img2img);
- Heun is second order: `2 * n - 1` forwards for `n` steps.

A scheduler outside this table is counted as one forward per step and the estimate says it
assumed so; a model that is not on disk (a hub id not downloaded, or `plan` without the
model) is counted that way too, and says so (`kscript plan --model M` reads M's scheduler).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from kscript.plan import Frame, RenderPlan

KINDS = ("text2image", "img2img", "inpaint", "prior")

#: the Kandinsky 2.2 prior: steps and guidance of its one call per distinct prompt
PRIOR_STEPS = 25
PRIOR_GUIDANCE = 4.0

#: schedulers whose timesteps are one per inference step
ONE_PER_STEP = {
    "DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler",
    "LMSDiscreteScheduler", "DEISMultistepScheduler", "UnCLIPScheduler", "LCMScheduler", "TCDScheduler",
}


@dataclass(frozen=True)
class Scheduler:
    """A denoiser's scheduler as far as counting goes: its class and the config keys that
    change the count. `known` is False when it was not read (the estimate assumed one forward
    per step)."""

    name: str = "unknown"
    skip_prk_steps: bool = True
    known: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Scheduler":
        name = str(config.get("_class_name", "unknown"))
        known = name in ONE_PER_STEP or name in ("PNDMScheduler", "HeunDiscreteScheduler")
        if name == "PNDMScheduler" and not config.get("skip_prk_steps", False):
            known = False  # Runge-Kutta warm-up steps: not counted here
        return cls(name=name, skip_prk_steps=bool(config.get("skip_prk_steps", False)), known=known)

    def forwards(self, steps: int, strength: float = 1.0) -> int:
        """Denoiser forwards of one call of `steps` inference steps at `strength` (1: text2image
        or a call with no strength); 0 when the call runs no step."""
        steps = int(steps)
        run = min(int(steps * strength), steps) if strength < 1.0 else steps
        if run <= 0:
            return 0
        if self.name == "PNDMScheduler" and self.skip_prk_steps:
            return run + 1
        if self.name == "HeunDiscreteScheduler":
            return 2 * run - 1
        return run


def read_scheduler(folder: str | Path | None, subfolder: str = "scheduler") -> Scheduler:
    """The scheduler of the model saved in `folder` (its `scheduler/scheduler_config.json`),
    or an unknown one when the folder or file is not there."""
    if folder is None:
        return Scheduler()
    path = Path(folder) / subfolder / "scheduler_config.json"
    try:
        return Scheduler.from_config(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return Scheduler()


def effective_steps(steps: int, strength: float) -> int:
    """The step count an img2img call at `strength` really gets: `steps`, raised until
    `int(steps * strength) >= 1`; 0 when that would take more than `MAX_STEPS` (the
    caller then makes no model call: the frame stays as warped, as at strength 0).

    diffusers runs `int(steps * strength)` denoising steps and crashes when that is 0 (the
    VAE then decodes an empty tensor), and its schedulers refuse more steps than their
    1000 training steps. The compiler already raises a frame's steps for this, or makes a
    too-faint frame a warp; the backend checks again so a hand-made plan cannot crash a
    build. Raising steps keeps the frame's strength, which is what the user wrote.
    """
    from kscript.plan import MAX_STEPS

    steps = max(1, int(steps))
    if strength <= 0:
        return steps
    strength = min(1.0, float(strength))
    if int(steps * strength) >= 1:
        return steps
    steps = max(steps, math.ceil(1.0 / strength))
    while int(steps * strength) < 1:  # floating point: 1/0.1 * 0.1 may land below 1
        steps += 1
    return steps if steps <= MAX_STEPS else 0


def img2img_run(frame: "Frame") -> int:
    """Inference steps an animate/continue frame's (or an init image's) img2img pass runs (`int(steps *
    strength)` at its effective step count); 0: no call (strength 0 or too faint)."""
    if frame.strength <= 0:
        return 0
    steps = effective_steps(frame.steps, frame.strength)
    return int(steps * min(1.0, frame.strength)) if steps else 0


@dataclass
class Estimate:
    """Model calls and denoising steps by kind (`KINDS`), and what was assumed."""

    model_calls: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    denoising_steps: dict[str, int] = field(default_factory=lambda: {**{k: 0 for k in KINDS}, "total": 0})
    family: str = "unknown"
    scheduler: str = "unknown"
    assumptions: list[str] = field(default_factory=list)
    #: depth maps the depth warps need (`Frame.depth`): one per model frame's chain image a
    #: depth warp reads, directly or carried through warp-only frames (`depth_calls`)
    depth_calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_calls": dict(self.model_calls),
            "depth_calls": self.depth_calls,
            "denoising_steps": dict(self.denoising_steps),
            "family": self.family,
            "scheduler": self.scheduler,
            "assumptions": list(self.assumptions),
        }


def model_frames(plan: "RenderPlan") -> Iterable[tuple["Frame", str]]:
    """(frame, kind) for every model call a diffusers build of the whole plan makes, in
    order: text2image for `generate` (for one from an init image, `Frame.image`, one img2img
    call at its strength, or none at strength 0: the picture itself), and for
    `animate`/`continue` one img2img call, or, on a frame that paints the revealed band
    (`Frame.inpaint`), one masked img2img call (the band from noise, the rest at the frame's
    strength; kind "inpaint", in the same steps)."""
    for fr in plan.frames:
        if fr.op == "generate" and fr.image is not None:
            if img2img_run(fr) > 0:
                yield fr, "img2img"
        elif fr.op == "generate":
            yield fr, "text2image"
        elif fr.op in ("animate", "continue") and img2img_run(fr) > 0:
            yield fr, "inpaint" if fr.inpaint else "img2img"


def estimate(plan: "RenderPlan", *, family: str | None = None, scheduler: Scheduler | None = None,
             prior_scheduler: Scheduler | None = None,
             how_to_read: str = "`kscript plan --model M` reads a model's scheduler") -> Estimate:
    """The model calls and denoising steps of a diffusers build of `plan` from nothing.

    Args:
        family: "kandinsky2.2" (a prior call per distinct prompt and negative) or
            "stable-diffusion" (none); None guesses from the model's name and says so.
        scheduler: the decoder's scheduler (`read_scheduler`); None: one forward per step,
            said in `assumptions`.
        prior_scheduler: the prior's (UnCLIP, one forward per step, when not given).
        how_to_read: what the "scheduler not read" assumption tells the user to do about it.
    """
    from kscript.plan import is_preview_model

    est = Estimate()
    model = plan.film.model
    if is_preview_model(model):
        est.family = "preview"
        est.assumptions.append("the preview painter runs no model; the counts are those of a diffusers model")
    if family is None:
        family = "kandinsky2.2" if "kandinsky" in model.lower() else "stable-diffusion"
        if not is_preview_model(model):
            est.assumptions.append(f"model family guessed from its name: {family}")
        else:
            family = "kandinsky2.2"
    est.family = family if est.family != "preview" else f"preview (as {family})"
    sched = scheduler or Scheduler()
    est.scheduler = sched.name
    if not sched.known:
        est.assumptions.append(
            f"scheduler {sched.name if sched.name != 'unknown' else 'not read'}: counted as one denoiser "
            f"forward per step ({how_to_read})"
        )
    prior = prior_scheduler or Scheduler("UnCLIPScheduler", known=True)
    embedded: set[tuple[str, str]] = set()
    for fr, kind in model_frames(plan):
        if kind == "text2image":
            steps = sched.forwards(max(1, fr.steps))
        elif kind == "inpaint":
            # the masked call: the frame's own img2img step count, run at strength 1
            steps = sched.forwards(img2img_run(fr))
        else:
            steps = sched.forwards(effective_steps(fr.steps, fr.strength), min(1.0, fr.strength))
        est.model_calls[kind] += 1
        est.denoising_steps[kind] += steps
        if family == "kandinsky2.2":
            for p in fr.prompts:
                embedded.add((p.text, fr.negative))
    if family == "kandinsky2.2":
        est.model_calls["prior"] = len(embedded)
        est.denoising_steps["prior"] = len(embedded) * prior.forwards(PRIOR_STEPS)
    est.denoising_steps["total"] = sum(est.denoising_steps[k] for k in KINDS)
    est.depth_calls = depth_calls(plan)
    return est


def depth_calls(plan: "RenderPlan") -> int:
    """Depth maps a build of `plan` from nothing makes: one per distinct chain image whose
    depth a depth warp reads, where a warp-only depth warp's picture reads its input's depth
    moved (no call), so the calls are made on model frames' pictures only: at most one per
    model frame (`kscript.render.executor`, `_depth_of`)."""
    from kscript.plan import depth_origins

    frames = plan.frames
    root = depth_origins(frames)
    return len({root[fr.inputs[0]] for fr in frames if fr.depth and fr.inputs and 0 <= fr.inputs[0] < fr.index})


def format_counts(counts: dict[str, int]) -> str:
    """`text2image 1, img2img 7, inpaint 0, prior 2 (total 40)`: the one way the plan and
    the build summaries print them."""
    text = ", ".join(f"{k} {counts.get(k, 0)}" for k in KINDS)
    return text + (f" (total {counts['total']})" if "total" in counts else "")


def model_info(spec: str | None, base_dir: str | Path | None = None) -> tuple[str | None, Scheduler, str | None]:
    """(family, decoder scheduler, where it was read) of the model `spec` names, from its
    JSON files only: a local folder (relative to `base_dir`, then the working directory), or
    a hub id already in the local Hugging Face cache. Never the network, never torch: (None,
    unknown, None) when the model is not on disk."""
    from kscript.plan import is_preview_model

    if not spec or is_preview_model(spec):
        return None, Scheduler(), None
    import os

    folder: Path | None = None
    expanded = Path(os.path.expanduser(spec.strip()))
    for base in ([Path(base_dir)] if base_dir is not None else []) + [Path.cwd()]:
        candidate = expanded if expanded.is_absolute() else base / expanded
        if (candidate / "model_index.json").is_file():
            folder = candidate
            break
    if folder is None and "/" in spec and not expanded.is_absolute():
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(spec.strip(), "model_index.json")
            if isinstance(found, str):
                folder = Path(found).parent
        except Exception:  # no hub library or no cache: not on disk
            folder = None
    if folder is None:
        return None, Scheduler(), None
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, Scheduler(), None
    name = str(index.get("_class_name", ""))
    family = "kandinsky2.2" if name.startswith("KandinskyV22") else "stable-diffusion"
    scheduler = read_scheduler(folder)
    if scheduler.name == "unknown" and not (folder / "scheduler").exists():
        # a hub snapshot holds only the files fetched so far
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(spec.strip(), "scheduler/scheduler_config.json")
            if isinstance(found, str):
                scheduler = Scheduler.from_config(json.loads(Path(found).read_text(encoding="utf-8")))
        except Exception:
            pass
    return family, scheduler, str(folder)


def plan_estimate(plan: "RenderPlan", model: str | None = None, base_dir: str | Path | None = None) -> Estimate:
    """`estimate` for `plan` rendered with `model` (default: the film's), reading the model's
    family and scheduler from disk where it is there (`model_info`)."""
    spec = model or plan.film.model
    family, scheduler, where = model_info(spec, base_dir)
    if model and model != plan.film.model:
        plan = plan.model_copy(update={"film": plan.film.model_copy(update={"model": model})})
    # a user who already passed `--model M` is told how to get M on disk, not to pass it
    how = (f"it is read once '{spec}' is on disk: a local folder, or the hub id downloaded into the "
           "Hugging Face cache" if model else "`kscript plan --model M` reads a model's scheduler")
    est = estimate(plan, family=family, scheduler=scheduler if where else None, how_to_read=how)
    if where is None and not _is_preview(spec):
        est.assumptions.insert(0, f"model '{spec}' is not on disk here: its scheduler was not read")
    return est


def _is_preview(spec: str | None) -> bool:
    from kscript.plan import is_preview_model

    return is_preview_model(spec)
