"""Disentanglement against known factors: MIG, SAP, DCI, and the beta-VAE and FactorVAE scores.

Chen et al. 2018, eq. 5: for each ground-truth factor v_k, the mutual
information between v_k and every latent dimension z_j, normalised by the
factor's entropy H(v_k); MIG is the mean over factors of the gap between
the two most informative dimensions. A latent space that gives each factor
its own dimension scores near 1, one that spreads factors over dimensions
(or ignores them) near 0. As in Locatello et al. 2019, the latents are the
posterior means, discretised into equal-width bins.

Two families. MIG, SAP (Kumar et al. 2018) and DCI (Eastwood & Williams
2018) need only (codes, factors) pairs, so they work on any data with known
factors: sprites, or a user's label columns. The beta-VAE score (Higgins et
al. 2017) and the FactorVAE score (Kim & Mnih 2018) generate observations
with some factors held fixed, so they need a generator of the data (for
sprites, :class:`vaekit.data.sprites.SpriteGrid`) and an encoder; for data
without one they are not available. The protocols (sample counts,
classifiers) are disentanglement_lib's (Locatello et al. 2019) unless a
constant below says otherwise, and why. numpy and scikit-learn only: the
encoder is any function from observations to codes.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC

from vaekit.errors import DataError

#: Bins per latent dimension (Locatello et al. 2019 use 20).
MIG_BINS = 20


def discretize(codes: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Each column of ``codes`` (N, Z) cut into ``bins`` equal-width bins, as int64 indices (N, Z)."""
    # Hand-written: KBinsDiscretizer(strategy='uniform') warns on every constant column, and collapsed latents are routine.
    codes = np.asarray(codes, dtype=np.float64)
    low, high = codes.min(axis=0), codes.max(axis=0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(((codes - low) / width).astype(np.int64), 0, bins - 1)


def entropy(a: np.ndarray) -> float:
    """H(a) in nats for a discrete label array."""
    # Hand-written: scikit-learn has no public entropy of labels, and scipy is not a vaekit dependency.
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS, factor_names: list[str] | None = None) -> dict:
    """The mutual information gap of latent ``codes`` (N, Z) against discrete ``factors`` (N, F).

    Returns ``mig`` (the mean gap), ``per_factor`` (name -> normalised gap)
    and ``mutual_information`` (F x Z, nats). Factors that take a single
    value carry no information and are left out of the mean.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise DataError(f"codes (N, Z) and factors (N, F) must have the same rows, got {codes.shape} and {factors.shape}")
    if codes.shape[1] < 2:
        raise DataError("MIG compares the two most informative dimensions: it needs latent_dim >= 2")
    binned = discretize(codes, bins)
    names = factor_names or [f"factor{k}" for k in range(factors.shape[1])]
    info = np.array([[mutual_info_score(factors[:, k], binned[:, j]) for j in range(codes.shape[1])]
                     for k in range(factors.shape[1])])  # (F, Z)
    gaps = {}
    for k, name in enumerate(names):
        h = entropy(factors[:, k])
        if h > 0:
            top = np.sort(info[k])[::-1]
            gaps[name] = float((top[0] - top[1]) / h)
    return {
        "mig": float(np.mean(list(gaps.values()))) if gaps else 0.0,
        "per_factor": gaps,
        "mutual_information": info.tolist(),
    }


# --------------------------------------------------------------------------- from (codes, factors) pairs

#: Rows for fitting and for testing the per-factor models of SAP and DCI (disentanglement_lib: 10,000 and 5,000).
#: Taken from the rows given; with fewer, two thirds fit and one third test.
N_FIT, N_TEST = 10_000, 5_000
#: SAP's classifier: a linear SVM on one latent dimension, C = 0.01, balanced classes (disentanglement_lib's).
SAP_C = 0.01
#: Trees of DCI's gradient-boosted classifiers. disentanglement_lib uses scikit-learn's default, 100; 10 here
#: because time grows with trees x classes: 10 trees take 12 s for one 40-valued factor at 6,667 rows on one core
#: (100: about ten times that, per factor), and 10 already put 0.99 of the importance on the right dimension of a
#: perfect code. Pass ``n_estimators=100`` for the lib's protocol.
DCI_TREES = 10


def _check_pairs(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise DataError(f"codes (N, Z) and factors (N, F) must have the same rows, got {codes.shape} and {factors.shape}")
    if len(codes) < 6:
        raise DataError(f"SAP and DCI fit and test a model per factor: they need at least 6 rows, got {len(codes)}")
    return codes, factors


def _fit_test_split(n: int, n_fit: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows to fit on and rows to test on: ``n_fit`` and ``n_test`` of a seeded permutation, or 2/3 and 1/3 of ``n``."""
    order = np.random.default_rng(seed).permutation(n)
    if n < n_fit + n_test:
        n_fit, n_test = (2 * n) // 3, n - (2 * n) // 3
    return order[:n_fit], order[n_fit : n_fit + n_test]


