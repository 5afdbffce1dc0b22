"""Objectives beyond the ELBO: beta-TCVAE's estimators, FactorVAE's discriminator, DIP-VAE-II's penalty."""

import json
import math

import pytest
import torch

from tests.conftest import dies_after, weights
from vaekit.cli import main as cli_main
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.models import VAE, build_model
from vaekit.objectives import (
    OBJECTIVES,
    DIPTerms,
    FactorTerms,
    aggregate_log_densities,
    permute_dims,
    tc_decomposition,
)
from vaekit.posteriors import DiagonalGaussian, StandardNormal
from vaekit.training import Trainer


def tiny(objective="elbo", **model):
    return ModelConfig(
        **{"input_shape": (1, 8, 8), "arch": "mlp", "latent_dim": 2, "hidden_dims": (16,), "objective": objective,
           "discriminator_dims": (16, 16), **model}
    )


def make(objective, tmp_path=None, seed=0, model=None, **train):
    torch.manual_seed(seed)
    net = build_model(tiny(objective, **(model or {})))
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 8, "seed": seed, "val_fraction": 0.0, **train})
    return Trainer(net, cfg, checkpoint_dir=None if tmp_path is None else tmp_path / "ckpt")


@pytest.fixture
def x(tiny_images):
    return torch.from_numpy(tiny_images)[::2].contiguous()  # (24, 1, 8, 8)


def exact_log_qz(z, mu, logvar):
    """log (1/N) sum_n q(z_i | x_n) and sum_d log (1/N) sum_n q(z_id | x_n) over the whole dataset, each (B,)."""
    normal = torch.distributions.Normal(mu.unsqueeze(0), (0.5 * logvar).exp().unsqueeze(0))  # (1, N, Z)
    per_dim = normal.log_prob(z.unsqueeze(1))  # (B, N, Z)
    n = mu.shape[0]
    joint = torch.logsumexp(per_dim.sum(-1), dim=1) - math.log(n)
    product = (torch.logsumexp(per_dim, dim=1) - math.log(n)).sum(-1)
    return joint, product


def small_dataset(n=12, z_dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, z_dim, generator=g, dtype=torch.float64)
    logvar = torch.randn(n, z_dim, generator=g, dtype=torch.float64) * 0.3 - 0.5
    q = DiagonalGaussian(mu, logvar)
    return q, q.rsample(generator=g)


# ------------------------------------------------------------------ beta-TCVAE estimators


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_estimates_of_log_qz_are_exact_when_the_batch_is_the_whole_dataset(estimator):
    q, z = small_dataset()
    joint, product = aggregate_log_densities(z, q, dataset_size=len(z), estimator=estimator)
    exact_joint, exact_product = exact_log_qz(z, q.mu, q.logvar)
    torch.testing.assert_close(joint, exact_joint)
    torch.testing.assert_close(product, exact_product)


def test_on_subsamples_mss_is_unbiased_for_qz_and_mws_is_close_on_average():
    n, b = 40, 8
    q, z = small_dataset(n=n, z_dim=2, seed=1)
    exact, _ = exact_log_qz(z, q.mu, q.logvar)  # (N,)
    g = torch.Generator().manual_seed(2)
    sums = {"mss": torch.zeros(n, dtype=torch.float64), "mws": torch.zeros(n, dtype=torch.float64)}
    logs = {"mss": torch.zeros(n, dtype=torch.float64), "mws": torch.zeros(n, dtype=torch.float64)}
    counts = torch.zeros(n, dtype=torch.float64)
    for _ in range(3000):
        rows = torch.randperm(n, generator=g)[:b]  # a uniform batch, as the trainer draws them
        batch = DiagonalGaussian(q.mu[rows], q.logvar[rows])
        for estimator in sums:
            estimate, _ = aggregate_log_densities(z[rows], batch, dataset_size=n, estimator=estimator)
            sums[estimator][rows] += estimate.exp()
            logs[estimator][rows] += estimate
        counts[rows] += 1
    # MSS: the mean of the estimates of q(z_i) is q(z_i) (unbiased inside the log).
    ratio = (sums["mss"] / counts) / exact.exp()
    assert (ratio - 1).abs().max() < 0.15 and abs(ratio.mean() - 1) < 0.03, ratio
    # Both: E[log q(z)], what the objective uses, within a few tenths of a nat of the exact value.
    for estimator in logs:
        gap = (logs[estimator] / counts).mean() - exact.mean()
        assert abs(gap) < 0.35, (estimator, gap)
    # MWS counts the row's own x at 1/B instead of 1/N: it overestimates q(z); MSS corrects that.
    assert (logs["mws"] / counts).mean() > (logs["mss"] / counts).mean()


