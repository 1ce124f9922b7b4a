"""Scene segments: an H.264 film encoded one scene at a time, then joined by packet copy.

An H.264 .mp4/.mov film built with the frame cache is encoded one scene at a time into
cached segment files (`<cache>/segments/KEY.DIGEST.mp4`: KEY is what the scene shows and the
encoder settings, `cache.segment_key`; DIGEST the SHA-256 of KEY and the file's bytes,
`cache.segment_digest`, so a segment proves it is the encoding of its frames), and the
video is their concatenation by packet copy (`concat_segments`). A rebuild after an edit to one scene encodes that scene's segment only,
and the executor loads no frame of a scene whose segment is cached (unless an uncached frame
is made from it): before this, a one-scene edit of the 288-frame mini film loaded 192
unchanged frames from the cache and re-encoded all 288.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from kscript.atomic import AtomicFile
from kscript.errors import RenderError
from kscript.plan import RenderPlan
from kscript.render.cache import FrameCache, is_read_only, segment_key
from kscript.render.encode import (
    DEFAULT_CRF,
    YUV_CONVERSION,
    FrameWriter,
    SoundtrackFeed,
    av_error,
    frame_rate,
    open_writer,
)
from kscript.render.executor import ExecStats, Executor
from kscript.render.worker import BackgroundWorker

#: bump when a change to how segments are written (container, stream settings) would make a
#: cached segment unfit to be joined with newly written ones
SEGMENT_FORMAT = "segment-1"


@dataclass
class Segment:
    """A run of consecutive shown frames of one scene, and the file that holds them."""

    frames: list[int]
    key: str
    #: the verified cached file, or where this build encodes it (a scratch folder)
    path: Path | None = None
    cached: bool = False


def encoder_settings(crf: int | None, preset: str) -> dict[str, object]:
    """What a segment's bytes depend on besides its frames (part of its key)."""
    import av

    return {
        "format": SEGMENT_FORMAT,
        "codec": "libx264",
        "preset": preset,
        "crf": DEFAULT_CRF["h264"] if crf is None else int(crf),
        "pix_fmt": "yuv420p",
        "rgb_to_yuv": YUV_CONVERSION,
        # another FFmpeg/x264 may write other stream headers: segments must share theirs
        "pyav": av.__version__,
        "libavcodec": str(av.library_versions.get("libavcodec")),
    }


def plan_segments(plan: RenderPlan, executor: Executor, crf: int | None, preset: str) -> list[Segment]:
    """The film's scene segments (runs of consecutive frames of one scene), with their keys."""
    film = plan.film
    fps = str(frame_rate(film.fps))
    settings = encoder_settings(crf, preset)
    runs: list[list[int]] = []
    for i in executor.targets:
        if runs and plan.frames[runs[-1][-1]].scene == plan.frames[i].scene and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    segments = []
    for run in runs:
        shown = []
        for i in run:
            cf = plan.frames[i].crossfade
            if cf is None:
                shown.append((executor.addr[i], None, None))
            else:
                shown.append((executor.addr[i], executor.addr[cf.from_frame], min(max(float(cf.weight), 0.0), 1.0)))
        key = segment_key(shown, film.width, film.height, fps, settings)
        segments.append(Segment(frames=run, key=key))
    return segments