def _top_two_gap(scores: np.ndarray) -> np.ndarray:
    """Per column of ``scores`` (Z, F): the best row's score minus the second best's, (F,)."""
    top = np.sort(scores, axis=0)[::-1]  # (Z, F), best first
    return top[0] - top[1]


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    continuous: bool = False,
    n_fit: int = N_FIT,
    n_test: int = N_TEST,
    seed: int = 0,
    factor_names: list[str] | None = None,
) -> dict:
    """The separated attribute predictability (SAP) of ``codes`` (N, Z) against ``factors`` (N, F).

    Kumar et al. 2018, section 3: a score per (latent dimension, factor) of how
    well that one dimension predicts that factor; SAP is the mean over factors
    of the gap between the two best dimensions. disentanglement_lib's protocol:
    ``continuous=False`` (its default) scores a linear SVM (C = 0.01, balanced
    classes) fitted on ``n_fit`` rows by its accuracy on ``n_test`` others;
    ``continuous=True`` scores the squared correlation (the R^2 of a line) on
    the fitted rows.

    A perfect code scores 1 with ``continuous=True``; with classifiers the
    second-best dimension still guesses at chance and a line through one
    dimension cannot single out a middle value, so a perfect code of a
    K-valued factor scores at most 1 - 1/K (0.5 for a binary factor). Noise
    scores near 0 either way.

    Returns
    -------
    dict
        ``sap``, ``per_factor`` (name -> gap) and ``scores`` (Z x F).
    """

    codes, factors = _check_pairs(codes, factors)
    if codes.shape[1] < 2:
        raise DataError("SAP compares the two most predictive dimensions: it needs latent_dim >= 2")
    names = factor_names or [f"factor{k}" for k in range(factors.shape[1])]
    fit, test = _fit_test_split(len(codes), n_fit, n_test, seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))  # (Z, F)
    for k in range(factors.shape[1]):
        target = factors[:, k]
        if len(np.unique(target[fit])) < 2:
            continue  # a constant factor: nothing to predict, every dimension scores 0
        for j in range(codes.shape[1]):
            if continuous:  # Kumar et al. 2018, sec. 3: R^2 of a linear regression = squared correlation
                c = np.cov(codes[fit, j], target[fit].astype(np.float64))  # (2, 2)
                scores[j, k] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 and c[1, 1] > 0 else 0.0
            else:  # Kumar et al. 2018, sec. 3: a classifier's accuracy, on held-out rows as in disentanglement_lib
                svm = LinearSVC(C=SAP_C, class_weight="balanced").fit(codes[fit, j : j + 1], target[fit])
                scores[j, k] = float(np.mean(svm.predict(codes[test, j : j + 1]) == target[test]))
    gaps = _top_two_gap(scores)  # (F,)
    return {"sap": float(gaps.mean()), "per_factor": dict(zip(names, gaps.tolist())), "scores": scores.tolist()}


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - H(p) in base ``base`` for each column of nonnegative weights ``p`` (K, M), normalised per column."""
    if base < 2:
        return np.ones(p.shape[1])  # one outcome: nothing to spread over
    p = p + 1e-11  # disentanglement_lib's guard against an all-zero column
    p = p / p.sum(axis=0, keepdims=True)
    return 1.0 + (p * np.log(p)).sum(axis=0) / np.log(base)


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    n_estimators: int = DCI_TREES,
    n_fit: int = N_FIT,
    n_test: int = N_TEST,
    seed: int = 0,
    factor_names: list[str] | None = None,
) -> dict:
    """DCI disentanglement, completeness and informativeness of ``codes`` (N, Z) against ``factors`` (N, F).

    Eastwood & Williams 2018: a model per factor predicts it from all the
    codes; its feature importances form R (Z x F). Disentanglement: how much
    each dimension serves a single factor (1 - entropy of its row), weighted by
    the dimension's share of the importance; completeness: how much each
    factor is held by a single dimension (1 - entropy of its column), weighted
    likewise; informativeness: the models' accuracy on held-out rows. As in
    disentanglement_lib, the models are scikit-learn's GradientBoostingClassifier
    (depth 3) fitted on ``n_fit`` rows and tested on ``n_test``; here with
    ``n_estimators`` trees (the lib: 100, see ``DCI_TREES``).

    A code that gives each factor its own dimension scores near 1 on all
    three; noise scores near 0 on disentanglement and completeness and at
    chance (the largest class's share) on informativeness.

    Returns
    -------
    dict
        ``disentanglement``, ``completeness``, ``informativeness`` (mean test
        accuracy), ``informativeness_train``, ``per_factor`` (name ->
        completeness) and ``importance`` (Z x F).
    """

    codes, factors = _check_pairs(codes, factors)
    names = factor_names or [f"factor{k}" for k in range(factors.shape[1])]
    fit, test = _fit_test_split(len(codes), n_fit, n_test, seed)
    importance = np.zeros((codes.shape[1], factors.shape[1]))  # (Z, F)
    train_accuracy, test_accuracy = [], []
    for k in range(factors.shape[1]):
        target = factors[:, k]
        if len(np.unique(target[fit])) < 2:  # a constant factor: predicted perfectly by nothing
            train_accuracy.append(1.0)
            test_accuracy.append(1.0)
            continue
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed).fit(codes[fit], target[fit])
        importance[:, k] = np.abs(model.feature_importances_)
        train_accuracy.append(float(np.mean(model.predict(codes[fit]) == target[fit])))
        test_accuracy.append(float(np.mean(model.predict(codes[test]) == target[test])))
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    per_code = _one_minus_entropy(importance.T, base=factors.shape[1])  # Eastwood & Williams 2018, eq. 2: D_i
    per_factor = _one_minus_entropy(importance, base=codes.shape[1])  # Eastwood & Williams 2018, eq. 3: C_j
    code_share = weights.sum(axis=1) / weights.sum()  # (Z,) rho_i, eq. 2
    factor_share = weights.sum(axis=0) / weights.sum()  # (F,) as in disentanglement_lib
    return {
        "disentanglement": float(per_code @ code_share),
        "completeness": float(per_factor @ factor_share),
        "informativeness": float(np.mean(test_accuracy)),
        "informativeness_train": float(np.mean(train_accuracy)),
        "per_factor": dict(zip(names, per_factor.tolist())),
        "importance": importance.tolist(),
    }


# --------------------------------------------------------------------------- from a generator of observations

#: Encodes observations (B, ...) into codes (B, Z): the posterior means.
Encode = Callable[[np.ndarray], np.ndarray]
#: Draws ``n`` factor settings (n, F), integer indices into each factor's values, with the generator given.
SampleFactors = Callable[[int, np.random.Generator], np.ndarray]
#: Renders observations (B, ...) for factor settings (B, F).
Observe = Callable[[np.ndarray], np.ndarray]

#: Points of the beta-VAE score and votes of the FactorVAE score, each from a batch of this many
#: observations (disentanglement_lib: 64 for both).
GENERATIVE_BATCH = 64
#: Training and evaluation points / votes (disentanglement_lib: 10,000 and 5,000 for both scores).
GENERATIVE_TRAIN, GENERATIVE_EVAL = 10_000, 5_000
#: Observations whose codes give the FactorVAE score's global variances (disentanglement_lib: 10,000).
FACTORVAE_VARIANCE_ROWS = 10_000
#: FactorVAE: dimensions whose global variance is below this are collapsed and take no votes (Kim & Mnih 2018).
FACTORVAE_PRUNE = 0.05
#: Observations encoded per call of ``encode``: keeps memory flat whatever the number of points.
_ENCODE_ROWS = 4096


def _encode_factors(encode: Encode, observe: Observe, factors: np.ndarray) -> np.ndarray:
    """The codes (N, Z) of the observations of ``factors`` (N, F), rendered and encoded in slices."""
    parts = [np.asarray(encode(observe(factors[s : s + _ENCODE_ROWS])), dtype=np.float64)
             for s in range(0, len(factors), _ENCODE_ROWS)]
    codes = np.concatenate(parts)  # (N, Z)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise DataError(f"encode must return codes (N, Z) for N observations, got {codes.shape} for {len(factors)}")
    return codes


def _betavae_points(encode: Encode, sample_factors: SampleFactors, observe: Observe, n: int, batch_size: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` beta-VAE points: features (n, Z), the mean |z1 - z2| over pairs sharing one factor, and that factor (n,)."""
    features, labels = [], []
    per_call = max(1, _ENCODE_ROWS // (2 * batch_size))  # points rendered together
    for start in range(0, n, per_call):
        m = min(per_call, n - start)
        first = np.asarray(sample_factors(m * batch_size, rng)).reshape(m, batch_size, -1)  # (m, B, F)
        second = np.asarray(sample_factors(m * batch_size, rng)).reshape(m, batch_size, -1)
        k = rng.integers(first.shape[2], size=m)  # (m,) the factor each point fixes
        second[np.arange(m), :, k] = first[np.arange(m), :, k]  # Higgins et al. 2017, sec. 3: v_k shared by the pair
        codes = _encode_factors(encode, observe, np.concatenate([first, second]).reshape(2 * m * batch_size, -1))
        z1, z2 = codes.reshape(2, m, batch_size, -1)  # (m, B, Z) each
        features.append(np.abs(z1 - z2).mean(axis=1))  # Higgins et al. 2017, sec. 3: z_diff averaged over L pairs
        labels.append(k)
    return np.concatenate(features), np.concatenate(labels)


def betavae_score(
    encode: Encode,
    sample_factors: SampleFactors,
    observations_from_factors: Observe,
    *,
    n_train: int = GENERATIVE_TRAIN,
    n_eval: int = GENERATIVE_EVAL,
    batch_size: int = GENERATIVE_BATCH,
    seed: int = 0,
) -> dict:
    """The beta-VAE disentanglement score (Higgins et al. 2017) of the encoder ``encode``.

    Each point fixes one factor k, chosen uniformly: ``batch_size`` pairs of
    factor settings share v_k and draw the rest independently; the point's
    feature is the mean absolute difference of the pairs' codes, its label k.
    A logistic regression (scikit-learn's defaults, as in disentanglement_lib)
    fitted on ``n_train`` points predicts k for ``n_eval`` others; the score is
    that accuracy. disentanglement_lib's protocol: batch 64, 10,000 training and
    5,000 evaluation points (the defaults here; 1.92 million observations).

    A perfect code scores 1; a code that ignores the factors scores chance,
    1/F for F factors (not 0).

    Parameters
    ----------
    encode
        Observations (B, ...) -> codes (B, Z), the posterior means.
    sample_factors
        (n, rng) -> n factor settings (n, F) drawn from the data's factor grid.
    observations_from_factors
        Factor settings (B, F) -> their observations (B, ...).

    Returns
    -------
    dict
        ``score`` (evaluation accuracy), ``train_accuracy`` and the protocol:
        ``n_train``, ``n_eval``, ``batch_size``.
    """

    _check_protocol(n_train, n_eval, batch_size, least_batch=1)
    rng = np.random.default_rng(seed)
    x_train, y_train = _betavae_points(encode, sample_factors, observations_from_factors, n_train, batch_size, rng)
    x_eval, y_eval = _betavae_points(encode, sample_factors, observations_from_factors, n_eval, batch_size, rng)
    if len(np.unique(y_train)) < 2:
        raise DataError("the beta-VAE score needs data with at least 2 factors; use mig, sap or dci for one")
    classifier = LogisticRegression(random_state=seed).fit(x_train, y_train)
    return {
        "score": float(classifier.score(x_eval, y_eval)),
        "train_accuracy": float(classifier.score(x_train, y_train)),
        "n_train": n_train, "n_eval": n_eval, "batch_size": batch_size,
    }


def _factorvae_votes(encode: Encode, sample_factors: SampleFactors, observe: Observe, n: int, batch_size: int,
                     scale: np.ndarray, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Votes (Z_active, F): how often each active dimension had the least scaled variance when factor k was fixed."""
    n_factors = np.asarray(sample_factors(1, rng)).shape[1]
    votes = np.zeros((int(active.sum()), n_factors), dtype=np.int64)  # (Z_active, F)
    per_call = max(1, _ENCODE_ROWS // batch_size)
    for start in range(0, n, per_call):
        m = min(per_call, n - start)
        settings = np.asarray(sample_factors(m * batch_size, rng)).reshape(m, batch_size, -1)  # (m, B, F)
        k = rng.integers(n_factors, size=m)  # (m,)
        settings[np.arange(m), :, k] = settings[np.arange(m), :1, k]  # Kim & Mnih 2018, sec. 4: fix v_k in the batch
        codes = _encode_factors(encode, observe, settings.reshape(m * batch_size, -1)).reshape(m, batch_size, -1)
        local = codes[:, :, active].var(axis=1, ddof=1) / scale[active]  # (m, Z_active) variance / global variance
        np.add.at(votes, (local.argmin(axis=1), k), 1)  # Kim & Mnih 2018, sec. 4: argmin_d Var(z_d / s_d) votes for k
    return votes


def factorvae_score(
    encode: Encode,
    sample_factors: SampleFactors,
    observations_from_factors: Observe,
    *,
    n_train: int = GENERATIVE_TRAIN,
    n_eval: int = GENERATIVE_EVAL,
    batch_size: int = GENERATIVE_BATCH,
    n_variance: int = FACTORVAE_VARIANCE_ROWS,
    prune: float = FACTORVAE_PRUNE,
    seed: int = 0,
) -> dict:
    """The FactorVAE disentanglement score (Kim & Mnih 2018) of the encoder ``encode``.

    The codes of ``n_variance`` random observations give each dimension's
    global variance; dimensions below ``prune`` are collapsed and left out.
    Each vote fixes one factor k in a batch of ``batch_size`` settings, divides
    the batch's code variances by the global ones, and pairs the dimension of
    least variance with k. A majority-vote classifier (each dimension -> its
    most voted factor), built from ``n_train`` votes, is scored on ``n_eval``
    others. disentanglement_lib's protocol: batch 64, 10,000 training and 5,000
    evaluation votes, variances from 10,000 observations (the defaults here).

    A perfect code scores 1; one that ignores the factors scores about 1/F
    (not 0); a code with every dimension collapsed scores 0.

    Parameters
    ----------
    encode, sample_factors, observations_from_factors
        As in :func:`betavae_score`.

    Returns
    -------
    dict
        ``score`` (evaluation accuracy), ``train_accuracy``, ``active_dims``
        and the protocol: ``n_train``, ``n_eval``, ``batch_size``, ``n_variance``.
    """
    _check_protocol(n_train, n_eval, batch_size, least_batch=2)
    if n_variance < 2:
        raise DataError(f"n_variance must be at least 2 to estimate a variance, got {n_variance}")
    rng = np.random.default_rng(seed)
    protocol = {"n_train": n_train, "n_eval": n_eval, "batch_size": batch_size, "n_variance": n_variance}
    codes = _encode_factors(encode, observations_from_factors, np.asarray(sample_factors(n_variance, rng)))
    scale = codes.var(axis=0, ddof=1)  # (Z,) Kim & Mnih 2018, sec. 4: normalise each dimension by its variance
    active = scale >= prune
    if not active.any():
        return {"score": 0.0, "train_accuracy": 0.0, "active_dims": 0, **protocol}
    train = _factorvae_votes(encode, sample_factors, observations_from_factors, n_train, batch_size, scale, active, rng)
    evaluation = _factorvae_votes(encode, sample_factors, observations_from_factors, n_eval, batch_size, scale, active,
                                  rng)
    classifier = train.argmax(axis=1)  # (Z_active,) each dimension's majority factor
    rows = np.arange(len(classifier))
    return {
        "score": float(evaluation[rows, classifier].sum() / evaluation.sum()),
        "train_accuracy": float(train[rows, classifier].sum() / train.sum()),
        "active_dims": int(active.sum()), **protocol,
    }


def _check_protocol(n_train: int, n_eval: int, batch_size: int, least_batch: int) -> None:
    if n_train < 1 or n_eval < 1:
        raise DataError(f"n_train and n_eval must be positive, got {n_train} and {n_eval}")
    if batch_size < least_batch:
        raise DataError(f"batch_size must be at least {least_batch}, got {batch_size}")


# --------------------------------------------------------------------------- all of them


class FactorSource(Protocol):
    """A data source that can make observations for any factor setting (:class:`vaekit.data.sprites.SpriteGrid`)."""

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor settings (n, F) drawn uniformly from the factor grid."""
        ...

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """The observations (N, ...) of factor settings (N, F)."""
        ...


#: Why a report has no beta-VAE or FactorVAE score.
NO_GENERATOR = ("beta-VAE and FactorVAE scores skipped: they need a generator of observations for given factors "
                "(sprites) and an unconditional encoder; MIG, SAP and DCI use the factors as given")


def factor_metrics(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    factor_names: list[str] | None = None,
    encode: Encode | None = None,
    source: FactorSource | None = None,
    n_train: int = GENERATIVE_TRAIN,
    n_eval: int = GENERATIVE_EVAL,
    seed: int = 0,
) -> dict:
    """Every disentanglement metric that ``codes`` (N, Z) and ``factors`` (N, F) allow.

    MIG, SAP (discrete, disentanglement_lib's default, and continuous: the
    factors of sprites are ordered) and DCI always (MIG and SAP need
    ``Z >= 2``; with one factor, DCI disentanglement is 1 by definition); the
    beta-VAE and FactorVAE scores when both ``encode`` and ``source`` are
    given, with ``n_train`` / ``n_eval`` points and votes; otherwise
    ``skipped`` says why.

    Returns
    -------
    dict
        ``mig``, ``sap``, ``sap_continuous``, ``dci_disentanglement``, ``dci_completeness``,
        ``dci_informativeness``, ``betavae``, ``factorvae`` (those computed),
        ``protocol`` (the sample counts and classifiers) and ``skipped`` (a
        list of one-line reasons).
    """
    codes, factors = _check_pairs(codes, factors)
    report: dict = {"skipped": []}
    if codes.shape[1] >= 2:
        report["mig"] = mig(codes, factors, factor_names=factor_names)["mig"]
        report["sap"] = sap(codes, factors, factor_names=factor_names, seed=seed)["sap"]
        report["sap_continuous"] = sap(codes, factors, continuous=True, factor_names=factor_names, seed=seed)["sap"]
    else:
        report["skipped"].append("MIG and SAP skipped: they compare two latent dimensions and the model has one")
    scores = dci(codes, factors, factor_names=factor_names, seed=seed)
    report.update({f"dci_{key}": scores[key] for key in ("disentanglement", "completeness", "informativeness")})
    fit, test = _fit_test_split(len(codes), N_FIT, N_TEST, seed)
    report["protocol"] = {
        "rows_fit": len(fit), "rows_test": len(test),
        "sap": f"LinearSVC(C={SAP_C}, class_weight='balanced') per latent dimension and factor, test accuracy; "
               "sap_continuous: squared correlation on the fitted rows",
        "dci": f"GradientBoostingClassifier(n_estimators={DCI_TREES}) per factor, feature importances",
    }
    if encode is None or source is None:
        report["skipped"].append(NO_GENERATOR)
        return report
    common = {"n_train": n_train, "n_eval": n_eval, "seed": seed}
    report["betavae"] = betavae_score(encode, source.sample_factors, source.observations, **common)["score"]
    factorvae = factorvae_score(encode, source.sample_factors, source.observations, **common)
    report["factorvae"] = factorvae["score"]
    report["protocol"].update({
        "betavae": f"{n_train} training / {n_eval} evaluation points of {GENERATIVE_BATCH} pairs, LogisticRegression",
        "factorvae": f"{n_train} training / {n_eval} evaluation votes of {GENERATIVE_BATCH}, variances of "
                     f"{FACTORVAE_VARIANCE_ROWS} codes, {factorvae['active_dims']} dimensions with variance >= "
                     f"{FACTORVAE_PRUNE}, majority vote",
    })
    return report
