"""ELBO and importance-weighted log-likelihood: correct by construction and by closed form."""

import math
import platform
import subprocess
import sys

import pytest
import torch
from torch import nn

from vaekit.config import ModelConfig
from vaekit.evaluation import (
    active_units,
    binarize_once,
    evaluate,
    evaluate_likelihood,
    iw_log_likelihood,
    mean_loss_terms,
)
from vaekit.likelihoods import LIKELIHOODS
from vaekit.models import build_model


def tiny_model(seed=0, likelihood="bernoulli"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(input_shape=(12,), arch="mlp", latent_dim=3, hidden_dims=(16,), likelihood=likelihood))


def linear_gaussian(d=5, z=2, sigma=0.5, seed=0):
    """A VAE whose decoder is p(x|z) = N(Wz + b, sigma^2 I): then p(x) = N(b, W W^T + sigma^2 I)."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(input_shape=(d,), arch="mlp", latent_dim=z, hidden_dims=(4,), likelihood="gaussian", obs_std=sigma))
    model.decoder = nn.Linear(z, d)
    W, b = model.decoder.weight.detach(), model.decoder.bias.detach()
    # Encoder: the true posterior mean (linear in x), a deliberately wrong diagonal variance.
    precision = torch.eye(z) + W.T @ W / sigma**2
    cov = torch.linalg.inv(precision)
    A = cov @ W.T / sigma**2  # mu_post = A (x - b)
    encoder = nn.Linear(d, 2 * z)
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.weight[:z] = A
        encoder.bias[:z] = -A @ b
        encoder.bias[z:] = torch.log(torch.diagonal(cov)) + 0.7  # too wide on purpose
    model.encoder = encoder
    exact = torch.distributions.MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(d))
    return model, exact


def test_iw_estimate_converges_to_the_exact_log_likelihood():
    model, exact = linear_gaussian()
    x = exact.sample((64,))
    truth = exact.log_prob(x)
    err_1 = (iw_log_likelihood(model, x, k=1)[0] - truth).abs().mean()
    err_k = (iw_log_likelihood(model, x, k=4000)[0] - truth).abs().mean()
    assert err_k < 0.01
    assert err_k < err_1 / 10


def test_iw_with_one_sample_is_the_elbo_in_expectation():
    model = tiny_model()
    x = torch.rand(50, 12).round()
    elbo = -mean_loss_terms(model, x, n_samples=200)["loss"]
    k1 = torch.stack([iw_log_likelihood(model, x, k=1, seed=s)[0].mean() for s in range(200)]).mean()
    assert k1.item() == pytest.approx(elbo, abs=0.05)


@pytest.mark.parametrize(
    "settings",
    [{}, {"prior": "vamp", "pseudo_inputs": 4}, {"posterior": "iaf", "flow_steps": 1},
     {"model": "hvae", "options": {"top_latent_dim": 2}}],
    ids=["vae", "vamp", "iaf", "hvae"],
)
def test_common_noise_makes_each_rows_estimate_its_own(settings):
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(12,), arch="mlp", latent_dim=3, hidden_dims=(16,), **settings))
    x = torch.rand(20, 12).bernoulli()
    # a tiny budget splits K in chunks and the rows over several decoder calls
    common = iw_log_likelihood(model, x, k=50, common_noise=True, budget_elements=12 * 16)[0]
    alone = torch.cat([iw_log_likelihood(model, x[i : i + 1], k=50, common_noise=True)[0] for i in (3, 17)])
    torch.testing.assert_close(alone, common[[3, 17]], rtol=1e-5, atol=1e-4)
    flipped = iw_log_likelihood(model, x.flip(0), k=50, common_noise=True)[0]
    torch.testing.assert_close(flipped.flip(0), common, rtol=1e-5, atol=1e-4)
    own = iw_log_likelihood(model, x, k=50)[0]  # each row's own draws: position matters, the estimate barely
    assert not torch.allclose(own, iw_log_likelihood(model, x.flip(0), k=50)[0].flip(0))
    assert (own - common).abs().mean() < 0.5


def test_iw_estimate_rises_with_k_and_bounds_the_elbo():
    model = tiny_model(likelihood="gaussian-learned")
    x = torch.randn(40, 12)
    # Monotone in expectation (Burda et al., theorem 1); averaged over seeds so noise cannot reorder it.
    estimates = [
        sum(iw_log_likelihood(model, x, k=k, seed=s)[0].mean().item() for s in range(3)) / 3 for k in (1, 4, 16, 64)
    ]
    assert estimates == sorted(estimates) and estimates[-1] > estimates[0] + 0.1
    log_px, elbo = iw_log_likelihood(model, x, k=100)
    assert (log_px >= elbo - 1e-5).all()  # Jensen: log-mean-exp >= mean, per row


def test_chunking_over_k_and_rows_gives_the_same_numbers():
    model = tiny_model()
    x = torch.rand(9, 12).round()
    whole = iw_log_likelihood(model, x, k=64, seed=3, budget_elements=1 << 20)
    # Tiny budget: one image per call and K split into chunks of 4 rows.
    chunked = iw_log_likelihood(model, x, k=64, seed=3, budget_elements=48)
    # Different chunking draws the noise in another order: compare distributions, not bits...
    assert chunked[0].shape == (9,)
    # ...and with a budget that keeps the order, bitwise agreement.
    same_order = iw_log_likelihood(model, x, k=64, seed=3, budget_elements=64 * 12 * 9)
    torch.testing.assert_close(whole[0], same_order[0])
    assert (chunked[0] - whole[0]).abs().mean() < 0.5


def test_evaluate_reports_per_sample_averages():
    model = tiny_model()
    x = torch.rand(30, 12).round()
    report = evaluate(model, x, n_samples=3)
    assert report["n"] == 30
    assert report["elbo"] == pytest.approx(-(report["reconstruction"] + report["kl"]))
    lik = evaluate_likelihood(model, x, k=50)
    assert lik["iw_nll"] <= -report["elbo"] + 0.5  # the IW bound is tighter than the ELBO
    assert lik["bits_per_dim"] == pytest.approx(lik["iw_nll"] / (12 * math.log(2)))


def test_active_units_counts_dimensions_that_move_with_the_data():
    model = tiny_model()
    x = torch.rand(100, 12)
    with torch.no_grad():
        last = model.encoder.net[-1]
        last.weight[1].zero_()  # latent 1's mean ignores x
        last.bias[1] = 0.3
    units = active_units(model, x)
    assert units["variance"][1] == pytest.approx(0.0, abs=1e-12)
    assert units["count"] == sum(v > 0.01 for v in units["variance"]) and units["count"] <= 2
    assert len(units["kl_per_dim"]) == 3 and all(v >= 0 for v in units["kl_per_dim"])


def test_binarize_once_draws_fixed_bits_and_keeps_binary_data():
    # Not torch.rand seeded like the binarization: its uniforms would be the very ones Bernoulli compares x with.
    x = torch.rand(200, 12, generator=torch.Generator().manual_seed(123))
    bits = binarize_once(x, seed=0)
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(bits, binarize_once(x.numpy(), seed=0), rtol=0, atol=0)  # the seed fixes every bit
    assert not torch.equal(bits, binarize_once(x, seed=1))
    assert bits.mean().item() == pytest.approx(x.mean().item(), abs=0.03)  # x_bin ~ Bernoulli(x)
    assert torch.equal(binarize_once(bits, seed=5), bits)  # binary data comes back as it is


@pytest.mark.parametrize("likelihood", sorted(LIKELIHOODS))
def test_bits_per_dim_only_where_the_nll_is_a_code_length(likelihood):
    model = tiny_model(likelihood=likelihood)
    x = torch.rand(20, 12).round()
    report = evaluate_likelihood(model, x, k=10)
    discrete = LIKELIHOODS[likelihood].discrete
    assert discrete == (likelihood not in ("gaussian", "gaussian-learned"))  # the Gaussians are densities
    assert report["likelihood_kind"] == ("discrete" if discrete else "density")
    assert ("bits_per_dim" in report) == discrete
    if discrete:
        assert report["bits_per_dim"] == pytest.approx(report["iw_nll"] / (12 * math.log(2)))


def test_a_bernoulli_on_grey_values_gets_no_bits_per_dim():
    model = tiny_model(likelihood="bernoulli")
    grey = torch.rand(20, 12, generator=torch.Generator().manual_seed(0))
    report = evaluate_likelihood(model, grey, k=10)
    assert report["likelihood_kind"] == "discrete" and "bits_per_dim" not in report  # a cross-entropy, not a code length
    assert "bits_per_dim" in evaluate_likelihood(model, grey.round(), k=10)


def test_a_density_nll_can_be_negative():
    model, exact = linear_gaussian(sigma=0.02)  # p(x) concentrated near a plane: log-densities far above 0
    report = evaluate_likelihood(model, exact.sample((30,)), k=50)
    assert report["likelihood_kind"] == "density" and report["iw_nll"] < 0 and "bits_per_dim" not in report


def test_progress_bars_write_to_stderr_only_when_asked(capsys):
    model = tiny_model()
    x = torch.rand(30, 12).round()
    quiet = iw_log_likelihood(model, x, k=20, seed=1)[0]
    mean_loss_terms(model, x)
    assert capsys.readouterr().err == ""
    shown = iw_log_likelihood(model, x, k=20, seed=1, progress=True)[0]
    err = capsys.readouterr().err
    assert "log p(x), K=20" in err and "/30 [" in err  # tqdm: rows done of 30, elapsed and ETA
    torch.testing.assert_close(shown, quiet, rtol=0, atol=0)  # the bar changes nothing it measures
    mean_loss_terms(model, x, progress=True)
    assert "ELBO" in capsys.readouterr().err


def test_nothing_of_a_batch_outlives_it(monkeypatch):
    # The outputs are written in place: the live tensors are the same at every batch. (A small
    # tensor kept per batch, between the big short-lived ones, fragmented glibc's heap.)
    import gc

    model = tiny_model()
    x = torch.rand(12, 12).round()
    live, log_weights = [], model.log_weights

    def counting(*args, **kwargs):
        live.append(sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects()))
        return log_weights(*args, **kwargs)

    monkeypatch.setattr(model, "log_weights", counting)
    iw_log_likelihood(model, x, k=8, budget_elements=8 * 12)  # one image per batch
    assert len(live) == 12 and len(set(live[1:])) == 1


#: Scores N random 784-pixel images at K = 1000 in a fresh process (a tiny MLP: one image per
#: decoder call, as for MNIST) and prints the growth of its peak RSS and its page faults per image.
_MEMORY_CHILD = """
import resource, sys, torch
from vaekit.config import ModelConfig
from vaekit.evaluation import iw_log_likelihood
from vaekit.models import build_model
torch.manual_seed(0)
model = build_model(ModelConfig(input_shape=(784,), arch="mlp", hidden_dims=(32,), latent_dim=4))
x = torch.rand(int(sys.argv[1]), 784).round()
before = resource.getrusage(resource.RUSAGE_SELF)
iw_log_likelihood(model, x, k=1000)
after = resource.getrusage(resource.RUSAGE_SELF)
print((after.ru_maxrss - before.ru_maxrss) / 1024, (after.ru_minflt - before.ru_minflt) / len(x))
"""

glibc_only = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="measures glibc's heap on Linux"
)


def _score_in_child(n: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(growth of peak RSS in MB, minor page faults per image) of the IW estimate on ``n`` images."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n)], env=env, capture_output=True, text=True, check=True)
    grown, faults = map(float, out.stdout.split())
    return grown, faults


@pytest.mark.slow
@glibc_only
def test_iw_memory_does_not_grow_with_the_number_of_images():
    # glibc's thresholds pinned high: every buffer comes from the heap, where a small tensor kept
    # per batch used to fragment it (300 images then grew the peak by about 1 GB; now tens of MB).
    heap_only = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    grown, _ = _score_in_child(300, heap_only)
    assert grown < 150


@pytest.mark.slow
@glibc_only
def test_iw_buffers_are_reused_not_mapped_afresh_per_batch():
    # Under glibc's default thresholds the MB-sized decoder buffers were returned to the kernel and
    # faulted back in for every batch: about 1,500 page faults per image, 30-60 now.
    _, faults = _score_in_child(100)
    assert faults < 300


def test_a_dimension_is_active_only_if_it_also_carries_kl():
    """Issue 18: 6 'active' dimensions of 8 carried <= 0.01 nats each; the count must agree with the KL it prints."""
    import torch

    from vaekit.config import ModelConfig
    from vaekit.evaluation import active_units
    from vaekit.models import build_model
    from vaekit.posteriors import DiagonalGaussian

    model = build_model(ModelConfig(arch="mlp", latent_dim=3, hidden_dims=(4,), input_shape=(3,)))
    x = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    # Means that move with x (variance 1, 0.014, 0) and unit variances: KL = var/2 = 0.5, 0.007, 0 nats.
    model.posterior = lambda xb, y=None: DiagonalGaussian(xb * torch.tensor([1.0, 0.12, 0.0]), torch.zeros_like(xb))
    units = active_units(model, x)
    assert units["variance"][1] > 0.01 and units["kl_per_dim"][1] < 0.01
    assert units["count"] == 1  # Burda's variance rule alone would say 2
