"""Init images: `image "photo.png"` starts a scene from a picture (docs/language.md, "Init images").

Exact pixels at strength 0, the documented cover-resize and centre crop, one img2img call
from the picture at a strength, EXIF orientation, keys that change with the file's bytes
(and only for the frames made from it), every bad file as E038 at file:line:col before
anything renders, and the executor's refusal of a file changed since the plan.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kscript import images
from kscript.backends.preview import PreviewBackend
from kscript.compile import compile_file, compile_source
from kscript.errors import RenderError, ScriptErrors
from kscript.render.executor import Executor

HEAD = 'film "t" {\n  size: 64x64\n  fps: 4\n  model: "preview"\n}\n'


class Recorder(PreviewBackend):
    """The preview painter, logging each call with the image it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, int, np.ndarray | None]] = []

    def text2image(self, req):
        self.log.append(("text2image", req.seed, None))
        return super().text2image(req)

    def img2img(self, image, req):
        self.log.append(("img2img", req.seed, image.copy()))
        return super().img2img(image, req)


def noise_picture(w: int, h: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def write(path: Path, pixels: np.ndarray, **kw) -> Path:
    Image.fromarray(pixels).save(path, **kw)
    return path


def film(tmp_path: Path, scenes: str, name: str = "f.kscene") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + scenes, encoding="utf-8")
    return path


def render(plan, backend=None):
    backend = backend or Recorder()
    out: dict[int, np.ndarray] = {}
    Executor(plan, backend, None).run(lambda i, img: out.__setitem__(i, img))
    return out, backend


def diagnostics(path: Path) -> list:
    with pytest.raises(ScriptErrors) as info:
        compile_file(str(path))
    return info.value.diagnostics


SCENE = 'scene a 1s {{\n  prompt "a garden"\n  image "{image}"\n  strength: {strength}\n}}\n'


# ---------------------------------------------------------------- what the first frame is

def test_at_strength_0_the_first_frame_is_the_picture_pixel_for_pixel(tmp_path):
    pixels = noise_picture(64, 64)
    write(tmp_path / "photo.png", pixels)
    plan = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength=0))))
    first = plan.frames[0]
    assert first.op == "generate" and first.image is not None and first.strength == 0
    out, be = render(plan)
    assert np.array_equal(out[0], pixels)
    assert be.log == []  # no model call at all: the first frame is the file, the rest warp only
    assert plan.model_calls() == {"text2image": 0, "img2img": 0, "inpaint": 0}


def test_a_larger_picture_is_centre_cropped_without_resizing_when_it_already_covers(tmp_path):
    pixels = noise_picture(128, 64)
    write(tmp_path / "wide.png", pixels)
    out, _ = render(compile_file(str(film(tmp_path, SCENE.format(image="wide.png", strength=0)))))
    assert np.array_equal(out[0], pixels[:, 32:96])


def test_a_picture_is_cover_resized_keeping_its_aspect_then_centre_cropped(tmp_path):
    # 32x16, red on the left half, blue on the right: scaled by 4 to 128x64 to cover 64x64,
    # then the middle 64 columns: red on the left half of the frame, blue on the right
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = (220, 20, 20)
    pixels[:, 16:] = (20, 20, 220)
    write(tmp_path / "small.png", pixels)
    out, _ = render(compile_file(str(film(tmp_path, SCENE.format(image="small.png", strength=0)))))
    frame = out[0].astype(int)
    assert frame.shape == (64, 64, 3)
    assert np.abs(frame[:, :18] - (220, 20, 20)).max() <= 2  # (Lanczos rings near the edge)
    assert np.abs(frame[:, 46:] - (20, 20, 220)).max() <= 2
    assert (frame[:, 30, 0] > frame[:, 30, 2]).all() and (frame[:, 34, 2] > frame[:, 34, 0]).all()  # edge: mid
    # and a tall picture is cropped top and bottom, not squeezed
    tall = np.zeros((64, 16, 3), np.uint8)
    tall[:16] = 255  # the top quarter white: scaled by 4 it is 64 rows, all cropped away
    assert images.fit(tall, 64, 64).max() == 0


