"""`build(plan, output, options)`: the one front door from a render plan to a video.

It picks the backend (the preview painter for `model: "preview"` or `--preview`, else
`kscript.backends.create_backend`), loads it before the first frame that must be rendered
(not at all when every frame is in the cache), runs the executor through
the frame cache, streams the frames into the writer for the output's format
(`kscript.render.encode`; an H.264 film is written scene by scene into cached segments and
joined, `kscript.render.segments`), and reports what it did. Where the video goes and
whether it may go there is `kscript.render.output`. The CLI (`kscript build`), watch mode
and `kscript.api.build` all call it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from kscript.errors import UsageError
from kscript.models import is_preview_model
from kscript.plan import RenderPlan
from kscript.backends.interface import Backend
from kscript.render.cache import DEFAULT_LIMIT, FrameCache, parse_size
from kscript.render.encode import open_writer
from kscript.render.executor import BuildCancelled, Executor, Progress
from kscript.render.leftovers import FolderClaim, cache_leftover, output_leftover
from kscript.render.output import check_output, default_output, output_kind, segmentable
from kscript.render.segments import build_segmented

__all__ = ["BuildCancelled", "BuildOptions", "BuildReport", "CacheReport", "Progress", "build", "make_backend"]


# x264 preset for preview drafts. The painter makes a 640x640 frame in about 3 ms of CPU,
# so the encoder is the largest part of a preview build: "ultrafast" encodes the 288-frame
# mini film in 0.40-0.44 s against 0.70-1.23 s at "superfast" (about 1.6 ms of CPU a frame
# saved), for a file about twice as big. Drafts are for judging timing and motion; a model
# build encodes at "medium", where a frame takes seconds and the encoder costs nothing.
DRAFT_PRESET = "ultrafast"

class ClusterBuilder(Protocol):
    """What `BuildOptions.cluster` is: `kscript.cluster.driver.Cluster`."""

    def build(self, plan: RenderPlan, output: str | Path | None, options: "BuildOptions") -> "BuildReport": ...


@dataclass
class BuildOptions:
    """How to build. Every field has the CLI's default.

    Attributes:
        preview: use the preview painter whatever model the film names.
        model: use this model instead of the film's (a folder, a hub id, or "preview").
        device: "cuda", "mps" or "cpu" for diffusers backends (default: the best there is).
        cache_dir: the frame cache folder (default `.kscript/` beside the film).
        no_cache: neither read nor write the frame cache.
        cache_limit: the cache's size limit in bytes or as text ("2GB"); least recently
            used frames go first. None: no limit.
        scene: render only this scene.
        crf, preset: encoder quality and speed (see `kscript.render.encode`); the preset
            default to `DRAFT_PRESET` and CRF 23 for the preview backend (drafts), "medium" and
            CRF 18 (H.264) for models.
        progress: called with a `kscript.render.executor.Progress` per frame and step.
        should_cancel: polled at frame boundaries and model steps; True cancels the build
            (raises `BuildCancelled`; finished frames stay cached, no output is written).
        on_frame: called with (plan index, RGB image) as each output frame is finished.
        backend: a ready (loaded) backend to use (watch mode keeps one between builds).
        depth: a depth source to use (`kscript.backends.depth.FilmDepth`; watch mode keeps
            one between builds, so a depth model loads once per session): used when it is
            the film's own (the same `depth:`, folder and backend), else a new one is made.
        base_dir: where relative model paths are read from (default: the film's folder).
        prior, inpaint: companions instead of the film's `prior:` / `inpaint:` ("none": none).
        safety_checker, dtype, offload, threads: how diffusers models load and run
            (`kscript.backends.settings.ModelOptions`).
        cluster: render the frames on a Ray cluster: a `kscript.cluster.driver.Cluster`
            (`Cluster("local")` starts a local Ray instance, `Cluster("auto")` or an address
            joins a running one; docs/cluster.md). `build` hands the plan to its
            `build(plan, output, options)`, which renders on the workers and then calls
            `build` again without it to encode from the frame cache, as a local build does.
            (The render stage does not import the cluster stage: it only calls this.)
    """

    preview: bool = False
    model: str | None = None
    device: str | None = None
    cache_dir: str | Path | None = None
    no_cache: bool = False
    cache_limit: int | str | None = DEFAULT_LIMIT
    scene: str | None = None
    crf: int | None = None
    preset: str | None = None
    progress: Callable[[Progress], None] | None = None
    should_cancel: Callable[[], bool] | None = None
    on_frame: Callable[[int, np.ndarray], None] | None = None
    backend: Backend | None = None
    depth: Any = None
    base_dir: str | Path | None = None
    prior: str | None = None
    inpaint: str | None = None
    safety_checker: bool = False
    dtype: str = "auto"
    offload: bool = False
    threads: int | None = None
    cluster: "ClusterBuilder | None" = None


@dataclass
class CacheReport:
    """The frame cache after a build (`BuildReport.cache`; all 0 with `--no-cache`).

    Attributes:
        bytes: the cache's size on disk, all films.
        limit: its size limit (None: none).
        film_bytes: this film's entries in it (frames and segments).
        film_bytes_needed: what this film's entries would take (`film_bytes` plus what was
            not stored because the limit left no room): more than `limit` means the limit
            is too small for the film.
        evicted, evicted_bytes: entries this build does not use (other films', or this
            film's for another output or encoder setting) removed to keep the limit.
        not_stored: entries of this film not kept: new ones the limit or an unwritable
            cache left out, and its last ones removed when it alone is over a limit
            lowered since they were stored.
        corrupt: damaged or misplaced entries found, removed and made again.
        read_only: the cache could not be written; the build went on without storing.
    """

    bytes: int = 0
    limit: int | None = None
    film_bytes: int = 0
    film_bytes_needed: int = 0
    evicted: int = 0
    evicted_bytes: int = 0
    not_stored: int = 0
    corrupt: int = 0
    read_only: bool = False


@dataclass
class BuildReport:
    """What a build did; `kscript build --report FILE` writes `to_json()`.

    Attributes:
        frames_total: frames in the output (one scene's with `--scene`).
        frames_rendered: chain images made in this build (model calls or warps).
        frames_cached: chain images taken from the cache rather than rendered: loaded as
            pixels, or already encoded in a cached scene segment. With `--scene`, both may
            count frames of earlier scenes that the scene is made from.
        frames_loaded: chain images read from the frame cache as pixels (part of
            `frames_cached`): a rebuild of an unchanged film reads none.
        model_calls: calls made by kind (text2image, img2img, inpaint, prior).
        denoising_steps: denoiser forwards made by kind, and their total, counted by hooks
            on the UNets and the prior (one forward = one step, a guidance batch once); for
            a build from nothing, equal to `kscript plan --model M`'s estimate
            (`kscript.compile.cost`). The preview painter makes none.
        seconds: wall time of `build()`.
        evicted: cache entries this build does not use, removed to stay under the size
            limit (`cache.evicted`).
        cache: the frame cache's size, this film's share, what was evicted (`CacheReport`).
        segments_encoded, segments_cached: scene segments of an H.264 film encoded in this
            build / reused from the cache (both 0 for the single-pass outputs: `--scene`,
            `--no-cache`, `.webm`, `.mkv`, PNG folders).
        depth_calls: depth maps made for the depth warps (`Frame.depth`): one per chain image
            a depth warp moves, so at most one per frame rendered; for a build from nothing,
            equal to the plan's estimate (`kscript.compile.cost`, `Estimate.depth_calls`).
    """

    frames_total: int
    frames_rendered: int
    frames_cached: int
    model_calls: dict[str, int]
    seconds: float
    output: str
    backend: str
    scene: str | None = None
    cache_dir: str | None = None
    fps: float = 0.0
    width: int = 0
    height: int = 0
    evicted: int = 0
    frames_loaded: int = 0
    denoising_steps: dict[str, int] = field(default_factory=dict)
    segments_encoded: int = 0
    segments_cached: int = 0
    depth_calls: int = 0
    cache: CacheReport = field(default_factory=CacheReport)
    notes: list[str] = field(default_factory=list)

    @property
    def video_seconds(self) -> float:
        return self.frames_total / self.fps if self.fps else 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def film_path(plan: RenderPlan) -> Path | None:
    """The film's source file, as the compiler recorded it (None for hand-made plans)."""
    for scene in plan.scenes:
        if scene.source.file and not scene.source.file.startswith("<"):
            return Path(scene.source.file)
    return None


def is_draft(plan: RenderPlan, options: "BuildOptions") -> bool | str:
    """What makes this build's video another one than the film's own, for its default name
    (`output.default_output`): True for a preview draft of a film whose own model is a real
    one (`--preview`, `--model preview`), the model's tag for `--model M` other than the
    film's, False for the film's own render."""
    from kscript.render.output import model_tag

    film_model = plan.film.model
    if options.preview or (options.model and is_preview_model(options.model)):
        return not is_preview_model(film_model)
    if options.model and options.model.strip() != film_model.strip():
        return model_tag(options.model)
    return False


def is_preview(plan: RenderPlan, options: BuildOptions) -> bool:
    return options.preview or is_preview_model(options.model or plan.film.model)


def make_backend(plan: RenderPlan, options: BuildOptions) -> Backend:
    """The backend for a plan: the preview painter, or the diffusers backend for its model."""
    from kscript.backends import create_backend

    if is_preview(plan, options):
        return create_backend(plan.film, model="preview")
    film = plan.film if not options.model else plan.film.model_copy(update={"model": options.model})
    for role in ("prior", "inpaint"):  # --prior / --inpaint: switch companions with the model
        value = getattr(options, role)
        if value is not None:
            film = film.model_copy(update={role: None if value.strip().lower() == "none" else value})
    source = film_path(plan)
    # Relative model paths are read from the film's folder, as imports are.
    base_dir = options.base_dir if options.base_dir is not None else (source.parent if source is not None else None)
    from kscript.backends.settings import ModelOptions

    settings = ModelOptions(safety_checker=options.safety_checker, dtype=options.dtype, offload=options.offload,
                            threads=options.threads)
    return create_backend(film, device=options.device, model=options.model, base_dir=base_dir, options=settings)


def film_depth(plan: RenderPlan, options: BuildOptions, backend: Backend):  # noqa: ANN201 - FilmDepth | None
    """The depth maps of the plan's depth warps (`kscript.backends.depth.FilmDepth`): the
    film's `depth:` model, relative folders read from the film's folder as the model's are;
    None when no frame is a depth warp. Loaded by the executor before the first frame."""
    if plan.film.depth is None or not any(fr.depth for fr in plan.frames):
        return None
    from kscript.backends.depth import FilmDepth

    source = film_path(plan)
    base_dir = options.base_dir if options.base_dir is not None else (source.parent if source is not None else None)
    base = Path(base_dir) if base_dir is not None else None
    kept = options.depth
    if (isinstance(kept, FilmDepth) and kept.spec == plan.film.depth and kept.base_dir == base
            and kept.backend is backend):
        return kept  # loaded once; its depth maps are by chain-image key, valid for any plan
    return FilmDepth(plan.film.depth, backend, base)


def frame_cache(plan: RenderPlan, output: str, options: BuildOptions, *, cheap: bool = False) -> FrameCache:
    """The build's frame cache: `options.cache_dir`, else `.kscript/` beside the film (or
    beside the output, for a plan with no film file). `cheap`: frames that cost less to
    make again than to compress or flush (the preview painter's): stored raw and not
    fsync'ed (`FrameCache`'s `compress` and `durable`)."""
    source = film_path(plan)
    if options.cache_dir is not None:
        cache_dir = Path(options.cache_dir)
    elif source is not None:
        cache_dir = source.parent / ".kscript"
    else:
        cache_dir = Path(output.rstrip("/")).parent / ".kscript"
    limit = options.cache_limit
    if isinstance(limit, str):
        limit = parse_size(limit)
    return FrameCache(cache_dir, limit=limit, compress=not cheap, durable=not cheap)


def resolve_output(plan: RenderPlan, output: str | Path | None, options: BuildOptions) -> str:
    """Where a build of `plan` writes: `output`, else the film's default name (a draft, a
    scene and another model each get their own, `default_output`); checked before anything
    is loaded or rendered, so an output we cannot or must not write fails first."""
    if output is None:
        source = film_path(plan)
        if source is None:
            raise UsageError("no output path given and the plan names no film file", hint="pass -o OUT")
        output = default_output(source, options.scene, draft=is_draft(plan, options))
    output_text = str(output)
    check_output(output_text)
    return output_text


def soundtrack(plan: RenderPlan, scene: str | None = None) -> tuple[str, float, float] | None:
    """(song, start in the song, seconds) of what the output plays: the film's audio cut to
    the film's length, or to one scene's (from the scene's start) for `--scene`."""
    film = plan.film
    if film.audio is None:
        return None
    start, seconds = film.audio.start, film.frame_count / film.fps
    if scene is not None:
        info = next((s for s in plan.scenes if s.name == scene), None)
        if info is not None:
            start += info.start_frame / film.fps
            seconds = info.frame_count / film.fps
    return film.audio.path, start, seconds


def build(plan: RenderPlan, output: str | Path | None = None, options: BuildOptions | None = None) -> "BuildReport":
    """Render `plan` to `output` (see the module docstring) and report what was done.

    Raises:
        UsageError: no output given for a plan with no source file, a bad option.
        ModelError: the backend's model cannot be loaded (before any frame is rendered).
        BuildCancelled: `options.should_cancel()` said so.
        RenderError: the output cannot be written.
    """
    options = options or BuildOptions()
    start = time.perf_counter()
    source = film_path(plan)
    output_text = resolve_output(plan, output, options)
    if options.cluster is not None:
        if not callable(getattr(options.cluster, "build", None)):
            raise UsageError(
                f"BuildOptions.cluster must be a kscript.cluster.driver.Cluster, not {options.cluster!r}",
                hint='BuildOptions(cluster=Cluster("local")) (from kscript.cluster.driver import Cluster)',
            )
        return options.cluster.build(plan, output_text, options)
    # Held while the build runs, so that the next build can tell a killed build's
    # temporaries beside the output (and in the cache) from a running one's, and remove them.
    target = Path(os.path.abspath(output_text.rstrip("/" + os.sep) or "."))
    claims = [FolderClaim(_made(target.parent))]
    claims[0].clean(output_leftover(target.name))
    try:
        return _build(plan, output_text, options, source, start, claims)
    finally:
        for claim in claims:
            claim.close()


def _made(folder: Path) -> Path:
    """`folder`, created when it can be (a failure is reported where it is written)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return folder


def _build(plan: RenderPlan, output_text: str, options: BuildOptions, source: Path | None, start: float,
           claims: list[FolderClaim]) -> "BuildReport":
    from kscript.render.segments import plan_segments

    backend = options.backend or make_backend(plan, options)
    # The preview renders a frame in a few milliseconds, so libx264's "medium" would take
    # most of a preview build; a model frame takes seconds, so there "medium" costs nothing.
    # Likewise x264's default quality (CRF 23) is plenty for a draft and encodes faster.
    draft = backend.name == "preview"
    # The painter makes a frame faster than zlib compresses it or fsync flushes it: its
    # frames are stored raw and not flushed.
    cache = None if options.no_cache else frame_cache(plan, output_text, options, cheap=draft)
    before = backend.calls.as_dict()
    steps_before = backend.steps.as_dict()
    executor = Executor(
        plan,
        backend,
        cache,
        depth=film_depth(plan, options, backend),
        scene=options.scene,
        progress=options.progress,
        should_cancel=options.should_cancel,
        on_frame=options.on_frame,
        # Loaded before the first frame that needs it; never when every frame is cached.
        prepare=backend.load if options.backend is None else None,
    )
    film = plan.film
    preset = options.preset or (DRAFT_PRESET if draft else "medium")
    crf = options.crf if options.crf is not None else (23 if draft and output_kind(output_text) == "h264" else None)
    segments_encoded = segments_cached = 0
    notes: list[str] = []
    segmented = cache is not None and options.scene is None and segmentable(output_text)
    segments = plan_segments(plan, executor, crf, preset) if segmented else []
    if segmented:
        claims.append(FolderClaim(_made(cache.segments)))
        claims[-1].clean(cache_leftover)
    if cache is not None:
        # The limit is kept while the build writes, never at the cost of this film's frames.
        cache.begin_build(executor.addr, {seg.key for seg in segments})
    audio = soundtrack(plan, options.scene) if output_kind(output_text) != "png" else None
    if segmented:
        stats, final, segments_encoded, segments_cached = build_segmented(
            plan, executor, cache, segments, output_text, crf=crf, preset=preset, audio=audio
        )
    else:
        with open_writer(output_text, film.width, film.height, film.fps, crf=crf, preset=preset,
                         audio=audio) as writer:
            stats = executor.run(lambda _index, image: writer.write(image))
        final = writer.path
    cache_info = CacheReport()
    if cache is not None:
        cache.evict()
        cache_info = _cache_report(cache)
        notes.extend(_cache_notes(cache, cache_info))
    after = backend.calls.as_dict()
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in ("text2image", "img2img", "inpaint", "prior")}
    steps_after = backend.steps.as_dict()
    steps = {k: steps_after.get(k, 0) - steps_before.get(k, 0) for k in ("text2image", "img2img", "inpaint", "prior")}
    steps["total"] = sum(steps.values())
    return BuildReport(
        frames_total=stats.frames_total,
        frames_rendered=stats.frames_rendered,
        frames_cached=stats.frames_cached,
        model_calls=calls,
        denoising_steps=steps,
        seconds=round(time.perf_counter() - start, 4),
        output=str(final),
        backend=backend.name,
        scene=options.scene,
        cache_dir=str(cache.root) if cache is not None else None,
        fps=film.fps,
        width=film.width,
        height=film.height,
        evicted=cache_info.evicted,
        frames_loaded=stats.frames_loaded,
        segments_encoded=segments_encoded,
        segments_cached=segments_cached,
        depth_calls=stats.depth_calls,
        cache=cache_info,
        notes=_notes(stats) + notes + list(getattr(backend, "notes", [])),
    )


def _cache_report(cache: FrameCache) -> "CacheReport":
    st = cache.stats
    total, film_bytes = cache.usage()
    return CacheReport(
        bytes=total,
        limit=cache.limit,
        film_bytes=film_bytes,
        film_bytes_needed=max(film_bytes + st.skipped_bytes, cache.stats.film_bytes_before),
        evicted=st.evicted,
        evicted_bytes=st.evicted_bytes,
        not_stored=st.skipped + st.unwritable + st.trimmed,
        corrupt=st.corrupt,
        read_only=cache.read_only,
    )


def _cache_notes(cache: FrameCache, info: "CacheReport") -> list[str]:
    from kscript.render.cache import format_size

    notes = []
    if cache.read_only:
        notes.append(
            f"the cache '{cache.root}' cannot be written: the build went on without storing "
            f"{info.not_stored} new frames or segments, which the next build renders again; "
            "pass --cache DIR to keep finished frames elsewhere"
        )
    elif info.limit is not None and info.film_bytes_needed > info.limit:
        short = info.film_bytes_needed - info.limit
        lost = cache.stats.skipped + cache.stats.trimmed
        notes.append(
            f"the cache limit ({format_size(info.limit)}) is too small for this film: it needs about "
            f"{format_size(info.film_bytes_needed)}, {format_size(short)} more; {lost} of its frames or "
            "segments are not kept (its first frames are, and are never evicted for its later ones), so the "
            f"next build renders them again: pass --cache-limit {_round_up_size(info.film_bytes_needed)} or more"
        )
    if cache.stats.corrupt:
        notes.append(f"{cache.stats.corrupt} cache entries were damaged or not what their name says: "
                     "removed and made again")
    return notes


def _round_up_size(n: int) -> str:
    """A --cache-limit value at least `n` bytes, the way a person writes it ("58MB", "3GB")."""
    import math

    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{math.ceil(n / scale)}{unit}"
    return f"{n}"


def _notes(stats) -> list[str]:
    """What the user should know about how the plan was carried out (summary and report);
    the backend adds its own (which companions it took, the safety checker)."""
    return []
