"""Colour coherence pulls a drifted frame's colours back to the reference; noise is seeded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kscript.render import coherence


def scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, 64, dtype=np.float32)[None, :, None] * np.array([200, 120, 60], np.float32)
    return np.clip(base + rng.normal(0, 12, (64, 64, 3)) + 20, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["rgb", "lab"])
def test_matching_undoes_a_colour_drift(mode):
    ref = scene(1)
    drifted = np.clip(scene(2).astype(int) * [0.7, 1.1, 1.3] + [0, 10, 30], 0, 255).astype(np.uint8)
    out = coherence.match(drifted, coherence.reference_cdfs(ref, mode), mode)
    before = np.abs(drifted.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max()
    after = np.abs(out.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max()
    assert after < before / 4
    assert out.shape == drifted.shape and out.dtype == np.uint8


def test_rgb_matching_gives_the_reference_histogram():
    ref = scene(3)
    out = coherence.match(scene(4) // 2, coherence.reference_cdfs(ref, "rgb"), "rgb")
    for c in range(3):
        q = np.linspace(0.05, 0.95, 10)
        assert np.abs(np.quantile(out[..., c], q) - np.quantile(ref[..., c], q)).max() <= 4


def test_matching_keeps_structure():
    ref = scene(5)
    img = scene(6)
    out = coherence.match(img, coherence.reference_cdfs(ref, "rgb"), "rgb")
    # A monotone per-channel mapping: the order of brightness along a row is kept.
    row_in, row_out = img[10, :, 0].astype(int), out[10, :, 0].astype(int)
    assert np.all(np.sign(np.diff(row_out)) * np.sign(np.diff(row_in)) >= 0)


def test_none_is_identity():
    img = scene(7)
    assert coherence.match(img, coherence.reference_cdfs(img, "rgb"), "none") is img


def test_noise_is_seeded_and_scaled():
    img = np.full((32, 32, 3), 128, np.uint8)
    a = coherence.add_noise(img, 0.1, seed=5)
    assert np.array_equal(a, coherence.add_noise(img, 0.1, seed=5))
    assert not np.array_equal(a, coherence.add_noise(img, 0.1, seed=6))
    assert abs(a.astype(float).std() - 0.1 * coherence.NOISE_SCALE) < 1.0
    assert coherence.add_noise(img, 0.0, seed=5) is img
    assert coherence.add_noise(img, 0.1, seed=-3).shape == img.shape


@pytest.mark.parametrize("mode", ["rgb", "lab"])
def test_matching_to_a_few_coloured_reference_keeps_gradients_smooth(mode):
    """Issue 10.1: `coherence: lab` gave posterised blotches (white and cyan patches, black
    specks) when the reference had few colours. A smooth gradient stays smooth: no pixel
    differs from its neighbour by more than 4x the source's step plus a level."""
    h = w = 64
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    src = np.stack(
        [np.broadcast_to(60 + 120 * x, (h, w)), np.broadcast_to(80 + 100 * y, (h, w)), np.broadcast_to(90 + 60 * x * y, (h, w))], -1
    ).astype(np.uint8)
    ref = np.zeros((h, w, 3), np.uint8)
    ref[:20], ref[20:40], ref[40:] = (200, 120, 60), (40, 90, 160), (90, 160, 80)
    matched = coherence.match(src, coherence.reference_cdfs(ref, mode), mode)
    out = matched.astype(int)
    step = max(np.abs(np.diff(src.astype(int), axis=a)).max() for a in (0, 1))
    assert max(np.abs(np.diff(out, axis=a)).max() for a in (0, 1)) <= 4 * step + 1  # exact matching: 179
    # and it still moves toward the reference's colours, in the space it matches in
    space = (lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2LAB).astype(float)) if mode == "lab" else (lambda im: im.astype(float))  # noqa: E731
    before = np.abs(space(src).mean((0, 1)) - space(ref).mean((0, 1))).sum()
    after = np.abs(space(matched).mean((0, 1)) - space(ref).mean((0, 1))).sum()
    assert after < 0.5 * before
