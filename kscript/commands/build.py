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
    parser.add_argument("film", metavar="FILM", nargs="+",
                        help="the .kscene film (or a plan .json from 'kscript plan --json'); several films build one after another, or together with --cluster")
    add_render_options(parser)
    add_model_options(parser)
    parser.add_argument("--scene", metavar="NAME", help="render only this scene (default output: FILM.NAME.mp4)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the frame cache")
    parser.add_argument("--cache-limit", metavar="SIZE", default="2GB", help="cache size limit, kept during the build: other films' least recently used entries go first, this film's never for its own (default: 2GB)")
    parser.add_argument("--crf", type=int, metavar="N", help="encoder quality, lower is better (default: H.264 18, or 23 for preview drafts; VP9 32)")
    parser.add_argument("--preset", metavar="P", help="encoder speed preset: ultrafast ... veryslow (default: ultrafast for preview drafts, medium for models)")
    parser.add_argument("--report", metavar="FILE", help="write what the build did as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--seeds", metavar="LIST", type=_seeds,
                        help="a seed sweep: build the film once per film seed, e.g. 1,2,3 or 1-4, to FILM.seedN.mp4")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="render on a Ray cluster: 'local' starts one on this machine, 'auto' or HOST:PORT joins a running one "
                        "(needs the cluster extra: pip install \"kscript[cluster]\"); see docs/cluster.md")
    parser.add_argument("--workers", metavar="N", type=int,
                        help="with --cluster: the most worker actors (default: one per GPU of the cluster, or per CPU without GPUs)")


def _seeds(text: str) -> list[int]:
    """`--seeds 1,2,3` or `--seeds 1-4` (or both: `1-3,10`): the film seeds of a sweep."""
    from kscript.check.checker import MAX_SEED

    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(part)]
        except ValueError:
            raise argparse.ArgumentTypeError(f"cannot read the seeds '{text}': write them like 1,2,3 or 1-4") from None
        for seed in values:
            if not 0 <= seed <= MAX_SEED:
                raise argparse.ArgumentTypeError(f"seed {seed} is out of range: seeds are whole numbers from 0 to {MAX_SEED}")
            if seed not in seeds:
                seeds.append(seed)
    if not seeds:
        raise argparse.ArgumentTypeError(f"--seeds '{text}' names no seed")
    return seeds


def _load_plan(path: Path):
    if path.suffix.lower() == ".json":
        from kscript.compile.plan_file import load_plan

        plan, stale = load_plan(path)  # validated as strictly as a compiled plan; keys recomputed
        if stale:
            print(f"note: {stale} frame key{'s' if stale != 1 else ''} in '{path}' did not match "
                  f"{'their frames' if stale != 1 else 'its frame'}; the recomputed keys are used", file=sys.stderr)
        return plan
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
        elif p.phase == "status":
            self.progress.update(self.frames, description=p.message)
        else:
            self.progress.update(self.frames, completed=p.frames_done)


def _say_status(p) -> None:
    """Without a terminal (a log, CI): only the backend's status lines, one per line, so a
    long model load or download does not look like a hang."""
    if p.phase == "status":
        print(f"  {p.message}", file=sys.stderr, flush=True)


def summary(report) -> str:
    from kscript.compile.cost import format_counts

    calls = format_counts(report.model_calls)
    steps = f"\n  denoising steps: {format_counts(report.denoising_steps)}" if report.denoising_steps.get("total") else ""
    if report.depth_calls:
        per_second = f" ({report.depth_calls / report.video_seconds:.3g} per video second)" if report.video_seconds else ""
        steps += f"\n  depth calls: {report.depth_calls}{per_second}"
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
        f"{_cache_line(report)}"
        f"  {report.seconds:.2f} s{speed}{notes}"
    )


def _cache_line(report) -> str:
    """The cache's size, this film's share and what was evicted; nothing with --no-cache."""
    from kscript.render.cache import format_size

    c = report.cache
    if report.cache_dir is None:
        return ""
    limit = f" of {format_size(c.limit)}" if c.limit is not None else ""
    evicted = (f"; evicted {c.evicted} entries this build does not use ({format_size(c.evicted_bytes)})"
               if c.evicted else "; nothing evicted")
    return f"  cache {format_size(c.bytes)}{limit}, this film {format_size(c.film_bytes)}{evicted}\n"


def _seed_plans(film: Path, seeds: list[int] | None) -> list[tuple[int | None, object]]:
    """(seed, plan) per build of `film`: its own plan, or one per seed of a sweep, compiled
    with the film block's `seed` replaced (a scene or effect that sets the `seed` channel
    keeps its own seeds)."""
    if not seeds:
        return [(None, _load_plan(film))]
    import dataclasses

    from kscript.compile import compile_film, compile_program
    from kscript.errors import UsageError, read_film

    if film.suffix.lower() == ".json":
        raise UsageError(f"--seeds needs a .kscene film: the seeds of the plan '{film}' are fixed",
                         hint="build the .kscene film the plan was made from")
    program = compile_film(read_film(film)).program
    return [(seed, compile_program(dataclasses.replace(program, film=dataclasses.replace(program.film, seed=seed))))
            for seed in seeds]


