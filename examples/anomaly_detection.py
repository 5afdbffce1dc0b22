# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Anomaly detection: rows and images a VAE explains badly
#
# `vaekit.VAEAnomalyDetector` fits a VAE to unlabelled data and scores each
# row by its negative ELBO: high where the model cannot explain the row.
# `contamination`, the share of anomalies you expect in the training data,
# sets the threshold (`threshold_`) that `predict` flags above.
#
# Two cases, both on data bundled with scikit-learn (nothing is downloaded):
#
# 1. a table: benign breast-tumour measurements with 20 malignant ones
#    mixed in, unlabelled, as in ADBench; the detector is fitted on the
#    mixture and scores the same rows;
# 2. images: the 8x8 digits without the 7s; new digits are scored and the
#    7s among them should stand out.
#
# The labels are used only to measure (ROC-AUC with scikit-learn). Pictures go
# to `$VAEKIT_EXAMPLES_OUT` (default `examples/out`). About 20 s on two CPU cores.

# %%
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import vaekit
from vaekit import VAEAnomalyDetector
from vaekit.evaluation import detection_metrics
from vaekit.images import save_image_grid
from vaekit.plots import plot_roc_pr, plot_score_histogram

OUT = Path(os.environ.get("VAEKIT_EXAMPLES_OUT", "examples/out"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A table with anomalies hidden in it
#
# 30 measurement columns in different units: the detector standardizes them.
# It trains on every row, anomalies included; by default it leaves each
# batch's worst-explained 30% of rows out of the gradient (`trim_fraction`),
# so the anomalies are not learned as normal.

# %%
X, y = load_breast_cancer(return_X_y=True)  # (569, 30); y: 0 malignant, 1 benign
benign, malignant = X[y == 1], X[y == 0]
X_table = np.vstack([benign, malignant[rng.choice(len(malignant), 20, replace=False)]])  # (377, 30)
is_anomaly = np.r_[np.zeros(len(benign), dtype=int), np.ones(20, dtype=int)]  # never shown to the detector

detector = VAEAnomalyDetector(contamination=20 / len(X_table), random_state=0).fit(X_table)
scores = detector.decision_scores_  # the training rows' anomaly scores, higher = more anomalous
table = detection_metrics(is_anomaly, scores, detector.threshold_)
forest = IsolationForest(random_state=0).fit(X_table)
forest_auc = roc_auc_score(is_anomaly, -forest.score_samples(X_table))

print(f"table: ROC-AUC {table['roc_auc']:.3f} (IsolationForest {forest_auc:.3f}), "
      f"average precision {table['average_precision']:.3f}")
print(f"table: at the contamination threshold {detector.threshold_:.1f}: {table['tp'] + table['fp']} flagged, "
      f"{table['tp']} of {table['anomalies']} anomalies caught, precision {table['precision']:.2f}")

for path in (
    plot_score_histogram(scores, detector.threshold_, OUT / "anomaly_table_scores.png", labels=is_anomaly),
    *plot_roc_pr(is_anomaly, scores, roc_path=OUT / "anomaly_table_roc.png", pr_path=OUT / "anomaly_table_pr.png"),
):
    print(f"wrote {path}")

# %% [markdown]
# ## 2. Images: a digit the detector never saw
#
# Images `(N, 1, 8, 8)` in [0, 1] get a conv VAE with a Bernoulli
# likelihood. The training digits are known to be clean here, so no rows are
# trimmed (`trim_fraction=0`), and `contamination=0.05` makes the threshold
# the training scores' 95th percentile: new digits above it are flagged.

# %%
digits = vaekit.load_data("digits")
seven = digits.y == 7
x_train, x_normal_test = train_test_split(digits.x[~seven], test_size=0.2, random_state=0)
x_test = np.concatenate([x_normal_test, digits.x[seven][:60]])  # (384, 1, 8, 8): 324 other digits, 60 sevens
test_is_seven = np.r_[np.zeros(len(x_normal_test), dtype=int), np.ones(60, dtype=int)]

image_detector = VAEAnomalyDetector(steps=1000, trim_fraction=0.0, contamination=0.05, random_state=0).fit(x_train)
test_scores = image_detector.anomaly_score(x_test)
images = detection_metrics(test_is_seven, test_scores, image_detector.threshold_)
flagged = image_detector.predict(x_test) == -1  # scikit-learn's convention: -1 = outlier

print(f"images: ROC-AUC {images['roc_auc']:.3f} for the unseen 7s, average precision {images['average_precision']:.3f}")
print(f"images: {flagged.sum()} of {len(x_test)} test digits flagged, {images['tp']} of 60 sevens, "
      f"{images['fp']} of {len(x_normal_test)} others")

order = np.argsort(-test_scores)  # most anomalous first
path = save_image_grid(x_test[order[:32]], OUT / "anomaly_digits_top32.png", nrow=8)
print(f"wrote {path}")

# %% [markdown]
# ## 3. A time series: machine readings with a fault
#
# A synthetic sensor: a daily cycle of 96 readings (every 15 minutes) with
# noise and a slow drift, and two faults: a stuck sensor (a flat stretch)
# and a short surge. With `window="auto"` the detector finds the cycle's
# length and models windows of it; every reading gets a score, from the
# windows covering it. The metrics include VUS-PR, which credits a detection
# just before or after a labelled window.

# %%
from vaekit.plots import plot_series_scores  # noqa: E402 - kept beside the section that uses it
from vaekit.range_metrics import series_metrics  # noqa: E402

rng = np.random.default_rng(1)
n = 96 * 40  # 40 days
t = np.arange(n)
reading = np.sin(2 * np.pi * t / 96) + 0.3 * np.sin(4 * np.pi * t / 96) + 0.002 * t / 96 + 0.08 * rng.normal(size=n)
fault = np.zeros(n, dtype=int)
reading[2000:2060] = reading[2000]  # stuck: the same value for 15 hours
fault[2000:2060] = 1
reading[3100:3108] += 1.2  # a surge of two hours
fault[3100:3108] = 1
times = np.datetime64("2024-03-01T00:00") + t * np.timedelta64(15, "m")

series_detector = VAEAnomalyDetector(window="auto", contamination=0.02, random_state=0).fit(reading)
series_scores = series_detector.decision_scores_  # (n,): one per reading
found = series_metrics(fault, series_scores, window=series_detector.window_, threshold=series_detector.threshold_)
print(f"series: window {series_detector.window_} readings; VUS-PR {found['vus_pr']:.3f} (a constant score: "
      f"{fault.mean():.3f}), ROC-AUC {found['roc_auc']:.3f}, range recall at the threshold {found['range_recall']:.2f}")

path = plot_series_scores(times, reading, series_scores, series_detector.threshold_, OUT / "anomaly_series.png",
                          labels=fault, columns=["sensor"])
print(f"wrote {path}")