def test_total_correlation_of_independent_codes_is_zero_and_of_correlated_codes_positive():
    values = torch.linspace(-2, 2, 5, dtype=torch.float64)
    grid = torch.cartesian_prod(values, values)  # (25, 2): every pair, so q(z) = q(z_1) q(z_2) exactly
    logvar = torch.full_like(grid, math.log(0.5**2))
    q = DiagonalGaussian(grid, logvar)
    g = torch.Generator().manual_seed(0)
    z = q.rsample(generator=g)
    prior = StandardNormal(torch.zeros_like(grid), torch.zeros_like(grid))
    _, tc, _ = tc_decomposition(q, z, prior, dataset_size=len(z), estimator="mss")
    torch.testing.assert_close(tc, torch.zeros_like(tc), atol=1e-9, rtol=0)

    line = torch.linspace(-2, 2, 25, dtype=torch.float64)
    correlated = DiagonalGaussian(torch.stack([line, line], dim=1), logvar)  # z_2 = z_1 up to noise
    z = correlated.rsample(generator=g)
    _, tc, _ = tc_decomposition(correlated, z, prior, dataset_size=len(z), estimator="mss")
    assert tc.mean() > 0.5


def test_the_three_terms_sum_to_the_single_draw_kl_and_to_the_kl_on_average():
    q, _ = small_dataset(n=16, z_dim=3, seed=3)
    prior = StandardNormal(torch.zeros_like(q.mu), torch.zeros_like(q.mu))
    kl = torch.distributions.kl_divergence(q, prior)  # (N,) closed form
    g = torch.Generator().manual_seed(4)
    totals = []
    for _ in range(2000):
        z = q.rsample(generator=g)
        mi, tc, dwkl = tc_decomposition(q, z, prior, dataset_size=16, estimator="mss")
        torch.testing.assert_close(mi + tc + dwkl, q.log_prob(z) - prior.log_prob(z))  # the identity, per row
        totals.append((mi + tc + dwkl).mean())
    assert abs(torch.stack(totals).mean() - kl.mean()) < 0.05 * kl.mean()


def test_tcvae_with_unit_weights_is_the_elbo_on_average(x):
    torch.manual_seed(0)
    elbo = build_model(tiny("elbo"))
    torch.manual_seed(0)
    tcvae = build_model(tiny("tcvae", tc_estimator="mss", dataset_size=len(x)))
    assert all(torch.equal(a, b) for a, b in zip(elbo.state_dict().values(), tcvae.state_dict().values()))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with torch.no_grad():
        a = torch.stack([elbo.loss_terms(x, g1).loss(1.0).mean() for _ in range(300)]).mean()
        terms = [tcvae.loss_terms(x, g2) for _ in range(300)]
    b = torch.stack([t.loss(1.0).mean() for t in terms]).mean()
    assert abs(a - b) < 0.01 * abs(a)
    # The logged KL stays the closed form, the ELBO's.
    torch.testing.assert_close(terms[0].kl, elbo.loss_terms(x, torch.Generator().manual_seed(5)).kl)


