"""scikit-learn faces of the VAE: a transformer, an anomaly detector, and their shared base.

The estimators follow scikit-learn's conventions: ``__init__`` only stores
its arguments, ``fit`` returns ``self``, fitted attributes end in ``_``, and
``random_state`` seeds everything. They take NumPy arrays and pandas
DataFrames (tables: scaled and one-hot encoded by a
:class:`~vaekit.tabular.TablePreprocessor` fit on the training data) or image
arrays ``(N, C, H, W)`` / ``(N, H, W)`` with values in [0, 1]. They pickle and
clone like any estimator, and also save pickle-free with :meth:`save` /
:meth:`load` (the model folder ``vaekit.load`` reads, plus ``estimator.json``).
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from vaekit.config import MAX_SEED, SEQUENCE_ARCHS, DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data.tables import as_samples
from vaekit.errors import ConfigError, DataError, ModelFileError, RunDirError
from vaekit.evaluation import iw_log_likelihood
from vaekit.files import atomic_write
from vaekit.io import load, load_run_config, save_model
from vaekit.models import build_model
from vaekit.models.vae import mean_over_draws
from vaekit.series_detection import AGGREGATIONS, reading_scores, stream_scores
from vaekit.tabular import TablePreprocessor
from vaekit.training import Trainer

ESTIMATOR_FILE = "estimator.json"
#: Sub-folder of a saved detector holding an ensemble's other models, one folder each (1, 2, ...).
MEMBERS_DIR = "members"
#: The anomaly detector's ``score_type`` values.
SCORE_TYPES = ("elbo", "reconstruction", "iw")
#: Rows scored per forward pass (times the posterior draws): bounds memory on big tables.
SCORE_CHUNK = 4096
#: Series models: latents, GRU width and conv channels per level for windows (C, W).
SERIES_LATENT_DIM = 8
SERIES_GRU_HIDDEN = (64,)
SERIES_CONV_CHANNELS = (16, 32, 32)
#: ``window="auto"``: this many periods of the series (its autocorrelation's), see vaekit.timeseries.auto_window.
AUTO_WINDOW_PERIODS = 2


class VAEEstimatorBase(BaseEstimator):
    """Fits a VAE on a table or on images; subclasses add what they do with it.

    Parameters
    ----------
    latent_dim:
        Latent dimensions; None: half the input features, clipped to [2, 16].
    hidden_dims:
        MLP hidden sizes; None: two layers of twice the features, clipped to [16, 128].
        Images use the conv net whatever this is.
    likelihood:
        p(x|z); None: ``gaussian`` (unit variance on the standardized
        columns) for tables, ``bernoulli`` for images.
    beta:
        Weight of the KL term (1 = the ELBO).
    epochs:
        Passes over the data; None: enough for about ``steps`` optimiser steps.
    steps:
        Optimiser steps when ``epochs`` is None; small and large tables get
        the same amount of training, so large tables stay fast (the anomaly
        detector stops small tables after 100 passes, short series after 50).
    batch_size, lr:
        Adam's batch size and learning rate.
    trim_fraction:
        Each batch's highest-loss fraction of rows is left out of the
        gradient, so outliers in the training data are not learned (0 = off).
    scaling, categorical, missing:
        Table preprocessing, see :class:`~vaekit.tabular.TablePreprocessor`.
    random_state:
        Seed of the weights, the batches and the training noise; None draws one.
    device:
        ``cpu``, ``cuda`` or ``auto``.
    verbose:
        Print one line per epoch.
    prior:
        p(z): ``normal`` N(0, I), ``mog`` (a learned mixture of Gaussians) or
        ``vamp`` (the VampPrior: the mixture of the posteriors of learned
        pseudo-inputs), as ``vaekit train --prior``.
    prior_components:
        Components of the ``mog`` prior, pseudo-inputs of ``vamp``; None: 10
        for ``mog``; for ``vamp`` 500 (Tomczak & Welling's), or one per row when
        there are fewer rows.
    posterior:
        q(z|x): ``gaussian``, or ``iaf`` (two inverse autoregressive flow steps on it).
    """

    #: Every parameter's allowed values, checked at the start of ``fit`` by scikit-learn.
    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_dims": ["array-like", None],  # each size is checked by ModelConfig
        "likelihood": [str, None],  # the name: by ModelConfig, against the registry (which imports torch)
        "beta": [Interval(Real, 0, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "trim_fraction": [Interval(Real, 0, 1, closed="left")],
        **TablePreprocessor._parameter_constraints,  # scaling, categorical, missing
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both"), None],
        "device": [str],  # auto, cpu, cuda or cuda:N: checked by TrainConfig
        "verbose": ["verbose"],
        "prior": [str],  # the name: by ModelConfig, against the registry
        "prior_components": [Interval(Integral, 1, None, closed="left"), None],
        "posterior": [str],
    }
    #: Auto latent size: the input features divided by this, clipped to [2, 16].
    _latent_divisor = 2
    #: With ``epochs=None``, at most this many passes over small data (None: no cap).
    _max_auto_epochs: int | None = None
    #: The same cap for the windows of a series (None: ``_max_auto_epochs``).
    _max_auto_series_epochs: int | None = None

    def __init__(
        self,
        latent_dim: int | None = None,
        hidden_dims: tuple[int, ...] | None = None,
        likelihood: str | None = None,
        beta: float = 1.0,
        epochs: int | None = None,
        steps: int = 2000,
        batch_size: int = 128,
        lr: float = 1e-3,
        trim_fraction: float = 0.0,
        scaling: str = "standard",
        categorical: str | list[str] | None = "auto",
        missing: str = "error",
        random_state: int | None = None,
        device: str = "cpu",
        verbose: bool = False,
        prior: str = "normal",
        prior_components: int | None = None,
        posterior: str = "gaussian",
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.likelihood = likelihood
        self.beta = beta
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.trim_fraction = trim_fraction
        self.scaling = scaling
        self.categorical = categorical
        self.missing = missing
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.prior = prior
        self.prior_components = prior_components
        self.posterior = posterior

    # ------------------------------------------------------------------ fitting

    def _fit_vae(self, X: Any) -> np.ndarray:
        """Fit the preprocessing and the VAE on ``X``; returns the model inputs of ``X``."""

        self._validate_params()
        image = _is_image(X)
        if image:
            self.preprocessor_ = None
            x = _images(X, "X")
        else:
            scaling = "standard" if self.scaling == "auto" else self.scaling  # the detector's auto: standard on tables
            self.preprocessor_ = TablePreprocessor(scaling, self.categorical, self.missing)
            x = self.preprocessor_.fit_transform(X)
            names = self.preprocessor_.feature_names_in
            if not all(n == f"x{i}" for i, n in enumerate(names)):
                self.feature_names_in_ = np.asarray(names, dtype=object)
        # scikit-learn's meaning: columns of X as passed (before one-hot encoding); pixels of an image
        self.n_features_in_ = int(np.prod(x.shape[1:])) if image else len(self.preprocessor_.columns)
        if len(x) < 2:
            raise DataError(f"X has n_samples={len(x)}; fitting needs at least 2 rows")
        self._train(x, "image" if image else "table")
        return x

    def _train(self, x: np.ndarray, kind: str, seed: int | None = None) -> None:
        """Train the VAE on model inputs ``x`` (rows, images or windows: ``kind``); sets ``model_`` and co.

        ``seed``: this one instead of ``random_state`` (an ensemble's other members).
        """
        if seed is None:
            seed = self.random_state if self.random_state is not None else int(np.random.randint(0, 2**31 - 1))
        self.seed_ = int(seed)
        self.model_config_ = self._model_config(x, kind, ModelConfig)
        n_batches = math.ceil(len(x) / min(self.batch_size, len(x)))
        epochs = self.epochs or max(1, round(self.steps / n_batches))
        cap = self._max_auto_epochs
        if kind == "series" and self._max_auto_series_epochs is not None:
            cap = self._max_auto_series_epochs
        if self.epochs is None and cap is not None:
            epochs = min(epochs, cap)
        self.train_config_ = TrainConfig(
            epochs=epochs, batch_size=min(self.batch_size, len(x)), lr=self.lr, val_fraction=0.0,
            kl_warmup_epochs=0, seed=self.seed_, trim_fraction=self.trim_fraction, device=self.device,
        )

        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
            torch.manual_seed(self.seed_)
            model = build_model(self.model_config_)
        trainer = Trainer(model, self.train_config_, log=print if self.verbose else None)
        with self._threads():
            self.history_ = trainer.fit(torch.from_numpy(x))
        self.model_ = trainer.model.eval()

    @contextlib.contextmanager
    def _threads(self):
        """One torch thread for table and series models, the caller's setting back afterwards.

        Their matrices are at most 128 wide and their windows short: splitting such products across
        threads costs more than it saves, and on a busy machine the spinning
        threads slow every step tenfold.
        """

        if getattr(self, "preprocessor_", None) is None and getattr(self, "scaler_", None) is None:
            yield  # images: convolutions that do use the threads
            return
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _model_config(self, x: np.ndarray, kind: str, ModelConfig):
        d = int(np.prod(x.shape[1:]))
        image = kind == "image"
        # Unit-variance Gaussian on standardized columns: on the twelve ADBench tables it
        # ranks anomalies better than a learned variance (mean ROC-AUC 0.864 vs 0.855),
        # which lets the model explain away a column by widening its variance.
        likelihood = self.likelihood or ("bernoulli" if image else "gaussian")
        if likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
            raise DataError("the bernoulli likelihood needs values in [0, 1]; scale the images or pick another likelihood")
        hidden = self.hidden_dims
        if hidden is None:
            width = int(np.clip(2 * d, 16, 128))
            hidden = (width, width)
        latent = self.latent_dim or int(np.clip(d // self._latent_divisor, 2, 16))
        arch = {"image": "conv", "table": "mlp"}.get(kind)
        if kind == "series":
            # An MLP over the flattened window by default (Donut, Xu et al. 2018): on one CPU thread a step
            # costs 1.5-2 ms against 9-30 ms for conv1d and 100-550 ms for a GRU (windows of 50-256).
            arch = getattr(self, "arch", None) or "mlp"
            latent = self.latent_dim or SERIES_LATENT_DIM
            if arch == "gru":
                hidden = self.hidden_dims or SERIES_GRU_HIDDEN
        components = {"prior_components": self.prior_components or ModelConfig.prior_components,
                      "pseudo_inputs": self.prior_components or min(ModelConfig.pseudo_inputs, len(x))}
        return ModelConfig(
            arch=arch, latent_dim=latent, hidden_dims=tuple(hidden), likelihood=likelihood,
            beta=self.beta, input_shape=tuple(int(s) for s in x.shape[1:]),
            conv_channels=SERIES_CONV_CHANNELS if kind == "series" else (32, 64),
            prior=self.prior, posterior=self.posterior, **components,
        )

    def _validate_params(self) -> None:
        try:
            super()._validate_params()
        except InvalidParameterError as e:
            raise ConfigError(str(e)) from e  # vaekit's API promises ConfigError for bad settings

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "impute"
        tags.input_tags.string = self.categorical is not None  # text columns are one-hot encoded
        tags.input_tags.categorical = self.categorical is not None
        return tags

    # ------------------------------------------------------------------ inputs

    def _inputs(self, X: Any) -> np.ndarray:
        """``X`` as the fitted model's inputs, with the fit's preprocessing."""
        check_is_fitted(self, "model_")
        if getattr(self, "scaler_", None) is not None:
            raise DataError(f"this {type(self).__name__} was fit on a time series; its rows are readings, not samples")
        if self.preprocessor_ is None:
            x = _images(X, "X")
            if x.shape[1:] != tuple(self.model_config_.input_shape):
                raise DataError(
                    f"X has images of shape {x.shape[1:]} but the model was fit on {tuple(self.model_config_.input_shape)}"
                )
            return x
        self._check_n_features(X)
        return self.preprocessor_.transform(X)

    def _check_n_features(self, X: Any) -> None:
        """scikit-learn's message for a table with another column count than the fit's."""
        if hasattr(self, "feature_names_in_") and hasattr(X, "columns"):
            return  # named columns are matched by name, with messages naming them
        try:
            shape = np.shape(X)
        except (ValueError, TypeError):
            return  # ragged rows, or an array-like numpy cannot measure: the preprocessor checks it
        expected = len(self.preprocessor_.columns)
        if len(shape) == 2 and shape[1] != expected:
            raise DataError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting {expected} "
                "features as input; pass the same columns in the same order as in fit"
            )

    # ------------------------------------------------------------------ saving

    def _fitted_state(self) -> dict[str, Any]:
        """Fitted attributes besides the model, as JSON; subclasses extend it."""
        return {
            "preprocessor": None if self.preprocessor_ is None else self.preprocessor_.to_dict(),
            "n_features_in": self.n_features_in_,
            "seed": self.seed_,
            "history": self.history_,
        }

    def _set_fitted_state(self, state: dict[str, Any]) -> None:
        pre = state["preprocessor"]
        self.preprocessor_ = None if pre is None else TablePreprocessor.from_dict(pre)
        if pre is not None:
            names = self.preprocessor_.feature_names_in
            if not all(n == f"x{i}" for i, n in enumerate(names)):
                self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = state["n_features_in"]
        self.seed_ = state["seed"]
        self.history_ = state["history"]

    def save(self, path: str | Path) -> Path:
        """Write the fitted estimator to folder ``path``, without pickle.

        The folder holds ``config.json`` and ``model.safetensors`` (so
        ``vaekit.load(path)`` gives the VAE), ``estimator.json`` (the
        parameters, the preprocessing and the fitted thresholds) and, for an
        ensemble, its other models in ``members/1``, ``members/2``, ...
        """

        check_is_fitted(self, "model_")
        path = Path(path)
        config = RunConfig(model=self.model_config_, train=self.train_config_, data=DataConfig(data="estimator"))
        save_model(path, self.model_, config)
        for k, member in enumerate(getattr(self, "members_", []), start=1):  # an ensemble's other models
            save_model(path / MEMBERS_DIR / str(k), member, config)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        state = {"estimator": type(self).__name__, "params": params, "fitted": self._fitted_state()}
        atomic_write(path / ESTIMATOR_FILE, lambda f: f.write(json.dumps(state, indent=1) + "\n"), mode="w")
        return path

    @classmethod
    def load(cls, path: str | Path):
        """The estimator saved in ``path`` by :meth:`save`."""

        path = Path(path)
        file = path / ESTIMATOR_FILE
        if not file.is_file():
            raise RunDirError(f"{path} holds no saved estimator ({ESTIMATOR_FILE} is missing)")
        try:
            state = json.loads(file.read_text())
            if state["estimator"] != cls.__name__:
                raise ModelFileError(f"{path} holds a {state['estimator']}, not a {cls.__name__}")
            params = state["params"]
            if "score" in params:  # written before ``score`` was renamed ``score_type``
                params["score_type"] = params.pop("score")
            if params.get("hidden_dims") is not None:
                params["hidden_dims"] = tuple(params["hidden_dims"])
            estimator = cls(**params)
            estimator._set_fitted_state(state["fitted"])
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"{file} is damaged ({type(e).__name__}: {e}); fit and save the estimator again") from e
        config = load_run_config(path)
        estimator.model_config_, estimator.train_config_ = config.model, config.train
        estimator.model_ = load(path)
        if getattr(estimator, "member_train_scores_", None):
            estimator.members_ = [load(path / MEMBERS_DIR / str(k)) for k in range(1, len(estimator.member_train_scores_))]
        return estimator


class VAETransformer(TransformerMixin, VAEEstimatorBase):
    """Dimensionality reduction with a VAE, as a scikit-learn transformer.

    :meth:`transform` gives the posterior means (``sample=True``: draws from
    q(z|x)), :meth:`inverse_transform` the decoder means, :meth:`score_samples`
    the ELBO per row. Fits in a ``Pipeline`` and in ``GridSearchCV`` (whose
    default score is the mean ELBO, via :meth:`score`).

    Parameters
    ----------
    latent_dim:
        Output dimensions (``z0``, ``z1``, ...); None: half the features, in [2, 16].
    n_samples:
        Posterior draws per row for :meth:`score_samples`.

    Notes
    -----
    The other parameters are those of :class:`VAEEstimatorBase`.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import VAETransformer
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> VAETransformer(latent_dim=2, steps=20, random_state=0).fit_transform(X).shape
    (200, 2)
    """

    _parameter_constraints: dict = {
        **VAEEstimatorBase._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        latent_dim: int | None = None,
        hidden_dims: tuple[int, ...] | None = None,
        likelihood: str | None = None,
        beta: float = 1.0,
        epochs: int | None = None,
        steps: int = 2000,
        batch_size: int = 128,
        lr: float = 1e-3,
        trim_fraction: float = 0.0,
        scaling: str = "standard",
        categorical: str | list[str] | None = "auto",
        missing: str = "error",
        random_state: int | None = None,
        device: str = "cpu",
        verbose: bool = False,
        prior: str = "normal",
        prior_components: int | None = None,
        posterior: str = "gaussian",
        n_samples: int = 1,
    ) -> None:
        super().__init__(
            latent_dim=latent_dim, hidden_dims=hidden_dims, likelihood=likelihood, beta=beta, epochs=epochs,
            steps=steps, batch_size=batch_size, lr=lr, trim_fraction=trim_fraction, scaling=scaling,
            categorical=categorical, missing=missing, random_state=random_state, device=device, verbose=verbose,
            prior=prior, prior_components=prior_components, posterior=posterior,
        )
        self.n_samples = n_samples

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        """Fit on ``X``; ``y`` is ignored (present for pipelines)."""
        self._fit_vae(X)
        return self

    def transform(self, X: Any, sample: bool = False) -> np.ndarray:
        """Latent codes ``(N, latent_dim)``: posterior means, or draws with ``sample=True`` (seeded)."""

        x = self._to_model(self._inputs(X))
        g = torch.Generator(device=x.device).manual_seed(0)
        with torch.no_grad():
            z = self.model_.embed(x, sample=sample, generator=g)
        return z.cpu().numpy().astype(np.float64)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decoder means for latent codes ``Z``, in the units of ``X``.

        Tables: numeric columns unscaled, each one-hot block as its most likely
        category (then the result is an object array); images: pixels ``(N, C, H, W)``.
        """

        check_is_fitted(self, "model_")
        z = np.asarray(Z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.model_config_.latent_dim:
            raise DataError(f"Z must have shape (N, {self.model_config_.latent_dim}), got {z.shape}")
        with torch.no_grad():
            out = self.model_.decode(self._to_model(z)).mean  # (N, *input_shape)
        out = out.cpu().numpy().astype(np.float64)
        return out if self.preprocessor_ is None else self.preprocessor_.inverse_transform(out)

    def score_samples(self, X: Any) -> np.ndarray:
        """ELBO per row (nats; higher = better explained), averaged over ``n_samples`` draws."""
        x = self._inputs(X)
        with self._threads():
            return -_mean_neg_elbo(self.model_, x, self.n_samples, "elbo")

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per row: higher is better, as ``GridSearchCV`` expects."""
        return float(np.mean(self.score_samples(X)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of ``transform``'s columns: ``z0, z1, ...``, one per latent."""
        check_is_fitted(self, "model_")
        return np.asarray([f"z{i}" for i in range(self.model_config_.latent_dim)], dtype=object)

    def _to_model(self, x: np.ndarray):

        return torch.from_numpy(np.ascontiguousarray(x)).to(next(self.model_.parameters()).device)


class VAEAnomalyDetector(OutlierMixin, VAEEstimatorBase):
    """Flags rows (or images) that a VAE trained on the data explains badly.

    The anomaly score of a row is its negative ELBO (``score_type="elbo"``), its
    expected reconstruction loss (``"reconstruction"``) or its
    importance-weighted negative log-likelihood (``"iw"``), averaged over
    ``n_samples`` posterior draws with a fixed seed: the same model always
    gives the same scores.

    scikit-learn's names: :meth:`score_samples` (higher = more normal),
    :meth:`decision_function` (negative = outlier), :meth:`predict` (+1
    inlier, -1 outlier). PyOD's names: :meth:`anomaly_score` (higher = more
    anomalous), ``decision_scores_``, ``threshold_`` and ``labels_`` (1 =
    outlier) on the training data.

    Parameters
    ----------
    score_type:
        ``elbo``, ``reconstruction`` or ``iw``.
    n_samples:
        Posterior draws per row for the score.
    contamination:
        Expected share of outliers in the training data; sets the threshold.
    latent_dim:
        None: a quarter of the input features, clipped to [2, 16].
    trim_fraction:
        Training leaves out each batch's highest-loss 30% of rows by default,
        so the anomalies in unlabelled training data are not learned; use 0
        when the training rows are known to be clean.
    window:
        Time series: the length W of the sliding windows the VAE models
        (``"auto"``: two of the series' periods, from its autocorrelation,
        each clipped to [16, 256], and at most a quarter of the series, see
        :func:`vaekit.timeseries.auto_window`).
        None (the default): rows are independent samples (a table or images).
        With a window, ``X`` is a series: a DataFrame (with ``time_column``),
        an array (N,) or (N, C) in time order; every score is per reading, in
        the input's row order.
    stride:
        Time series: step between training windows (scoring always uses every window).
    time_column:
        Time series: the column of ``X`` with the timestamps (readings are sorted by it).
    aggregation:
        Time series: how a reading's score comes from the windows covering it:
        ``window`` (the default: the mean -ELBO of those windows), ``mean`` (the
        mean of its own reconstruction term in them) or ``last`` (its term in the
        window ending at it), see :mod:`vaekit.series_detection`. ``window`` was
        the best on NAB by leave-one-series-out (docs/benchmarks.md).
    arch:
        Time series: the networks over a window: ``mlp`` on the flattened
        window (the default: fastest on a CPU), ``conv1d`` or ``gru``.
    duplicates:
        Time series: repeated timestamps are an ``error``, or ``keep`` (in file order), or ``mean``.
    n_models:
        Tables and images: fit this many VAEs (seeds ``random_state``,
        ``random_state + 1``, ...) and score a row by the mean, over them, of
        its score's rank among that model's training scores: a score in
        (0, 1], steadier across seeds. Three won 11 of 12
        leave-one-dataset-out folds on ADBench, within seed noise of one
        model, for three times the fit (docs/benchmarks.md); 1 by default.
    score:
        Deprecated alias of ``score_type`` (it hid scikit-learn's ``score`` method).

    Notes
    -----
    The other parameters are those of :class:`VAEEstimatorBase`. ``scaling``
    ``"auto"`` is ``standard`` for tables and ``robust`` (median and IQR,
    fit on the training series) for a series, whose anomalies would
    otherwise stretch the scale.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import VAEAnomalyDetector
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> detector = VAEAnomalyDetector(steps=50, random_state=0).fit(X)
    >>> detector.predict([[0, 0, 0, 0], [9, -9, 9, -9]]).tolist()
    [1, -1]
    """

    # A tighter bottleneck than for representation learning: rows must be
    # explained by few factors, so rows that need others stand out. With 30%
    # trimming this gave the best mean ROC-AUC on ADBench (0.870 vs 0.863 at
    # d // 2 and 20%); the same defaults are used on every table.
    _latent_divisor = 4
    # Small tables stop after 100 passes instead of making up the full ``steps``:
    # more passes over a few hundred rows cost time and, on ADBench, add about
    # 0.002 mean ROC-AUC.
    _max_auto_epochs = 100
    # Sliding windows overlap (stride 1 repeats each reading W times a pass), so
    # short series need fewer passes: on NAB, 50 was chosen by 17 of 19
    # leave-one-series-out folds over 100 and 30 (benchmarks/timeseries_ad.py),
    # at the same mean VUS-PR as 100 in 0.75x the time.
    _max_auto_series_epochs = 50

    _parameter_constraints: dict = {
        **VAEEstimatorBase._parameter_constraints,
        "score_type": [StrOptions(set(SCORE_TYPES))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "scaling": [StrOptions({"auto", *TablePreprocessor._parameter_constraints["scaling"][0].options})],
        "window": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"}), None],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "time_column": [str, None],
        "aggregation": [StrOptions(set(AGGREGATIONS))],
        "arch": [StrOptions({"mlp", *SEQUENCE_ARCHS}), None],
        "duplicates": [StrOptions({"error", "keep", "mean"})],
        "n_models": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        latent_dim: int | None = None,
        hidden_dims: tuple[int, ...] | None = None,
        likelihood: str | None = None,
        beta: float = 1.0,
        epochs: int | None = None,
        steps: int = 2000,
        batch_size: int = 128,
        lr: float = 1e-3,
        trim_fraction: float = 0.3,
        scaling: str = "auto",
        categorical: str | list[str] | None = "auto",
        missing: str = "error",
        random_state: int | None = None,
        device: str = "cpu",
        verbose: bool = False,
        prior: str = "normal",
        prior_components: int | None = None,
        posterior: str = "gaussian",
        score_type: str = "elbo",
        n_samples: int = 10,
        contamination: float = 0.1,
        window: int | str | None = None,
        stride: int = 1,
        time_column: str | None = None,
        aggregation: str = "window",
        arch: str | None = None,
        duplicates: str = "error",
        n_models: int = 1,
        *,
        score: str | None = None,
    ) -> None:
        super().__init__(
            latent_dim=latent_dim, hidden_dims=hidden_dims, likelihood=likelihood, beta=beta, epochs=epochs,
            steps=steps, batch_size=batch_size, lr=lr, trim_fraction=trim_fraction, scaling=scaling,
            categorical=categorical, missing=missing, random_state=random_state, device=device, verbose=verbose,
            prior=prior, prior_components=prior_components, posterior=posterior,
        )
        self.score_type = score_type if score is None else _renamed_score(score)
        self.n_samples = n_samples
        self.contamination = contamination
        self.window = window
        self.stride = stride
        self.time_column = time_column
        self.aggregation = aggregation
        self.arch = arch
        self.duplicates = duplicates
        self.n_models = n_models

    # The deprecated ``score`` keyword is stored as ``score_type``, never as an attribute (that would
    # hide scikit-learn's ``score`` method): get_params, clone and save leave it out, set_params maps it.
    @classmethod
    def _get_param_names(cls) -> list[str]:
        return [name for name in super()._get_param_names() if name != "score"]

    def set_params(self, **params) -> VAEAnomalyDetector:
        """scikit-learn's ``set_params``; also takes the old name ``score`` for ``score_type``."""
        if "score" in params:
            params["score_type"] = _renamed_score(params.pop("score"))
        return super().set_params(**params)

    def fit(self, X: Any, y: Any = None) -> VAEAnomalyDetector:
        """Fit on ``X`` (labels, if given, are ignored: training is unsupervised)."""
        self.members_, self.member_train_scores_ = [], []
        if self.window is None:
            self.scaler_ = None
            x = self._fit_vae(X)
            self._fit_members(x)
            self.decision_scores_ = self._anomaly_scores(x)
        else:
            if self.n_models != 1:
                raise ConfigError("n_models > 1 applies to tables and images; fit a series with n_models=1")
            self.decision_scores_ = self._fit_series(X)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.contamination))
        self.offset_ = -self.threshold_
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)
        return self

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Anomaly score per row (per reading of a series), higher = more anomalous (PyOD's ``decision_function``)."""
        check_is_fitted(self, "model_")
        if getattr(self, "scaler_", None) is not None:
            series = self._read_series(X)
            if len(series.values) < self.window_:
                raise DataError(
                    f"X has {len(series.values)} readings, fewer than the detector's window of {self.window_}; "
                    "score a longer series, or score new readings with stream()"
                )
            with self._threads():
                scores = reading_scores(
                    self.model_, self.scaler_.transform(series.values), self.window_, self.n_samples, self.aggregation
                )["scores"]
            return series.in_input_order(scores)
        return self._anomaly_scores(self._inputs(X))

    def stream(self, X: Any) -> np.ndarray:
        """Score new readings of the series as they arrive, each from the window that ends at it.

        The last W - 1 readings seen (at fit, then by earlier calls) are the
        context; the new readings become the next call's. Compare the scores
        with ``stream_threshold_`` (the same score on the training series at
        the fitted contamination). ``X``: readings in time order, like fit's.
        """
        check_is_fitted(self, "model_")
        if getattr(self, "scaler_", None) is None:
            raise DataError("stream() scores readings of a time series; fit the detector with window=W first")
        series = self._read_series(X)
        if series.times is not None and self.last_time_ is not None and series.times[0] <= self.last_time_:
            raise DataError(
                f"stream() got a reading at {series.times[0]}, not after the last one seen ({self.last_time_}); "
                "pass only new readings, in time order"
            )
        new = self.scaler_.transform(series.values)  # (n, C)
        with self._threads():
            scores = stream_scores(self.model_, self.context_, new, self.window_, self.n_samples, self.aggregation)
        self.context_ = np.concatenate([self.context_, new])[-(self.window_ - 1) :]
        if series.times is not None:
            self.last_time_ = series.times[-1]
        return series.in_input_order(scores)

    def _read_series(self, X: Any):
        from vaekit.timeseries import read_series  # noqa: PLC0415 - pandas: loaded only for a series

        named = hasattr(X, "columns")  # a DataFrame: the fit's value columns by name; an array: by position
        series = read_series(
            X, time_column=self.time_column, value_columns=getattr(self, "value_columns_", None) if named else None,
            duplicates=self.duplicates, missing="interpolate" if self.missing == "impute" else "error",
        )
        fitted = self.n_features_in_ if getattr(self, "scaler_", None) is not None else None
        if fitted is not None and series.values.shape[1] != fitted:
            raise DataError(
                f"X has {series.values.shape[1]} value column(s) but the detector was fit on {fitted}; "
                "pass the same columns in the same order"
            )
        return series

    def _fit_series(self, X: Any) -> np.ndarray:
        """Fit the scaler and the VAE on the windows of the series ``X``; per-reading training scores."""
        from vaekit.timeseries import SeriesScaler, auto_window, sliding_windows  # noqa: PLC0415 - as above

        self._validate_params()
        self.preprocessor_ = self.scaler_ = None
        self.value_columns_ = None  # read_series picks the numeric columns at fit
        series = self._read_series(X)
        self.value_columns_ = list(series.columns)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(self.value_columns_, dtype=object)
        self.n_features_in_ = len(self.value_columns_)
        self.scaler_ = SeriesScaler("robust" if self.scaling == "auto" else self.scaling).fit(series.values)
        values = self.scaler_.transform(series.values)  # (N, C) float32
        self.window_ = auto_window(values, periods=AUTO_WINDOW_PERIODS) if self.window == "auto" else int(self.window)
        if self.window_ > len(values):
            raise DataError(
                f"window={self.window_} is longer than the series ({len(values)} readings); pass a smaller window"
            )
        windows, _ = sliding_windows(values, self.window_, self.stride)  # (M, C, W)
        self._train(windows, "series")
        with self._threads():
            scores = reading_scores(self.model_, values, self.window_, self.n_samples, self.aggregation)
        self.stream_threshold_ = float(np.quantile(scores["stream"], 1.0 - self.contamination))
        self.context_ = values[-(self.window_ - 1) :] if self.window_ > 1 else values[:0]
        self.last_time_ = None if series.times is None else series.times[-1]
        return series.in_input_order(scores["scores"])

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality per row, higher = more normal (scikit-learn's convention): ``-anomaly_score``."""
        return -self.anomaly_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers at the fitted contamination."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers (scikit-learn's convention)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def _fit_members(self, x: np.ndarray) -> None:
        """The ensemble's other models (``n_models - 1``), and every model's sorted training scores."""
        if self.n_models == 1:
            return
        kind = "table" if self.preprocessor_ is not None else "image"
        first = (self.model_, self.seed_, self.history_, self.train_config_)
        for k in range(1, self.n_models):
            self._train(x, kind, seed=(first[1] + k) % (MAX_SEED + 1))
            self.members_.append(self.model_)
        self.model_, self.seed_, self.history_, self.train_config_ = first
        self.member_train_scores_ = [np.sort(raw) for raw in self._raw_scores(x)]

    def _raw_scores(self, x: np.ndarray) -> list[np.ndarray]:
        with self._threads():
            models = [self.model_, *getattr(self, "members_", [])]
            return [_mean_neg_elbo(m, x, self.n_samples, self.score_type) for m in models]

    def _anomaly_scores(self, x: np.ndarray) -> np.ndarray:
        raw = self._raw_scores(x)
        if not getattr(self, "members_", None):
            return raw[0]
        # Each model's score as its rank among that model's training scores (ties: the mean rank), in (0, 1]:
        # models whose scores live on different scales count the same.
        ranks = [(np.searchsorted(ref, s, "left") + np.searchsorted(ref, s, "right") + 1) / (2 * len(ref))
                 for s, ref in zip(raw, self.member_train_scores_)]
        return np.mean(ranks, axis=0)

    def _fitted_state(self) -> dict[str, Any]:
        series = None
        if getattr(self, "scaler_", None) is not None:
            series = {
                "scaler": self.scaler_.to_dict(), "window": self.window_, "value_columns": self.value_columns_,
                "stream_threshold": self.stream_threshold_, "context": self.context_.tolist(),
                "last_time": None if self.last_time_ is None else str(self.last_time_),
            }
        return {
            **super()._fitted_state(),
            "threshold": self.threshold_,
            "decision_scores": self.decision_scores_.tolist(),
            "series": series,
            "member_train_scores": [s.tolist() for s in getattr(self, "member_train_scores_", [])],
        }

    def _set_fitted_state(self, state: dict[str, Any]) -> None:
        super()._set_fitted_state(state)
        series = state.get("series")  # absent in detectors saved before time series
        self.member_train_scores_ = [np.asarray(s, dtype=np.float64) for s in state.get("member_train_scores", [])]
        self.members_ = []  # the models themselves are loaded by load()
        self.scaler_ = None
        if series is not None:
            from vaekit.timeseries import SeriesScaler  # noqa: PLC0415 - as in _fit_series

            self.scaler_ = SeriesScaler.from_dict(series["scaler"])
            self.window_ = int(series["window"])
            self.value_columns_ = list(series["value_columns"])
            self.stream_threshold_ = float(series["stream_threshold"])
            self.context_ = np.asarray(series["context"], dtype=np.float32).reshape(-1, len(self.value_columns_))
            last = series["last_time"]
            self.last_time_ = None if last is None else _parse_time(last)
        self.threshold_ = float(state["threshold"])
        self.offset_ = -self.threshold_
        self.decision_scores_ = np.asarray(state["decision_scores"], dtype=np.float64)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)


def _renamed_score(value: Any) -> Any:
    warnings.warn(
        f"the 'score' parameter of VAEAnomalyDetector is deprecated and will be removed; use score_type={value!r}",
        FutureWarning, stacklevel=3,
    )
    return value


def _mean_neg_elbo(model, x: np.ndarray, n_samples: int, score_type: str) -> np.ndarray:
    """Per-row -ELBO (or reconstruction loss, or -log p(x) by importance sampling), over ``n_samples`` draws."""
    if score_type == "iw":
        device = next(model.parameters()).device
        scores = np.empty(len(x), dtype=np.float64)  # (N,): allocated once (see mean_over_draws)
        model.eval()
        with torch.no_grad():
            for start in range(0, len(x), SCORE_CHUNK):
                xb = torch.from_numpy(np.ascontiguousarray(x[start : start + SCORE_CHUNK])).to(device)
                log_px = iw_log_likelihood(model, xb, k=n_samples, common_noise=True)[0]  # (B,): each row alone
                scores[start : start + len(xb)] = (-log_px.double()).cpu().numpy()
        return scores

    def score(xb: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        terms = model.loss_terms(xb, eps=eps)
        return terms.reconstruction if score_type == "reconstruction" else terms.reconstruction + terms.kl  # (B,)

    return mean_over_draws(model, x, n_samples, SCORE_CHUNK, score)


def _parse_time(text: str) -> Any:
    """A saved last timestamp back as the type read_series gives: datetime64, else a number."""
    try:
        return float(text)
    except ValueError:
        return np.datetime64(text)


def _is_image(X: Any) -> bool:
    return isinstance(X, np.ndarray) and X.ndim in (3, 4)


def _images(X: Any, what: str) -> np.ndarray:
    """``(N, C, H, W)`` float32 images from an array of images (``(N, H, W)`` gets a channel)."""

    if not isinstance(X, np.ndarray) or X.ndim not in (3, 4):
        raise DataError(f"{what} must be images (N, H, W) or (N, C, H, W) like the training data")
    if len(X) == 0:
        raise DataError(f"{what} has no rows")
    x = as_samples(X, what)
    if not np.isfinite(x).all():
        raise DataError(f"{what} holds NaN or infinite pixels; fix or drop those images")
    return x