def test_with_a_strength_the_first_frame_redraws_the_picture_in_one_img2img_call(tmp_path):
    pixels = noise_picture(64, 64)
    write(tmp_path / "photo.png", pixels)
    plan = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength=0.4))))
    out, be = render(plan)
    assert be.log[0][0] == "img2img" and be.log[0][1] == plan.frames[0].seed
    assert np.array_equal(be.log[0][2], pixels)  # from the picture itself
    assert not any(op == "text2image" for op, _, _ in be.log)
    assert not np.array_equal(out[0], pixels)
    assert plan.model_calls()["img2img"] == len(plan.frames)  # frame 0 and every animate frame


def test_a_strength_too_faint_for_one_step_is_the_picture_itself(tmp_path):
    pixels = noise_picture(64, 64)
    write(tmp_path / "photo.png", pixels)
    plan = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength="0.001 -> 0.3"))))
    assert plan.frames[0].strength == 0
    out, _ = render(plan)
    assert np.array_equal(out[0], pixels)


def test_exif_orientation_is_honoured(tmp_path):
    # stored 40 wide and 20 high, red on the left; EXIF orientation 6 says "turn 90 degrees
    # clockwise to show": upright it is 20 wide and 40 high, red on top
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (230, 10, 10)
    stored[:, 20:] = (10, 10, 230)
    exif = Image.Exif()
    exif[0x0112] = 6
    write(tmp_path / "phone.jpg", stored, exif=exif, quality=95)
    upright = images.read_image(tmp_path / "phone.jpg").pixels.astype(int)
    assert upright.shape == (40, 20, 3)
    assert upright[5, 10, 0] > 200 and upright[5, 10, 2] < 50  # top: red
    assert upright[35, 10, 2] > 200 and upright[35, 10, 0] < 50  # bottom: blue
    out, _ = render(compile_file(str(film(tmp_path, SCENE.format(image="phone.jpg", strength=0)))))
    # fitted: a 20x40 picture covers 64x64 at 64x128, the middle rows: red above, blue below
    assert out[0][8, 32, 0] > 200 and out[0][56, 32, 2] > 200


def test_webp_and_grey_and_transparent_pictures_become_rgb(tmp_path):
    grey = np.full((64, 64), 128, np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.webp", lossless=True)
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 1] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert np.array_equal(images.read_image(tmp_path / "grey.webp").pixels, np.full((64, 64, 3), 128, np.uint8))
    assert (images.read_image(tmp_path / "clear.png").pixels == (0, 200, 0)).all()


# ---------------------------------------------------------------- keys

FOUR = ('scene before 1s {\n  prompt "a"\n}\n'
        'scene photo 1s {\n  prompt "b"\n  image "photo.png"\n  strength: 0.3\n}\n'
        'scene after 1s {\n  prompt "c"\n}\n'
        'scene onward 1s {\n  continue\n  prompt "d"\n}\n')


def _keys(plan, scene):
    return [f.key for f in plan.frames if f.scene == scene]


def test_the_keys_change_with_the_files_bytes_and_only_for_frames_made_from_it(tmp_path):
    path = film(tmp_path, FOUR)
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=1))
    one = compile_file(str(path))
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=2))
    two = compile_file(str(path))
    assert one.frames[4].image.sha256 != two.frames[4].image.sha256
    assert _keys(one, "before") == _keys(two, "before")
    assert _keys(one, "after") == _keys(two, "after")
    for scene in ("photo",):
        assert all(a != b for a, b in zip(_keys(one, scene), _keys(two, scene)))
    # `onward` continues from `after`, which does not read the picture
    assert _keys(one, "onward") == _keys(two, "onward")


def test_a_continue_from_an_image_scene_depends_on_the_image(tmp_path):
    text = ('scene photo 1s {\n  prompt "b"\n  image "photo.png"\n}\n'
            'scene onward 1s {\n  continue\n  prompt "d"\n}\n')
    path = film(tmp_path, text)
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=1))
    one = compile_file(str(path))
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=2))
    two = compile_file(str(path))
    assert all(a != b for a, b in zip(_keys(one, "onward"), _keys(two, "onward")))