def _with_seed(output: Path | str, seed: int | None) -> Path | str:
    """film.mp4 -> film.seed7.mp4 (a folder out/ -> out.seed7/) for one build of a sweep."""
    if seed is None:
        return output
    text = str(output)
    if text.endswith(("/", os.sep)):
        return text.rstrip("/" + os.sep) + f".seed{seed}/"
    path = Path(text)
    return path.with_name(f"{path.stem}.seed{seed}{path.suffix}")


class _ChainBars:
    """Progress of a cluster build on stderr: all frames to render, and a row per running chain."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.total = self.progress.add_task("frames", total=None)
        self.rows: dict[tuple[int, str], int] = {}
        self.todo: dict[tuple[int, str], int] = {}

    def __enter__(self) -> "_ChainBars":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, p) -> None:
        key = (p.film, p.chain)
        if p.phase == "film":
            self.progress.console.print(f"{p.film_name}: every frame rendered and encoded")
            return
        if p.phase == "waiting":
            self.progress.update(self.total, description=f"frames (waiting for workers: {p.done} of {p.total} started)")
            return
        if p.phase == "start":
            self.progress.update(self.total, description="frames")
            if key not in self.todo:
                self.todo[key] = p.total
                self.progress.update(self.total, total=sum(self.todo.values()))
            label = f"{p.film_name} {p.chain} (worker {p.worker})" if p.worker else f"{p.film_name} {p.chain}"
            if key in self.rows:
                self.progress.update(self.rows[key], description=label)
            else:
                self.rows[key] = self.progress.add_task(label, total=p.total, completed=p.done)
        elif p.phase == "frame" and key in self.rows:
            self.progress.update(self.rows[key], completed=p.done)
            self.progress.advance(self.total)
        elif p.phase == "retry" and key in self.rows:
            self.progress.update(self.rows[key], description=f"{p.film_name} {p.chain} (worker lost, resuming)")
        elif p.phase == "done" and key in self.rows:
            self.progress.remove_task(self.rows.pop(key))


def run(args: argparse.Namespace) -> int:
    from kscript.errors import UsageError
    from kscript.render.build import BuildOptions, build, is_draft
    from kscript.render.output import default_output
    from kscript.render.cache import parse_size

    films = [Path(f) for f in args.film]
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise UsageError(f"--crf {args.crf} is out of range", hint="use 0 (lossless) to 51 for H.264, up to 63 for VP9")
    if args.output and len(films) > 1:
        raise UsageError("-o names the output of one film, and several are given",
                         hint="leave -o out: each video goes beside its film")
    if args.workers is not None and args.cluster is None:
        raise UsageError("--workers needs --cluster", hint="add --cluster local (or the address of a Ray cluster)")
    if args.cluster is not None:
        from kscript.cluster import require_ray

        require_ray()  # before any film is compiled: say how to install it at once
    limit = parse_size(args.cache_limit) if args.cache_limit else None
    jobs = []
    for film in films:
        # a film that cannot be read: the reader's own words (exit 2)
        for seed, plan in _seed_plans(film, args.seeds):
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
            jobs.append((film, plan, _with_seed(output, seed), options))
    if args.report:
        for film, _plan, output, _options in jobs:
            _check_report_path(Path(args.report), film, output)
    show_bar = not args.quiet and sys.stderr.isatty()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.cluster is not None:
            reports = _build_on_cluster(jobs, args, show_bar)
        else:
            reports = []
            for _film, plan, output, options in jobs:
                if show_bar:
                    total = len(plan.frames) if args.scene is None else sum(1 for f in plan.frames if f.scene == args.scene)
                    with _Bar(total) as bar:
                        options.progress = bar
                        reports.append(build(plan, output, options))
                else:
                    if not args.quiet:
                        options.progress = _say_status
                    reports.append(build(plan, output, options))
                if not args.quiet and len(jobs) > 1:
                    print(summary(reports[-1]), file=sys.stderr)
    except KeyboardInterrupt as stop:
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        print(f"{what}: finished frames are kept in the cache; the previous output is untouched", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.report:
        if len(reports) == 1:
            text = reports[0].to_json()
        else:
            import json
            from dataclasses import asdict

            text = json.dumps([asdict(r) for r in reports], indent=2, sort_keys=True) + "\n"
        _write_report(Path(args.report), text)
    if not args.quiet and (args.cluster is not None or len(jobs) == 1):
        for report in reports:
            print(summary(report), file=sys.stderr)
    return 0


def _build_on_cluster(jobs: list, args: argparse.Namespace, show_bar: bool) -> list:
    """Every film of the command on one Ray cluster, sharing its workers."""
    from kscript.cluster import cluster_for
    from kscript.cluster.driver import FilmJob

    bars = _ChainBars() if show_bar else None
    cluster, _ = cluster_for(args.cluster, workers=args.workers, progress=bars)
    try:
        if bars is not None:
            with bars:
                return cluster.build_films([FilmJob(plan, output, options) for _f, plan, output, options in jobs])
        return cluster.build_films([FilmJob(plan, output, options) for _f, plan, output, options in jobs])
    finally:
        cluster.close()
