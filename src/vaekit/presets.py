"""Named settings that reached a measured result (see docs/ for the figures).

A preset is a mapping of config keys applied on top of the defaults and
under a config file and explicit arguments: defaults < preset < file < flags.
"""

from __future__ import annotations

from typing import Any

from vaekit.errors import ConfigError

# What every MNIST preset shares: binary pixels resampled each epoch, and the
# last 5,000 training images held out (the usual 55,000 / 5,000 split).
_MNIST = {
    "data": "mnist",
    "likelihood": "bernoulli",
    "dynamic_binarization": True,
    "val_fraction": 1 / 12,
}

# M2 as in Kingma et al. 2014 (50 latent dimensions, 500-unit layers), with two
# hidden layers instead of one (13.9% test error after 10 min with one, 10.2%
# with two, 100 labels), the paper's 50,000 / 10,000 split, and a tenth of
# every batch labelled (benchmarks/semi_supervised.py).
_M2 = {
    "model": "m2",
    "arch": "mlp",
    "hidden_dims": (500, 500),
    "latent_dim": 50,
    "labels_per_class": 10,
    "labelled_share": 0.1,
    "epochs": 30,
    "batch_size": 100,
    "lr": 1e-3,
    "val_fraction": 1 / 6,
}

# MNIST with an MLP, dynamically binarized: the fast CPU route to test NLL in
# the 80s of nats (benchmarks/mnist_nll.py).
_MNIST_MLP = {
    **_MNIST,
    "arch": "mlp",
    "hidden_dims": (512, 256),
    "latent_dim": 32,
    "epochs": 250,
    "batch_size": 128,
    "lr": 1e-3,
    "lr_schedule": "cosine",
    "lr_min": 1e-4,
    "kl_warmup_epochs": 5,
}

#: The VampPrior (100 pseudo-inputs) with Tomczak & Welling's networks: gated (glu) 300-300 layers, 40 latents.
_MNIST_VAMP_GATED = {
    **_MNIST_MLP, "prior": "vamp", "pseudo_inputs": 100, "activation": "glu", "hidden_dims": (300, 300), "latent_dim": 40,
}

