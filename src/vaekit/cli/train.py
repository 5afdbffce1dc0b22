"""``vaekit demo`` and ``vaekit train``: train a model into a run folder."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from vaekit.cli.common import AddCommand
from vaekit.config import SECTIONS, field_docs
from vaekit.errors import ConfigError
from vaekit.presets import PRESETS


def cmd_demo(args: argparse.Namespace) -> int:
    from vaekit.runs import train  # noqa: PLC0415 - imports torch: loaded when the command runs, so --help stays fast

    extra = {} if args.epochs is None else {"epochs": args.epochs}
    result = train(
        preset="digits", out=args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet, **extra
    )
    _report_run(result, args.quiet)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vaekit.runs import train  # noqa: PLC0415 - imports torch: loaded when the command runs, so --help stays fast

    overrides = {key: getattr(args, key) for key in _config_keys() if getattr(args, key, None) is not None}
    if args.option:
        overrides["options"] = _options(args.option)
    result = train(
        out=args.out,
        preset=args.preset,
        config=args.config,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
        tensorboard=args.tensorboard,
        **overrides,
    )
    _report_run(result, args.quiet)
    return 0


def _report_run(result, quiet: bool) -> None:
    val = result.summary.get("val") or result.summary.get("train")
    split = "validation" if "val" in result.summary else "training"
    if not quiet and val is not None:  # under torchrun only rank 0 measures the run; the other ranks say nothing
        print(f"{split} ELBO {val['elbo']:.3f} nats/sample (reconstruction {val['reconstruction']:.3f}, KL {val['kl']:.3f})")
        if result.run_dir is not None:
            files = ", ".join(sorted(p.name for p in result.run_dir.iterdir()))
            print(f"run folder {result.run_dir}: {files}")


# --------------------------------------------------------------------------- flags


def add_demo(command: AddCommand) -> None:
    p = command("demo", cmd_demo, "train a conv VAE on the built-in 8x8 digits and write samples, plots and metrics")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    _add_run_flags(p)


def add_train(command: AddCommand) -> None:
    p = command("train", cmd_train, "train a model and write its run folder")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--config", default=None, help="YAML or JSON file with config keys (flags override it)")
    p.add_argument(
        "--preset", default=None,
        help=f"named settings applied under --config and flags: {', '.join(PRESETS)}",
    )
    _add_run_flags(p)
    p.add_argument(
        "--tensorboard", action="store_true",
        help="also log metrics and sample grids to OUT/tensorboard (pip install 'vaekit[tensorboard]')",
    )
    _add_config_flags(p)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", choices=("auto",), default=None, help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")


#: Config fields that are no flag of their own: set from the data, or mappings (``--option`` sets options).
_NOT_FLAGS = ("input_shape", "options", "user_modules")
#: Help for the options that keep a flag of their own (they were flat settings before each model owned its options).
_OPTION_FLAGS = {
    "iw_samples": "iwae's option: importance samples k per row of the training bound (Burda et al. 2015)",
    "classifier_weight": "m2's option: alpha, the weight of the labelled rows' cross-entropy (Kingma et al. 2014, eq. 9)",
}


def _config_keys() -> list[str]:
    fields = [f.name for klass in SECTIONS.values() for f in dataclasses.fields(klass) if f.name not in _NOT_FLAGS]
    return fields + list(_OPTION_FLAGS)


def _options(pairs: list[str]) -> dict[str, str]:
    """``--option KEY=VALUE`` pairs as a mapping; the model family types and checks the values."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option takes KEY=VALUE, got {pair!r} (e.g. --option iw_samples=10)")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, named after it (``latent_dim`` -> ``--latent-dim``)."""
    for section, klass in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings (also keys of --config)")
        docs = field_docs(klass)
        hints = typing.get_type_hints(klass)
        if section == "model":
            group.add_argument(
                "--option", action="append", default=[], metavar="KEY=VALUE",
                help="a setting of the chosen model family, e.g. --option iw_samples=10 for iwae (repeatable; "
                "also the mapping 'options' of --config)",
            )
            for key, text in _OPTION_FLAGS.items():
                group.add_argument("--" + key.replace("_", "-"), dest=key, default=None, metavar=key.upper(),
                                   help=f"{text}; the same as --option {key}=VALUE")
        for f in dataclasses.fields(klass):
            if f.name in _NOT_FLAGS:
                continue
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            help_text = f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%")
            if hints[f.name] is bool:
                group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                # Strings are converted by the config layer, so CLI, YAML and Python share one set of rules.
                group.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)
