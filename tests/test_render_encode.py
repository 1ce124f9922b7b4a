"""Encoding: the videos decode back with the exact codec, pixel format, size, rate and count."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from kscript.errors import UsageError
from kscript.render.encode import open_writer, frame_rate
from kscript.render.output import output_kind


def frames(n: int, w: int = 64, h: int = 48):
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = (np.arange(w) * 4 + i * 10) % 256
        img[..., 1] = 100
        img[..., 2] = (np.arange(h)[:, None] * 5) % 256
        yield img


def write(path, n=10, fps=24, **kw):
    with open_writer(path, 64, 48, fps, **kw) as out:
        for f in frames(n):
            out.write(f)
    return out.path


def probe(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return {
            "codec": s.codec_context.name,
            "pix_fmt": s.codec_context.pix_fmt,
            "size": (s.codec_context.width, s.codec_context.height),
            "rate": s.average_rate,
            "frames": len(decoded),
            "first": decoded[0],
        }


def test_mp4_is_h264_yuv420p_with_exact_rate_and_count(tmp_path):
    p = write(tmp_path / "film.mp4", n=17, fps=24)
    info = probe(p)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["size"] == (64, 48) and info["frames"] == 17 and info["rate"] == 24
    # The picture survives (lossy, but close).
    assert np.abs(info["first"].astype(int) - next(frames(1)).astype(int)).mean() < 6


def test_mp4_has_faststart(tmp_path):
    data = write(tmp_path / "film.mp4").read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_ntsc_rate_is_exact(tmp_path):
    assert frame_rate(23.976) == Fraction(24000, 1001)
    assert frame_rate(12.5) == Fraction(25, 2)
    info = probe(write(tmp_path / "film.mp4", n=5, fps=23.976))
    assert info["rate"] == Fraction(24000, 1001) and info["frames"] == 5


def test_webm_is_vp9(tmp_path):
    info = probe(write(tmp_path / "film.webm", n=6, fps=12))
    assert info["codec"] == "vp9" and info["frames"] == 6 and info["rate"] == 12


def test_png_folder_is_lossless(tmp_path):
    out = write(str(tmp_path / "frames") + "/", n=3)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    import cv2

    back = cv2.cvtColor(cv2.imread(str(out / names[0])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, next(frames(1)))


def test_png_folder_replaces_a_previous_one(tmp_path):
    write(str(tmp_path / "frames") + "/", n=5)
    out = write(str(tmp_path / "frames") + "/", n=2)
    assert len(list(out.iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]


def test_crf_and_preset_change_the_file(tmp_path):
    a = write(tmp_path / "a.mp4", crf=10, preset="ultrafast").stat().st_size
    b = write(tmp_path / "b.mp4", crf=40, preset="ultrafast").stat().st_size
    assert a > b


def test_a_failure_keeps_the_previous_video(tmp_path):
    target = tmp_path / "film.mp4"
    write(target, n=4)
    good = target.read_bytes()
    with pytest.raises(RuntimeError):
        with open_writer(target, 64, 48, 24) as out:
            for i, f in enumerate(frames(8)):
                if i == 5:
                    raise RuntimeError("the model crashed")
                out.write(f)
    assert target.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["film.mp4"]  # no temporary left behind


def test_nothing_appears_before_close(tmp_path):
    target = tmp_path / "film.mp4"
    out = open_writer(target, 64, 48, 24)
    out.write(next(frames(1)))
    assert not target.exists()
    out.close()
    assert target.exists() and probe(target)["frames"] == 1


@pytest.mark.parametrize("path,kind", [("a.mp4", "h264"), ("a.MOV", "h264"), ("a.webm", "vp9"), ("out/", "png"), ("frames", "png")])
def test_output_kind(path, kind):
    assert output_kind(path) == kind


def test_unknown_suffix_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown suffix"):
        output_kind("film.gif")


def test_an_output_that_is_a_folder_is_a_render_error(tmp_path):
    from kscript.errors import RenderError

    (tmp_path / "film.mp4").mkdir()
    with pytest.raises(RenderError, match="it is a folder"):
        open_writer(tmp_path / "film.mp4", 64, 48, 24)


def _unprivileged(fn) -> str:
    """What `fn()` returns, run in a forked child that has dropped root for 'nobody'.

    Root writes into any folder (CAP_DAC_OVERRIDE), so as root a read-only folder would not
    be read-only at all; the child runs the very same code as a user the folder refuses.
    """
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, report, leave without cleanup
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = fn()
        except BaseException as err:  # noqa: BLE001 - reported to the parent as text
            result = f"child raised {err!r}"
        os.write(write, result.encode("utf-8", "replace"))
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8")


def test_an_unwritable_folder_is_a_render_error(tmp_path):
    """A folder the user may not write into: RenderError "cannot write to the folder ...".

    Runs for everyone: as root, in a child that has dropped to 'nobody'.
    """
    import os
    import shutil
    import tempfile

    from kscript.errors import RenderError

    # Outside tmp_path, whose parents root keeps to itself: 'nobody' must reach the folder
    # and be refused only the write.
    base = Path(tempfile.mkdtemp(prefix="kscript-ro-"))
    try:
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        base.chmod(0o755)

        def attempt() -> str:
            try:
                open_writer(ro / "film.mp4", 64, 48, 24)
            except RenderError as err:
                return f"RenderError: {err}"
            return "written"

        said = _unprivileged(attempt) if os.geteuid() == 0 else attempt()
        assert said.startswith(f"RenderError: cannot write to the folder '{ro}': Permission denied"), said
        assert list(ro.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- scene segments joined by packet copy --------------------------------------------------------


def decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def scene_frames(scene: int, n: int):
    """Frames that differ between scenes (so a misplaced packet shows) and within them."""
    rng = np.random.default_rng(scene)
    for img in frames(n):
        img[:, : 16 + 8 * scene] = rng.integers(0, 256, (48, 16 + 8 * scene, 3), dtype=np.uint8)
        yield img


@pytest.mark.parametrize("fps,preset", [(23.976, "ultrafast"), (30, "ultrafast"), (24, "medium")])
def test_segments_join_into_one_stream_without_re_encoding(tmp_path, fps, preset):
    from kscript.render.segments import concat_segments, segment_frames

    segments, expected = [], []
    for scene, n in enumerate((5, 7, 4)):
        path = tmp_path / f"seg{scene}.mp4"
        with open_writer(path, 64, 48, fps, crf=23, preset=preset, faststart=False) as out:
            for img in scene_frames(scene, n):
                out.write(img)
        assert segment_frames(path, 64, 48) == n
        expected += decoded(path)
        segments.append((path, n))
    joined = concat_segments(segments, tmp_path / "film.mp4", fps)
    info = probe(joined)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["size"] == (64, 48)
    assert info["frames"] == 16 and info["rate"] == frame_rate(fps)
    # Packets are copied, not re-encoded: every frame decodes to its segment's exact pixels
    # (medium has B-frames, so decode order and presentation order differ across joins).
    got = decoded(joined)
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
    with av.open(str(joined)) as c:
        s = c.streams.video[0]
        pts = sorted(f.pts for f in c.decode(s))
        step = 1 / (frame_rate(fps) * s.time_base)
        assert pts == [round(i * step) for i in range(16)]
    data = joined.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # faststart
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_a_damaged_segment_is_not_usable(tmp_path):
    from kscript.render.segments import segment_frames

    good = write(tmp_path / "seg.mp4", n=6, faststart=False)
    assert segment_frames(good, 64, 48) == 6
    assert segment_frames(good, 64, 64) is None  # another size
    data = good.read_bytes()
    # Without faststart the index (moov) comes last: half a file has none, so it cannot open.
    assert data.find(b"mdat") < len(data) // 2 < data.find(b"moov")
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mp4").write_bytes(b"\0" * 1000)
    assert segment_frames(tmp_path / "cut.mp4", 64, 48) is None
    assert segment_frames(tmp_path / "junk.mp4", 64, 48) is None
    assert segment_frames(tmp_path / "missing.mp4", 64, 48) is None


def test_a_frames_folder_is_never_replaced_when_it_holds_other_files(tmp_path):
    """The last guard, for a folder that gained a file after `check_output` looked."""
    from kscript.errors import RenderError
    from kscript.render.output import check_output

    out = tmp_path / "frames"
    assert check_output(str(out) + "/") == "png"  # new: fine
    writer = open_writer(str(out) + "/", 64, 48, 24)
    for f in frames(2):
        writer.write(f)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RenderError, match="holds other files"):
        writer.close()
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # the temporary is gone too


def test_the_encoders_yuv_conversion_agrees_with_libswscale():
    """Writers convert RGB to yuv420p with OpenCV (faster than libswscale, which PyAV would
    use on an rgb24 frame): luma within one level everywhere; chroma, the mean colour of each
    2x2 block, within 2 levels on smooth pictures (libswscale's chroma filter is wider than
    a 2x2 box, so single-pixel noise differs); a lone coloured pixel keeps its colour (OpenCV's
    own I420 conversion would drop it); odd sizes go through libswscale."""
    import cv2

    from kscript.render.encode import _yuv420_frame

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 2.0)
    bands = np.zeros((48, 64, 3), np.uint8)
    bands[:16] = (255, 0, 0)  # a saturated primary and the range's ends
    bands[32:] = (255, 255, 255)

    def planes(img):
        ours = _yuv420_frame(av, img)
        assert ours.format.name == "yuv420p"
        theirs = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        return ours.to_ndarray().astype(int), theirs.to_ndarray().astype(int)

    ours, theirs = planes(image)
    assert np.abs(ours[:48] - theirs[:48]).max() <= 1
    assert np.abs(ours[48:] - theirs[48:]).max() <= 2
    ours, theirs = planes(bands)
    assert np.abs(ours[:48] - theirs[:48]).max() <= 1
    assert abs(ours[:16].mean() - 82) <= 1 and ours[16:32].max() == 16 and ours[32:48].min() >= 234  # limited range
    dot = np.zeros((4, 4, 3), np.uint8)
    dot[1, 1] = (255, 0, 0)
    ours, theirs = planes(dot)
    assert ours[4:].min() < 125 and ours[4:].max() > 150  # its block's chroma is reddish
    assert np.abs(ours - theirs).max() <= 1
    assert _yuv420_frame(av, image[:47, :63]).format.name == "rgb24"


def test_a_written_video_decodes_to_the_colours_written(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 60, 30)
    image[:, 32:] = (20, 120, 220)
    with open_writer(tmp_path / "c.mp4", 64, 48, 24, crf=0) as w:
        for _ in range(3):
            w.write(image)
    with av.open(str(tmp_path / "c.mp4")) as c:
        got = next(c.decode(video=0)).to_ndarray(format="rgb24")
    # away from the seam, where 4:2:0 chroma blends the two halves
    assert np.abs(got[:, :24].astype(int) - image[:, :24]).max() <= 3
    assert np.abs(got[:, 40:].astype(int) - image[:, 40:]).max() <= 3
