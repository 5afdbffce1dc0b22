"""``vaekit detect``: fit an anomaly detector, score data with it, evaluate it.

Thin subcommands over :class:`vaekit.estimators.VAEAnomalyDetector`. Tables
keep their column types (text columns become categories); ``--id-column``
and ``--label-column`` are taken out before the model sees the rows. Every
output path is checked before anything is written, so a bad flag never
leaves half a result behind.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.cli.common import AddCommand, add_seed_flag, output_path
from vaekit.config import SEQUENCE_ARCHS
from vaekit.data import load_data
from vaekit.data.tables import _read_frame, printable
from vaekit.errors import DataError, RunDirError

AGGREGATIONS = ("mean", "window", "last")  # vaekit.series_detection's, which imports torch
from vaekit.files import atomic_write

# torch (the estimator), pandas and matplotlib are imported inside the functions: `vaekit --help` must not load them.

TABLE_SUFFIXES = (".csv", ".parquet")
#: Written by ``detect fit`` beside the detector: the id and label columns it was given.
COLUMNS_FILE = "columns.json"


def add_detect(command: AddCommand) -> None:
    """Register ``vaekit detect {fit,score,evaluate}`` on the main parser's subcommands."""
    detect = command("detect", None, "anomaly detection: fit on data, score rows, evaluate against labels")
    inner = detect.add_subparsers(dest="detect_command", metavar="ACTION", parser_class=type(detect))
    detect.set_defaults(func=lambda args: _usage(detect))

    def action(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = inner.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = action("fit", cmd_fit, "fit a VAE anomaly detector on unlabelled rows and write it to --out")
    _data_flags(p)
    p.add_argument("--out", required=True, help="folder for the detector, its training scores and plots")
    p.add_argument("--contamination", type=float, default=0.1, help="expected outlier share; sets the threshold")
    p.add_argument("--score", choices=("elbo", "reconstruction", "iw"), default="elbo", help="anomaly score")
    p.add_argument("--samples", type=int, default=10, help="posterior draws per row for the score (default: 10)")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (default: 2000)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data (overrides --steps)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent dimensions (default: from the data)")
    p.add_argument("--scaling", choices=("auto", "standard", "robust", "none"), default="auto",
                   help="column scaling (auto: standard for tables, robust for series)")
    p.add_argument("--impute", action="store_true", help="fill missing values (median, most frequent category)")
    p.add_argument("--trim-fraction", type=float, default=0.3, help="share of worst rows per batch left out (0 for clean data)")
    p.add_argument("--prior", default="normal",
                   help="p(z): normal, a learned mixture (mog) or the VampPrior (vamp), as train --prior")
    p.add_argument("--prior-components", type=int, default=None, metavar="K",
                   help="mog components or vamp pseudo-inputs (default: 10; vamp: 500, or one per row if fewer)")
    p.add_argument("--posterior", default="gaussian", help="q(z|x): gaussian, or iaf (two flow steps)")
    p.add_argument("--n-models", type=int, default=1,
                   help="tables and images: fit this many seeds and average the ranks of their scores (default: 1)")
    series = p.add_argument_group("time series (with --window or --time-column)")
    series.add_argument("--window", type=_window, default=None,
                        help="readings per window: a number, or auto (two of the series' periods; the default)")
    series.add_argument("--stride", type=int, default=1, help="step between training windows (default: 1)")
    series.add_argument("--aggregation", choices=AGGREGATIONS, default="window",
                        help="a reading's score from its windows: their mean -ELBO (window, the default), the mean of "
                        "its own term (mean), or its term in the last window (last)")
    series.add_argument("--arch", choices=("mlp", *SEQUENCE_ARCHS), default=None,
                        help="networks over a window (default: mlp, the fastest on a CPU)")
    add_seed_flag(p)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")

    p = action("score", cmd_score, "score rows with a fitted detector: CSV of id, score, is_anomaly")
    p.add_argument("detector_dir", metavar="DIR")
    _data_flags(p)
    p.add_argument("--out", required=True, help="scores file (.csv); plots are written beside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")

    p = action("evaluate", cmd_evaluate, "ROC-AUC, average precision and the confusion at the threshold")
    p.add_argument("detector_dir", metavar="DIR")
    _data_flags(p)
    p.add_argument("--plots", default=None, metavar="DIR", help="also write ROC, PR and histogram plots here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--overwrite", action="store_true", help="replace existing plots")


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="FILE.csv, FILE.parquet, FILE.npz, FILE.npy, or a data spec")
    p.add_argument("--label-column", default=None, help="column with 1 = anomaly, 0 = normal (never trained on)")
    p.add_argument("--id-column", default=None, help="column identifying rows, copied to the scores")
    p.add_argument("--split", default="train", choices=("train", "test"), help="split of datasets that have one")
    series = p.add_argument_group("time series")
    series.add_argument("--time-column", default=None, help="column of timestamps: the table is a time series")
    series.add_argument("--value-columns", default=None, metavar="A,B",
                        help="columns to model (default: every numeric column but the time and label columns)")
    series.add_argument("--label-windows", default=None, metavar="FILE.json",
                        help="labelled anomaly windows: [[start, end], ...] or NAB's {\"folder/file.csv\": [...]}")
    series.add_argument("--duplicates", choices=("error", "keep", "mean"), default="error",
                        help="repeated timestamps: refuse, keep in file order, or average")


