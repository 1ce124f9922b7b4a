"""Cadence in-betweens: blended from both neighbouring model frames (issue #10.2).

Under `cadence N` the frames between two model frames make no model call. Each is the
previous model frame warped forward and the next one warped backward, blended by position
(kscript/render/tween.py); it reads the next model frame, which is rendered first; the next
model frame paints every border revealed since the previous one; and the keys name both
neighbours, so the cache stays exact.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kscript.api import plan as plan_of
from kscript.backends.preview import PreviewBackend
from kscript.compile.keys import plan_keys
from kscript.plan import Motion
from kscript.render import tween, warp
from kscript.render.cache import FrameCache
from kscript.render.executor import Executor

SIZE = 64


def film(body: str, size: int = SIZE) -> str:
    return f'film "t" {{\n  size: {size}x{size}\n  fps: 12\n}}\nscene s 1s {{\n  prompt "a forest"\n{body}}}\n'


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture: detail at every few pixels, no flat areas."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 4 + 2, width // 4 + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (width + 8, height + 8), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[4:4 + height, 4:4 + width])


def view(canvas: np.ndarray, offset: float) -> np.ndarray:
    """The camera's SIZE x SIZE view of `canvas` panned `offset` pixels right (sub-pixel: bilinear)."""
    m = np.float64([[1, 0, -offset], [0, 1, 0]])
    return cv2.warpAffine(canvas, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)