class SegmentEncoder(BackgroundWorker):
    """Encodes the frames of segments on a worker thread, one segment file after another.

    x264 and the RGB-to-YUV conversion run while the executor's OpenCV work on the next
    frames runs: on the 2-core machine this took a one-scene rebuild of the mini film from
    about 0.8 s to about 0.7 s in process, and a cold build of it from about 2.4 s to about
    2.0 s. Frames come in order, segment by segment (`put(segment number, image)`); each
    segment is written by an H.264 writer (temporary name, fsync, rename), so a killed or
    cancelled build leaves whole segments or none.
    """

    def __init__(self, segments: list[Segment], width: int, height: int, fps: float, *,
                 crf: int | None, preset: str, depth: int = 8,
                 on_segment: Callable[[int], None] | None = None) -> None:
        self.segments = segments
        self.on_segment = on_segment
        self.size = (width, height, fps)
        self.crf, self.preset = crf, preset
        self._writer: FrameWriter | None = None
        self._n = -1
        self._queued = [0] * len(segments)  # frames handed over, per segment (build thread)
        super().__init__(name="kscript-segment-encoder", depth=depth)

    def put(self, n: int, image: np.ndarray) -> None:  # type: ignore[override]
        self._queued[n] += 1
        super().put(n, image)

    def kept_when_dropping(self, n: int, image: np.ndarray) -> bool:
        """A segment all of whose frames were handed over is finished even when the build is
        cancelled: the encoder (which trails the build thread, `worker.BACKGROUND_NICE`)
        may still hold some of its frames, and they go into it; the segment being made,
        partial, is dropped."""
        return self._queued[n] == len(self.segments[n].frames)

    def handle(self, n: int, image: np.ndarray) -> None:
        if self._writer is None or self._n != n:
            if self._writer is not None:
                raise RuntimeError(f"segment {self._n} was left unfinished")  # pragma: no cover
            width, height, fps = self.size
            self._writer = open_writer(self.segments[n].path, width, height, fps, crf=self.crf,
                                       preset=self.preset, faststart=False)
            self._n = n
        self._writer.write(image)
        if self._writer.frames == len(self.segments[n].frames):
            writer, self._writer = self._writer, None
            writer.close()
            if self.on_segment is not None:
                self.on_segment(n)  # into the cache at once: a later cancel keeps it

    def stopped(self) -> None:
        if self._writer is not None:
            self._writer.abort()  # an unfinished segment (a failed or cancelled build)
            self._writer = None


def build_segmented(plan: RenderPlan, executor: Executor, cache: FrameCache, segments: list[Segment], output: str,
                    *, crf: int | None, preset: str, audio: tuple[str, float, float] | None = None
                    ) -> tuple[ExecStats, Path, int, int]:
    """Encode the scenes whose segments are missing (or fail to prove they are theirs),
    then join them all.

    A cached segment is used only when its bytes match the digest in its name, which covers
    its key (the addresses of the frames it shows and the encoder settings), and it holds
    one H.264 stream of the film's size and the scene's frame count: a swapped, renamed or
    damaged segment is removed and encoded again. New segments are encoded into a scratch
    folder (in the cache, or beside the output when the cache cannot be written) and each
    moves into the cache as soon as it is finished, when the size limit has room for it.

    Returns:
        the executor's stats, the output path, segments encoded, segments reused.
    """
    import shutil

    film = plan.film
    found = cache.find_segments()
    for seg in segments:
        for path in found.get(seg.key, []):
            if seg.cached or not cache.verify_segment(seg.key, path):
                continue
            if segment_frames(path, film.width, film.height) == len(seg.frames):
                seg.cached, seg.path = True, path
                cache.touch(path)
            else:
                path.unlink(missing_ok=True)
    scratch = None
    if any(not seg.cached for seg in segments):
        scratch = _scratch_folder(cache, Path(output))
        for seg in segments:
            if not seg.cached:
                seg.path = scratch / f"{seg.key}.mp4"

    def admit(n: int) -> None:
        seg = segments[n]
        if cache.read_only:
            cache.stats.unwritable += 1
            return
        try:
            admitted = cache.admit_segment(seg.key, seg.path)
        except OSError as err:
            if not is_read_only(err):
                raise
            cache.read_only, admitted = True, None
            cache.stats.unwritable += 1
        if admitted is not None:
            seg.path = admitted

    try:
        owner = {i: n for n, seg in enumerate(segments) if not seg.cached for i in seg.frames}
        encoder = SegmentEncoder(segments, film.width, film.height, film.fps, crf=crf, preset=preset,
                                 on_segment=admit)
        try:
            stats = executor.run(lambda index, image: encoder.put(owner[index], image), show=set(owner))
        except BaseException:
            encoder.close(drop=True, raise_error=False)
            raise
        encoder.close()
        final = concat_segments([(seg.path, len(seg.frames)) for seg in segments], output, film.fps, audio=audio)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    encoded = sum(1 for seg in segments if not seg.cached)
    return stats, final, encoded, len(segments) - encoded