def test_tcvae_takes_the_dataset_size_from_the_data_and_saves_it(tmp_path, x):
    trainer = make("tcvae", model={"tc_estimator": "mss"}, epochs=1)
    trainer.fit(x)
    assert trainer.model.config.dataset_size == len(x) and trainer.model.objective.dataset_size == len(x)
    trainer.model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["dataset_size"] == len(x)
    assert VAE.from_pretrained(tmp_path / "m").objective.dataset_size == len(x)
    given = make("tcvae", model={"dataset_size": 1000}, epochs=1)  # a size set by hand is kept
    given.fit(x)
    assert given.model.config.dataset_size == 1000
    elbo = make("elbo", epochs=1)
    elbo.fit(x)
    assert elbo.model.config.dataset_size == 0  # the ELBO's config.json stays as it was


# ------------------------------------------------------------------ FactorVAE


def test_permute_dims_shuffles_each_dimension_on_its_own():
    z = torch.arange(20.0).reshape(10, 2)
    p = permute_dims(z, torch.Generator().manual_seed(0))
    for d in range(2):
        assert sorted(p[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(p, z)


def test_factorvae_trains_its_discriminator_with_its_own_optimizer(x):
    trainer = make("factorvae", epochs=10, discriminator_lr=1e-3)
    objective = trainer.model.objective
    in_vae = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not in_vae & {id(p) for p in objective.discriminator_parameters()}
    assert len(in_vae) + len(objective.discriminator_parameters()) == len(list(trainer.model.parameters()))
    before = {k: v.clone() for k, v in objective.discriminator.state_dict().items()}
    history = trainer.fit(x)
    assert all(math.isfinite(row[k]) for row in history for k in ("train_loss", "train_kl"))
    assert all(not torch.equal(before[k], v) for k, v in objective.discriminator.state_dict().items())
    # Each epoch's row has the discriminator's mean cross-entropy: log 2 when it cannot tell, here still near it.
    losses = [row["train_discriminator_loss"] for row in history]
    assert len(losses) == 10 and all(0.3 < value < 1.2 for value in losses), losses
    assert len(set(losses)) == 10  # one mean per epoch, not one carried over
    assert "train_discriminator_loss" not in make("elbo", epochs=1).fit(x)[0]


def test_the_discriminator_learns_to_tell_correlated_codes_from_their_permutation():
    torch.manual_seed(0)
    objective = OBJECTIVES["factorvae"](tiny("factorvae"))
    g = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(objective.discriminator_parameters(), lr=1e-3, betas=(0.5, 0.9))

    def codes():
        z1 = torch.randn(256, 1, generator=g)
        return torch.cat([z1, z1 + 0.1 * torch.randn(256, 1, generator=g)], dim=1)  # TC > 0: z_2 follows z_1

    start = objective.discriminator_accuracy(codes(), g)
    for _ in range(300):
        loss = objective.discriminator_loss(FactorTerms(torch.zeros(256), torch.zeros(256), codes=codes()), g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    end = objective.discriminator_accuracy(codes(), g)
    assert end > 0.75 and end > start + 0.15, (start, end)
    # Its TC estimate log D/(1 - D) is then positive on q(z)'s codes: what the VAE's loss adds, times gamma.
    terms = objective.terms(*_gaussian_batch(codes()), torch.zeros(256))
    assert terms.total_correlation.mean() > 0.5
    torch.testing.assert_close(terms.loss(1.0), terms.reconstruction + terms.kl + 10.0 * terms.total_correlation)


def _gaussian_batch(z):
    q = DiagonalGaussian(z, torch.full_like(z, -4.0))
    return q, z, StandardNormal(torch.zeros_like(z), torch.zeros_like(z))


@pytest.mark.parametrize("schedule", [{}, {"lr_schedule": "cosine", "lr_interval": "step", "lr_min": 1e-4}],
                         ids=["constant", "cosine-by-step"])
@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_a_killed_run_resumes_bitwise(tmp_path, x, objective, schedule):
    kw = {"epochs": 3, "checkpoint_every": 2, "model": {"tc_estimator": "mss"}, **schedule}
    reference = make(objective, **kw)
    reference.fit(x)
    killed = make(objective, tmp_path, **kw)
    killed._train_step = dies_after(killed._train_step, 6)  # mid-epoch (3 steps an epoch), after a checkpoint
    with pytest.raises(KeyboardInterrupt):
        killed.fit(x)
    resumed = make(objective, tmp_path, **kw)
    assert resumed.resume_from(tmp_path / "ckpt")
    assert 0 < resumed.step < 9
    resumed.fit(x)
    a, b = weights(reference), weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    if reference.discriminator_optimizer is not None:
        sa, sb = reference.discriminator_optimizer.state_dict(), resumed.discriminator_optimizer.state_dict()
        for i in sa["state"]:
            assert torch.equal(sa["state"][i]["exp_avg"], sb["state"][i]["exp_avg"])
        # The killed epoch's discriminator sums were in the checkpoint: its mean loss is the same too.
        assert [r["train_discriminator_loss"] for r in resumed.history] == [
            r["train_discriminator_loss"] for r in reference.history
        ]


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_factorvae_discriminator_follows_the_vae_learning_rate_schedule(x, interval):
    trainer = make("factorvae", epochs=3, lr=2e-3, discriminator_lr=1e-3, lr_schedule="cosine", lr_min=2e-4,
                   lr_interval=interval)
    trainer.fit(x, until_epoch=2)
    vae, disc = trainer.optimizer.param_groups[0]["lr"], trainer.discriminator_optimizer.param_groups[0]["lr"]
    assert 2e-4 < vae < 2e-3
    assert disc == pytest.approx(vae / 2)  # the same share of its own rate


# ------------------------------------------------------------------ DIP-VAE-II


def test_dip_penalty_is_zero_at_identity_covariance_and_added_once_per_batch():
    config = tiny("dipvae", dip_lambda_od=3.0, dip_lambda_d=2.0)
    objective = OBJECTIVES["dipvae"](config)
    prior = StandardNormal(torch.zeros(4, 2), torch.zeros(4, 2))
    rec = torch.zeros(4)
    flat = DiagonalGaussian(torch.zeros(4, 2), torch.zeros(4, 2))  # E[Sigma] = I, Cov[mu] = 0
    assert objective.terms(flat, flat.mu, prior, rec).penalty.abs() < 1e-12
    mu = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])  # Cov[mu] = [[1, 1], [1, 1]]
    q = DiagonalGaussian(mu, torch.full((4, 2), -30.0))
    terms = objective.terms(q, mu, prior, rec)
    assert isinstance(terms, DIPTerms)
    torch.testing.assert_close(terms.penalty, torch.tensor(3.0 * 2 + 0.0), atol=1e-5, rtol=0)
    elbo_mean = (terms.reconstruction + terms.kl).mean()
    torch.testing.assert_close(terms.loss(1.0).mean(), elbo_mean + terms.penalty)


# ------------------------------------------------------------------ settings, files, CLI


def test_the_elbo_is_the_default_and_adds_no_weights():
    assert ModelConfig().objective == "elbo"
    model = build_model(tiny())
    assert not [k for k in model.state_dict() if k.startswith("objective")]
    assert type(model.loss_terms(torch.rand(3, 1, 8, 8))).__name__ == "LossTerms"


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_every_objective_survives_save_and_load(tmp_path, objective):
    torch.manual_seed(0)
    model = build_model(tiny(objective, tc_alpha=0.5, factor_gamma=7.0, dip_lambda_od=4.0))
    model.save_pretrained(tmp_path / objective)
    saved = json.loads((tmp_path / objective / "config.json").read_text())["model"]
    assert (saved["objective"], saved["tc_alpha"], saved["factor_gamma"], saved["dip_lambda_od"]) == (
        objective, 0.5, 7.0, 4.0)
    back = VAE.from_pretrained(tmp_path / objective)
    assert back.config.objective == objective and type(back.objective) is OBJECTIVES[objective]
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"objective": "nope"}, "invalid value for 'objective'"),
        ({"tc_estimator": "exact"}, "invalid value for 'tc_estimator'"),
        ({"tc_alpha": -1.0}, "'tc_alpha'"),
        ({"tc_gamma": -1.0}, "'tc_gamma'"),
        ({"factor_gamma": -1.0}, "'factor_gamma'"),
        ({"dip_lambda_d": -1.0}, "'dip_lambda_d'"),
        ({"dataset_size": -5}, "'dataset_size'"),
        ({"discriminator_dims": ()}, "discriminator_dims"),
        ({"objective": "tcvae", "prior": "mog"}, "needs the normal prior"),
        ({"objective": "tcvae", "posterior": "iaf"}, "needs a gaussian posterior"),
        ({"objective": "dipvae", "posterior": "iaf"}, "needs a gaussian posterior"),
        ({"objective": "tcvae", "free_bits": 0.5}, "free_bits"),
        ({"objective": "tcvae", "capacity_max": 5.0}, "capacity_max"),
        ({"objective": "factorvae", "model": "iwae"}, "bound of its own"),
    ],
)
def test_bad_settings_are_one_line_config_errors(settings, match):
    with pytest.raises(ConfigError, match=match) as err:
        build_model(tiny(**{"objective": "elbo", **settings}))
    assert "\n" not in str(err.value)


