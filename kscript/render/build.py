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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from kscript.errors import UsageError
from kscript.models import is_preview_model
from kscript.plan import RenderPlan
from kscript.backends.interface import Backend
from kscript.render.cache import DEFAULT_LIMIT, FrameCache, parse_size
from kscript.render.encode import open_writer
from kscript.render.executor import BuildCancelled, Executor, Progress
from kscript.render.output import check_output, default_output, output_kind, segmentable
from kscript.render.segments import build_segmented

__all__ = ["BuildCancelled", "BuildOptions", "BuildReport", "Progress", "build", "make_backend"]


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
        base_dir: where relative model paths are read from (default: the film's folder).
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
    base_dir: str | Path | None = None
    cluster: "ClusterBuilder | None" = None


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
        seconds: wall time of `build()`.
        evicted: cache entries removed afterwards to stay under the size limit.
        segments_encoded, segments_cached: scene segments of an H.264 film encoded in this
            build / reused from the cache (both 0 for the single-pass outputs: `--scene`,
            `--no-cache`, `.webm`, `.mkv`, PNG folders).
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
    segments_encoded: int = 0
    segments_cached: int = 0
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


def is_draft(plan: RenderPlan, options: "BuildOptions") -> bool:
    """A preview draft of a film whose own model is a real one (`--preview`)."""
    return options.preview and not is_preview_model(options.model or plan.film.model)


def is_preview(plan: RenderPlan, options: BuildOptions) -> bool:
    return options.preview or is_preview_model(options.model or plan.film.model)


def make_backend(plan: RenderPlan, options: BuildOptions) -> Backend:
    """The backend for a plan: the preview painter, or the diffusers backend for its model."""
    from kscript.backends import create_backend

    if is_preview(plan, options):
        return create_backend(plan.film, model="preview")
    film = plan.film if not options.model else plan.film.model_copy(update={"model": options.model})
    source = film_path(plan)
    # Relative model paths are read from the film's folder, as imports are.
    base_dir = options.base_dir if options.base_dir is not None else (source.parent if source is not None else None)
    return create_backend(film, device=options.device, model=options.model, base_dir=base_dir)


def frame_cache(plan: RenderPlan, output: str, options: BuildOptions) -> FrameCache:
    """The build's frame cache: `options.cache_dir`, else `.kscript/` beside the film (or
    beside the output, for a plan with no film file)."""
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
    return FrameCache(cache_dir, limit=limit)


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
    if output is None:
        if source is None:
            raise UsageError("no output path given and the plan names no film file", hint="pass -o OUT")
        output = default_output(source, options.scene, draft=is_draft(plan, options))
    output_text = str(output)
    # Before anything is loaded or rendered: an output we cannot or must not write.
    check_output(output_text)

    if options.cluster is not None:
        if not callable(getattr(options.cluster, "build", None)):
            raise UsageError(
                f"BuildOptions.cluster must be a kscript.cluster.driver.Cluster, not {options.cluster!r}",
                hint='BuildOptions(cluster=Cluster("local")) (from kscript.cluster.driver import Cluster)',
            )
        return options.cluster.build(plan, output_text, options)

    cache = None if options.no_cache else frame_cache(plan, output_text, options)
    backend = options.backend or make_backend(plan, options)
    before = backend.calls.as_dict()
    executor = Executor(
        plan,
        backend,
        cache,
        scene=options.scene,
        progress=options.progress,
        should_cancel=options.should_cancel,
        on_frame=options.on_frame,
        # Loaded before the first frame that needs it; never when every frame is cached.
        prepare=backend.load if options.backend is None else None,
    )
    film = plan.film
    # The preview renders a frame in a few milliseconds, so libx264's "medium" would take
    # most of a preview build; a model frame takes seconds, so there "medium" costs nothing.
    # Likewise x264's default quality (CRF 23) is plenty for a draft and encodes faster.
    draft = backend.name == "preview"
    preset = options.preset or (DRAFT_PRESET if draft else "medium")
    crf = options.crf if options.crf is not None else (23 if draft and output_kind(output_text) == "h264" else None)
    segments_encoded = segments_cached = 0
    audio = soundtrack(plan, options.scene) if output_kind(output_text) != "png" else None
    if cache is not None and options.scene is None and segmentable(output_text):
        stats, final, segments_encoded, segments_cached = build_segmented(
            plan, executor, cache, output_text, crf=crf, preset=preset, audio=audio
        )
    else:
        with open_writer(output_text, film.width, film.height, film.fps, crf=crf, preset=preset,
                         audio=audio) as writer:
            stats = executor.run(lambda _index, image: writer.write(image))
        final = writer.path
    evicted = cache.evict() if cache is not None else 0
    after = backend.calls.as_dict()
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in ("text2image", "img2img", "inpaint", "prior")}
    return BuildReport(
        frames_total=stats.frames_total,
        frames_rendered=stats.frames_rendered,
        frames_cached=stats.frames_cached,
        model_calls=calls,
        seconds=round(time.perf_counter() - start, 4),
        output=str(final),
        backend=backend.name,
        scene=options.scene,
        cache_dir=str(cache.root) if cache is not None else None,
        fps=film.fps,
        width=film.width,
        height=film.height,
        evicted=evicted,
        frames_loaded=stats.frames_loaded,
        segments_encoded=segments_encoded,
        segments_cached=segments_cached,
        notes=_notes(stats),
    )


def _notes(stats) -> list[str]:
    """What the user should know about how the plan was carried out (summary and report)."""
    notes = []
    if stats.fills_without_model:  # never for the preview painter: it has an inpaint
        notes.append(
            f"no inpainting model: {stats.fills_without_model} revealed borders were filled without a model "
            "and redrawn by img2img alone (so fewer inpaint calls than the plan counts); name one with "
            "`inpaint:` in the film block for real outpainting"
        )
    return notes
