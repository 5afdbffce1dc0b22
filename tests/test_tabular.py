import json

import numpy as np
import pandas as pd
import pytest

from vaekit.errors import ConfigError, DataError
from vaekit.tabular import TablePreprocessor


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.normal(40, 10, 200),
        "income": rng.lognormal(10, 1, 200),
        "colour": rng.choice(["red", "green", "blue"], 200),
        "member": rng.choice([True, False], 200),
        "const": np.full(200, 7.0),
    })


def test_standard_scaling_one_hot_and_constant_columns(frame):
    pre = TablePreprocessor().fit(frame)
    out = pre.transform(frame)
    assert out.dtype == np.float32
    assert pre.output_names == [
        "age", "income", "colour=blue", "colour=green", "colour=red", "member=False", "member=True", "const",
    ]
    assert np.allclose(out[:, :2].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(out[:, :2].std(axis=0), 1, atol=1e-4)
    assert set(np.unique(out[:, 2:7])) == {0.0, 1.0}
    assert (out[:, 2:5].sum(axis=1) == 1).all()
    assert (out[:, 7] == 0).all()  # constant column: centred, scale 1
    shifted = frame.iloc[:1].assign(const=8.0)
    assert pre.transform(shifted)[0, 7] == 1.0  # a change in a constant column still shows


def test_robust_scaling_ignores_outliers(frame):
    spoiled = frame.copy()
    spoiled.loc[:9, "age"] = 1e6
    robust = TablePreprocessor(scaling="robust").fit(spoiled).transform(frame)
    standard = TablePreprocessor(scaling="standard").fit(spoiled).transform(frame)
    assert 0.5 < robust[:, 0].std() < 2  # the bulk keeps unit-ish spread
    assert standard[:, 0].std() < 0.01  # squashed by the outliers


def test_unseen_category_encodes_as_zeros(frame):
    pre = TablePreprocessor().fit(frame)
    row = pre.transform(frame.iloc[:1].assign(colour="purple"))
    assert (row[0, 2:5] == 0).all()


def test_state_round_trips_through_json(frame):
    pre = TablePreprocessor(scaling="robust").fit(frame)
    again = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert np.array_equal(again.transform(frame), pre.transform(frame))


def test_missing_values_error_names_columns_or_impute(frame):
    holes = frame.copy()
    holes.loc[3, "age"] = np.nan
    holes.loc[5, "colour"] = None
    with pytest.raises(DataError, match=r"'age', 'colour' have missing values \(2 row\(s\)\).*--impute"):
        TablePreprocessor().fit(holes)
    pre = TablePreprocessor(missing="impute").fit(holes)
    out = pre.transform(holes)
    assert np.isfinite(out).all()
    assert out[3, 0] == pytest.approx((np.nanmedian(holes["age"]) - pre.columns[0].center) / pre.columns[0].scale)


def test_score_time_checks(frame):
    pre = TablePreprocessor().fit(frame)
    with pytest.raises(DataError, match="lacks column"):
        pre.transform(frame.drop(columns="age"))
    with pytest.raises(DataError, match="was not fit on; drop them"):
        pre.transform(frame.assign(extra=1))
    with pytest.raises(DataError, match="'age' is numeric in the model but holds text such as 'old'"):
        pre.transform(frame.astype({"age": object}).assign(age="old"))
    with pytest.raises(DataError, match="no rows"):
        pre.transform(frame.iloc[:0])
    with pytest.raises(DataError, match="infinite"):
        pre.transform(frame.assign(age=np.inf))


def test_arrays_are_matched_by_position():
    x = np.arange(12.0).reshape(6, 2)
    pre = TablePreprocessor().fit(x)
    assert pre.feature_names_in == ["x0", "x1"]
    named = pd.DataFrame(x, columns=["a", "b"])
    assert np.array_equal(pre.transform(named), pre.transform(x))
    with pytest.raises(DataError, match="has 3 column\\(s\\) but the model was fit on 2"):
        pre.transform(np.ones((2, 3)))
    with pytest.raises(DataError, match="1-D"):
        pre.transform(np.ones(3))


def test_text_without_categories_and_identifier_columns_are_errors(frame):
    with pytest.raises(DataError, match="'colour' holds text"):
        TablePreprocessor(categorical=None).fit(frame.drop(columns="member"))
    ids = frame.assign(name=[f"row{i}" for i in range(len(frame))])
    with pytest.raises(DataError, match="'name' has 200 distinct text values.*--id-column"):
        TablePreprocessor().fit(ids)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="scaling"):
        TablePreprocessor(scaling="minmax")
    with pytest.raises(ConfigError, match="missing"):
        TablePreprocessor(missing="drop")