def test_a_bad_discriminator_lr_is_a_config_error():
    with pytest.raises(ConfigError, match="discriminator_lr"):
        TrainConfig(discriminator_lr=0.0).validate()


def test_train_has_a_flag_for_the_objective_and_each_weight(capsys):
    try:
        cli_main(["train", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for flag in ("--objective", "--tc-alpha", "--tc-gamma", "--tc-estimator", "--dataset-size", "--factor-gamma",
                 "--discriminator-dims", "--discriminator-lr", "--dip-lambda-od", "--dip-lambda-d"):
        assert flag in out, flag


def test_the_vae_loss_gives_the_discriminator_no_gradient(x):
    model = build_model(tiny("factorvae"))
    model.loss_terms(x, torch.Generator().manual_seed(0)).loss(1.0).mean().backward()
    assert all(p.grad is None for p in model.objective.discriminator_parameters())
    assert model.encoder.parameters().__next__().grad is not None


@pytest.mark.parametrize("objective, flags", [
    ("tcvae", ["--tc-estimator", "mss", "--tc-gamma", "2"]),
    ("factorvae", ["--factor-gamma", "5", "--discriminator-dims", "8,8", "--discriminator-lr", "0.001"]),
])
def test_vaekit_train_takes_the_objective_and_its_weights(tmp_path, tiny_npz, objective, flags):
    out = tmp_path / objective
    argv = ["train", "--data", tiny_npz, "--out", out, "--quiet", "--epochs", "1", "--arch", "mlp",
            "--latent-dim", "2", "--hidden-dims", "16", "--batch-size", "16", "--objective", objective, *flags]
    assert cli_main([str(a) for a in argv]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["objective"] == objective
    if objective == "tcvae":
        assert (saved["model"]["tc_gamma"], saved["model"]["tc_estimator"]) == (2.0, "mss")
        assert saved["model"]["dataset_size"] > 0  # the training rows, filled in from the data
    else:
        assert (saved["model"]["factor_gamma"], saved["model"]["discriminator_dims"]) == (5.0, [8, 8])
        assert saved["train"]["discriminator_lr"] == 0.001
        header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
        assert "train_discriminator_loss" in header  # the discriminator's epochs reach the run's metrics
    assert type(VAE.from_pretrained(out).objective) is OBJECTIVES[objective]
