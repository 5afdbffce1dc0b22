"""``vaekit encode``, ``classify`` and ``evaluate``: codes, predictions and numbers from a run."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from vaekit.cli.common import SAMPLERS, AddCommand, add_data_flags, add_output_flags, done, output_path, seed, write_npy
from vaekit.data.labels import class_labels
from vaekit.errors import DataError
from vaekit.files import atomic_write_via_path

# torch, the model and pandas are imported inside the commands: `vaekit --help` must not load them.


def cmd_encode(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import labels_for_model, load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".npy", ".csv", ".parquet"), args.overwrite)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    g = torch.Generator().manual_seed(args.seed)
    y = labels_for_model(model, data)
    z = model.embed(torch.from_numpy(data.x), sample=args.sample, generator=g, y=y).numpy()  # (N, Z)
    if out.suffix == ".npy":
        write_npy(out, z)
    else:
        import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

        frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        if data.y is not None:
            frame["label"] = data.y
        if out.suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401, PLC0415 - optional extra: vaekit[parquet]
            except ImportError:
                raise DataError("writing .parquet needs pyarrow: pip install 'vaekit[parquet]'") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False) if out.suffix == ".csv" else frame.to_parquet(tmp))
    done(out, args)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".csv", ".npy"), args.overwrite)
    model = load(args.run_dir)
    if not hasattr(model, "predict_proba"):
        raise DataError(f"classify needs a model with a classifier (m2); {args.run_dir} holds a {model.config.model}")
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    x = torch.from_numpy(data.x)
    proba = None  # (N, K), allocated at the first batch and filled in place
    for start in range(0, len(x), 1024):
        p = model.predict_proba(x[start : start + 1024]).numpy()  # (B, K)
        if proba is None:
            proba = np.empty((len(x), p.shape[1]), dtype=p.dtype)
        proba[start : start + len(p)] = p
    predicted = proba.argmax(axis=1)
    if out.suffix == ".npy":
        write_npy(out, predicted.astype(np.int64))
    else:
        import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

        frame = pd.DataFrame({"predicted": predicted, **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}})
        if data.y is not None:
            frame.insert(1, "label", data.y)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False))
    done(out, args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.evaluation import is_binary, likelihood_kind  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.io import load, load_run_config  # noqa: PLC0415 - imports torch, as above
    from vaekit.runs import labels_for_model, load_data_for  # noqa: PLC0415 - imports torch, as above
    from vaekit.summary import summarize  # noqa: PLC0415 - imports torch, as above

    if args.samples <= 0:
        raise DataError(f"--samples must be positive, got {args.samples}")
    if args.iw_samples < 0:
        raise DataError(f"--iw-samples must be >= 0, got {args.iw_samples}")
    if args.generation < 0:
        raise DataError(f"--generation must be >= 0 samples, got {args.generation}")
    if args.num_threads is not None:
        if args.num_threads <= 0:
            raise DataError(f"--num-threads must be positive, got {args.num_threads}")
        torch.set_num_threads(args.num_threads)
    model = load(args.run_dir)
    trained_binarized = load_run_config(args.run_dir).train.dynamic_binarization
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    y = labels_for_model(model, data)  # a cvae is scored given its labels; m2 on the unlabelled bound
    if args.iw_samples and getattr(model, "conditional", False):
        raise DataError(f"--iw-samples estimates log p(x) of unconditional models (vae, iwae), not {model.config.model}")
    known = None
    if hasattr(model, "predict") and data.y is not None:
        known = class_labels(data.y, data.name, allow_missing=True)
    scores = summarize(
        model, data.x, y=y, labels=known, factors=data.factors, factor_names=data.factor_names,
        n_samples=args.samples, seed=args.seed, iw_samples=args.iw_samples,
        binarize=trained_binarized and not args.no_binarize,
        progress=sys.stderr.isatty() and not args.json,  # bars with ETA for a person watching, never in JSON use
    )
    report = {"data": args.data, "split": args.split, "binarized": scores.pop("binarized", False), **scores}
    if args.generation:
        report["generation"] = _generation(model, data.x, args)
    if args.factors:
        report["factors"] = _factor_metrics(model, data, y, args)
    if args.json:
        print(json.dumps(report))
        return 0
    how = f"binarized once, seed {args.seed}" if report["binarized"] else "values as they are"
    print(f"{args.data} ({report['n']} samples, {args.samples} posterior draws each; {how})")
    for key in ("elbo", "reconstruction", "kl", "loss", "iw_nll"):
        if key in report:
            label = f"iw_nll (K={args.iw_samples})" if key == "iw_nll" else key
            print(f"  {label:<18} {report[key]:.4f} nats/sample")
    if "bits_per_dim" in report:
        print(f"  {'bits_per_dim':<18} {report['bits_per_dim']:.4f}")
    for key in ("accuracy", "mig"):
        if key in report:
            print(f"  {key:<18} {report[key]:.4f}")
    print(f"  {'active_units':<18} {report['active_units']} of {model.latent_dim}")
    if report["kl_per_dim"] is not None:  # None: the KL does not split by dimension (mixture priors, flows)
        print(f"  {'kl_per_dim':<18} {' '.join(f'{v:.3f}' for v in report['kl_per_dim'])}")
    if "factors" in report:
        f = report["factors"]
        print(f"disentanglement against {', '.join(f['factor_names'])} ({f['protocol']['rows_fit']} rows fit, "
              f"{f['protocol']['rows_test']} tested)")
        for key in ("mig", "sap", "sap_continuous", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                    "betavae", "factorvae"):
            if key in f:
                print(f"  {key:<20} {f[key]:.4f}")
        for line in f["skipped"]:
            print(f"note: {line}")
    if "generation" in report:
        g = report["generation"]
        print(f"generation ({g['n_samples']} samples from the {g['sampler']}, against {g['n_data']} rows, "
              f"{g['features']['name']} features)")
        for key in ("fid", "precision", "recall", "density", "coverage"):
            print(f"  {key:<18} {g[key]:.4f}")
    if likelihood_kind(model) == "density":
        print(f"note: {model.config.likelihood} likelihood: the nats above are of a density, not a probability: "
              "they may be negative and are not comparable with NLLs of discrete data")
    elif trained_binarized and args.no_binarize and not is_binary(data.x):
        print("note: grey values scored (--no-binarize): the Bernoulli's nats on them are a cross-entropy, not a "
              "code length (no bits_per_dim), and not comparable with published NLLs of binarized data")
    return 0


def _generation(model, x, args: argparse.Namespace) -> dict:
    """Sample-quality metrics of ``args.generation`` samples against as many rows of ``x`` (a seeded subset)."""
    import numpy as np  # noqa: PLC0415 - with torch, loaded when the command runs
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.generation import generation_metrics  # noqa: PLC0415 - imports torch, as above

    n = min(args.generation, len(x))
    rows = np.random.default_rng(args.seed).permutation(len(x))[:n]
    generator = torch.Generator().manual_seed(args.seed)
    samples = model.sample(args.generation, generator=generator, sampler=args.sampler).numpy()
    metrics = generation_metrics(samples, x[np.sort(rows)], args.features, inception_weights=args.inception_weights)
    return {**metrics, "sampler": args.sampler}


def _factor_metrics(model, data, y, args: argparse.Namespace) -> dict:
    """``--factors``: every disentanglement metric the data allows; sprites add the beta-VAE and FactorVAE scores."""
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.data.sprites import SpriteGrid  # noqa: PLC0415 - the drawing code loads only for sprites
    from vaekit.disentanglement import factor_metrics  # noqa: PLC0415 - imports scikit-learn: loaded when asked

    if args.factor_points < 2:
        raise DataError(f"--factor-points must be at least 2, got {args.factor_points}")
    factors, names = getattr(data, "factors", None), getattr(data, "factor_names", None)
    if factors is None:
        if getattr(data, "y", None) is None:
            raise DataError("--factors needs data with known factors: sprites, or a table with --label-column NAME")
        factors, names = np.unique(data.y, return_inverse=True)[1].reshape(-1, 1), ["label"]  # (N, 1) class indices

    def encode(x: np.ndarray, given=None) -> np.ndarray:
        return model.embed(torch.as_tensor(x, dtype=torch.float32), y=given).numpy()  # (B, Z) posterior means

    codes = np.concatenate([encode(data.x[s : s + 1024], None if y is None else y[s : s + 1024])
                            for s in range(0, len(data.x), 1024)])  # (N, Z)
    generator = data.name == "sprites" and not getattr(model, "conditional", False)
    result = factor_metrics(
        codes, factors, factor_names=names, encode=encode if generator else None,
        source=SpriteGrid() if generator else None, n_train=args.factor_points, n_eval=args.factor_points // 2,
        seed=args.seed,
    )
    return {**result, "factor_names": list(names or [])}


# --------------------------------------------------------------------------- flags


def add_encode(command: AddCommand) -> None:
    p = command("encode", cmd_encode, "write latent codes (posterior means, or samples with --sample)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--sample", action="store_true", help="draw z ~ q(z|x) instead of the posterior mean")
    add_output_flags(p, ".npy, .csv or .parquet")


def add_classify(command: AddCommand) -> None:
    p = command("classify", cmd_classify, "m2: predict the class of each row (CSV with probabilities, or .npy)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    add_output_flags(p, ".csv or .npy")


def add_evaluate(command: AddCommand) -> None:
    p = command(
        "evaluate", cmd_evaluate,
        "ELBO, reconstruction and KL per sample, averaged over the data (m2: accuracy; sprites: MIG)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--samples", type=int, default=1, help="posterior draws per row for the ELBO (default: 1)")
    p.add_argument(
        "--iw-samples", type=int, default=0, metavar="K",
        help="also estimate log p(x) with K importance samples (Burda et al. 2015; 1000 is usual; default: off)",
    )
    p.add_argument(
        "--seed", type=seed, default=0, help="seed of the posterior draws and of the binarization (default: 0)",
    )
    p.add_argument(
        "--no-binarize", action="store_true",
        help="score the grey values as they are; by default a model trained with dynamic binarization is scored "
        "on the data binarized once, x ~ Bernoulli(x) drawn with --seed (how published MNIST NLLs are measured)",
    )
    p.add_argument(
        "--num-threads", type=int, default=None, metavar="N",
        help="torch CPU threads, as in vaekit train (default: torch's, one per core or $OMP_NUM_THREADS)",
    )
    p.add_argument(
        "--generation", type=int, default=0, metavar="N",
        help="also measure N samples against as many rows of the data: FID, precision, recall, density, coverage "
        "(default: off)",
    )
    p.add_argument(
        "--features", default="raw", metavar="SPACE",
        help="feature space of --generation: raw (the values), classifier:DIR (vaekit train-classifier), "
        "or inception (torch-fidelity and its weights) (default: raw)",
    )
    p.add_argument(
        "--sampler", choices=SAMPLERS, default="prior",
        help="where --generation's codes come from (see vaekit sample --sampler; default: prior)",
    )
    p.add_argument(
        "--factors", action="store_true",
        help="also measure disentanglement against the known factors (sprites, or the --label-column): MIG, SAP, DCI; "
        "on sprites the beta-VAE and FactorVAE scores too",
    )
    p.add_argument(
        "--factor-points", type=int, default=1000, metavar="N",
        help="--factors on sprites: N training and N/2 evaluation batches of 64 for the beta-VAE and FactorVAE scores "
        "(default: 1000; disentanglement_lib: 10000)",
    )
    p.add_argument("--inception-weights", default=None, metavar="FILE", help="--features inception: a local weights file")
    p.add_argument("--json", action="store_true", help="print one JSON object (and no progress bars)")