def test_moving_the_file_with_the_same_bytes_renders_nothing_again(tmp_path):
    write(tmp_path / "photo.png", noise_picture(64, 64))
    one = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength=0.3))))
    (tmp_path / "pics").mkdir()
    (tmp_path / "photo.png").rename(tmp_path / "pics" / "renamed.png")
    two = compile_file(str(film(tmp_path, SCENE.format(image="pics/renamed.png", strength=0.3))))
    assert [f.key for f in one.frames] == [f.key for f in two.frames]
    assert two.frames[0].image.path.endswith("renamed.png")


def test_the_path_is_relative_to_the_film_not_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "films").mkdir()
    write(tmp_path / "films" / "photo.png", noise_picture(64, 64))
    path = film(tmp_path / "films", SCENE.format(image="photo.png", strength=0))
    monkeypatch.chdir(tmp_path)
    plan = compile_file("films/f.kscene")
    assert Path(plan.frames[0].image.path) == Path("films/photo.png")


def test_the_plan_json_holds_the_image_and_leaves_it_out_elsewhere(tmp_path):
    import json

    write(tmp_path / "photo.png", noise_picture(64, 64))
    plan = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength=0))))
    frames = json.loads(plan.to_json())["frames"]
    assert frames[0]["image"]["sha256"] == images.file_sha256(tmp_path / "photo.png")
    assert all("image" not in fr for fr in frames[1:])


def test_a_build_refuses_a_file_changed_since_the_plan(tmp_path):
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=1))
    plan = compile_file(str(film(tmp_path, SCENE.format(image="photo.png", strength=0))))
    write(tmp_path / "photo.png", noise_picture(64, 64, seed=2))
    with pytest.raises(RenderError, match="changed since the plan"):
        render(plan)


# ---------------------------------------------------------------- bad files: E038 before anything renders

def _one(path: Path, code: str = "E038"):
    diags = diagnostics(path)
    assert [d.code for d in diags] == [code], [d.message for d in diags]
    return diags[0]


def _bad(tmp_path: Path, name: str):
    return _one(film(tmp_path, SCENE.format(image=name, strength=0)))


def test_a_missing_image_is_e038_at_its_path(tmp_path):
    d = _bad(tmp_path, "nowhere.png")
    assert (d.span.line, d.span.col) == (8, 9) and "no such file" in d.message
    assert d.span.file.endswith("f.kscene")


def test_a_folder_is_e038(tmp_path):
    (tmp_path / "dir.png").mkdir()
    assert "folder" in _bad(tmp_path, "dir.png").message


def test_a_file_that_is_not_a_picture_is_e038(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture at all")
    assert "not a PNG, JPEG or WebP" in _bad(tmp_path, "notes.png").message


def test_a_picture_in_another_format_is_e038(tmp_path):
    Image.fromarray(noise_picture(16, 16)).save(tmp_path / "anim.gif")
    assert "not a PNG, JPEG or WebP" in _bad(tmp_path, "anim.gif").message


def test_an_empty_file_is_e038(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _bad(tmp_path, "empty.png").message


def test_a_damaged_picture_is_e038(tmp_path):
    write(tmp_path / "whole.png", noise_picture(64, 64))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert "damaged" in _bad(tmp_path, "cut.png").message


def test_a_picture_too_wide_is_refused_from_its_header(tmp_path):
    Image.new("L", (20_000, 1)).save(tmp_path / "wide.png")  # a few bytes on disk
    d = _bad(tmp_path, "wide.png")
    assert "20000x1 pixels" in d.message


def test_too_many_pixels_and_too_big_a_file_are_e038(tmp_path, monkeypatch):
    write(tmp_path / "photo.png", noise_picture(64, 64))
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 64 * 63)
    images._PICTURES.clear()
    assert "64x64 pixels" in _bad(tmp_path, "photo.png").message
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 100)
    images._PICTURES.clear()
    assert "more than this file may be" in _bad(tmp_path, "photo.png").message


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    # a 12000 x 6000 black PNG compresses to a few hundred kB; over 64 megapixels it must
    # be refused from its header, in well under the seconds decoding it would take
    Image.new("L", (12_000, 6_000)).save(tmp_path / "bomb.png", optimize=False)
    data = (tmp_path / "bomb.png").read_bytes()
    assert len(data) < 2_000_000
    started = time.perf_counter()
    d = _bad(tmp_path, "bomb.png")
    assert time.perf_counter() - started < 1.5
    assert "12000x6000 pixels" in d.message and "megapixels" in d.message


