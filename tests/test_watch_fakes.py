"""A stand-in pipeline for the watch tests, and the specification of the stand-in itself.

`ToyPipeline` speaks the watcher's `Pipeline` interface without the real compiler or
render engine, so the watcher and the server are specified on their own:

- a film is lines of text; `import "other.kscene"` reads another file (relative to the
  importing one), `frames N` sets the frame count, a line containing `!error` is a script
  error at that line (a real `ScriptErrors` with a real `Diagnostic`);
- `render` finishes one frame every `frame_delay` seconds, checks `should_cancel` at each
  frame boundary, and writes a small file (or, with `encode=True`, a real H.264 mp4 via
  PyAV) atomically, like the real build.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors
from kscript.plan import FilmInfo, Frame, Motion, PromptSpan, RenderPlan, SceneInfo, SourceRef, WeightedPrompt
from kscript.source import SourceFile, Span
from kscript.watch.pipeline import Compiled, FrameDone, RenderCancelled, Rendered

_IMPORT = re.compile(r'^\s*import\s+"([^"]+)"')
_FRAMES = re.compile(r"^\s*frames\s+(\d+)")


def toy_plan(title: str, frames: int, fps: float = 8.0, file: str = "film.kscene") -> RenderPlan:
    """A real `RenderPlan` with two scenes and simple curves (zoom ramps, x swings)."""
    half = max(frames // 2, 1)
    scenes = []
    for i, (start, count) in enumerate(((0, half), (half, frames - half))):
        if count <= 0:
            continue
        scenes.append(
            SceneInfo(
                name=f"scene{i}",
                index=i,
                start_frame=start,
                frame_count=count,
                start_time=start / fps,
                duration=count / fps,
                prompts=[PromptSpan(text=f"{title} prompt {i}", start=0.0)],
                negative="",
                source=SourceRef(file=file, line=1 + i, col=1),
            )
        )
    plan_frames = []
    for n in range(frames):
        scene = scenes[0] if n < half or len(scenes) == 1 else scenes[1]
        plan_frames.append(
            Frame(
                index=n,
                scene=scene.name,
                scene_frame=n - scene.start_frame,
                time=n / fps,
                op="generate" if n == scene.start_frame else "animate",
                motion=Motion(zoom=1.0 + 0.01 * n, x=(-1) ** n * 2.0, angle=0.5),
                strength=0.3 + 0.01 * (n % 50),  # varied, and in 0..1 for any frame count
                guidance=4.0,
                steps=10,
                seed=n,
                prompts=[WeightedPrompt(text=scene.prompts[0].text, weight=1.0)],
                negative="",
                key=f"{n:064x}",
            )
        )
    film = FilmInfo(
        title=title, width=64, height=64, fps=fps, seed=0, model="preview", frame_count=frames, duration=frames / fps
    )
    return RenderPlan(film=film, scenes=scenes, frames=plan_frames)


class ToyPipeline:
    """Counts compiles and renders; remembers the film text of every compile."""

    def __init__(self, *, frame_delay: float = 0.0, encode: bool = False, output: Path | None = None) -> None:
        self.frame_delay = frame_delay
        self.encode = encode
        self.output = output
        self.texts: list[str] = []
        self.rendered_texts: list[str] = []
        self.cancelled = 0
        self.frames_done = 0
        self.lock = threading.Lock()

    # -- compile -------------------------------------------------------------------------
    def compile(self, film: Path) -> Compiled:
        sources: dict[str, SourceFile] = {}
        diags: list[Diagnostic] = []
        frames = 4
        text = self._read(Path(film), sources, diags)
        with self.lock:
            self.texts.append(text)
        for line in text.splitlines():
            if m := _FRAMES.match(line):
                frames = int(m.group(1))
        if diags:
            raise ScriptErrors(diags, sources)
        title = text.splitlines()[0].strip() if text.strip() else "untitled"
        plan = toy_plan(title, frames, file=str(film))
        return Compiled(film=Path(film), plan=plan, files=frozenset(Path(p) for p in sources))

    def _read(self, path: Path, sources: dict[str, SourceFile], diags: list[Diagnostic]) -> str:
        source = SourceFile.read(path)
        sources[str(path)] = source
        for n, line in enumerate(source.text.splitlines(), 1):
            if "!error" in line:
                col = line.index("!error") + 1
                diags.append(Diagnostic("E001", "unexpected '!error'", Span.point(str(path), n, col, 6), hint="remove it"))
            if m := _IMPORT.match(line):
                target = path.parent / m.group(1)
                if str(target) not in sources:
                    if target.is_file():
                        self._read(target, sources, diags)
                    else:
                        diags.append(
                            Diagnostic("E020", f"imported file '{m.group(1)}' not found", Span.point(str(path), n, 1, len(line)))
                        )
        return source.text

    # -- render --------------------------------------------------------------------------
    def render(self, compiled: Compiled, *, progress, should_cancel) -> Rendered:
        plan = compiled.plan
        total = len(plan.frames)
        out = self.output or compiled.film.with_suffix(".mp4")
        for i in range(total):
            if should_cancel():
                with self.lock:
                    self.cancelled += 1
                raise RenderCancelled(f"cancelled before frame {i}")
            if self.frame_delay:
                time.sleep(self.frame_delay)
            with self.lock:
                self.frames_done += 1
            progress(FrameDone(done=i + 1, total=total, index=i, image=_PNG))
        tmp = out.with_name(out.name + ".tmp")
        if self.encode:
            encode_video(tmp, total, plan.film.fps, seed=len(plan.film.title))
        else:
            tmp.write_bytes(f"video of {plan.film.title}\n".encode() * 100)
        os.replace(tmp, out)
        with self.lock:
            self.rendered_texts.append(plan.film.title)
        return Rendered(video=out, frames_rendered=total, frames_cached=0)


# A 1x1 PNG: the "latest finished frame" the stand-in reports.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
    "53de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def encode_video(path: Path, frames: int, fps: float, seed: int = 0, size: int = 64) -> None:
    """A real H.264 mp4 (what browsers play), colours moving frame by frame."""
    import av
    import numpy as np

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width = size
        stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.zeros((size, size, 3), dtype=np.uint8)
            img[..., 0] = (seed * 40 + i * 20) % 256
            img[..., 1] = np.linspace(0, 255, size, dtype=np.uint8)[None, :]
            img[..., 2] = 128
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# -- the stand-in's own specification -------------------------------------------------------
def test_toy_pipeline_reads_imports_and_reports_errors(tmp_path):
    (tmp_path / "lib.kscene").write_text("shared\n")
    film = tmp_path / "film.kscene"
    film.write_text('Title\nimport "lib.kscene"\nframes 6\n')
    compiled = ToyPipeline().compile(film)
    assert compiled.files == {film, tmp_path / "lib.kscene"}
    assert len(compiled.plan.frames) == 6
    film.write_text("Title\n  !error\n")
    try:
        ToyPipeline().compile(film)
    except ScriptErrors as err:
        assert f"{film}:2:3: error[E001]" in err.render()
        assert str(film) in err.sources
    else:
        raise AssertionError("no ScriptErrors")


def test_toy_render_stops_at_a_frame_boundary(tmp_path):
    film = tmp_path / "film.kscene"
    film.write_text("T\nframes 5\n")
    pipe = ToyPipeline()
    compiled = pipe.compile(film)
    calls = []
    try:
        pipe.render(compiled, progress=calls.append, should_cancel=lambda: len(calls) >= 2)
    except RenderCancelled:
        pass
    else:
        raise AssertionError("not cancelled")
    assert [c.done for c in calls] == [1, 2]
    assert not (tmp_path / "film.mp4").exists()
