"""benchmarks/mnist_nll.py's final NLL scored in parts (--final-later, --finish --final-part): the parts are one pass."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mnist_nll import changed_settings, final_log_px, finish, parse_args, part_bounds, record_tag  # noqa: E402 - benchmarks/ is not a package

from vaekit.config import ModelConfig, RunConfig  # noqa: E402
from vaekit.model_files import save_model  # noqa: E402
from vaekit.models import build_model  # noqa: E402


@pytest.mark.parametrize(("images", "parts", "chunk"), [(10_000, 2, 10), (10_000, 3, 10), (1_100, 2, 500), (7, 4, 10)])
def test_parts_start_on_chunk_starts_and_cover_the_images_once(images, parts, chunk):
    bounds = part_bounds(images, parts, chunk)
    assert len(bounds) == parts + 1
    assert bounds[0] == 0 and bounds[-1] == images
    assert bounds == sorted(bounds)
    assert all(b % chunk == 0 or b == images for b in bounds[:-1])  # a chunk's start, or the end (an empty part)
    if images >= parts * chunk:  # room for every part: none is empty, and none is more than a chunk over its share
        assert all(hi - lo >= 1 and hi - lo <= images // parts + chunk for lo, hi in zip(bounds, bounds[1:]))


def _model():
    torch.manual_seed(0)
    config = ModelConfig(input_shape=(1, 4, 4), arch="mlp", latent_dim=2, hidden_dims=(8,), likelihood="bernoulli")
    return build_model(config), config


def test_two_parts_side_by_side_fill_in_the_record_with_what_one_pass_gives(tmp_path):
    model, config = _model()
    test = (torch.rand(1_100, 1, 4, 4, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    saved = tmp_path / "models" / "m"
    save_model(saved, model, RunConfig(model=config))
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"name": "tiny", "saved_model": str(saved), "final": None}))

    def run(part: str) -> dict:
        finish(record, test, argparse.Namespace(final_part=part, final_images=len(test), final_k=3))
        return json.loads(record.read_text())

    assert run("2/2")["final"] is None  # one part alone leaves the record waiting
    final = run("1/2")["final"]
    one_pass, _ = final_log_px(model.eval(), test, 3, "tiny")
    assert final["images"] == 1_100 and final["k"] == 3 and final["parts"] == 2
    assert final["nll"] == pytest.approx(-one_pass.mean().item(), abs=1e-9)
    # and the parts' noise is one pass's, not merely the same mean by chance: another seed would move it
    shifted, _ = final_log_px(model.eval(), test, 3, "tiny", offset=500)
    assert shifted.mean().item() != pytest.approx(one_pass.mean().item(), abs=1e-6)


def test_a_record_with_options_gets_a_file_name_of_its_own():
    record = {"preset": "mnist-hvae-vamp", "binarization": "dynamic", "model": "vae"}
    assert record_tag(record) == "mnist_nll_mnist-hvae-vamp_dynamic"  # records written before --option
    assert record_tag({**record, "options": {}}) == "mnist_nll_mnist-hvae-vamp_dynamic"
    assert record_tag({**record, "options": {"x_branch": "layer"}}) == "mnist_nll_mnist-hvae-vamp_dynamic_x_branch-layer"
    assert record_tag({**record, "model": "iwae:5"}) == "mnist_nll_mnist-hvae-vamp_dynamic_iwae5"


def test_a_setting_changed_with_set_names_its_row_and_the_epochs_cap_does_not():
    settings = changed_settings({"epochs": "100", "dropout": "0.1", "kl_warmup_epochs": "20", "model": "iwae",
                                 "checkpoint_every": "5"})
    assert settings == {"dropout": "0.1", "kl_warmup_epochs": "20"}  # two lanes differing only in warm-up: two rows
    record = {"preset": "mnist-vamp-gated", "binarization": "static", "model": "vae", "settings": settings}
    assert record_tag(record) == "mnist_nll_mnist-vamp-gated_static_dropout-0.1_kl_warmup_epochs-20"
    assert record_tag({**record, "settings": changed_settings({"epochs": "100"})}) == "mnist_nll_mnist-vamp-gated_static"


def test_a_budget_cut_keeps_the_best_validation_epoch_not_the_last():
    from vaekit.config import TrainConfig  # noqa: PLC0415
    from vaekit.training import Trainer  # noqa: PLC0415

    model, _ = _model()
    data = (torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    trainer = Trainer(model, TrainConfig(epochs=10, batch_size=16, seed=0))
    trainer.fit(data[:48], data[48:], until_epoch=3)  # the budget stops it at 3 of 10: the last weights are in
    assert trainer.epoch == 3 and trainer.best_state is not None
    best = {k: v.clone() for k, v in trainer.best_state.items()}
    trainer.best_epoch = 2  # say epoch 2 was best, with weights unlike the last epoch's
    for v in best.values():
        v.add_(1.0)
    trainer.best_state = best
    assert trainer.keep_best() == 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())

    no_val = Trainer(_model()[0], TrainConfig(epochs=10, batch_size=16, seed=0, val_fraction=0.0))
    no_val.fit(data, None, until_epoch=2)
    before = {k: v.clone() for k, v in no_val.model.state_dict().items()}
    assert no_val.keep_best() == 2  # nothing to choose from: the last epoch, weights untouched
    assert all(torch.equal(no_val.model.state_dict()[k], v) for k, v in before.items())


def test_the_cosine_over_the_budget_starts_at_the_rate_and_ends_at_its_floor():
    from mnist_nll import cosine_lr  # noqa: PLC0415

    assert cosine_lr(0.0, 1e-3, 1e-4) == pytest.approx(1e-3)
    assert cosine_lr(0.5, 1e-3, 1e-4) == pytest.approx(5.5e-4)
    assert cosine_lr(1.0, 1e-3, 1e-4) == pytest.approx(1e-4)
    assert cosine_lr(1.7, 1e-3, 1e-4) == pytest.approx(1e-4)  # an epoch that ran past the budget
    rates = [cosine_lr(f / 10, 1e-3, 1e-4) for f in range(11)]
    assert rates == sorted(rates, reverse=True)


def test_a_run_with_the_rate_over_the_budget_ends_near_its_floor_whatever_the_epochs(tmp_path):
    from mnist_nll import run_model  # noqa: PLC0415

    from vaekit.data import Dataset  # noqa: PLC0415

    g = torch.Generator().manual_seed(3)
    train = Dataset(x=(torch.rand(96, 1, 28, 28, generator=g) < 0.3).float().numpy(), name="tiny")
    test = (torch.rand(8, 1, 28, 28, generator=g) < 0.3).float()
    args = argparse.Namespace(
        set=["epochs=100000", "hidden_dims=16", "latent_dim=2", "batch_size=32"], option=[], static=None,
        budget_minutes=0.03, eval_every=1000, eval_k=2, final_later=False, final_images=8, final_k=2,
        out=str(tmp_path), threads=1, lr_over_budget=True,
    )
    record = run_model("mnist-mlp", "vae", args, train, test, test[:4])
    later = argparse.Namespace(**{**vars(args), "final_later": True})
    saved = run_model("mnist-mlp", "vae", later, train, test, test[:4])
    folder = json.loads((Path(saved["saved_model"]) / "config.json").read_text())  # what `vaekit` commands load
    assert folder["train"]["lr_schedule"] == "cosine" and folder["train"]["epochs"] == saved["epochs"]
    assert record["lr_over_budget"] and 1 < record["epochs"] < 100000  # the budget ended it, not the cap
    assert record["epochs_cap"] == 100000 and record["config"]["train"]["epochs"] == record["epochs"]
    lr, floor = record["config"]["train"]["lr"], record["config"]["train"]["lr_min"]
    assert floor <= record["last_lr"] < floor + 0.1 * (lr - floor)  # the last epoch ran near the floor
    assert record["config"]["train"]["lr_schedule"] == "cosine"  # what ran, though the trainer held "constant"
    assert record["train_seconds"] >= 0.03 * 60


def test_repeated_set_and_option_flags_add_up_instead_of_the_last_one_winning():
    args = parse_args(["--set", "epochs=1000", "--set", "activation=glu", "latent_dim=40", "--option", "a=1", "--option", "b=2"])
    assert args.set == ["epochs=1000", "activation=glu", "latent_dim=40"] and args.option == ["a=1", "b=2"]


def test_a_target_counts_the_best_row_of_its_preset_family_and_no_other_family():
    from mnist_nll_merge import target_lines, targets  # noqa: PLC0415

    def row(preset: str, nll: float) -> dict:
        return {"preset": preset, "model": "vae", "binarization": "dynamic", "budget_minutes": 75,
                "train_seconds": 4500, "final": {"nll": nll, "k": 5000, "images": 10_000}}

    records = [row("mnist-mlp", 85.5), row("mnist-hvae-vamp", 83.4), row("mnist-hvae-vamp-gated", 82.9)]
    by_target = {t["target"]: t for t in targets(records)}
    hvae = by_target["HVAE + VampPrior at least 2.5 nats below the plain VAE"]
    assert hvae["preset"] == "mnist-hvae-vamp-gated" and hvae["met"] and hvae["measured"] == pytest.approx(2.6)
    assert by_target["VampPrior <= 84.45"]["measured"] is None  # mnist-hvae-vamp is not a variant of mnist-vamp
    assert any("2.600 nats below (mnist-hvae-vamp-gated): met" in line for line in target_lines(targets(records)))
    worse = targets([records[0], row("mnist-hvae-vamp", 83.4), row("mnist-hvae-vamp-gated", 84.0)])
    assert next(t for t in worse if t["target"] == hvae["target"])["preset"] == "mnist-hvae-vamp"
