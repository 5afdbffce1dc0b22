"""Representation quality: VAETransformer latents against PCA with as many dimensions.

For each dataset and latent size d, both methods are fit on the training
images without labels; then, on their d-dimensional codes,

* linear probe: logistic regression fit on the training codes (standardized),
  accuracy on the test codes;
* 5-NN: accuracy of a 5-nearest-neighbour classifier, same split;
* reconstruction MSE on the test images, in pixel space (values in [0, 1]):
  PCA's ``inverse_transform`` against the VAE's decoder mean at the posterior
  mean (``inverse_transform(transform(X))``).

Datasets: scikit-learn's 8x8 digits (pixels / 16; a fixed stratified 70/30
split; 6000 steps of the default MLP) and MNIST (60,000 train / 10,000 test
images, flattened; 5 epochs of an MLP 784-512-256-d). Both VAEs use a
Bernoulli likelihood on the unscaled [0, 1] pixels: on digits it gives better
probes than the tables' default (a unit-variance Gaussian on standardized
pixels, which leaves most of 16 latents unused). Run it as

    .venv/bin/python benchmarks/latent_quality.py --mnist ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from vaekit import VAETransformer, load_data


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    vae = {"likelihood": "bernoulli", "scaling": "none", "steps": 6000}
    return X_train, X_test, y_train, y_test, vae


def mnist(path: str, train_rows: int | None, epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    train, test = (load_data(f"mnist:{path}", split=s) for s in ("train", "test"))
    X_train, y_train = train.x.reshape(len(train.x), -1), train.y
    if train_rows:
        X_train, y_train = X_train[:train_rows], y_train[:train_rows]
    # The usual MNIST VAE: Bernoulli on the raw [0, 1] pixels, a wider MLP than the default.
    vae = {"hidden_dims": (512, 256), "likelihood": "bernoulli", "scaling": "none", "epochs": epochs}
    return X_train, test.x.reshape(len(test.x), -1), y_train, test.y, vae


def evaluate(codes_train, codes_test, y_train, y_test, rebuilt, X_test) -> dict[str, float]:
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(codes_train, y_train)
    knn = KNeighborsClassifier(n_neighbors=5).fit(codes_train, y_train)
    return {
        "probe": float(probe.score(codes_test, y_test)),
        "knn5": float(knn.score(codes_test, y_test)),
        "mse": float(np.mean((rebuilt - X_test) ** 2)),
    }


def run(name: str, data, dims: list[int], seed: int) -> list[dict]:
    X_train, X_test, y_train, y_test, vae_settings = data
    rows = []
    for d in dims:
        start = time.perf_counter()
        pca = PCA(n_components=d, random_state=seed).fit(X_train)
        seconds = time.perf_counter() - start
        scores = evaluate(pca.transform(X_train), pca.transform(X_test), y_train, y_test,
                          pca.inverse_transform(pca.transform(X_test)), X_test)
        rows.append({"dataset": name, "d": d, "method": "PCA", "fit_s": seconds, **scores})
        print(f"  {name} d={d} PCA {scores}", flush=True)

        start = time.perf_counter()
        vt = VAETransformer(latent_dim=d, random_state=seed, **vae_settings).fit(X_train)
        seconds = time.perf_counter() - start
        z_test = vt.transform(X_test)
        scores = evaluate(vt.transform(X_train), z_test, y_train, y_test, vt.inverse_transform(z_test), X_test)
        rows.append({"dataset": name, "d": d, "method": "VAE", "fit_s": seconds, **scores})
        print(f"  {name} d={d} VAE {scores} ({seconds:.0f} s)", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| dataset | d | method | linear probe acc. | 5-NN acc. | test recon. MSE | fit (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pair = [o for o in rows if o["dataset"] == r["dataset"] and o["d"] == r["d"]]
        best_probe = max(o["probe"] for o in pair)
        best_knn = max(o["knn5"] for o in pair)
        best_mse = min(o["mse"] for o in pair)

        probe = _bold(f"{r['probe']:.3f}", r["probe"] == best_probe)
        knn = _bold(f"{r['knn5']:.3f}", r["knn5"] == best_knn)
        mse = _bold(f"{r['mse']:.4f}", r["mse"] == best_mse)
        lines.append(f"| {r['dataset']} | {r['d']} | {r['method']} | {probe} | {knn} | {mse} | {r['fit_s']:.1f} |")
    return "\n".join(lines)


def _bold(text: str, best: bool) -> str:
    return f"**{text}**" if best else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default="../shared/data/mnist", help="folder of the MNIST IDX files; '' skips MNIST")
    parser.add_argument("--dims", default="2,8,16", help="comma-separated latent sizes")
    parser.add_argument("--mnist-epochs", type=int, default=5, help="VAE training epochs on MNIST")
    parser.add_argument("--mnist-train-rows", type=int, default=None, help="train on the first N MNIST images only")
    parser.add_argument("--seed", type=int, default=0)
    # One thread: on a shared 2-core machine, two threads per process spin against each other.
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--json", default=None, help="also write every number to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    dims = [int(d) for d in args.dims.split(",") if d]
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    print(f"# Latent quality: VAETransformer vs PCA at equal dimension, seed {args.seed}")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}\n", flush=True)

    rows = run("digits", digits(), dims, args.seed)
    if args.mnist:
        rows += run("MNIST", mnist(args.mnist, args.mnist_train_rows, args.mnist_epochs), dims, args.seed)
    print()
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