def _scratch_folder(cache: FrameCache, output: Path) -> Path:
    """A folder for this build's new segments: in the cache's segments folder (so they
    move into the cache by a rename), else, when the cache cannot be written, beside the
    output (removed when the video is joined). Its name marks it as a build's temporary
    (`kscript.render.leftovers` removes it after a kill)."""
    import tempfile

    if not cache.read_only:
        try:
            cache.clear_way(cache.segments / "x")  # a file where the segments folder belongs
            cache.segments.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".tmp-build-", dir=cache.segments))
        except OSError as err:
            if not is_read_only(err):
                raise
            cache.read_only = True
    parent = output.parent if str(output.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-segments-", dir=parent))


def segment_frames(path: str | os.PathLike[str], width: int, height: int) -> int | None:
    """The frame count of a cached H.264 segment, or None when it cannot be used.

    Demuxes without decoding (a few milliseconds): the file must open, hold one H.264
    video stream of the given size whose first packet is a keyframe (so it can follow
    another segment), and every packet counts as one frame. Anything else (truncated,
    corrupt, another size) means: encode the segment again.
    """
    try:
        import av

        with av.open(os.fspath(path)) as container:
            if len(container.streams.video) != 1:
                return None
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx.name != "h264" or ctx.width != width or ctx.height != height:
                return None
            count = 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                if count == 0 and not packet.is_keyframe:
                    return None
                count += 1
            return count
    except Exception:  # noqa: BLE001 - any failure to read means the segment is not usable
        return None


def concat_segments(segments: list[tuple[str | os.PathLike[str], int]], path: str | os.PathLike[str], fps: float,
                    audio: tuple[str, float, float] | None = None) -> Path:
    """Join H.264 segments into one video by copying their packets (no re-encoding).

    Each segment is an `.mp4` written by `H264Writer` with the same size and encoder
    settings, so they share one SPS/PPS, and each starts with a keyframe (x264 starts every
    stream with an IDR frame): the decoder reads the joined stream as one. The output
    stream takes the first segment's codec parameters (`add_stream_from_template`); each
    segment's timestamps move by the duration of the frames before it. Written under a
    temporary name, fsync'ed and renamed into place (`kscript.atomic.AtomicFile`).

    Args:
        segments: (segment file, its frame count) in order.
        path: the output (`.mp4` or `.mov`: `movflags=+faststart`).
        fps: the film's frame rate.
        audio: (song, start, seconds): the soundtrack, encoded (AAC) into the joined file
            after each segment's packets, up to that segment's end. Segments themselves are
            silent, so a new song re-encodes no segment: only this join.

    Returns:
        the output path.
    """
    import av

    out_path = Path(os.fspath(path))
    rate = frame_rate(fps)
    parent = out_path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        target = AtomicFile(out_path, suffix=out_path.suffix)
    except OSError as err:
        raise RenderError(f"cannot write to the folder '{parent}': {err.strerror}") from err
    fmt = "mov" if out_path.suffix.lower() == ".mov" else "mp4"
    try:
        with av.open(str(target.tmp), mode="w", format=fmt, options={"movflags": "+faststart"}) as out:
            out_stream = None
            frames_before = 0
            feed = None
            for seg_path, count in segments:
                with av.open(os.fspath(seg_path)) as inp:
                    in_stream = inp.streams.video[0]
                    if out_stream is None:
                        out_stream = out.add_stream_from_template(in_stream)
                        out_stream.time_base = in_stream.time_base
                        if audio is not None:
                            feed = SoundtrackFeed(out, "aac", *audio)
                    tb = in_stream.time_base
                    offset = int(round(Fraction(frames_before) / rate / tb))
                    for packet in inp.demux(in_stream):
                        if packet.size == 0 or packet.dts is None:
                            continue
                        packet.pts += offset
                        packet.dts += offset
                        packet.stream = out_stream
                        out.mux(packet)
                frames_before += count
                if feed is not None:
                    feed.until(float(Fraction(frames_before) / rate))
            if feed is not None:
                feed.until(None)
        target.commit()
    except BaseException as err:
        target.abort()
        if isinstance(err, (OSError, av_error())):
            raise RenderError(f"cannot write the video '{out_path}': {err}") from err
        raise
    return out_path