def _window(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"invalid window {text!r}: pass a number of readings >= 2, or auto")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# --------------------------------------------------------------------------- commands


def cmd_fit(args: argparse.Namespace) -> int:
    from vaekit.estimators import VAEAnomalyDetector  # noqa: PLC0415 - imports torch: loaded when the command runs

    out = Path(args.out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not args.overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it, or choose another --out")
    is_series = args.window is not None or args.time_column is not None
    if is_series:
        series = _read_series(args, {})
        X, y, ids = _series_frame(series, args.time_column), series.labels, None
    else:
        _refuse_series_flags(args)
        X, y, ids = read_rows(args.data, args.label_column, args.id_column, args.split)
    detector = VAEAnomalyDetector(
        contamination=args.contamination, score_type=args.score, n_samples=args.samples, steps=args.steps,
        epochs=args.epochs, latent_dim=args.latent_dim, scaling=args.scaling,
        missing="impute" if args.impute else "error", trim_fraction=args.trim_fraction, random_state=args.seed,
        n_models=args.n_models, prior=args.prior, prior_components=args.prior_components, posterior=args.posterior,
        **(_series_params(args) if is_series else {}),
    ).fit(X)
    # Written into a fresh folder, then moved into place: an old --out survives a failure.
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    detector.save(tmp)
    # The id and label columns are not features: remembered, so score and evaluate leave them out by themselves.
    columns = {"id_column": args.id_column, "label_column": args.label_column, "time_column": args.time_column,
               "value_columns": detector.value_columns_ if is_series else None}
    (tmp / COLUMNS_FILE).write_text(json.dumps(columns) + "\n")
    scores = detector.decision_scores_
    if is_series:  # the detector saw the series in time order; the outputs follow the file's rows
        _write_series_outputs(tmp / "scores", series, scores, detector, args.time_column)
    else:
        _write_scores(tmp / "scores.csv", ids, scores, detector.threshold_)
        _write_plots(tmp / "scores", scores, detector.threshold_, y)
    metrics = _metrics(y, scores, detector) if y is not None else None
    if metrics is not None:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    if not args.quiet:
        flagged = int(detector.labels_.sum())
        what = f"{len(scores)} readings (windows of {detector.window_})" if is_series else f"{len(scores)} rows"
        print(f"fitted on {what}; threshold {detector.threshold_:.4g} flags {flagged}; wrote {out}")
        if metrics is not None:
            print(_metrics_line(metrics))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    out = output_path(args.out, (".csv",), args.overwrite)
    stem = out.with_suffix("")
    detector = _load(args.detector_dir)
    fitted = _fitted_columns(args.detector_dir)
    if detector.scaler_ is not None:
        series = _read_series(args, fitted)
        _check_free(_plot_paths(stem, series.labels is not None, series=True), args.overwrite)
        time_column = args.time_column or fitted.get("time_column")
        scores = detector.anomaly_score(_series_frame(series, time_column))  # in time order, as the series
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_series_outputs(stem, series, scores, detector, time_column)
    else:
        _refuse_series_flags(args)
        X, y, ids = read_rows(args.data, args.label_column, args.id_column, args.split, fitted)
        _check_free(_plot_paths(stem, y is not None), args.overwrite)
        scores = detector.anomaly_score(X)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_scores(out, ids, scores, detector.threshold_)
        _write_plots(stem, scores, detector.threshold_, y)
    if not args.quiet:
        flagged = int((scores > detector.threshold_).sum())
        what = "readings" if detector.scaler_ is not None else "rows"
        print(f"scored {len(scores)} {what}, {flagged} above the threshold; wrote {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    detector = _load(args.detector_dir)
    fitted = _fitted_columns(args.detector_dir)
    is_series = detector.scaler_ is not None
    if args.plots is not None:
        _check_free(_plot_paths(Path(args.plots) / "scores", True, series=is_series), args.overwrite)
    if is_series:
        series = _read_series(args, fitted)
        time_column = args.time_column or fitted.get("time_column")
        y, X = series.labels, _series_frame(series, time_column)
    else:
        _refuse_series_flags(args)
        X, y, _ = read_rows(args.data, args.label_column, args.id_column, args.split, fitted)
    if y is None:
        how = " or --label-windows FILE.json" if is_series else ""
        raise DataError(f"{args.data} has no 0/1 anomaly labels; pass --label-column NAME{how} (1 = anomaly, 0 = normal)")
    scores = detector.anomaly_score(X)
    metrics = _metrics(y, scores, detector)
    if args.plots is not None:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
        if is_series:
            _write_series_outputs(Path(args.plots) / "scores", series, scores, detector, time_column, table=False)
        else:
            _write_plots(Path(args.plots) / "scores", scores, detector.threshold_, y)
    print(json.dumps(metrics) if args.json else _metrics_line(metrics))
    return 0


# --------------------------------------------------------------------------- data


def read_rows(
    spec: str, label_column: str | None, id_column: str | None, split: str = "train", fitted: dict | None = None
):
    """Rows to score, their labels (1 = anomaly) and ids, from a table, an array file or a data spec.

    Tables come back as DataFrames so that text columns stay categories.
    ``fitted``: the id and label columns the detector was fit with; each one
    not given is used when the table has it.
    """
    path = Path(spec)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _read_table(path, label_column, id_column, fitted or {})
    if label_column is not None or id_column is not None:
        raise DataError("--label-column and --id-column apply to .csv and .parquet tables only")
    data = load_data(spec, split=split)
    labels = None
    if data.y is not None and np.isin(np.asarray(data.y), (0, 1)).all():
        labels = np.asarray(data.y).astype(np.int64)  # 0/1 labels: an anomaly benchmark file
    x = data.x if data.x.ndim == 4 else data.x.reshape(len(data.x), -1)
    return x, labels, None


def _read_table(path: Path, label_column: str | None, id_column: str | None, fitted: dict):
    import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

    if not path.is_file():
        raise DataError(f"no such file: {path}")
    frame = _read_frame(path, pd)
    frame.columns = [str(c) for c in frame.columns]
    if label_column is None and fitted.get("label_column") in frame.columns:
        label_column = fitted["label_column"]
    if id_column is None and fitted.get("id_column") in frame.columns:
        id_column = fitted["id_column"]
    y = ids = None
    for flag, name in (("--label-column", label_column), ("--id-column", id_column)):
        if name is not None and name not in frame.columns:
            raise DataError(
                f"{flag} {name!r} is not in {path}; available columns: {', '.join(map(printable, frame.columns))}"
            )
    if label_column is not None:
        y = _binary_labels(frame.pop(label_column).to_numpy(), f"label column {label_column!r}")
    if id_column is not None:
        ids = frame.pop(id_column).to_numpy()
    if frame.shape[1] == 0:
        raise DataError(f"{path} has no feature columns besides the label and id columns")
    return frame, y, ids


def _binary_labels(values: np.ndarray, what: str) -> np.ndarray:
    """0/1 labels (1 = anomaly) from booleans or numbers 0 and 1."""
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError):
        numbers = None
    if numbers is None or not np.isin(numbers, (0.0, 1.0)).all():
        shown = ", ".join(map(str, list(dict.fromkeys(values.tolist()))[:5]))
        raise DataError(f"{what} must hold 0 (normal) and 1 (anomaly), found {shown}")
    return numbers.astype(np.int64)


def _read_series(args: argparse.Namespace, fitted: dict):
    """The series in ``--data`` (time order), with the fit's time, value and label columns unless flags say else."""
    from vaekit.timeseries import read_series  # noqa: PLC0415 - pandas: loaded only for a series

    if Path(args.data).suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"a time series is read from a .csv or .parquet table, not {args.data}")
    if not Path(args.data).is_file():
        raise DataError(f"no such file: {args.data}")
    label_column = args.label_column
    if label_column is None and args.label_windows is None:
        label_column = fitted.get("label_column")
    values = args.value_columns.split(",") if args.value_columns else fitted.get("value_columns")
    return read_series(
        args.data, time_column=args.time_column or fitted.get("time_column"), value_columns=values,
        label_column=label_column, label_windows=args.label_windows, duplicates=args.duplicates,
        missing="interpolate" if getattr(args, "impute", False) else "error",
    )


