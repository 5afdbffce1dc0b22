"""The sprites generator: deterministic, binary, its factors known and covering the grid."""

import numpy as np

from vaekit.data import load_data
from vaekit.data.sprites import FACTOR_NAMES, SMALL_GRID, make_sprites


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
