"""Frame writers, one per output format: H.264, VP9, a folder of PNG frames.

- `H264Writer`: ``.mp4``/``.mov``/``.mkv``, libx264, yuv420p, ``movflags=+faststart`` in
  MP4/QuickTime so browsers start playing before the whole file is there.
- `VP9Writer`: ``.webm``, libvpx-vp9, constant quality (CRF with ``b:v 0``).
- `PngFramesWriter`: a folder of lossless ``frame_000000.png`` files.

`open_writer(path, ...)` picks the writer for a path (`kscript.render.output.output_kind`).
Frames are streamed in as they finish, so a film never sits in memory whole. Nothing is
lost: everything is written under a temporary name in the output's folder and put in place
(`kscript.atomic`) only when the last frame is in; a failed or cancelled build removes the
temporary and leaves the previous output untouched.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from kscript.atomic import AtomicFile, AtomicFolder
from kscript.errors import RenderError, UsageError
from kscript.render.output import guard_frames_folder, output_kind

DEFAULT_CRF = {"h264": 18, "vp9": 32}
DEFAULT_PRESET = "medium"
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
# libvpx-vp9 has no x264-style presets: map them onto its speed knob.
_VP9_SPEED = {"ultrafast": 8, "superfast": 7, "veryfast": 6, "faster": 5, "fast": 4, "medium": 4,
              "slow": 2, "slower": 1, "veryslow": 0, "placebo": 0}


def frame_rate(fps: float) -> Fraction:
    """The exact frame rate as a fraction (24 → 24/1, 23.976 → 24000/1001)."""
    f = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
    for den in (1, 1001):
        cand = Fraction(round(float(fps) * den), den)
        # 23.976 and 29.97 as written by people mean the NTSC rates 24000/1001, 30000/1001.
        if abs(float(cand) - float(fps)) < (1e-9 if den == 1 else 5e-5):
            return cand
    return f.limit_denominator(1_000_000)


def av_error() -> type[BaseException]:
    """PyAV's error base class (OSError-like errors from FFmpeg), imported lazily."""
    try:
        import av

        return av.FFmpegError
    except (ImportError, AttributeError):  # pragma: no cover
        return OSError


AUDIO_RATE = 48000  # Hz: what AAC and Opus are written at
AUDIO_CODECS = {"h264": "aac", "vp9": "libopus"}
_AUDIO_CHUNK = 4800  # samples per frame handed to the encoder (0.1 s; it re-frames them)


class SoundtrackFeed:
    """A film's soundtrack, encoded into a video container alongside its frames.

    The song is decoded once (stereo, `AUDIO_RATE`), from `start` seconds for exactly the
    film's length (`seconds`): the first sample plays with the first frame, and nothing
    plays past the last one. `until(t)` encodes the samples up to film time `t`, so audio
    and video packets reach the muxer interleaved (a writer calls it after each frame).
    AAC's encoder delay is written as the stream's initial padding, which MP4's edit list
    carries: players start the sound in sync with frame 0.
    """

    def __init__(self, container, codec: str, path: str, start: float, seconds: float) -> None:  # noqa: ANN001
        import av

        self.samples = _decode_for_mux(path, start, seconds)
        self.stream = container.add_stream(codec, rate=AUDIO_RATE)
        self.stream.layout = "stereo"
        self._container = container
        self._sent = 0
        self._av = av

    def until(self, seconds: float | None) -> None:
        """Encode and mux the samples up to film time `seconds` (None: all that is left, and flush)."""
        total = self.samples.shape[1]
        end = total if seconds is None else min(total, int(round(seconds * AUDIO_RATE)))
        while self._sent < end:
            n = min(_AUDIO_CHUNK, end - self._sent)
            chunk = np.ascontiguousarray(self.samples[:, self._sent:self._sent + n])
            frame = self._av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._sent
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in self.stream.encode(frame):
                self._container.mux(packet)
            self._sent += n
        if seconds is None:
            for packet in self.stream.encode(None):
                self._container.mux(packet)