def test_an_empty_path_and_an_image_with_continue_are_e038(tmp_path):
    assert "empty" in _bad(tmp_path, "").message
    write(tmp_path / "photo.png", noise_picture(64, 64))
    text = 'scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  continue\n  prompt "b"\n  image "photo.png"\n}\n'
    d = _one(film(tmp_path, text))
    assert "continues" in d.message and d.span.line == 12


def test_image_twice_is_e033_and_with_a_colon_e001(tmp_path):
    write(tmp_path / "photo.png", noise_picture(64, 64))
    twice = 'scene a 1s {\n  prompt "a"\n  image "photo.png"\n  image "photo.png"\n}\n'
    assert _one(film(tmp_path, twice), "E033").span.line == 9
    colon = 'scene a 1s {\n  prompt "a"\n  image: "photo.png"\n}\n'
    d = _one(film(tmp_path, colon), "E001")
    assert "no colon" in d.message


def test_the_diagnostic_reads_file_line_col_with_a_caret(tmp_path):
    path = film(tmp_path, SCENE.format(image="nowhere.png", strength=0))
    with pytest.raises(ScriptErrors) as info:
        compile_file(str(path))
    text = info.value.render()
    assert f"{path}:8:9: error[E038]: cannot use the image 'nowhere.png'" in text
    assert "^^^^^^^^^^^^^" in text and "Traceback" not in text


def test_image_is_a_free_name_everywhere_else():
    plan = compile_source(HEAD + 'let image = 2\neffect e(image = 1) {\n  x: image\n}\n'
                          'scene a 1s {\n  prompt "a"\n  effect e(image = image)\n}\n')
    assert plan.frames[1].motion.x > 0


# ---------------------------------------------------------------- watch mode

