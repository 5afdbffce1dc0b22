"""Labels for cvae and m2: parsing, the seeded per-class draw, the repeated labelled rows."""

import numpy as np
import pytest

from vaekit.data.labels import class_labels, draw_per_class, kingma_classifier_weight, semi_supervised_rows
from vaekit.errors import DataError


def test_class_labels_mark_missing_rows_and_refuse_text():
    assert class_labels(np.array([0.0, np.nan, 2.0]), "t", allow_missing=True).tolist() == [0, -1, 2]
    with pytest.raises(DataError, match="without a label"):
        class_labels(np.array([0.0, np.nan]), "t", allow_missing=False)
    with pytest.raises(DataError, match="text labels"):
        class_labels(np.array(["cat", "dog"]), "t", allow_missing=True)
    with pytest.raises(DataError, match="non-integer"):
        class_labels(np.array([0.5, 1.0]), "t", allow_missing=True)


def test_per_class_draw_is_seeded_and_balanced():
    y = np.repeat(np.arange(4), 30)
    rows = np.arange(100)  # the last 20 rows (class 3's tail) are not training rows
    a, b = draw_per_class(y, rows, 5, seed=7), draw_per_class(y, rows, 5, seed=7)
    assert np.array_equal(a, b) and not np.array_equal(a, draw_per_class(y, rows, 5, seed=8))
    assert np.bincount(y[a]).tolist() == [5, 5, 5, 5] and set(a) <= set(rows)
    with pytest.raises(DataError, match="fewer than labels_per_class"):
        draw_per_class(y, rows, 11, seed=0)


def test_labelled_rows_are_repeated_to_their_share_of_the_epoch():
    y = np.repeat(np.arange(10), 1000)
    rows = semi_supervised_rows(y, np.arange(10_000), per_class=10, labelled_share=0.1, seed=0)
    assert len(rows.labelled) == 100 and rows.repeats == 11  # 0.1 / 0.9 * 9,900 / 100
    share = np.isin(rows.fit_rows, rows.labelled).mean()
    assert share == pytest.approx(0.1, abs=0.01)
    assert kingma_classifier_weight(50_000, 100) == pytest.approx(50.0)
