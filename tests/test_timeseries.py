"""Tests for vaekit.timeseries (reading, windows, scores per reading, period, scaling) and plots.plot_series_scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from PIL import Image

from vaekit import plots
from vaekit.errors import ConfigError, DataError
from vaekit.timeseries import (
    SeriesScaler,
    auto_window,
    estimate_period,
    last_step,
    per_reading,
    read_series,
    sliding_windows,
)

NAB = SHARED_DATA / "nab"


def hourly(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h")


def frame(n: int = 10, **extra) -> pd.DataFrame:
    """``n`` hourly readings: timestamp as text (as in a CSV), value = reading index."""
    return pd.DataFrame({"timestamp": hourly(n).astype(str), "value": np.arange(n, dtype=float), **extra})


# ---------------------------------------------------------------- read_series: sources and columns


def test_csv_is_sorted_by_time_and_scores_come_back_in_input_order(tmp_path):
    rng = np.random.default_rng(0)
    shuffled = frame(20).iloc[rng.permutation(20)].reset_index(drop=True)
    path = tmp_path / "s.csv"
    shuffled.to_csv(path, index=False)
    series = read_series(path, time_column="timestamp")
    assert series.values.shape == (20, 1) and series.values.dtype == np.float64
    assert series.times.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(series.values[:, 0], np.arange(20))  # the value is the time rank
    assert np.all(np.diff(series.times) > np.timedelta64(0))
    np.testing.assert_array_equal(shuffled["value"].to_numpy()[series.order], series.values[:, 0])
    # A per-reading score (here the reading's value) goes back to the row it came from.
    np.testing.assert_array_equal(series.in_input_order(series.values[:, 0]), shuffled["value"].to_numpy())
    assert series.columns == ["value"] and series.labels is None and series.n_gaps == 0


def test_arrays_have_no_time_column_and_keep_their_order():
    one = read_series(np.array([3.0, 1.0, 2.0]))
    assert one.columns == ["value"] and one.times is None
    np.testing.assert_array_equal(one.values[:, 0], [3, 1, 2])
    np.testing.assert_array_equal(one.order, [0, 1, 2])
    two = read_series(np.arange(8).reshape(4, 2))
    assert two.columns == ["x0", "x1"] and two.values.shape == (4, 2)


def test_numeric_time_column_stays_numbers():
    series = read_series(pd.DataFrame({"t": [3, 1, 2], "v": [30.0, 10.0, 20.0]}), time_column="t")
    np.testing.assert_array_equal(series.times, [1, 2, 3])
    np.testing.assert_array_equal(series.values[:, 0], [10, 20, 30])


def test_offset_aware_times_become_utc():
    data = pd.DataFrame({"t": ["2024-01-01T01:00:00+01:00", "2024-01-01T00:30:00+00:00"], "v": [1.0, 2.0]})
    series = read_series(data, time_column="t")
    np.testing.assert_array_equal(series.times, np.array(["2024-01-01T00:00", "2024-01-01T00:30"], "datetime64[ns]"))


def test_value_columns_default_to_numeric_columns_but_time_and_label():
    data = frame(6, other=np.ones(6), label=[0, 0, 1, 0, 0, 0], name=list("abcdef"))
    series = read_series(data, time_column="timestamp", label_column="label")
    assert series.columns == ["value", "other"]
    assert read_series(data, time_column="timestamp", value_columns=["other"]).columns == ["other"]


def test_unparseable_time_names_column_row_value_and_file_line(tmp_path):
    data = frame(5)
    data.loc[3, "timestamp"] = "yesterday"
    path = tmp_path / "s.csv"
    data.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"time column 'timestamp'.*'yesterday' at row 3 \(line 5 of the file\)"):
        read_series(path, time_column="timestamp")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_column": "time"}, r"time column 'time' is not in the data; available columns: 'timestamp', 'value'"),
        ({"label_column": "y"}, r"label column 'y' is not in the data; available columns"),
        ({"value_columns": ["v"]}, r"value column\(s\) 'v' are not in the data; available: 'timestamp', 'value'"),
    ],
)
def test_absent_columns_list_the_available_ones(kwargs, message):
    with pytest.raises(DataError, match=message):
        read_series(frame(4), **kwargs)


def test_text_in_a_value_column_names_the_value_and_the_columns():
    data = frame(4).astype({"value": object})
    data.loc[2, "value"] = "n/a"
    with pytest.raises(DataError, match=r"value column 'value' holds text such as 'n/a' at row 2; fix those values.*"
                                        r"'timestamp', 'value'"):
        read_series(data, time_column="timestamp")  # found by the default choice of columns too
    with pytest.raises(DataError, match="holds text such as 'n/a'"):
        read_series(data, time_column="timestamp", value_columns=["value"])


def test_no_value_columns_is_an_error_naming_the_columns():
    with pytest.raises(DataError, match=r"no numeric value columns.*available columns: 'timestamp'.*time column"):
        read_series(pd.DataFrame({"timestamp": hourly(3).astype(str)}))


@pytest.mark.parametrize("setting", [{"duplicates": "drop"}, {"gaps": "fill"}, {"missing": "zero"}])
def test_bad_settings_are_config_errors(setting):
    with pytest.raises(ConfigError, match="is not one of"):
        read_series(frame(4), time_column="timestamp", **setting)


def test_too_short_and_infinite_series_are_errors():
    with pytest.raises(DataError, match="1 reading.*at least 2"):
        read_series(np.array([1.0]))
    with pytest.raises(DataError, match=r"'value' hold infinite values \(1 reading\(s\)\); fix or drop those rows"):
        read_series(np.array([1.0, np.inf, 2.0]))


def test_unreadable_sources_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"not a \.csv or \.parquet file"):
        read_series(tmp_path / "series.txt")
    with pytest.raises(DataError, match="shape"):
        read_series(np.zeros((2, 2, 2)))


# ---------------------------------------------------------------- duplicates, gaps, missing values


def duplicated() -> pd.DataFrame:
    """Readings at hours 0, 1, 1, 2 (input rows 2, 0, 3, 1): hour 1 holds values 10 and 30."""
    t = hourly(3).astype(str)
    return pd.DataFrame({"timestamp": [t[1], t[2], t[0], t[1]], "value": [10.0, 20.0, 0.0, 30.0],
                         "label": [0, 0, 0, 1]})


def test_duplicated_timestamps_are_an_error_by_default():
    with pytest.raises(DataError, match=r"^1 duplicated timestamps, first at 2024-01-01 01:00:00; pass "
                                        r"duplicates='keep' \(CLI: --duplicates keep\).*'mean' to average them$"):
        read_series(duplicated(), time_column="timestamp")


def test_duplicates_keep_holds_them_in_file_order():
    series = read_series(duplicated(), time_column="timestamp", label_column="label", duplicates="keep")
    np.testing.assert_array_equal(series.values[:, 0], [0, 10, 30, 20])
    np.testing.assert_array_equal(series.order, [2, 0, 3, 1])
    np.testing.assert_array_equal(series.labels, [0, 0, 1, 0])
    np.testing.assert_array_equal(series.in_input_order(series.values[:, 0]), duplicated()["value"])
    assert series.n_gaps == 0  # a repeated timestamp is no step, not a shorter median step


def test_duplicates_mean_averages_and_keeps_one_row_per_timestamp():
    series = read_series(duplicated(), time_column="timestamp", label_column="label", duplicates="mean")
    np.testing.assert_array_equal(series.values[:, 0], [0, 20, 20])  # hour 1: mean of 10 and 30
    np.testing.assert_array_equal(series.order, [2, 0, 1])  # each timestamp's first input row
    np.testing.assert_array_equal(series.labels, [0, 1, 0])  # anomalous if any of its readings is
    # One result per distinct timestamp, in the order of their first input rows (0: hour 1, 1: hour 2, 2: hour 0).
    np.testing.assert_array_equal(series.in_input_order(np.array([0.0, 1.0, 2.0])), [1, 2, 0])


def gappy() -> pd.DataFrame:
    times = hourly(12).delete([3, 4, 8])  # 2 readings missing after hour 2, 1 after hour 7
    return pd.DataFrame({"timestamp": times.astype(str), "value": np.arange(9.0)})


def test_gaps_are_counted_in_missing_readings():
    assert read_series(gappy(), time_column="timestamp").n_gaps == 3
    assert read_series(frame(5), time_column="timestamp").n_gaps == 0


def test_gaps_error_names_the_count_and_the_first_gap():
    with pytest.raises(DataError, match=r"3 readings missing .*first between 2024-01-01 02:00:00 and "
                                        r"2024-01-01 05:00:00; .*gaps='ignore' \(CLI: --gaps ignore\)"):
        read_series(gappy(), time_column="timestamp", gaps="error")


def test_missing_values_are_an_error_suggesting_interpolate():
    data = frame(5)
    data.loc[[1, 2], "value"] = np.nan
    with pytest.raises(DataError, match=r"'value' have missing values \(2 reading\(s\)\).*missing='interpolate' "
                                        r"\(CLI: --missing interpolate\)"):
        read_series(data, time_column="timestamp")


def test_interpolate_is_linear_in_time_order_with_nearest_edges():
    data = pd.DataFrame({"t": [4, 0, 1, 2, 3, 5], "v": [8.0, np.nan, 2.0, np.nan, 6.0, np.nan]})
    series = read_series(data, time_column="t", missing="interpolate")
    np.testing.assert_array_equal(series.values[:, 0], [2, 2, 4, 6, 8, 8])
    with pytest.raises(DataError, match="no values to interpolate from"):
        read_series(pd.DataFrame({"v": [np.nan, np.nan], "w": [1.0, 2.0]}), missing="interpolate")


# ---------------------------------------------------------------- labels


def test_label_column_takes_zero_one_or_booleans():
    series = read_series(frame(4, label=[True, False, False, True]), time_column="timestamp", label_column="label")
    assert series.labels.dtype == np.int64
    np.testing.assert_array_equal(series.labels, [1, 0, 0, 1])
    with pytest.raises(DataError, match=r"label column 'label' holds 2 at row 1; labels must be 0 .* or 1"):
        read_series(frame(4, label=[0, 2, 0, 1]), time_column="timestamp", label_column="label")


def test_label_windows_mark_readings_inside_any_window_inclusive():
    windows = [["2024-01-01 01:00:00", "2024-01-01 02:00:00"], ["2024-01-01 06:00", "2024-01-01 06:30"]]
    series = read_series(frame(8), time_column="timestamp", label_windows=windows)
    np.testing.assert_array_equal(series.labels, [0, 1, 1, 0, 0, 0, 1, 0])
    numeric = read_series(pd.DataFrame({"t": np.arange(6), "v": np.ones(6)}), time_column="t", label_windows=[[2, 3]])
    np.testing.assert_array_equal(numeric.labels, [0, 0, 1, 1, 0, 0])


def nab_layout(tmp_path):
    """A series at folder/s.csv and a NAB-style windows.json keyed by folder/name."""
    (tmp_path / "folder").mkdir()
    path = tmp_path / "folder" / "s.csv"
    frame(6).to_csv(path, index=False)
    windows = {"other/s.csv": [["2024-01-01 00:00", "2024-01-01 05:00"]],
               "folder/s.csv": [["2024-01-01 03:00", "2024-01-01 04:00"]]}
    (tmp_path / "windows.json").write_text(json.dumps(windows))
    return path, windows


def test_label_windows_dict_picks_the_key_that_ends_the_path(tmp_path):
    path, windows = nab_layout(tmp_path)
    for given in (windows, tmp_path / "windows.json", str(tmp_path / "windows.json")):
        series = read_series(path, time_column="timestamp", label_windows=given)
        np.testing.assert_array_equal(series.labels, [0, 0, 0, 1, 1, 0])
    list_file = tmp_path / "list.json"
    list_file.write_text(json.dumps(windows["folder/s.csv"]))
    np.testing.assert_array_equal(read_series(path, time_column="timestamp", label_windows=list_file).labels,
                                  [0, 0, 0, 1, 1, 0])


def test_label_windows_errors_say_what_to_pass(tmp_path):
    path, windows = nab_layout(tmp_path)
    with pytest.raises(DataError, match=r"no key of label_windows ends the path .*'x/y.csv'.*list of windows"):
        read_series(path, time_column="timestamp", label_windows={"x/y.csv": []})
    with pytest.raises(DataError, match="not read from a file; pass this series' list"):
        read_series(frame(6), time_column="timestamp", label_windows=windows)
    with pytest.raises(DataError, match=r"no time column; pass time_column \(CLI: --time-column\)"):
        read_series(np.arange(5.0), label_windows=[[1, 2]])
    with pytest.raises(DataError, match=r"cannot read label windows from .*; pass a JSON file"):
        read_series(path, time_column="timestamp", label_windows=tmp_path / "absent.json")
    with pytest.raises(DataError, match=r"label window 0 .* is not a \[start, end\] pair"):
        read_series(path, time_column="timestamp", label_windows=[["2024-01-01"]])
    with pytest.raises(DataError, match="ends .* before it starts"):
        read_series(path, time_column="timestamp", label_windows=[["2024-01-02", "2024-01-01"]])
    with pytest.raises(ConfigError, match="label_column or label_windows, not both"):
        read_series(frame(4, label=[0, 0, 0, 1]), time_column="timestamp", label_column="label",
                    label_windows=[["2024-01-01", "2024-01-02"]])


@pytest.mark.skipif(not NAB.is_dir(), reason="the shared NAB data is not here")
def test_every_nab_series_reads_with_its_windows():
    windows = NAB / "windows.json"
    for path in sorted(NAB.glob("*/*.csv")):
        series = read_series(path, time_column="timestamp", label_windows=windows, duplicates="mean")
        assert np.all(np.diff(series.times) > np.timedelta64(0)), path.name
        assert 0 < series.labels.mean() < 0.2, path.name
        assert auto_window(series.values) >= 16, path.name
    with pytest.raises(DataError, match="duplicated timestamps"):
        read_series(NAB / "realKnownCause" / "machine_temperature_system_failure.csv", time_column="timestamp")


# ---------------------------------------------------------------- windows and scores per reading


@pytest.mark.parametrize(("n", "window", "stride"), [(10, 4, 1), (10, 4, 3), (11, 5, 4), (6, 6, 2)])
def test_sliding_windows_cover_every_reading_and_end_at_the_last(n, window, stride):
    values = np.arange(2 * n, dtype=float).reshape(n, 2)
    windows, starts = sliding_windows(values, window, stride)
    assert windows.dtype == np.float32 and starts.dtype == np.int64
    assert windows.shape == (len(starts), 2, window)
    assert starts[0] == 0 and starts[-1] == n - window
    assert set(np.diff(starts[:-1])) <= {stride}
    for m, s in enumerate(starts):
        np.testing.assert_array_equal(windows[m], values[s : s + window].T)


def test_window_longer_than_the_series_suggests_a_smaller_one():
    with pytest.raises(DataError, match="has 5 readings, fewer than the window of 8; pass a window of at most 5"):
        sliding_windows(np.zeros(5), 8)
    with pytest.raises(ConfigError, match="positive whole number"):
        sliding_windows(np.zeros(5), 0)


@pytest.mark.parametrize("stride", [1, 3])
def test_per_reading_puts_each_window_step_at_its_own_row(stride):
    n, window = 23, 5
    _, starts = sliding_windows(np.zeros(n), window, stride)
    scores = starts[:, None] + np.arange(window)  # (M, W) score = the row of that step
    np.testing.assert_array_equal(per_reading(scores, starts, n, window), np.arange(n))


def test_per_reading_spreads_one_score_per_window_over_its_readings():
    _, starts = sliding_windows(np.zeros(6), 3)  # windows at 0..3
    result = per_reading(np.array([0.0, 3.0, 6.0, 9.0]), starts, 6, 3)
    np.testing.assert_allclose(result, [0, 1.5, 3, 6, 7.5, 9])  # reading 2: windows 0, 1, 2 -> mean 3


def test_last_step_scores_each_reading_from_the_window_ending_at_it():
    n, window = 9, 4
    _, starts = sliding_windows(np.zeros(n), window)
    scores = 100 * np.arange(len(starts))[:, None] + np.arange(window)  # (M, W): window m, step j -> 100 m + j
    # Readings 0..2 are steps of window 0; reading t >= 3 is the last step (3) of window t - 3.
    np.testing.assert_array_equal(last_step(scores, starts, n, window), [0, 1, 2, 3, 103, 203, 303, 403, 503])
    _, strided = sliding_windows(np.zeros(n), window, 2)  # windows at 0, 2, 4, 5
    scores = strided[:, None] + np.arange(window)
    np.testing.assert_array_equal(last_step(scores, strided, n, window), np.arange(n))
    np.testing.assert_array_equal(last_step(np.array([1.0, 2.0, 3.0, 4.0]), strided, n, window),
                                  [1, 1, 1, 1, 2, 2, 3, 3, 4])  # ends at 3, 5, 7, 8


def test_scores_that_do_not_match_the_windows_are_errors():
    _, starts = sliding_windows(np.zeros(6), 3)
    with pytest.raises(DataError, match="pass one score"):
        per_reading(np.zeros(3), starts, 6, 3)
    with pytest.raises(DataError, match=r"pass \(M,\) or \(M, 3\)"):
        last_step(np.zeros((4, 2)), starts, 6, 3)


# ---------------------------------------------------------------- period and window length


def sine(period: float, n: int = 2000, noise: float = 0.3, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / period) + 0.001 * t + noise * rng.normal(size=(n, channels))  # with a trend


def test_estimate_period_finds_a_noisy_sine():
    assert estimate_period(sine(50)) == 50
    assert estimate_period(sine(50, channels=3)) == 50
    assert estimate_period(sine(50, noise=0.0)[:, 0]) == 50


def test_estimate_period_is_none_without_one():
    assert estimate_period(np.random.default_rng(1).normal(size=3000)) is None
    assert estimate_period(np.ones(100)) is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (sine(50), 50),
        (sine(8), 16),  # short periods clip up to 16
        (sine(400, n=4000), 256),  # long ones down to 256
        (np.random.default_rng(2).normal(size=1000), 64),  # no period
        (sine(50, n=120), 30),  # at most N // 4
        (np.arange(10.0), 4),  # at least 4
        (np.arange(3.0), 3),  # at most N
    ],
)
def test_auto_window_rule(values, expected):
    assert auto_window(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (sine(50), 100),  # two periods
        (sine(8, n=1000), 32),  # each period clipped up to 16
        (sine(400, n=4000), 512),  # and down to 256
        (sine(50, n=300), 75),  # still at most N // 4
    ],
)
def test_auto_window_of_several_periods(values, expected):
    assert auto_window(values, periods=2) == expected


# ---------------------------------------------------------------- scaling


def test_scaler_uses_the_training_statistics_on_other_data():
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.normal(10, 2, 4000), rng.normal(-5, 0.5, 4000)])
    scaler = SeriesScaler("robust").fit(train)
    np.testing.assert_allclose(scaler.center_, [10, -5], atol=0.1)
    np.testing.assert_allclose(scaler.scale_, [2, 0.5], rtol=0.05)
    test = np.array([[10.0, -5.0], [30.0, -5.0]])  # shifted test data does not move the scaling
    out = scaler.transform(test)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (test - scaler.center_) / scaler.scale_, rtol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform(out), test, rtol=1e-6)


def test_scaler_kinds_and_degenerate_channels():
    x = np.array([1.0, 1.0, 1.0, 1.0, 5.0])  # IQR 0: robust falls back to the standard deviation
    np.testing.assert_allclose(SeriesScaler("robust").fit(x).scale_, [x.std()])
    np.testing.assert_allclose(SeriesScaler("robust").fit(np.full(5, 7.0)).scale_, [1.0])  # constant: scale 1
    standard = SeriesScaler("standard").fit(np.array([0.0, 2.0]))
    np.testing.assert_allclose([standard.center_[0], standard.scale_[0]], [1.0, 1.0])
    assert SeriesScaler("none").fit(x).transform(x).tolist() == x.astype(np.float32).tolist()
    with pytest.raises(ConfigError, match="kind='minmax' is not one of"):
        SeriesScaler("minmax")


def test_scaler_dict_round_trip_and_errors():
    scaler = SeriesScaler("standard").fit(np.random.default_rng(0).normal(size=(50, 2)))
    again = SeriesScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    x = np.ones((3, 2))
    np.testing.assert_array_equal(again.transform(x), scaler.transform(x))
    with pytest.raises(DataError, match="not fitted; call fit first"):
        SeriesScaler().transform(x)
    with pytest.raises(DataError, match="3 channel.*fit on 2; pass the same value columns"):
        scaler.transform(np.ones((3, 3)))
    with pytest.raises(DataError, match="damaged"):
        SeriesScaler.from_dict({"kind": "robust"})


# ---------------------------------------------------------------- plot_series_scores


@pytest.mark.parametrize(
    ("mask", "spans"),
    [
        ([0, 1, 1, 0, 1, 0, 0, 1], [[1, 3], [4, 5], [7, 8]]),
        ([1, 1, 1], [[0, 3]]),
        ([0, 0], np.zeros((0, 2))),
    ],
)
def test_mask_spans_merge_runs_into_half_open_ranges(mask, spans):
    result = plots._mask_spans(np.array(mask))
    assert result.dtype == np.int64 and result.shape == np.shape(spans)
    np.testing.assert_array_equal(result, spans)


@pytest.fixture
def figures(monkeypatch):
    """Figures the plot functions save, for inspecting their contents."""
    seen = []
    save = plots._save_figure
    monkeypatch.setattr(plots, "_save_figure", lambda fig, path: (seen.append(fig), save(fig, path))[1])
    return seen


def test_plot_series_scores_writes_a_png_with_merged_spans(tmp_path, figures):
    n = 3000
    times = pd.date_range("2024-01-01", periods=n, freq="5min").to_numpy()
    values = np.sin(np.arange(n) / 50)
    scores = np.zeros(n)
    scores[[100, 101, 102, 500, 2000, 2001]] = 5.0  # three runs above the threshold
    labels = np.zeros(n, int)
    labels[90:120] = 1
    path = plots.plot_series_scores(times, values, scores, 1.0, tmp_path / "s.png", labels=labels, columns=["cpu"])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 800
    top, bottom = figures[0].axes
    assert top.get_legend_handles_labels()[1] == ["cpu", "labelled anomaly"]
    flag_collections = [c for ax in (top, bottom) for c in ax.collections if c.get_facecolor()[0][0] > 0.8
                        and c.get_facecolor()[0][1] < 0.2]  # tab:red
    assert [len(c.get_paths()) for c in flag_collections] == [3, 3]  # one shape per run, in both panels
    assert "3 flagged span(s), 6 of 3000 readings" in top.get_title()


def test_plot_series_scores_without_times_and_many_columns(tmp_path, figures):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 9))
    path = plots.plot_series_scores(None, values, rng.exponential(size=500), 3.0, tmp_path / "s.png", title="t")
    assert path.is_file()
    top, bottom = figures[0].axes
    assert bottom.get_xlabel() == "reading" and top.get_title() == "t"
    assert "standardized" in top.get_ylabel()
    assert top.get_legend_handles_labels()[1] == ["10-90% of the 9 columns", "median column"]
    with pytest.raises(DataError, match="pass .* readings and .* scores"):
        plots.plot_series_scores(None, values, np.zeros(3), 1.0, tmp_path / "bad.png")