def wait_until(done, seconds: float = 30.0) -> bool:
    """Poll `done()` until it holds or `seconds` pass; whether it held (the caller asserts)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return done()


def test_watch_mode_rebuilds_when_the_picture_changes(tmp_path):
    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    write(tmp_path / "photo.png", noise_picture(64, 64, seed=1))
    path = film(tmp_path, SCENE.format(image="photo.png", strength=0))
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(path, KscriptPipeline(preview=True), state, log=lines.append).start()
    try:
        wait_until(lambda: state.build >= 1 and state.status == "idle")
        assert state.build == 1, lines
        assert watcher.concerns(str(tmp_path / "photo.png"))
        write(tmp_path / "photo.png", noise_picture(64, 64, seed=2))
        wait_until(lambda: state.build >= 2 and state.status == "idle")
        assert state.build >= 2, lines
    finally:
        watcher.stop()


def test_the_files_a_film_names_are_the_ones_the_checker_reads_existing_or_not(tmp_path, monkeypatch):
    # One definition of where a named file is: watch mode follows exactly what the checker
    # reads (the plan's picture), and names a missing picture or song all the same.
    from kscript.check.loader import load_files, named_files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "films").mkdir()
    (tmp_path / "pics").mkdir()
    write(tmp_path / "pics" / "photo.png", noise_picture(64, 64))
    good = film(tmp_path / "films", SCENE.format(image="../pics/photo.png", strength=0))
    rel = str(good.relative_to(tmp_path))
    plan = compile_file(rel)
    assert plan.frames[0].image.path in named_files(load_files(good.read_text(), rel), rel)

    text = (HEAD.replace('model: "preview"', 'model: "preview"\n  audio: "song.ogg"')
            + SCENE.format(image="../pics/gone.png", strength=0))
    names = named_files(load_files(text, rel), rel)
    assert names == [rel, "films/song.ogg", "pics/gone.png"]
    with pytest.raises(ScriptErrors):  # neither exists: the check fails, and still names them
        compile_source(text, rel)


def test_watch_mode_watches_a_missing_picture_and_builds_once_it_is_created(tmp_path):
    # The first check fails (E038: no such file), yet the picture's path is watched (its
    # folder, as a file that does not exist cannot be): creating it rebuilds, and succeeds,
    # without touching the film.
    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    path = film(tmp_path, SCENE.format(image="photo.png", strength=0))
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(path, KscriptPipeline(preview=True), state, log=lines.append).start()
    try:
        wait_until(lambda: state.status == "error")
        assert state.status == "error" and "E038" in state.diagnostics["text"], lines
        assert watcher.concerns(str(tmp_path / "photo.png"))
        assert tmp_path in watcher.watched_dirs()
        builds = watcher.builds
        write(tmp_path / "photo.png", noise_picture(64, 64, seed=1))
        wait_until(lambda: watcher.builds > builds and state.status == "idle")
        assert watcher.builds > builds and state.status == "idle", lines
        assert watcher.renders == 1 and state.diagnostics is None
    finally:
        watcher.stop()


@pytest.mark.parametrize("folders", ["shots", "shots/day/one"])
def test_watch_mode_watches_a_missing_folder_of_the_picture_and_builds_once_both_exist(tmp_path, folders):
    # A folder that does not exist cannot be watched: its nearest existing ancestor is, and
    # a folder made on the way down rebuilds (which watches the new folder), so making the
    # folders and then the picture ends in a good build, without touching the film.
    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    path = film(tmp_path, SCENE.format(image=f"{folders}/photo.png", strength=0))
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(path, KscriptPipeline(preview=True), state, log=lines.append).start()
    try:
        wait_until(lambda: state.status == "error")
        assert "E038" in state.diagnostics["text"], lines
        assert watcher.awaits(str(tmp_path / folders.split("/")[0]))
        assert not watcher.awaits(str(tmp_path / "elsewhere"))
        builds = watcher.builds
        (tmp_path / folders).mkdir(parents=True)
        wait_until(lambda: tmp_path / folders in watcher.watched_dirs())
        assert watcher.builds > builds and tmp_path / folders in watcher.watched_dirs(), (lines, watcher.watched_dirs())
        write(tmp_path / folders / "photo.png", noise_picture(64, 64, seed=2))
        wait_until(lambda: state.status == "idle")
        assert state.status == "idle" and watcher.renders == 1, lines
    finally:
        watcher.stop()


# ---------------------------------------------------------------- the preview paints from the photo

def test_the_preview_keeps_the_photos_layout_moving_with_the_camera_and_takes_the_prompts_palette(tmp_path):
    """At the default strength the preview's img2img pulls toward the photo as the camera
    sees it now (not toward its own procedural painting): after 2 s of a pan and a zoom the
    large shapes (a blur of the frame) are those of the photo moved by the camera, while
    the colours have moved toward the prompt's palette."""
    import cv2

    from kscript.backends.interface import Request
    from kscript.render.executor import cameras

    yy, xx = np.mgrid[0:96, 0:96]
    pic = np.zeros((96, 96, 3), np.uint8)
    pic[...] = (40, 60, 90)
    pic[(xx - 30) ** 2 + (yy - 40) ** 2 < 15 ** 2] = (240, 220, 60)
    pic[60:80, 50:90] = (200, 40, 40)
    write(tmp_path / "shapes.png", pic)
    (tmp_path / "g.kscene").write_text('film "t" {\n  size: 96x96\n  fps: 8\n}\nscene a 2s {\n  prompt "a night sea"\n'
                                       '  image "shapes.png"\n  x: 15\n  zoom: 1.1\n}\n', encoding="utf-8")
    plan = compile_file(str(tmp_path / "g.kscene"))
    out, _ = render(plan)
    last = len(plan.frames) - 1
    moved = cv2.warpPerspective(pic, np.asarray(cameras(plan)[0][last]).reshape(3, 3), (96, 96),
                                borderMode=cv2.BORDER_REFLECT_101)

    def far(a, b):
        blur = lambda x: cv2.GaussianBlur(x.astype(np.float32), (0, 0), 3)  # noqa: E731
        return float(np.abs(blur(a) - blur(b)).mean())

    assert far(out[last], moved) < 10 and far(out[last], moved) < 0.35 * far(out[last], pic)
    palette = PreviewBackend().text2image(Request(prompts=(("a night sea", 1.0),), negative="", seed=0, steps=30,
                                                  guidance=4.0, strength=1.0, width=96, height=96))
    mean = lambda x: x.reshape(-1, 3).astype(float).mean(0)  # noqa: E731
    assert np.abs(mean(out[last]) - mean(palette)).sum() < 0.8 * np.abs(mean(moved) - mean(palette)).sum()