def _series_frame(series, time_column: str | None):
    """The read series as the detector's input: its time column (if any) and value columns, in time order."""
    import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

    frame = pd.DataFrame(series.values, columns=series.columns)
    if time_column is not None:
        frame.insert(0, time_column, series.times)
    return frame


def _series_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"window": args.window or "auto", "stride": args.stride, "time_column": args.time_column,
            "aggregation": args.aggregation, "arch": args.arch, "duplicates": args.duplicates}


def _refuse_series_flags(args: argparse.Namespace) -> None:
    """Time-series flags on a detector or data that is not a series: an error, not silently ignored."""
    given = [flag for flag, value in (("--value-columns", args.value_columns), ("--label-windows", args.label_windows))
             if value is not None]
    if args.duplicates != "error":
        given.append("--duplicates")
    if given:
        raise DataError(f"{', '.join(given)} apply to time series; fit with --time-column NAME or --window W")


def _metrics(y: np.ndarray, scores: np.ndarray, detector) -> dict[str, Any]:
    """Point-wise metrics at the threshold; for a series also VUS-ROC, VUS-PR and range precision/recall."""
    from vaekit.evaluation import detection_metrics  # noqa: PLC0415 - imports torch: loaded when the command runs

    metrics = detection_metrics(y, scores, detector.threshold_)
    if detector.scaler_ is not None and 0 < y.sum() < len(y):
        from vaekit.range_metrics import series_metrics  # noqa: PLC0415 - as above

        metrics.update(series_metrics(y, scores, window=detector.window_, threshold=detector.threshold_))
    return metrics