class Recorder(PreviewBackend):
    """The preview painter, logging its model calls (and the masks it paints)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, int]] = []
        self.masks: dict[int, np.ndarray] = {}

    @property
    def has_inpaint(self) -> bool:
        return True

    def text2image(self, req):
        self.log.append(("text2image", req.seed))
        return super().text2image(req)

    def img2img(self, image, req):
        self.log.append(("img2img", req.seed))
        return super().img2img(image, req)

    def repaint(self, image, mask, req):
        self.log.append(("repaint", req.seed))
        self.masks[req.seed] = np.asarray(mask).copy()
        return super().repaint(image, mask, req)


def run(plan, backend=None, cache=None):
    backend = backend or Recorder()
    out: dict[int, np.ndarray] = {}
    ex = Executor(plan, backend, cache)
    stats = ex.run(lambda i, img: out.__setitem__(i, img))
    return out, stats, backend


# -- the blend ------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [4.0, 2.5])
def test_a_pure_pan_gives_in_betweens_within_a_few_grey_levels_of_the_exact_view(step):
    canvas = texture(SIZE + 16, SIZE, seed=1)
    prev, nxt = view(canvas, 0.0), view(canvas, 3 * step)
    pan = Motion(x=step)
    for k in (1, 2):  # the in-betweens of cadence 3
        forward = tween.compose([pan] * k, SIZE, SIZE)
        to_next = tween.compose([pan] * (3 - k), SIZE, SIZE)
        got = tween.blend(prev, nxt, forward, to_next, k / 3).astype(int)
        exact = view(canvas, k * step).astype(int)
        err = np.abs(got - exact)
        assert err.mean() < 2.0 and np.percentile(err, 99) <= 8, (k, err.mean(), err.max())
        # The border the pan revealed since `prev` (the right edge) comes from `nxt`: as
        # close as the rest, where a warp of `prev` alone can only mirror-fill it.
        band = slice(SIZE - int(np.ceil(k * step)), SIZE)
        assert err[:, band].mean() < 3.0
        warp_only = warp.warp(prev, forward, border="reflect").astype(int)
        assert np.abs(warp_only - exact)[:, band].mean() > 4 * max(err[:, band].mean(), 1.0)


def blob(x: float) -> np.ndarray:
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    cv2.circle(img, (int(round(x * 16)), 32 * 16), 6 * 16, (255, 255, 255), -1, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(img, (0, 0), 2.0)


def test_what_the_model_moved_between_two_model_frames_moves_and_does_not_double():
    """A detail the model frames show 12 px apart (the model moved it, not the camera):
    the in-betweens show it once, on its way, at nearly full strength, where a plain blend
    shows two faded copies."""
    still = np.eye(3)
    prev, nxt = blob(18), blob(30)
    for w in (1 / 3, 1 / 2, 2 / 3):
        at = 18 + 12 * w
        got = tween.blend(prev, nxt, still, still, w)[32, :, 0].astype(int)
        plain = tween.blend(prev, nxt, still, still, w, flow=False)[32, :, 0].astype(int)
        assert abs(int(np.argmax(got)) - at) <= 1.5 and got.max() > 0.85 * prev.max(), (w, got)
        assert plain.max() < 0.75 * prev.max()  # without the flow: two faded blobs
    got = tween.blend(prev, nxt, still, still, 0.5)[32, :, 0].astype(int)
    # nothing left of the far sides of the two (a plain blend keeps half of each)
    assert got[14] < 0.2 * got.max() and got[34] < 0.2 * got.max()


def test_an_in_between_is_weighted_by_its_position():
    grey = np.full((SIZE, SIZE, 3), 40, np.uint8)
    white = np.full((SIZE, SIZE, 3), 220, np.uint8)
    still = np.eye(3)
    for w in (0.0, 1 / 3, 2 / 3, 1.0):
        got = tween.blend(grey, white, still, still, w)
        assert np.abs(got.astype(float) - (40 + w * 180)).max() <= 1


def test_hostile_motion_is_bounded():
    img = texture(SIZE, SIZE)
    for m in (np.full((3, 3), np.inf), np.zeros((3, 3)), np.diag([1e-9, 1e-9, 1.0]), np.diag([1e12, 1e12, 1.0])):
        got = tween.blend(img, img, m, m, 0.5)
        assert got.shape == img.shape and got.dtype == np.uint8


# -- the plan -------------------------------------------------------------------------------


def test_in_betweens_read_both_neighbours_and_model_frames_read_the_model_frame_before():
    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    ops = [(f.op, f.inputs) for f in plan.frames[:8]]
    assert ops == [("generate", []), ("warp", [0, 3]), ("warp", [0, 3]), ("animate", [0]),
                   ("warp", [3, 6]), ("warp", [3, 6]), ("animate", [3]), ("warp", [6, 9])]
    # The scene's last frames have no next model frame: warps of the frame before.
    last = plan.frames[-1]
    assert last.index % 3 and last.op == "warp" and last.inputs == [last.index - 1]


def test_keys_of_in_betweens_change_when_either_neighbour_changes():
    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    frames = list(plan.frames)
    base = plan_keys(frames, plan.film)
    assert base == [f.key for f in frames]

    def changed(index: int, **update) -> set[int]:
        edited = list(frames)
        edited[index] = edited[index].model_copy(update=update)
        keys = plan_keys(edited, plan.film)
        return {i for i, (a, b) in enumerate(zip(base, keys)) if a != b}

    after = set(range(len(frames)))
    assert changed(3, seed=999) == after - {0}  # the next model frame: its in-betweens 1, 2 too
    assert changed(0, seed=999) == after  # the previous one: everything made from it
    # The motion of an in-between is in the key of both its neighbours' later frames.
    assert changed(2, motion=Motion(x=3.0)) == after - {0}
    # A model frame later on leaves the in-betweens before its previous model frame alone.
    assert changed(6, seed=999) == after - {0, 1, 2, 3}


# -- the executor ---------------------------------------------------------------------------


def test_the_next_model_frame_is_rendered_once_before_its_in_betweens():
    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    out, stats, be = run(plan)
    model = [f for f in plan.frames if f.op != "warp"]
    assert stats.frames_rendered == len(plan.frames) and sorted(out) == list(range(len(plan.frames)))
    assert [seed for _, seed in be.log] == [f.seed for f in model]  # one call each, in order


def test_in_betweens_blend_toward_the_next_model_frame():
    plan = plan_of("t.kscene", film("  cadence: 3\n  strength: 0.6\n"))
    out, _, _ = run(plan)
    a, b, c, d = (out[i].astype(float) for i in range(4))
    # No motion: the in-betweens lie on the way from frame 0 to frame 3.
    for k, img in ((1, b), (2, c)):
        assert np.abs(img - (a + (d - a) * k / 3)).max() <= 1.0


def test_a_cached_film_rebuilds_identically_and_an_edit_re_renders_the_in_betweens(tmp_path):
    cache = FrameCache(tmp_path / "cache")
    src = film("  cadence: 3\n  x: 10\n  strength: 0.5\n")
    first, _, _ = run(plan_of("t.kscene", src), cache=cache)
    again, stats, be = run(plan_of("t.kscene", src), cache=cache)
    assert stats.frames_rendered == 0 and not be.log
    assert all(np.array_equal(first[i], again[i]) for i in first)
    # A change of strength from frame 3 on (t >= 0.25 s): frames 1 and 2 read frame 3.
    edited = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n  strength: if t < 0.25 then 0.5 else 0.6\n"))
    _, stats, _ = run(edited, cache=cache)
    assert stats.frames_rendered == len(edited.frames) - 1  # all but frame 0


def test_the_next_model_frame_paints_every_border_revealed_since_the_previous_one():
    # The camera pans right on the in-betweens (frames 1, 2) and stands still on frame 3:
    # frame 3's own warp reveals nothing, the band is the in-betweens'.
    plan = plan_of("t.kscene", film("  cadence: 3\n  x: if t < 0.2 then 100 else 0\n  strength: 0.5\n"))
    fr = plan.frames[3]
    assert fr.motion.x == 0 and fr.op == "animate" and fr.inputs == [0] and fr.inpaint and fr.reveal == 3
    _, _, be = run(plan)
    cols = be.masks[fr.seed].min(axis=0)
    band = 2 * plan.frames[1].motion.x  # 10.7 px at 64 wide
    assert cols[SIZE - int(band):].min() > 0.99  # every column the in-betweens revealed
    assert cols[:SIZE // 2].max() < 0.01  # the rest kept


def test_cadence_with_turn_builds_no_comb_of_mirrored_stripes():
    """Issue #10.1: `cadence: 3` with `turn` built a comb of repeated mirrored stripes: each
    in-between mirror-filled the border its warp revealed, and the next frame warped and
    mirrored that again. Now the border an in-between's forward warp reveals is the next
    model frame's picture warped back (no mirror fill at all), and the model frame is made
    from the one before in one warp, its band painted."""
    plan = plan_of("t.kscene", film("  cadence: 3\n  turn: 30\n  strength: 0.4\n"))
    out, _, _ = run(plan)
    tweens = [f for f in plan.frames if f.op == "warp" and len(f.inputs) == 2]
    assert len(tweens) >= 6
    for f in tweens:
        p, n = f.inputs
        forward = tween.compose([plan.frames[j].motion for j in range(p + 1, f.index + 1)], SIZE, SIZE)
        to_next = tween.compose([plan.frames[j].motion for j in range(f.index + 1, n + 1)], SIZE, SIZE)
        band = warp.revealed(forward, SIZE, SIZE) > 0  # what a warp of frame p alone mirror-fills
        assert band.sum() >= SIZE  # at least a column
        back = warp.warp(out[n], warp.inverse(to_next)).astype(int)
        shown = warp.revealed(warp.inverse(to_next), SIZE, SIZE) == 0
        assert shown[band].mean() > 0.9  # the next frame shows it (bar the perspective's corners)
        band &= shown
        err = np.abs(out[f.index].astype(int) - back)[band]
        assert err.mean() < 2.0, (f.index, err.mean())
        mirrored = warp.warp(out[p], forward, border="reflect").astype(int)
        assert np.abs(out[f.index].astype(int) - mirrored)[band].mean() > 2 * err.mean()
    for f in plan.frames:
        if f.op == "animate":
            assert f.inputs == [f.index - 3]  # made from the model frame before, not from a mirror fill


def folds(row: np.ndarray) -> int:
    """How often a row turns back (a mirror fill folds a ramp once per mirror)."""
    d = np.diff(row.astype(np.float64))
    s = np.sign(d[np.abs(d) > 1.5])
    return int((s[1:] != s[:-1]).sum())


@pytest.mark.parametrize("cadence, strength", [(3, 0.02), (1, 0.02), (3, 0.0)])
def test_a_band_left_unpainted_is_one_mirror_of_the_picture_never_a_comb(tmp_path, cadence, strength):
    """Issue #10.1: `cadence: 3` with `turn` built a comb of repeated mirrored stripes at the
    revealed edge. A band narrower than `BAND_PX` is filled without a model, and stays so
    over several model frames until one paints it; each mirror-filled its own warp's strip
    from the pixels beside it, the previous frames' mirror fill among them, so the band
    became mirror after mirror (stripes a model frame's reveal wide: 2 px here, 6 under
    cadence 3 at 320 px). Measured on a ramp (each mirror folds it once): the band of every
    frame that does not paint folds the ramp once, as one mirror of the picture does."""
    ramp = np.zeros((SIZE, SIZE, 3), np.uint8)
    ramp[..., 0] = np.clip((np.arange(SIZE) - (SIZE - 24)) * 10, 0, 255).astype(np.uint8)[None, :]
    ramp[..., 1] = 100
    cv2.imwrite(str(tmp_path / "ramp.png"), ramp[..., ::-1])
    text = (f'film "t" {{\n  size: {SIZE}x{SIZE}\n  fps: 24\n  model: "preview"\n  cadence: {cadence}\n}}\n'
            f'scene s 1s {{\n  prompt "a forest"\n  image "ramp.png"\n  strength: {strength}\n  turn: 10\n}}\n')
    plan = plan_of(tmp_path / "t.kscene", text)
    out, _, _ = run(plan)
    # Until the first frame that paints, the revealed edge is the executor's fill alone.
    first = next((f.index for f in plan.frames if f.inpaint), len(plan.frames))
    before = plan.frames[1:first]
    assert sum(f.op == "animate" or len(f.inputs) == 1 for f in before) >= 3  # the band stayed over frames
    worst = 0.0
    for f in before:  # model frames and in-betweens
        rows = out[f.index][SIZE // 4:3 * SIZE // 4, SIZE - 14:, 0]  # the middle rows, the revealed edge
        worst = max(worst, float(np.mean([folds(r) for r in rows])))
    assert worst <= 1.0, worst  # before the fix, under cadence 3: 3 folds by the third model frame


def test_a_plan_file_with_in_betweens_loads_and_a_wrong_one_is_refused(tmp_path):
    from kscript.compile.plan_file import load_plan, problems

    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    loaded, _ = load_plan(path)
    assert loaded.to_json() == plan.to_json() and problems(plan) == []
    frames = list(plan.frames)
    frames[1] = frames[1].model_copy(update={"inputs": [0, 6]})  # not its next model frame
    assert any("frames.1.inputs" in p for p in problems(plan.model_copy(update={"frames": frames})))


@pytest.mark.parametrize("edit", [
    {1: {"inputs": [0, 2]}},  # its "next model frame" is another in-between
    {3: {"inputs": [2]}},  # the next model frame reads the in-between that reads it: a cycle
    {1: {"inputs": [0, 40]}},  # past the plan's end
])
def test_a_hand_made_plan_whose_in_betweens_loop_is_refused_before_rendering(edit):
    from kscript.errors import RenderError

    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    frames = list(plan.frames)
    for i, update in edit.items():
        frames[i] = frames[i].model_copy(update=update)
    with pytest.raises(RenderError):
        Executor(plan.model_copy(update={"frames": frames}), Recorder(), None)


def test_plan_keys_refuses_a_frame_made_from_an_in_between():
    plan = plan_of("t.kscene", film("  cadence: 3\n  x: 10\n"))
    frames = list(plan.frames)
    frames[3] = frames[3].model_copy(update={"inputs": [2]})
    with pytest.raises(ValueError, match="in-between"):
        plan_keys(frames, plan.film)
