"""Video output with PyAV: H.264 .mp4 (default), VP9 .webm, or a folder of PNG frames.

The output is chosen by the path: ``.mp4``/``.mov``/``.mkv`` → H.264 (libx264, yuv420p,
``movflags=+faststart`` so browsers start playing before the whole file is there),
``.webm`` → VP9 (libvpx-vp9), no suffix or a trailing ``/`` → a folder of
``frame_000000.png`` files.

Frames are streamed to the encoder as they finish, so a film never sits in memory whole.
Nothing is lost: everything is written under a temporary name in the output's folder and
renamed into place (`os.replace`) only when the last frame is in; a failed or cancelled
build removes the temporary and leaves the previous video untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from kscript.atomic import file_in_the_way
from kscript.errors import RenderError, UsageError

VIDEO_SUFFIXES = {".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9"}
DEFAULT_CRF = {"h264": 18, "vp9": 32}
DEFAULT_PRESET = "medium"
# libvpx-vp9 has no x264-style presets: map them onto its speed knob.
_VP9_SPEED = {"ultrafast": 8, "superfast": 7, "veryfast": 6, "faster": 5, "fast": 4, "medium": 4,
              "slow": 2, "slower": 1, "veryslow": 0, "placebo": 0}
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


def output_kind(path: str | os.PathLike[str]) -> str:
    """"h264", "vp9" or "png" for an output path (see the module docstring)."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        return "png"
    suffix = Path(text).suffix.lower()
    if not suffix:
        return "png"
    if suffix in VIDEO_SUFFIXES:
        return VIDEO_SUFFIXES[suffix]
    raise UsageError(f"cannot write a video to '{text}': unknown suffix '{suffix}'", hint=_SUFFIX_HINT)


#: the files of a PNG-frames output; a folder holding anything else is not ours to replace
FRAME_FILE = re.compile(r"frame_[0-9]{6}\.png")
_SUFFIX_HINT = "use .mp4 (H.264; also .mov, .mkv), .webm (VP9), or a folder name ending in / for PNG frames"


def check_output(path: str | os.PathLike[str]) -> str:
    """Refuse, before anything is rendered, an output that cannot be written or that would
    destroy what is not ours; return its kind ("h264", "vp9" or "png").

    A folder of PNG frames is replaced whole when the build ends, so it must be new, empty,
    or hold nothing but `frame_NNNNNN.png` files (an earlier build's); it must not hold the
    working directory. (The film can never be the output: a video needs a video suffix,
    and a frames folder cannot be a file.)

    Raises:
        UsageError: the path cannot be an output (exit status 2, nothing rendered).
    """
    text = os.fspath(path)
    kind = output_kind(text)
    bare = text.rstrip("/" + os.sep) or "."
    target = Path(os.path.abspath(bare))
    blocking = file_in_the_way(bare)
    if blocking is not None:
        raise UsageError(f"cannot write '{text}': '{blocking}' is a file, not a folder",
                         hint="pass -o with a path inside a folder")
    if kind != "png":
        if target.is_dir():
            raise UsageError(f"cannot write the video '{text}': it is a folder", hint="pass -o with a file name")
        return kind
    if target.exists() and not target.is_dir():
        raise UsageError(f"cannot write PNG frames to '{text}': it is a file",
                         hint="name a new folder (ending in /) for PNG frames, or a video: .mp4, .mov, .mkv or .webm")
    if target.is_dir():
        cwd = Path(os.path.abspath(os.getcwd()))
        if cwd == target or target in cwd.parents:
            raise UsageError(f"cannot write PNG frames to '{text}': it is the folder you are working in",
                             hint="a frames folder is replaced whole: name a new folder, e.g. -o frames/")
        foreign = _foreign_files(target)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UsageError(
                f"cannot write PNG frames to '{text}': the folder holds other files ({shown})",
                hint="a frames folder is replaced whole: name a new or empty folder, or one an earlier "
                "build wrote (only frame_NNNNNN.png files)",
            )
    return kind