def _decode_for_mux(path: str, start: float, seconds: float) -> np.ndarray:
    """The song from `start` for `seconds`, stereo float32 at `AUDIO_RATE` (channels x
    samples), padded with silence only for the rounding of the last frame's samples."""
    import av

    want = int(round(seconds * AUDIO_RATE))
    skip = int(round(start * AUDIO_RATE))
    chunks: list[np.ndarray] = []
    have = 0
    try:
        with av.open(path) as container:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    have += chunks[-1].shape[1]
                if have >= skip + want:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
    except (OSError, av.FFmpegError, IndexError) as err:
        raise RenderError(f"cannot read the film's audio '{path}': {err}",
                          hint="the song changed since the film was checked: build again") from err
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
    data = data[:, skip:skip + want].astype(np.float32, copy=False)
    if data.shape[1] < want:
        data = np.pad(data, ((0, 0), (0, want - data.shape[1])))
    return data


class FrameWriter:
    """Write frames to `path` under a temporary name; `close()` puts it in place.

    Use as a context manager: leaving the block with an exception aborts (the temporary goes,
    a previous output stays)::

        with open_writer("film.mp4", 640, 640, 24) as out:
            for image in frames:
                out.write(image)

    Attributes:
        kind: "h264", "vp9" or "png".
        path: the output, as it will be when closed.
        frames: frames written so far.
    """

    kind: str = ""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 crf: int | None = None, preset: str | None = None) -> None:
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

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 frame (height x width x 3)."""
        if image.shape != (self.height, self.width, 3):
            raise ValueError(f"frame of shape {image.shape}, expected {(self.height, self.width, 3)}")
        try:
            self._write(image)
        except (OSError, av_error()) as err:
            raise RenderError(f"cannot write the video '{self.path}': {err}") from err
        self.frames += 1

    def close(self) -> Path:
        """Finish the output and put it in place. Returns the output path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._finish()
        except (OSError, av_error()) as err:
            self._discard()
            raise RenderError(f"cannot write the video '{self.path}': {err}") from err
        except BaseException:
            self._discard()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the temporary output; a previous output stays as it was."""
        if self._closed:
            return
        self._closed = True
        self._discard()

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- what a format says ----------------------------------------------------------------------

    def _write(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class PngFramesWriter(FrameWriter):
    """A folder of lossless `frame_NNNNNN.png` files, replaced whole when closed (a folder
    holding anything but frames is never replaced: `output.guard_frames_folder`)."""

    kind = "png"

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 crf: int | None = None, preset: str | None = None) -> None:
        super().__init__(path, width, height, fps, crf=crf, preset=preset)
        try:
            self._folder = AtomicFolder(self.path, guard=guard_frames_folder)
        except OSError as err:
            raise RenderError(f"cannot write to the folder '{self.path.parent}': {err.strerror}") from err

    def _write(self, image: np.ndarray) -> None:
        import cv2

        name = self._folder.tmp / f"frame_{self.frames:06d}.png"
        if not cv2.imwrite(str(name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise RenderError(f"cannot write the frame '{name}'")

    def _finish(self) -> None:
        self._folder.commit()

    def _discard(self) -> None:
        self._folder.abort()


class _PyAVWriter(FrameWriter):
    """A video file written by PyAV: the container and stream settings come from the subclass."""

    codec = ""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 crf: int | None = None, preset: str | None = None, faststart: bool = True,
                 audio: tuple[str, float, float] | None = None) -> None:
        super().__init__(path, width, height, fps, crf=crf, preset=preset)
        if self.path.is_dir():
            raise RenderError(f"cannot write the video '{self.path}': it is a folder", hint="pass -o with a file name")
        try:
            self._file = AtomicFile(self.path, suffix=self.path.suffix)
        except OSError as err:
            raise RenderError(f"cannot write to the folder '{self.path.parent}': {err.strerror}") from err
        import av

        fmt = self._container_format()
        options = {"movflags": "+faststart"} if faststart and fmt in ("mp4", "mov") else {}
        self._container = av.open(str(self._file.tmp), mode="w", format=fmt, options=options)
        stream = self._container.add_stream(self.codec, rate=self.rate)
        stream.options = self._stream_options()
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # Frames carry pts in units of 1/rate; the muxer picks the stream's own time base.
        self._frame_time_base = 1 / self.rate
        self._stream = stream
        self._audio: SoundtrackFeed | None = None
        if audio is not None:
            try:
                self._audio = SoundtrackFeed(self._container, AUDIO_CODECS[self.kind], *audio)
            except BaseException:
                self._discard()
                raise

    def _container_format(self) -> str:
        raise NotImplementedError

    def _stream_options(self) -> dict[str, str]:
        raise NotImplementedError

    def _write(self, image: np.ndarray) -> None:
        import av

        frame = _yuv420_frame(av, image)
        frame.pts = self.frames
        frame.time_base = self._frame_time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.until(float((self.frames + 1) / self.rate))

    def _finish(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.until(None)
        self._container.close()
        self._file.commit()

    def _discard(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away anyway
            pass
        self._file.abort()


#: how an RGB frame becomes the encoder's yuv420p (`_yuv420_frame`): part of a scene
#: segment's key, since a cached segment must hold what this code would write
YUV_CONVERSION = "opencv-bt601-limited, chroma of each 2x2 block's mean via YCrCb"


def _yuv420_frame(av, image: np.ndarray):  # noqa: ANN001, ANN202 - PyAV's module and frame
    """The encoder's input frame for an RGB image: yuv420p made here with OpenCV.

    Handed an rgb24 frame, the encoder converts it with libswscale, 2.0 ms of the 3.1 ms an
    ultrafast 640x640 frame took here; this takes 0.72 ms, the frame's copy included (one
    thread, load average 0.6). Luma is OpenCV's RGB2YUV_I420, the BT.601 limited-range matrix libswscale uses
    (within one level). That conversion takes each 2x2 block's chroma from its top-left
    pixel, dropping the colour of thin lines, so the chroma planes are made from the
    half-size picture (each block's mean colour) instead: OpenCV's full-range YCrCb of it,
    narrowed to the limited range (224/255 about 128). This was the I420 conversion of the
    picture with each block filled by its mean (1.06 ms, measured beside it), and agrees
    with it within one level (tests/test_render_encode.py compares both with libswscale). Odd sizes, which
    4:2:0 cannot halve, go through libswscale.
    """
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if h % 2 or w % 2 or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        return av.VideoFrame.from_ndarray(image, format="rgb24")
    planes = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)  # its luma; the chroma is replaced
    ycc = cv2.cvtColor(cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2YCrCb)
    limited = cv2.convertScaleAbs(ycc, alpha=_LIMITED, beta=128.0 * (1.0 - _LIMITED))  # all >= 16: abs is moot
    flat = planes.reshape(-1)
    n = (h // 2) * (w // 2)
    flat[h * w : h * w + n] = limited[..., 2].reshape(-1)  # U (Cb)
    flat[h * w + n :] = limited[..., 1].reshape(-1)  # V (Cr)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


#: limited-range chroma spans 224 levels where full-range YCrCb spans 255
_LIMITED = 224.0 / 255.0


class H264Writer(_PyAVWriter):
    """H.264 (libx264, yuv420p) in MP4 (default), QuickTime (.mov) or Matroska (.mkv)."""

    kind = "h264"
    codec = "libx264"

    def _container_format(self) -> str:
        return {".mov": "mov", ".mkv": "matroska"}.get(self.path.suffix.lower(), "mp4")

    def _stream_options(self) -> dict[str, str]:
        return {"crf": str(self.crf), "preset": self.preset}


class VP9Writer(_PyAVWriter):
    """VP9 (libvpx-vp9, yuv420p) in WebM, constant quality; the x264 preset names map onto
    libvpx's `cpu-used` speed."""

    kind = "vp9"
    codec = "libvpx-vp9"

    def _container_format(self) -> str:
        return "webm"

    def _stream_options(self) -> dict[str, str]:
        return {"crf": str(self.crf), "b:v": "0", "row-mt": "1", "deadline": "good",
                "cpu-used": str(_VP9_SPEED[self.preset])}


def open_writer(path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                crf: int | None = None, preset: str | None = None, faststart: bool = True,
                audio: tuple[str, float, float] | None = None) -> FrameWriter:
    """The writer for `path`'s format (see the module docstring).

    Args:
        audio: (song, start in the song, seconds) to mux alongside the frames: AAC in
            H.264 files, Opus in WebM; a folder of PNG frames has no sound (ignored).
        crf, preset: encoder quality and speed (default: `DEFAULT_CRF`, "medium").
        faststart: put the MP4/QuickTime index first (scene segments, which are joined
            later, leave it out).

    Raises:
        UsageError: an unknown suffix or preset.
        RenderError: the output's folder cannot be created or written, or a video's path is
            a folder.
    """
    kind = output_kind(path)
    if kind == "png":
        return PngFramesWriter(path, width, height, fps, crf=crf, preset=preset)
    cls = H264Writer if kind == "h264" else VP9Writer
    return cls(path, width, height, fps, crf=crf, preset=preset, faststart=faststart, audio=audio)