PRESETS: dict[str, dict[str, Any]] = {
    # `vaekit demo`: a small conv VAE on the 1,797 built-in digits, under a minute
    # on two cores. The learned-variance Gaussian uses ~15 nats of latent
    # information here against ~4 for a Bernoulli on these grey-level pixels,
    # and its samples look like digits.
    "digits": {
        "data": "digits",
        "arch": "conv",
        "likelihood": "gaussian-learned",
        "latent_dim": 8,
        "conv_channels": (32, 64),
        "epochs": 150,
        "batch_size": 64,
        "lr": 2e-3,
        "kl_warmup_epochs": 10,
        "patience": 30,
    },
    "mnist-mlp": _MNIST_MLP,
    # The MLP of Burda et al. 2015 (784-200-200-50, tanh), for comparison with
    # the paper's table; they trained for 3,280 epochs with batch 20.
    "mnist-burda": {
        **_MNIST,
        "arch": "mlp",
        "hidden_dims": (200, 200),
        "latent_dim": 50,
        "activation": "tanh",
        "epochs": 100,
        "batch_size": 20,
        "lr": 1e-3,
    },
    # mnist-mlp's networks and schedule with one part changed, for the rows of benchmarks/mnist_nll.py:
    # the VampPrior with 100 pseudo-inputs (Tomczak & Welling used 500: 2.6x a plain epoch on a CPU, against 1.4x);
    "mnist-vamp": {**_MNIST_MLP, "prior": "vamp", "pseudo_inputs": 100},
    # the VampPrior with Tomczak & Welling's networks: gated (glu) 300-300 layers and 40 latents, as mnist-hvae-vamp-gated;
    # 1.56x mnist-mlp's seconds an epoch, 83.13 nats after 75 minutes, 2.47 below it (mnist-vamp: 1.48; 2026-12-04);
    "mnist-vamp-gated": _MNIST_VAMP_GATED,
    # the static-binarization row: mnist-vamp-gated with Tomczak & Welling's 500 pseudo-inputs (~1.9x its seconds an epoch)
    # and a 20-epoch KL warm-up on a 100-epoch cosine; 84.89 nats on static MNIST, below pythae's 85.79 (2026-12-04).
    "mnist-vamp-gated-500": {**_MNIST_VAMP_GATED, "pseudo_inputs": 500, "epochs": 100, "kl_warmup_epochs": 20},
    # a learned mixture of 50 Gaussians as the prior (as many components as latents, roughly);
    "mnist-mog": {**_MNIST_MLP, "prior": "mog", "prior_components": 50},
    # the Gaussian posterior followed by two IAF steps (Kingma et al. 2016 used one to two on MNIST);
    "mnist-iaf": {**_MNIST_MLP, "posterior": "iaf", "flow_steps": 2},
    # two latent levels (z2 -> z1 -> x, Tomczak & Welling 2018's HVAE) under the VampPrior (100 pseudo-inputs), z1 and z2 of
    # 32 each, q(z1|x, z2) reading x through one hidden layer as theirs does (0.82 nat lower after 15 min than a second encoder);
    "mnist-hvae-vamp": {**_MNIST_MLP, "model": "hvae", "prior": "vamp", "pseudo_inputs": 100, "options": {"x_branch": "layer"}},
    # the same HVAE with Tomczak & Welling's networks: gated (glu) 300-300 layers, z1 and z2 of 40; 1.2x its seconds an
    # epoch, 82.55 nats after 75 minutes against its 83.45, 3.05 below mnist-mlp (2026-12-04); 500 pseudo-inputs: 2x slower.
    "mnist-hvae-vamp-gated": {
        **_MNIST_MLP, "model": "hvae", "prior": "vamp", "pseudo_inputs": 100, "activation": "glu",
        "hidden_dims": (300, 300), "latent_dim": 40, "options": {"x_branch": "layer", "top_latent_dim": 40},
    },
    # M2 (Kingma et al. 2014) on MNIST with 10 labels per class (see _M2).
    "mnist-m2": {**_MNIST, **_M2},
    # M1+M2 (Kingma et al. 2014): M2 on the posterior means of a VAE (M1) trained
    # without labels, e.g. `vaekit encode` of an mnist-mlp run written as CSV with
    # its "label" column; 7.0% test error after 9 epochs with 100 labels, where
    # mnist-m2 on pixels stood at 10-11% after 13 (benchmarks/semi_supervised.py).
    "mnist-m1m2": {**_M2, "likelihood": "gaussian-learned", "label_column": "label"},
    # `--data sprites[:N]` (64x64 binary shapes with known factors): the network of
    # benchmarks/disentangle.py, an MLP 4096-512-512 with 10 latents, the usual size for
    # disentanglement; 16x faster a step on a CPU core than the conv net `--arch auto` would pick (67 against
    # 1,083 ms, `benchmarks/disentangle.py --calibrate`, 2026-12-04).
    "sprites": {
        "arch": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 10,
        "likelihood": "bernoulli",
        "epochs": 30,
        "batch_size": 128,
        "lr": 1e-3,
        "lr_schedule": "cosine",
        "lr_min": 1e-4,
    },
    # MNIST with a residual conv net: better likelihoods per epoch, slower per epoch on a CPU.
    "mnist-conv": {
        **_MNIST,
        "arch": "resnet",
        "conv_channels": (32, 64, 128),
        "latent_dim": 32,
        "activation": "silu",
        "epochs": 100,
        "batch_size": 128,
        "lr": 1e-3,
        "lr_schedule": "cosine",
        "lr_min": 1e-4,
        "kl_warmup_epochs": 5,
    },
}


#: A built-in dataset's own settings, used when no preset is named: the global
#: defaults (a Bernoulli MLP) suit binary-ish pixels, and on digits' 17 grey levels
#: they collapse to the mean digit (KL ~0.2 nats). `vaekit train --data digits`
#: therefore trains what `vaekit demo` trains, and `--data sprites:N` the network
#: the disentanglement benchmark measured; flags and config files still override it.
DATA_PRESETS: dict[str, str] = {"digits": "digits", "sprites": "sprites"}


def data_preset(spec: str | None) -> str | None:
    """The preset a data spec (``digits``, ``sprites``, ``sprites:N``) brings with it when none is named (None for most data)."""
    return DATA_PRESETS.get(spec.split(":", 1)[0]) if isinstance(spec, str) else None


def preset(name: str) -> dict[str, Any]:
    """A copy of the settings of preset ``name``."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise ConfigError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})") from None