def _foreign_files(folder: Path) -> list[str]:
    """Names in a would-be frames folder that are not an earlier build's frames, sorted."""
    return sorted(e.name for e in os.scandir(folder) if not (FRAME_FILE.fullmatch(e.name) and e.is_file()))


def frame_rate(fps: float) -> Fraction:
    """The exact frame rate as a fraction (24 → 24/1, 23.976 → 24000/1001)."""
    f = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
    for den in (1, 1001):
        cand = Fraction(round(float(fps) * den), den)
        # 23.976 and 29.97 as written by people mean the NTSC rates 24000/1001, 30000/1001.
        if abs(float(cand) - float(fps)) < (1e-9 if den == 1 else 5e-5):
            return cand
    return f.limit_denominator(1_000_000)


class VideoWriter:
    """Write frames to `path` under a temporary name; `close()` puts it in place.

    Use as a context manager: leaving the block with an exception aborts (the temporary goes,
    a previous output stays)::

        with VideoWriter("film.mp4", 640, 640, 24) as out:
            for image in frames:
                out.write(image)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: float,
        *,
        crf: int | None = None,
        preset: str | None = None,
        faststart: bool = True,
    ) -> None:
        self.kind = output_kind(path)
        self.path = Path(os.fspath(path).rstrip("/" + os.sep) or ".")
        self.width, self.height = width, height
        self.rate = frame_rate(fps)
        self.crf = DEFAULT_CRF.get(self.kind) if crf is None else crf
        self.preset = preset or DEFAULT_PRESET
        if self.preset not in X264_PRESETS:
            raise UsageError(f"unknown preset '{self.preset}'", hint="one of " + ", ".join(X264_PRESETS))
        self.frames = 0
        self._closed = False
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RenderError(f"cannot create the output folder '{parent}': {err.strerror}") from err
        if self.path.is_dir() and self.kind != "png":
            raise RenderError(f"cannot write the video '{self.path}': it is a folder", hint="pass -o with a file name")
        try:
            if self.kind == "png":
                self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-", dir=parent))
                return
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", suffix=self.path.suffix, dir=parent)
        except OSError as err:
            raise RenderError(f"cannot write to the folder '{parent}': {err.strerror}") from err
        import av

        os.close(fd)
        self._tmp = Path(tmp)
        fmt = {"h264": "mp4", "vp9": "webm"}[self.kind]
        if self.path.suffix.lower() in (".mov", ".mkv"):
            fmt = {".mov": "mov", ".mkv": "matroska"}[self.path.suffix.lower()]
        options = {"movflags": "+faststart"} if faststart and fmt in ("mp4", "mov") else {}
        self._container = av.open(str(self._tmp), mode="w", format=fmt, options=options)
        if self.kind == "h264":
            stream = self._container.add_stream("libx264", rate=self.rate)
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        else:
            stream = self._container.add_stream("libvpx-vp9", rate=self.rate)
            stream.options = {
                "crf": str(self.crf),
                "b:v": "0",
                "row-mt": "1",
                "deadline": "good",
                "cpu-used": str(_VP9_SPEED[self.preset]),
            }
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # Frames carry pts in units of 1/rate; the muxer picks the stream's own time base.
        self._frame_time_base = 1 / self.rate
        self._stream = stream

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 frame (height x width x 3)."""
        try:
            self._write(image)
        except (OSError, _av_error()) as err:
            raise RenderError(f"cannot write the video '{self.path}': {err}") from err

    def _write(self, image: np.ndarray) -> None:
        if image.shape != (self.height, self.width, 3):
            raise ValueError(f"frame of shape {image.shape}, expected {(self.height, self.width, 3)}")
        if self.kind == "png":
            import cv2

            name = self._tmp / f"frame_{self.frames:06d}.png"
            if not cv2.imwrite(str(name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise RenderError(f"cannot write the frame '{name}'")
        else:
            import av

            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames
            frame.time_base = self._frame_time_base
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place. Returns the output path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._finish()
        except (OSError, _av_error()) as err:
            self._remove_tmp()
            raise RenderError(f"cannot write the video '{self.path}': {err}") from err
        except BaseException:
            self._remove_tmp()
            raise
        return self.path

    def _finish(self) -> None:
        if self.kind == "png":
            _replace_dir(self._tmp, self.path)
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        with open(self._tmp, "rb") as f:
            os.fsync(f.fileno())
        _public(self._tmp)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the temporary output; a previous output stays as it was."""
        if self._closed:
            return
        self._closed = True
        if self.kind != "png":
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            try:
                self._tmp.unlink()
            except OSError:
                pass

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


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


def concat_segments(segments: list[tuple[str | os.PathLike[str], int]], path: str | os.PathLike[str], fps: float) -> Path:
    """Join H.264 segments into one video by copying their packets (no re-encoding).

    Each segment is an `.mp4` written by `VideoWriter` with the same size and encoder
    settings, so they share one SPS/PPS, and each starts with a keyframe (x264 starts every
    stream with an IDR frame): the decoder reads the joined stream as one. The output
    stream takes the first segment's codec parameters (`add_stream_from_template`); each
    segment's timestamps move by the duration of the frames before it. Written under a
    temporary name, fsync'ed and renamed into place like `VideoWriter`'s output.

    Args:
        segments: (segment file, its frame count) in order.
        path: the output (`.mp4` or `.mov`: `movflags=+faststart`).
        fps: the film's frame rate.

    Returns:
        the output path.
    """
    import av

    out_path = Path(os.fspath(path))
    rate = frame_rate(fps)
    parent = out_path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.tmp-", suffix=out_path.suffix, dir=parent)
    except OSError as err:
        raise RenderError(f"cannot write to the folder '{parent}': {err.strerror}") from err
    os.close(fd)
    tmp = Path(tmp_name)
    fmt = "mov" if out_path.suffix.lower() == ".mov" else "mp4"
    try:
        with av.open(str(tmp), mode="w", format=fmt, options={"movflags": "+faststart"}) as out:
            out_stream = None
            frames_before = 0
            for seg_path, count in segments:
                with av.open(os.fspath(seg_path)) as inp:
                    in_stream = inp.streams.video[0]
                    if out_stream is None:
                        out_stream = out.add_stream_from_template(in_stream)
                        out_stream.time_base = in_stream.time_base
                    tb = in_stream.time_base
                    shift = Fraction(frames_before) / rate / tb
                    offset = int(round(shift))
                    for packet in inp.demux(in_stream):
                        if packet.size == 0 or packet.dts is None:
                            continue
                        packet.pts += offset
                        packet.dts += offset
                        packet.stream = out_stream
                        out.mux(packet)
                frames_before += count
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        _public(tmp)
        os.replace(tmp, out_path)
    except BaseException as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(err, (OSError, _av_error())):
            raise RenderError(f"cannot write the video '{out_path}': {err}") from err
        raise
    return out_path


def _av_error() -> type[BaseException]:
    """PyAV's error base class (OSError-like errors from FFmpeg), imported lazily."""
    try:
        import av

        return av.FFmpegError
    except (ImportError, AttributeError):  # pragma: no cover
        return OSError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path) -> None:
    """Give a temporary file (created 0600) the permissions a plain new file would get."""
    try:
        os.chmod(path, 0o666 & ~_umask())
    except OSError:
        pass


def _replace_dir(new: Path, target: Path) -> None:
    """Put the folder `new` at `target`, replacing a previous folder of frames.

    `os.replace` cannot replace a non-empty folder: move the old one aside first, then drop
    it, so `target` is missing only for the instant between two renames. Paths are made
    absolute first (a relative one would move with the folder it is relative to), and a
    folder holding anything but frames is never removed (`check_output` says so before a
    build; this is the last guard against a folder that changed since).
    """
    new, target = Path(os.path.abspath(new)), Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise RenderError(f"cannot write PNG frames to '{target}': it is a file")
    old = None
    if target.exists():
        foreign = _foreign_files(target)
        if foreign:
            raise RenderError(f"cannot write PNG frames to '{target}': the folder holds other files ({foreign[0]})",
                              hint="name a new or empty folder")
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "frames")
    os.chmod(new, 0o777 & ~_umask())
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
