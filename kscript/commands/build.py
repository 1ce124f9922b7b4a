"""`kscript build FILM`: compile a film and render it to a video.

A thin layer over `kscript.compile.compile_file` and `kscript.render.build.build`: options
in, a progress bar on stderr while it runs (when stderr is a terminal), a closing summary,
and optionally the same as JSON (`--report FILE`). FILM may also be a plan saved by
`kscript plan --json` (a `.json` file).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from kscript.commands.options import add_model_options, add_render_options

HELP = "render a film to a video (H.264 .mp4, VP9 .webm or PNG frames)"
DESCRIPTION = (
    "Compile FILM and render it: the preview painter for model \"preview\" (or --preview), "
    "else the film's diffusers model. Finished frames are cached in .kscript/ beside the film, "
    "so a rebuild renders only what changed and an interrupted build resumes. The video goes "
    "beside the film (film.kscene -> film.mp4) unless -o says otherwise: .mp4, .mov or .mkv "
    "(H.264), .webm (VP9), or a folder ending in / for PNG frames."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("film", metavar="FILM", help="the .kscene film (or a plan .json from 'kscript plan --json')")
    add_render_options(parser)
    add_model_options(parser)
    parser.add_argument("--scene", metavar="NAME", help="render only this scene (default output: FILM.NAME.mp4)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the frame cache")
    parser.add_argument("--cache-limit", metavar="SIZE", default="2GB", help="cache size limit, least recently used frames go first (default: 2GB)")
    parser.add_argument("--crf", type=int, metavar="N", help="encoder quality, lower is better (default: H.264 18, or 23 for preview drafts; VP9 32)")
    parser.add_argument("--preset", metavar="P", help="encoder speed preset: ultrafast ... veryslow (default: ultrafast for preview drafts, medium for models)")
    parser.add_argument("--report", metavar="FILE", help="write what the build did as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")


def _load_plan(path: Path):
    if path.suffix.lower() == ".json":
        from pydantic import ValidationError

        from kscript.errors import UsageError, read_film
        from kscript.plan import RenderPlan

        text = read_film(path).text
        try:
            import json

            data = json.loads(text)
            if isinstance(data, dict):
                data.pop("estimate", None)  # what `kscript plan --json` adds beside the plan
            return RenderPlan.model_validate(data)
        except ValidationError as err:
            problems = err.errors()
            shown = [f"{'.'.join(str(p) for p in e['loc']) or '(the whole file)'}: {e['msg']}" for e in problems[:5]]
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise UsageError(
                f"'{path}' is not a render plan: " + "; ".join(shown) + more,
                hint="save a plan with `kscript plan FILM --json > plan.json`, or build the .kscene film",
            ) from None
    from kscript.compile import compile_file

    return compile_file(path)


def _check_report_path(report: Path, film: Path, output: Path | str) -> None:
    """Refuse, before the build, a `--report` path that would replace the film, the output
    or a folder (the report is written only after the whole build)."""
    from kscript.atomic import file_in_the_way
    from kscript.errors import UsageError

    where = Path(os.path.abspath(report))
    if report.is_dir():
        raise UsageError(f"--report '{report}' is a folder", hint="name a file, e.g. --report build.json")
    if report.suffix.lower() == ".kscene" or where == Path(os.path.abspath(film)):
        raise UsageError(f"--report '{report}' would replace a film", hint="name a .json file, e.g. --report build.json")
    if where == Path(os.path.abspath(str(output).rstrip("/" + os.sep) or ".")):
        raise UsageError(f"--report '{report}' is the build's output", hint="name another file, e.g. --report build.json")
    blocking = file_in_the_way(report)
    if blocking is not None:
        raise UsageError(f"--report '{report}': '{blocking}' is a file, not a folder")


def _write_report(path: Path, text: str) -> None:
    from kscript.atomic import write_atomic
    from kscript.errors import RenderError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))  # a plain new file's permissions
    except OSError as err:
        raise RenderError(f"the video is built, but the report cannot be written to '{path}': "
                          f"{err.strerror or err}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a CI runner) during a build: unwound like Ctrl-C, so the
    encoder's temporaries are removed and finished frames stay in the cache."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


class _Bar:
    """A rich progress bar on stderr: frames of the film, steps of the current frame, ETA."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.frames = self.progress.add_task("frames", total=total)
        self.steps = self.progress.add_task("steps ", total=1, visible=False)

    def __enter__(self) -> "_Bar":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, p) -> None:
        if p.phase == "step":
            self.progress.update(self.steps, completed=p.step, total=max(p.steps, 1), visible=True)
        elif p.phase == "frame":
            self.progress.update(self.steps, completed=0)
            self.progress.update(self.frames, description=f"frame {p.frame}" if p.frame is not None else "frames")
        else:
            self.progress.update(self.frames, completed=p.frames_done)


