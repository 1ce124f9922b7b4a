"""`kscript plan FILE [--json]`: the render plan, as JSON or as a readable summary."""

from __future__ import annotations

import argparse
import sys

HELP = "show a film's render plan (frames, ops, model calls)"
DESCRIPTION = (
    "Compile a film into its render plan without rendering. With --json, print the whole plan "
    "(every frame with its op, motion, generation values, prompts and content key); without, a "
    "summary: film settings, scenes, frames by operation, model calls and denoising steps."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="film file (.kscene)")
    parser.add_argument("--json", action="store_true",
                        help="print the full plan as JSON, with the cost estimate under 'estimate'")
    parser.add_argument("--model", metavar="M",
                        help="estimate the cost with this model's scheduler (read from its JSON files only)")


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def summary(plan, estimate=None) -> str:  # noqa: ANN001 - RenderPlan, Estimate; untyped to import nothing at module level
    from kscript.compile.cost import format_counts, plan_estimate

    est = estimate or plan_estimate(plan)
    film = plan.film
    lines = [
        f'film "{film.title}"',
        f"  size {film.width}x{film.height}, {_num(film.fps)} fps, seed {film.seed}, model {film.model!r}"
        + (f", prior {film.prior!r}" if film.prior else "")
        + (f", inpaint {film.inpaint!r}" if film.inpaint else ""),
        f"  {film.frame_count} frames, {_num(round(film.duration, 3))}s"
        + (f", coherence {film.coherence}" if film.coherence != "none" else ""),
    ]
    if film.audio is not None:
        lines.append(f"  audio {film.audio.path} from {_num(round(film.audio.start, 3))}s "
                     f"(sha256 {film.audio.sha256[:12]}, smoothing {_num(round(film.audio.smooth * 1000, 1))}ms)")
    if film.bpm is not None:
        lines.append(f"  bpm {_num(film.bpm)}" + (" (detected from the audio)" if film.bpm_detected else "")
                     + f", {film.beats_per_bar} beats per bar")
    lines += [
        "",
        "scenes",
    ]
    name_w = max([len(s.name) for s in plan.scenes] + [4])
    for s in plan.scenes:
        end = s.start_frame + s.frame_count - 1
        extra = []
        if s.continues:
            extra.append("continues")
        if s.transition.kind != "cut":
            extra.append(f"crossfade {s.transition.frames}f")
        first = plan.frames[s.start_frame] if s.start_frame < len(plan.frames) else None
        if first is not None and first.image is not None:
            how = "as it is" if first.strength <= 0 else f"redrawn at strength {_num(first.strength)}"
            extra.append(f"from the image {first.image.path}, {how}")
        lines.append(
            f"  {s.index + 1:>3}. {s.name:<{name_w}}  frames {s.start_frame}-{end} ({s.frame_count}), "
            f"{_num(round(s.start_time, 3))}s + {_num(round(s.duration, 3))}s" + (f"  [{', '.join(extra)}]" if extra else "")
        )
        for p in s.prompts:
            when = f" at {_num(p.start)}s" if p.start else ""
            blend = f" blend {_num(p.blend)}s" if p.blend else ""
            lines.append(f"         prompt{when}{blend}: {p.text}")
    ops: dict[str, int] = {}
    for fr in plan.frames:
        ops[fr.op] = ops.get(fr.op, 0) + 1
    lines += ["", "frames by op"]
    for op in ("generate", "continue", "animate", "warp"):
        if ops.get(op):
            lines.append(f"  {op:<9} {ops[op]}")
    warps = sum(1 for fr in plan.frames if fr.depth)
    if warps:
        lines.append(f"  ({warps} of them depth warps, through the depth model {plan.film.depth})")
    lines += ["", f"cost (estimate, {est.family}, scheduler {est.scheduler})",
              f"  model calls:     {format_counts(est.model_calls)}",
              f"  denoising steps: {format_counts(est.denoising_steps)}"]
    if est.depth_calls:
        per_second = est.depth_calls / plan.film.duration if plan.film.duration else 0.0
        lines.append(f"  depth calls:     {est.depth_calls} ({per_second:.3g} per video second; model {plan.film.depth})")
    lines += [f"  assumed: {a}" for a in est.assumptions]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from kscript.compile import compile_film
    from kscript.diagnostics import render_all
    from kscript.errors import read_film

    import json
    from pathlib import Path

    from kscript.compile.cost import plan_estimate

    compiled = compile_film(read_film(args.file))
    program, plan = compiled.program, compiled.plan
    if program.warnings:
        print(render_all(program.warnings, program.files), file=sys.stderr)
    est = plan_estimate(plan, args.model, base_dir=Path(args.file).parent)
    if args.json:
        data = json.loads(plan.to_json())
        data["estimate"] = est.as_dict()  # `kscript build plan.json` reads the plan, not this
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        print(summary(plan, est))
    return 0
