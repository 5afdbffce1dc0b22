"""The sprites generator: deterministic, binary, its factors known and covering the grid."""

import hashlib
import math
import sys

import numpy as np
import pytest

from vaekit.data import load_data, progress
from vaekit.data.sprites import FACTOR_NAMES, FULL_GRID, SMALL_GRID, factor_values, make_sprites, render


def test_sprites_are_seeded_binary_and_carry_their_factors():
    a, b = make_sprites(200, seed=3, size=32), make_sprites(200, seed=3, size=32)
    assert a.x.shape == (200, 1, 32, 32) and np.array_equal(a.x, b.x) and np.array_equal(a.factors, b.factors)
    assert set(np.unique(a.x)) == {0.0, 1.0}
    assert a.factor_names == FACTOR_NAMES and np.array_equal(a.y, a.factors[:, 0])
    assert not np.array_equal(make_sprites(200, seed=4, size=32).factors, a.factors)
    assert len({tuple(f) for f in a.factors}) == 200  # drawn without replacement


def test_each_factor_changes_the_image():
    whole = make_sprites(None, grid=SMALL_GRID, size=32)
    assert len(whole) == np.prod(SMALL_GRID)
    index = {tuple(f): i for i, f in enumerate(whole.factors)}
    base = (1, 2, 3, 4, 4)
    for k in range(5):
        moved = list(base)
        moved[k] += 1
        assert not np.array_equal(whole.x[index[base]], whole.x[index[tuple(moved)]]), FACTOR_NAMES[k]
    bigger = whole.x[index[(0, 3, 0, 4, 4)]].sum()
    assert bigger > whole.x[index[(0, 0, 0, 4, 4)]].sum()  # scale grows the shape


def test_sprites_is_a_data_spec():
    data = load_data("sprites:50")
    assert data.x.shape == (50, 1, 64, 64) and data.factors.shape == (50, 5)
    assert data.subset(np.arange(10)).factors.shape == (10, 5)


def render_whole_frame(values, size):
    """The drawing as first written: every shape's test on every pixel of the frame (the reference)."""
    shape, scale, rotation, px, py = (np.asarray(v, dtype=np.float64)[:, None, None] for v in values)
    half = 0.16 * size * scale
    margin = 0.2 * size
    cx, cy = margin + px * (size - 1 - 2 * margin), margin + py * (size - 1 - 2 * margin)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    du, dv = (u - cx) / half, (v - cy) / half
    cos, sin = np.cos(rotation), np.sin(rotation)
    a, b = cos * du + sin * dv, -sin * du + cos * dv
    square = np.maximum(np.abs(a), np.abs(b)) <= 1.0
    ellipse = a**2 + (b / 0.5) ** 2 <= 1.0
    hx, hy = 1.15 * a, -1.15 * b + 0.25
    heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    return np.where(shape == 0, square, np.where(shape == 1, ellipse, heart)).astype(np.float32)


@pytest.mark.parametrize("size", [64, 32, 17])
def test_drawing_in_windows_gives_the_whole_frame_images(size):
    rng = np.random.default_rng(size)
    values = factor_values(FULL_GRID)
    flat = rng.choice(math.prod(FULL_GRID), 400, replace=False)
    factors = np.stack(np.unravel_index(flat, FULL_GRID), axis=1)
    given = [values[i][factors[:, i]] for i in range(5)]
    assert np.array_equal(render(given, size), render_whole_frame(given, size))
    # Centres past the frame's edge and other scales: the windows are clipped, not wrapped.
    odd = [np.array([0.0, 1, 2, 0]), np.array([1.0, 0.5, 1.3, 0.2]), np.zeros(4), np.array([-0.2, 1.1, 0.5, 1.0]),
           np.array([0.5, 1.3, -0.1, 0.0])]
    assert np.array_equal(render(odd, size), render_whole_frame(odd, size))


def test_the_sprites_data_is_the_same_as_before_the_drawing_got_faster():
    data = make_sprites(300, seed=0)  # the bytes the whole-frame drawing made, before the windows
    assert hashlib.sha256(data.x.tobytes()).hexdigest() == (
        "252caab32f0f0620334185fc23789e5ec2ad3bb43d9becc73fcfb91921464689"
    )


def test_drawing_shows_progress_only_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # the bar would wait a second before showing
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    make_sprites(50, size=16)
    err = capsys.readouterr().err
    assert "drawing sprites" in err and "/50 [" in err  # count and time left
    make_sprites(50, size=16, progress=False)  # the API's switch (vaekit train --quiet)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    load_data("sprites:50")
    assert capsys.readouterr().err == ""