def summary(report) -> str:
    from kscript.compile.cost import format_counts

    calls = format_counts(report.model_calls)
    steps = f"\n  denoising steps: {format_counts(report.denoising_steps)}" if report.denoising_steps.get("total") else ""
    speed = f" ({report.video_seconds / report.seconds:.1f}x real time)" if report.seconds > 0 and report.video_seconds else ""
    # With --scene, the chain may start in earlier scenes (a `continue`): those frames are
    # rendered or taken from the cache too, but are not in the output.
    earlier = report.frames_rendered + report.frames_cached - report.frames_total
    upstream = f" (counting {earlier} of earlier scenes it is made from)" if report.scene and earlier > 0 else ""
    notes = "".join(f"\n  note: {n}" for n in report.notes)
    return (
        f"built {report.output}: {report.frames_total} frames, {report.frames_rendered} rendered, "
        f"{report.frames_cached} from cache{upstream}\n"
        f"  backend {report.backend}; model calls: {calls}{steps}\n"
        f"  {report.seconds:.2f} s{speed}{notes}"
    )


def run(args: argparse.Namespace) -> int:
    from kscript.errors import UsageError
    from kscript.render.build import BuildOptions, build, is_draft
    from kscript.render.output import default_output
    from kscript.render.cache import parse_size

    film = Path(args.film)
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise UsageError(f"--crf {args.crf} is out of range", hint="use 0 (lossless) to 51 for H.264, up to 63 for VP9")
    limit = parse_size(args.cache_limit) if args.cache_limit else None
    plan = _load_plan(film)  # a film that cannot be read: the reader's own words (exit 2)
    options = BuildOptions(
        preview=args.preview,
        model=args.model,
        device=args.device,
        cache_dir=Path(args.cache) if args.cache else film.parent / ".kscript",
        no_cache=args.no_cache,
        cache_limit=limit,
        scene=args.scene,
        crf=args.crf,
        preset=args.preset,
        base_dir=film.parent,
        prior=args.prior,
        inpaint=args.inpaint,
        safety_checker=args.safety_checker,
        dtype=args.dtype,
        offload=args.offload,
        threads=args.threads,
    )
    output = Path(args.output) if args.output else default_output(film, args.scene, draft=is_draft(plan, options))
    if args.output and args.output.endswith(("/", os.sep)):
        output = args.output  # a folder of PNG frames
    if args.report:
        _check_report_path(Path(args.report), film, output)
    show_bar = not args.quiet and sys.stderr.isatty()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if show_bar:
            total = len(plan.frames) if args.scene is None else sum(1 for f in plan.frames if f.scene == args.scene)
            with _Bar(total) as bar:
                options.progress = bar
                report = build(plan, output, options)
        else:
            report = build(plan, output, options)
    except KeyboardInterrupt as stop:
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        print(f"{what}: finished frames are kept in the cache; the previous output is untouched", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.report:
        _write_report(Path(args.report), report.to_json())
    if not args.quiet:
        print(summary(report), file=sys.stderr)
    return 0