# --------------------------------------------------------------------------- outputs


def _fitted_columns(folder: str) -> dict:
    """The id and label columns ``detect fit`` was given (none for a detector saved from Python)."""
    path = Path(folder) / COLUMNS_FILE
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        raise DataError(f"{path} is not valid JSON; fit the detector again or delete the file") from None
    return saved if isinstance(saved, dict) else {}


def _load(folder: str):
    from vaekit.estimators import VAEAnomalyDetector  # noqa: PLC0415 - imports torch: loaded when the command runs

    if not Path(folder).is_dir():
        raise RunDirError(f"no such detector folder: {folder}; create one with: vaekit detect fit --out {folder}")
    return VAEAnomalyDetector.load(folder)


def _check_free(paths: list[Path], overwrite: bool) -> None:
    taken = [str(p) for p in paths if p.exists()]
    if taken and not overwrite:
        raise DataError(f"{', '.join(taken)} already exist(s); pass --overwrite to replace, or choose another --out")


def _plot_paths(stem: Path, labelled: bool, series: bool = False) -> list[Path]:
    names = ["_hist.png"] + (["_roc.png", "_pr.png"] if labelled else []) + (["_series.png"] if series else [])
    return [stem.with_name(stem.name + suffix) for suffix in names]


def _write_series_outputs(stem: Path, series, scores: np.ndarray, detector, time_column: str | None,
                          table: bool = True) -> None:
    """Scores per reading in the file's row order (``STEM.csv``: time, score, is_anomaly) and the plots.

    ``scores`` are in time order, as ``series``; the table goes back to the file's rows, the plot stays in time.
    """
    from vaekit import plots  # noqa: PLC0415 - matplotlib: loaded only when plotting

    plots.plot_series_scores(series.times, series.values, scores, detector.threshold_,
                             stem.with_name(stem.name + "_series.png"), labels=series.labels, columns=series.columns)
    if table:
        name = time_column or "reading"
        ids = series.in_input_order(series.times) if series.times is not None else np.arange(len(scores))
        _write_scores(stem.with_name(stem.name + ".csv"), ids, series.in_input_order(scores), detector.threshold_,
                      id_name=name)
    _write_plots(stem, scores, detector.threshold_, series.labels)  # a histogram and curves: order does not matter


def _write_scores(path: Path, ids: np.ndarray | None, scores: np.ndarray, threshold: float, id_name: str = "id") -> None:
    import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

    table: dict[str, Any] = {} if ids is None else {id_name: ids}
    table.update(score=scores, is_anomaly=(scores > threshold).astype(int))
    frame = pd.DataFrame(table)
    atomic_write(path, lambda f: frame.to_csv(f, index=False), mode="w")


def _write_plots(stem: Path, scores: np.ndarray, threshold: float, y: np.ndarray | None) -> None:
    from vaekit import plots  # noqa: PLC0415 - matplotlib: loaded only when plotting

    hist, *curves = _plot_paths(stem, y is not None)
    plots.plot_score_histogram(scores, threshold, hist, labels=y)
    if y is not None and 0 < y.sum() < len(y):
        plots.plot_roc_pr(y, scores, roc_path=curves[0], pr_path=curves[1])


def _metrics_line(m: dict[str, Any]) -> str:
    ranges = f"VUS-PR {m['vus_pr']:.4f}  VUS-ROC {m['vus_roc']:.4f}  " if "vus_pr" in m else ""
    return (
        f"{ranges}ROC-AUC {m['roc_auc']:.4f}  average precision {m['average_precision']:.4f}  "
        f"at the threshold: tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']} "
        f"(precision {m['precision']:.3f}, recall {m['recall']:.3f})"
    )
