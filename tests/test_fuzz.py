"""Property-based tests of the promise every interface makes about bad input.

A CLI user gets one line ``error: ...`` on stderr, exit code 2, and every file
already on disk stays as it was; the Python API raises the same text as a
:class:`vaekit.VaekitError`. Hypothesis generates the bad input: array files,
tables, config files, flag values, data specs and damaged run folders. Every
generated case is refused while vaekit validates, before training starts, so
the whole module stays fast. Inputs that once broke the promise are kept as
regression tests at the end, each named after the bug it caught.

Runs are deterministic: the same 780 cases every time, and no example database.
``VAEKIT_FUZZ=N`` runs N times as many fresh random cases, to look for new bugs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import json
import math
import os
import pickle
import shutil
import tempfile
import typing
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vaekit
from vaekit import config as vconfig
from vaekit.cli import main
from vaekit.errors import ConfigError, DataError, VaekitError

_SCALE = int(os.environ.get("VAEKIT_FUZZ") or 0)


def fuzz(max_examples: int):
    """Hypothesis settings of this module: ``max_examples`` cases, deterministic unless VAEKIT_FUZZ is set."""
    return settings(
        max_examples=max_examples * max(_SCALE, 1),
        deadline=None,
        derandomize=_SCALE == 0,
        database=None,
    )


#: Settings that make training cheap should a bad case ever be accepted by mistake.
TINY = {"epochs": "1", "hidden_dims": "8", "latent_dim": "2"}


def flags(settings_: dict[str, str]) -> list[str]:
    return [f"--{key.replace('_', '-')}={value}" for key, value in settings_.items()]


# --------------------------------------------------------------------------- harness


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    warned: list[str]  # a warning is one more stderr line for a CLI user


def cli(*argv: Any) -> Result:
    """``vaekit.cli.main`` in-process; an exception escaping it is a traceback and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", hidden)  # as Python's default filters hide them from a CLI user
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue(), [f"{x.category.__name__}: {x.message}" for x in w])


def refused(result: Result, phrase: str | tuple[str, ...] | None = None) -> str:
    """Assert the CLI refused with one ``error:`` line and exit code 2; return the message."""
    lines = result.stderr.splitlines() + result.warned
    assert result.code == 2, f"exit code {result.code}, stderr: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert result.stdout == ""
    message = lines[0].removeprefix("error: ")
    if phrase is not None:
        phrases = (phrase,) if isinstance(phrase, str) else phrase
        assert any(p in message for p in phrases), (phrases, message)
    return message


def raises_same(call: Callable[[], Any], message: str, kind: type[VaekitError] = VaekitError) -> None:
    """The Python API refuses with the CLI's message, as a typed vaekit exception."""
    with pytest.raises(VaekitError) as info:
        call()
    assert isinstance(info.value, kind), type(info.value)
    assert str(info.value) == message


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) below ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@contextlib.contextmanager
def scratch():
    """A fresh folder holding one bystander file, which no refusal may touch."""
    with tempfile.TemporaryDirectory(prefix="vaekit-fuzz-") as tmp:
        root = Path(tmp)
        (root / "bystander.txt").write_text("must not change\n")
        yield root


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _parser_docs_cached():
    """Build the CLI parser in ~5 ms instead of ~40: it re-reads config.py's source for the help of every flag."""
    import vaekit.cli.train

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vaekit.cli.train, "field_docs", functools.lru_cache(maxsize=None)(vaekit.cli.train.field_docs))
        yield


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Valid shared inputs: a (40, 6) table in [0, 1] as .npy, and a folder of three 4x4 images."""
    from PIL import Image

    root = tmp_path_factory.mktemp("fuzz-inputs")
    rng = np.random.default_rng(0)
    np.save(root / "valid.npy", rng.uniform(0, 1, (40, 6)).astype(np.float32))
    (root / "images").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(root / "images" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def inputs_unchanged(inputs):
    """``inputs``, checked byte for byte after the module's last use of it."""
    before = snapshot(inputs)
    yield inputs
    assert snapshot(inputs) == before


@pytest.fixture(scope="module")
def trained(inputs, tmp_path_factory) -> Path:
    """The one model this module trains (tiny, on the (40, 6) table), unchanged at the end of the module."""
    run_dir = tmp_path_factory.mktemp("fuzz-run") / "run"
    result = cli("train", "--data", inputs / "valid.npy", "--out", run_dir, *flags(TINY), "--quiet")
    assert result.code == 0, result.stderr
    before = snapshot(run_dir)
    yield run_dir
    assert snapshot(run_dir) == before


# --------------------------------------------------------------------------- 1. array files

SAMPLE_SHAPES = st.one_of(
    st.tuples(st.integers(1, 8)),  # (D,)
    st.tuples(st.integers(1, 4), st.integers(1, 4)),  # (H, W): one grayscale channel
    st.tuples(st.sampled_from([1, 3]), st.integers(1, 3), st.integers(1, 3)),  # (C, H, W)
)
NOT_CHANNELS = st.sampled_from([2, 5, 6, 7, 9])  # neither 1, 3 nor 4


@dataclasses.dataclass
class ArrayCase:
    kind: str
    payload: np.ndarray | bytes
    phrase: str | None
    suffix: str = ".npy"
    key: str = "x"
    labels: np.ndarray | None = None
    bad_in_memory: bool = True  # the array alone (without its file) is refused too

    def write(self, folder: Path) -> Path:
        path = folder / f"data{self.suffix}"
        if isinstance(self.payload, bytes):
            path.write_bytes(self.payload)
        elif self.suffix == ".npy":
            np.save(path, self.payload, allow_pickle=self.payload.dtype == object)
        else:
            arrays = {self.key: self.payload} if self.labels is None else {"x": self.payload, "y": self.labels}
            np.savez(path, **arrays)
        return path


def unit_arrays(shape: tuple[int, ...], dtype=np.float32) -> st.SearchStrategy[np.ndarray]:
    """Arrays valid for the Bernoulli likelihood: values in [0, 1]."""
    if np.dtype(dtype) == np.bool_:
        return hnp.arrays(dtype, shape, elements=st.booleans())
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=width))


@st.composite
def valid_arrays(draw, rows: st.SearchStrategy[int], dtype=np.float32) -> np.ndarray:
    return draw(unit_arrays((draw(rows), *draw(SAMPLE_SHAPES)), dtype))


def damage(draw, blob: bytes) -> bytes:
    """Truncate, flip bits in, or overwrite bytes of ``blob``."""
    how = draw(st.sampled_from(["truncate", "flip", "overwrite"]))
    if how == "truncate":
        return blob[: draw(st.integers(0, len(blob) - 1))]
    data = bytearray(blob)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = data[i] ^ (1 << draw(st.integers(0, 7))) if how == "flip" else draw(st.integers(0, 255))
    return bytes(data)


ARRAY_KINDS = [
    "rank", "no rows", "empty samples", "non-finite", "dtype", "object dtype", "out of [0, 1]",
    "too few rows", "channels misplaced", "labels", "damaged file", "random bytes", "wrong suffix",
]


@st.composite
def bad_array_cases(draw, kind: str) -> ArrayCase:
    suffix = draw(st.sampled_from([".npy", ".npz"]))
    key = draw(st.sampled_from(["x", "X", "samples"]))  # the only array of an .npz may have any name

    def case(payload, phrase, **kw) -> ArrayCase:
        return ArrayCase(kind, payload, phrase, kw.pop("suffix", suffix), key, **kw)

    if kind == "rank":
        ndim = draw(st.sampled_from([0, 1, 5, 6]))
        shape = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
        return case(draw(unit_arrays(shape)), "accepted shapes")
    if kind == "no rows":
        dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int64]))
        return case(np.zeros((0, *draw(SAMPLE_SHAPES)), dtype), "has no rows")
    if kind == "empty samples":
        sample = draw(st.sampled_from([(0,), (0, 3), (3, 0), (1, 0, 2), (3, 2, 0)]))
        return case(np.zeros((draw(st.integers(1, 20)), *sample), np.float32), "with no values")
    if kind == "non-finite":
        x = draw(valid_arrays(st.integers(1, 20), draw(st.sampled_from([np.float32, np.float64]))))
        for i in draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=5)):
            x.flat[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return case(x, "NaN or infinite")
    if kind == "dtype":
        x = draw(valid_arrays(st.integers(1, 20)))
        dtype = draw(st.sampled_from(["complex64", "complex128", "<U4", "S4", "M8[s]", "m8[s]", "f4,f4"]))
        converted = (x * 100).astype("int64").astype(dtype) if dtype[0] in "Mm" else x.astype(dtype)
        return case(converted, "save a real numeric array")
    if kind == "object dtype":  # saving needs pickle; loading must refuse it without unpickling
        x = draw(valid_arrays(st.integers(1, 20)))
        return case(x.astype(object), ("Object arrays cannot be loaded", "real numeric array"))
    if kind == "out of [0, 1]":
        if draw(st.booleans()):
            x = draw(valid_arrays(st.integers(1, 30)))
            big = 2.0**100
            outside = st.floats(1, big, exclude_min=True, width=32) | st.floats(-big, 0, exclude_max=True, width=32)
        else:  # integer vectors are not pixels, so they are not rescaled
            shape = (draw(st.integers(1, 30)), draw(st.integers(1, 6)))
            x = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
            outside = st.integers(2, 2**40) | st.integers(-(2**40), -1)
        for i in draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=5)):
            x.flat[i] = draw(outside)
        return case(x, "needs [0, 1]")
    if kind == "too few rows":  # 14 rows leave 1 for the default validation split of 0.1
        dtype = draw(st.sampled_from([np.float32, np.float64, bool]))
        return case(draw(valid_arrays(st.integers(1, 14), dtype)), "too few")
    if kind == "channels misplaced":
        shape = (draw(st.integers(1, 4)), draw(NOT_CHANNELS), draw(st.integers(1, 4)), draw(NOT_CHANNELS))
        return case(draw(unit_arrays(shape)), "neither dim 1 nor dim 3")
    if kind == "labels":
        x = draw(valid_arrays(st.integers(1, 20)))
        n = draw(st.integers(0, 25).filter(lambda n: n != len(x)))
        y = np.arange(n) if draw(st.booleans()) else np.zeros((len(x), 2), np.int64)
        return case(x, "one label per sample", suffix=".npz", labels=y, bad_in_memory=False)
    if kind == "damaged file":  # at most 14 rows: even a file that still loads is too small to train on
        buffer = io.BytesIO()
        x = draw(valid_arrays(st.integers(1, 14)))
        if suffix == ".npy":
            np.save(buffer, x)
        else:
            (np.savez_compressed if draw(st.booleans()) else np.savez)(buffer, x=x)
        return case(damage(draw, buffer.getvalue()), None, bad_in_memory=False)
    if kind == "wrong suffix":  # .npy bytes named .npz are read as the samples; .npz bytes named .npy are not
        buffer = io.BytesIO()
        x = draw(valid_arrays(st.integers(1, 14)))
        if suffix == ".npz":
            np.save(buffer, x)
            return case(buffer.getvalue(), "too few", bad_in_memory=False)
        np.savez(buffer, x=x)
        return case(buffer.getvalue(), ".npz archive", bad_in_memory=False)
    return case(draw(st.binary(max_size=300)), None, bad_in_memory=False)


@pytest.mark.slow  # hypothesis: tens of cases per test
@pytest.mark.parametrize("kind", ARRAY_KINDS)
@fuzz(12)
@given(data=st.data())
def test_bad_array_files_are_refused_in_one_line(kind: str, data, inputs_unchanged):
    case = data.draw(bad_array_cases(kind), label="case")
    with scratch() as tmp:
        path, out = case.write(tmp), tmp / "run"
        before = snapshot(tmp)
        message = refused(cli("train", "--data", path, "--out", out, *flags(TINY), "--quiet"), case.phrase)
        assert snapshot(tmp) == before  # --out not created, the data and the bystander unchanged
        raises_same(lambda: vaekit.train(str(path), out=str(out), quiet=True, **TINY), message, DataError)
        if case.bad_in_memory:
            with pytest.raises(DataError):
                vaekit.train(case.payload, out=str(out), quiet=True, **TINY)
        assert snapshot(tmp) == before


# --------------------------------------------------------------------------- 2. tables

#: Strings pandas reads as numbers, booleans or missing values; "x" + text is none of them.
CELL_TEXT = st.text(max_size=6).map(lambda s: "x" + s)
NUMBER = st.floats(0, 1).map(repr)


@dataclasses.dataclass
class TableCase:
    kind: str
    payload: str | bytes
    phrase: str | tuple[str, ...] | None
    suffix: str = ".csv"
    label_column: str | None = None


def to_csv(header: list[str] | None, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" lines: then a "\r" inside a name or cell is quoted
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


TABLE_KINDS = [
    "text column", "random text", "empty", "header only", "ragged", "missing values", "missing label column",
    "random bytes",
]


@st.composite
def bad_table_cases(draw, kind: str) -> TableCase:
    # At most 14 rows: a table that unexpectedly parses is still too small to train on.
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=5, unique=True))
    n = draw(st.integers(1, 14))
    numbers = [[draw(NUMBER) for _ in names] for _ in range(n)]
    if kind == "text column":
        j = draw(st.integers(0, len(names) - 1))
        for row in numbers:
            row[j] = draw(CELL_TEXT)
        return TableCase(kind, to_csv(names, numbers), "non-numeric")
    if kind == "random text":
        cells = [[draw(st.text(max_size=6)) for _ in names] for _ in range(n)]
        return TableCase(kind, to_csv(names, cells), None)
    if kind == "empty":
        text = draw(st.sampled_from(["", "\n", "\r\n", "\n\n\n", " \n"]))
        return TableCase(kind, text, ("is empty", "has no rows"))
    if kind == "header only":
        return TableCase(kind, to_csv(names, []), ("has no rows", "is empty"))
    if kind == "ragged":  # a later row longer than the header (the first one would become an index)
        numbers = [[draw(NUMBER) for _ in names] for _ in range(max(n, 2))]
        row = draw(st.integers(1, len(numbers) - 1))
        numbers[row] += [draw(NUMBER) for _ in range(draw(st.integers(1, 3)))]
        return TableCase(kind, to_csv(names, numbers), "cannot parse")
    if kind == "missing values":
        numbers = [[draw(NUMBER) for _ in names] for _ in range(draw(st.integers(1, 30)))]
        for _ in range(draw(st.integers(1, 4))):
            i, j = draw(st.integers(0, len(numbers) - 1)), draw(st.integers(0, len(names) - 1))
            numbers[i][j] = draw(st.sampled_from(["", "nan", "NaN", "NA", "null", "inf", "-inf", "1e999"]))
        return TableCase(kind, to_csv(names, numbers), "NaN or infinite")
    if kind == "missing label column":
        # "", "none" and "null" mean "no label column", as for every optional setting.
        label = draw(st.text(max_size=8).filter(lambda s: s not in names and s.lower() not in ("", "none", "null")))
        return TableCase(kind, to_csv(names, numbers), "is not in", label_column=label)
    return TableCase(kind, draw(st.binary(max_size=300)), None, suffix=draw(st.sampled_from([".csv", ".parquet"])))


@pytest.mark.slow  # hypothesis: tens of cases per test
@pytest.mark.parametrize("kind", TABLE_KINDS)
@fuzz(15)
@given(data=st.data())
def test_bad_tables_are_refused_in_one_line(kind: str, data, inputs_unchanged):
    case = data.draw(bad_table_cases(kind), label="case")
    with scratch() as tmp:
        path, out = tmp / f"table{case.suffix}", tmp / "run"
        if isinstance(case.payload, bytes):
            path.write_bytes(case.payload)
        else:
            path.write_text(case.payload, encoding="utf-8")
        label = [] if case.label_column is None else [f"--label-column={case.label_column}"]
        before = snapshot(tmp)
        argv = ["train", "--data", path, "--out", out, *label, *flags(TINY), "--quiet"]
        message = refused(cli(*argv), case.phrase)
        assert snapshot(tmp) == before
        raises_same(
            lambda: vaekit.train(str(path), out=str(out), label_column=case.label_column, quiet=True, **TINY),
            message,
            DataError,
        )
        assert snapshot(tmp) == before


# --------------------------------------------------------------------------- 3. config files

FIELD_TYPES: dict[str, dict[str, Any]] = {
    section: typing.get_type_hints(klass) for section, klass in vconfig.SECTIONS.items()
}
SECTION_OF = {key: section for section, hints in FIELD_TYPES.items() for key in hints}
KNOWN = set(vconfig.all_keys()) | set(vconfig.SECTIONS) | {"format_version"}
IDENTIFIERS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
WORDS = st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True)
NOT_NUMBER_WORDS = WORDS.filter(lambda s: s.lower() not in {"nan", "inf", "infinity", "none", "null"})
NON_INTEGER_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
SMALL_LISTS = st.lists(st.integers(-5, 5) | WORDS, max_size=3)
SMALL_DICTS = st.dictionaries(IDENTIFIERS, st.integers(), min_size=1, max_size=2)


def _plain(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``tuple[int, ...]`` -> ``tuple``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) not in (None, tuple) and len(args) == 1:
        annotation = args[0]
    return typing.get_origin(annotation) or annotation


#: Values of the wrong type for each kind of field (none of them coerces).
WRONG_TYPE: dict[Any, st.SearchStrategy] = {
    int: NOT_NUMBER_WORDS | SMALL_LISTS | SMALL_DICTS | st.booleans() | NON_INTEGER_FLOATS,
    float: NOT_NUMBER_WORDS | SMALL_LISTS | SMALL_DICTS | st.booleans(),
    bool: st.integers() | NON_INTEGER_FLOATS | SMALL_LISTS | SMALL_DICTS
    | WORDS.filter(lambda s: s.lower() not in {"true", "false", "yes", "no", "on", "off", "none", "null"}),
    str: st.integers() | NON_INTEGER_FLOATS | st.booleans() | SMALL_LISTS | SMALL_DICTS,
    tuple: st.booleans() | st.integers() | NON_INTEGER_FLOATS | SMALL_DICTS
    | st.lists(NOT_NUMBER_WORDS | NON_INTEGER_FLOATS, min_size=1, max_size=3),
    dict: st.booleans() | st.integers() | NON_INTEGER_FLOATS | WORDS | SMALL_LISTS,
}


def _choices() -> dict[str, tuple[str, ...]]:
    from vaekit.likelihoods import LIKELIHOODS
    from vaekit.models import MODELS

    return {
        "model": tuple(MODELS), "likelihood": tuple(LIKELIHOODS), "arch": vconfig.ARCHS,
        "activation": vconfig.ACTIVATIONS, "split": vconfig.SPLITS, "on_nan": getattr(vconfig, "ON_NAN", ()),
        "image_fit": vconfig.IMAGE_FITS,
    }


NEGATIVE = st.floats(max_value=0, exclude_max=True, allow_nan=False)
NOT_POSITIVE_INT = st.integers(max_value=0)
NOT_POSITIVE = st.floats(max_value=0) | st.just(math.nan)  # nan > 0 is False too
BAD_SIZES = st.lists(st.integers(-3, 16), max_size=4).filter(lambda s: not s or min(s) <= 0)
#: Values of the right type but outside the field's range; keys missing here are skipped.
OUT_OF_RANGE: dict[str, st.SearchStrategy] = {
    **{k: NOT_POSITIVE_INT for k in ("latent_dim", "epochs", "batch_size", "keep_checkpoints", "max_nan_skips",
                                     "patience", "num_threads")},
    **{k: NOT_POSITIVE for k in ("lr", "obs_std", "grad_clip")},
    **{k: NEGATIVE for k in ("beta", "weight_decay", "kl_warmup_epochs")},
    "checkpoint_every": st.integers(max_value=-1),
    "val_fraction": st.floats(min_value=1) | NEGATIVE | st.just(math.nan),
    "hidden_dims": BAD_SIZES,
    "conv_channels": BAD_SIZES,
    "input_shape": st.lists(st.integers(-2, 8), max_size=5).filter(lambda s: len(s) not in (1, 3) or min(s) <= 0),
    "image_size": st.lists(st.integers(-2, 8), max_size=4).filter(lambda s: len(s) != 2 or min(s) <= 0),
}
NOT_A_MAPPING = st.lists(st.integers() | WORDS, min_size=1, max_size=3) | st.integers() | WORDS | NON_INTEGER_FLOATS

MALFORMED_YAML = [
    "epochs: [1, 2\n", "{epochs: 1\n", "epochs: 'abc\n", "epochs: 1\n  lr: 2\n", "\tepochs: 1\n", "epochs: 1: 2\n",
    "- epochs: 1\nlr: 2\n", "? [a, b]\n: 1\n", "epochs: &a 1\nlr: *b\n", "%YAML 2.0\n---\nepochs: 1\n",
    "---\nepochs: 1\n---\nlr: 2\n", 'epochs: "\\q"\n', "lr: @1\n", "epochs: 1\n- 2\n", "[epochs, 1]\n",
    # No code may run while a config is read.
    "!!python/object/apply:os.system ['echo pwned']\n", "epochs: !!python/name:os.system\n",
]


def yaml_is_bad_on_its_own(text: str) -> bool:
    """True when PyYAML alone says this is no usable config (an error, not a mapping, or an unknown key).

    Texts on which PyYAML raises something other than YAMLError (``!!int abc``)
    are covered by the regression tests at the end.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    except Exception:  # noqa: BLE001
        return False
    return raw is not None and (not isinstance(raw, dict) or any(k not in KNOWN for k in raw))


@dataclasses.dataclass
class ConfigCase:
    kind: str
    raw: Any = None  # what the file holds, as data
    text: str | None = None  # or as text (malformed YAML)
    phrase: str | tuple[str, ...] | None = None


CONFIG_KINDS = [
    "unknown key", "wrong type", "out of range", "section not a mapping", "not a mapping", "malformed yaml",
    "random text",
]


@st.composite
def bad_config_cases(draw, kind: str) -> ConfigCase:
    if kind == "malformed yaml":
        prefix = draw(st.sampled_from(["", "latent_dim: 2\n"]))
        return ConfigCase(kind, text=prefix + draw(st.sampled_from(MALFORMED_YAML)))
    if kind == "random text":
        return ConfigCase(kind, text=draw(st.text(max_size=60).filter(yaml_is_bad_on_its_own)))
    if kind == "not a mapping":
        return ConfigCase(kind, raw=draw(NOT_A_MAPPING), phrase="mapping")
    if kind == "section not a mapping":
        section = draw(st.sampled_from(sorted(vconfig.SECTIONS)))
        # No strings: "model: vae" and "data: digits" are valid settings, not sections.
        value = draw(st.lists(st.integers(), min_size=1, max_size=3) | st.integers() | NON_INTEGER_FLOATS
                     | st.none() | st.booleans())
        return ConfigCase(kind, raw={section: value})
    if kind == "unknown key":
        key, value = draw(IDENTIFIERS.filter(lambda k: k not in KNOWN)), draw(st.integers() | WORDS)
        phrase = "unknown key"
    elif kind == "wrong type":
        key = draw(st.sampled_from(sorted(SECTION_OF)))
        wrong = WRONG_TYPE[_plain(FIELD_TYPES[SECTION_OF[key]][key])]
        if key in vconfig.SECTIONS:  # "model: {...}" and "data: {...}" would be sections
            wrong = wrong.filter(lambda v: not isinstance(v, dict))
        value, phrase = draw(wrong), ("invalid value", "must be a mapping")
    else:
        choices = _choices()
        ranged = sorted(k for k in (set(OUT_OF_RANGE) | set(choices)) if k in SECTION_OF)
        key = draw(st.sampled_from(ranged))
        value = draw(OUT_OF_RANGE[key] if key in OUT_OF_RANGE else WORDS.filter(lambda w: w not in choices[key]))
        phrase = None
    raw: dict[str, Any] = {k: v for k, v in {"epochs": 1, "hidden_dims": [8], "latent_dim": 2}.items() if k != key}
    if draw(st.booleans()):
        raw[key] = value
    else:  # grouped under a section, as in config.json
        section = draw(st.sampled_from(sorted(vconfig.SECTIONS))) if kind == "unknown key" else SECTION_OF[key]
        raw[section] = {key: value}
    return ConfigCase(kind, raw=raw, phrase=phrase)


@pytest.mark.slow  # hypothesis: tens of cases per test
@pytest.mark.parametrize("kind", CONFIG_KINDS)
@fuzz(16)
@given(data_=st.data(), as_json=st.booleans())
def test_bad_config_files_are_refused_in_one_line(kind: str, data_, as_json: bool, inputs_unchanged):
    case = data_.draw(bad_config_cases(kind), label="case")
    data = inputs_unchanged / "valid.npy"
    with scratch() as tmp:
        if case.text is not None:
            path = tmp / "config.yaml"
            path.write_text(case.text, encoding="utf-8")
        else:
            path = tmp / ("config.json" if as_json else "config.yaml")
            path.write_text(json.dumps(case.raw) if as_json else yaml.safe_dump(case.raw), encoding="utf-8")
        out = tmp / "run"
        before = snapshot(tmp)
        message = refused(cli("train", "--data", data, "--out", out, "--config", path, "--quiet"), case.phrase)
        assert snapshot(tmp) == before
        raises_same(
            lambda: vaekit.train(str(data), out=str(out), config=str(path), quiet=True), message, ConfigError
        )
        if case.text is None:  # the same mapping straight through the config classes
            with pytest.raises(ConfigError):
                vconfig.RunConfig.from_dict(case.raw).validate()
        assert snapshot(tmp) == before


def _json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8), _json_containers, max_leaves=8
)
#: Small numbers, for configs that get built: a valid latent_dim of 10**9 would really be allocated.
SMALL_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats() | st.text(max_size=8),
    _json_containers,
    max_leaves=8,
)


@pytest.mark.slow  # hypothesis: tens of cases per test
@fuzz(100)
@given(raw=st.dictionaries(st.sampled_from(sorted(KNOWN)) | IDENTIFIERS, JSON_VALUES, max_size=4))
def test_any_mapping_gives_a_config_or_a_config_error(raw: dict):
    """Never TypeError, KeyError or AttributeError, whatever the values.

    A mapping with a key vaekit does not know is refused with an error naming
    that key; any other mapping either gives a valid config that survives the
    round trip through ``config.json``, or a ConfigError naming one of its keys.
    """
    unknown = [k for k in raw if k not in KNOWN]
    if unknown:
        with pytest.raises(ConfigError, match="unknown key") as info:
            vconfig.RunConfig.from_dict({unknown[0]: raw[unknown[0]]}).validate()
        assert vconfig.show(unknown[0]) in str(info.value)
    try:
        config = vconfig.RunConfig.from_dict(raw)
        config.validate()
    except ConfigError as exc:
        named = _keys_in(raw)
        # quoted as vaekit shows a key, or a known field's bare name ("hidden_dims must be ...")
        assert any(vconfig.show(k) in str(exc) or (k in KNOWN and k in str(exc)) for k in named), (named, str(exc))
    else:
        assert not unknown, unknown
        assert vconfig.RunConfig.from_dict(json.loads(config.to_json())) == config


def _keys_in(raw: dict) -> list[str]:
    """The keys of ``raw`` and, for sections given as mappings, the keys inside them."""
    keys = [str(k) for k in raw]
    for section in vconfig.SECTIONS:
        if isinstance(raw.get(section), dict):
            keys += [str(k) for k in raw[section]]
    return keys


# --------------------------------------------------------------------------- 4. flags


def _number(text: str, kind: type) -> float | None:
    try:
        return kind(text)
    except ValueError:
        return None


def _sizes(text: str) -> list[int] | None:
    tokens = [t.strip() for t in text.replace("x", ",").split(",") if t.strip()]
    try:
        return [int(t) for t in tokens]
    except ValueError:
        return None


def _is_positive_int(text: str) -> bool:
    value = _number(text, int)
    return value is not None and value > 0


#: Which values each flag accepts. Non-finite numbers (beta nan/inf, lr inf) count
#: as "accepted" here; the regression tests at the end hold vaekit to refusing them.
ACCEPTS: dict[str, Callable[[str], bool]] = {
    "latent_dim": _is_positive_int,
    "epochs": _is_positive_int,
    "batch_size": _is_positive_int,
    "lr": lambda t: (v := _number(t, float)) is not None and v > 0,
    "beta": lambda t: (v := _number(t, float)) is not None and not v < 0,
    "val_fraction": lambda t: (v := _number(t, float)) is not None and 0 <= v < 1,
    "hidden_dims": lambda t: bool(s := _sizes(t)) and min(s) > 0,
    "image_size": lambda t: t.lower() in ("none", "null", "")  # no image size: the default
    or ((s := _sizes(t)) is not None and len(s) == 2 and min(s) > 0),
}
FLAG_TEXT = (
    st.text(max_size=10)
    | st.from_regex(r"-?[0-9]{0,4}(\.[0-9]{0,3})?(e-?[0-9]{1,2})?", fullmatch=True)
    | st.integers(-(10**6), 0).map(str)
    | st.floats().map(repr)
    | st.lists(st.integers(-4, 9).map(str) | WORDS, max_size=4).map(",".join)
).filter(lambda t: t != "--")  # argparse (< 3.12) turns "--flag=--" into [], see test_train_refuses_data_it_cannot_read


@pytest.mark.slow  # hypothesis: tens of cases per test
@pytest.mark.parametrize("key", sorted(ACCEPTS))
@fuzz(15)
@given(data=st.data())
def test_bad_train_flags_are_refused_in_one_line(key: str, data, inputs_unchanged):
    value = data.draw(FLAG_TEXT.filter(lambda t: not ACCEPTS[key](t)), label=key)
    source = inputs_unchanged / ("images" if key == "image_size" else "valid.npy")
    settings_ = {**{k: v for k, v in TINY.items() if k != key}, key: value}
    with scratch() as tmp:
        out = tmp / "run"
        before = snapshot(tmp)
        message = refused(cli("train", "--data", source, "--out", out, *flags(settings_), "--quiet"))
        assert snapshot(tmp) == before
        raises_same(lambda: vaekit.train(str(source), out=str(out), quiet=True, **settings_), message)
        assert snapshot(tmp) == before


DATASET_NAMES = {"digits", "mnist", "fashion-mnist"}


@contextlib.contextmanager
def _cwd(folder: Path):
    """``contextlib.chdir`` of Python 3.11, for 3.10."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.mark.slow  # hypothesis: tens of cases per test
@fuzz(40)
@given(spec=st.text(max_size=12))
def test_unknown_data_specs_are_refused_in_one_line(spec: str, inputs_unchanged):
    # Nothing that names an existing folder (".", "..", "~", absolute paths) or a real dataset.
    assume(spec not in DATASET_NAMES and "/" not in spec and not spec.startswith("~") and ".." not in spec)
    assume(spec != "--")  # see test_train_refuses_data_it_cannot_read
    with scratch() as tmp, _cwd(tmp):
        assume(not Path(spec).exists())
        before = snapshot(tmp)
        message = refused(cli("train", f"--data={spec}", "--out", tmp / "run", *flags(TINY), "--quiet"))
        assert snapshot(tmp) == before
        raises_same(lambda: vaekit.load_data(spec), message, DataError)


# --------------------------------------------------------------------------- 5. damaged run folders


class _Pwned:
    """A pickle that, if ever unpickled, creates the folder named in it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@dataclasses.dataclass
class Damage:
    kind: str
    apply: Callable[[Path], None]
    may_still_load: bool = False  # the damage may leave a valid model (a flipped weight, a changed epochs)


def _set(path: list[str], value: Any) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(path: list[str]) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        node = config
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


DAMAGE_KINDS = [
    "weights truncated", "weights flipped", "weights random", "weights pickle", "weights foreign",
    "config random bytes", "config not a mapping", "config key deleted", "config value replaced",
    "config unknown key", "config input_shape", "config newer format",
]


@st.composite
def damages(draw, run_dir: Path, kind: str) -> Damage:
    weights = (run_dir / "model.safetensors").read_bytes()
    config = json.loads((run_dir / "config.json").read_text())
    paths = [[section, key] for section in ("model", "train", "data") for key in config[section]]

    def weights_to(blob: bytes) -> Callable[[Path], None]:
        return lambda d: (d / "model.safetensors").write_bytes(blob)

    def config_to(edit: Callable[[dict], None]) -> Callable[[Path], None]:
        edited = json.loads(json.dumps(config))
        edit(edited)
        text = json.dumps(edited)
        return lambda d: (d / "config.json").write_text(text)

    if kind == "weights truncated":
        return Damage(kind, weights_to(weights[: draw(st.integers(0, len(weights) - 1))]))
    if kind == "weights flipped":  # a flip in the tensor data leaves a valid file with other weights
        data = bytearray(weights)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        return Damage(kind, weights_to(bytes(data)), may_still_load=True)
    if kind == "weights random":
        return Damage(kind, weights_to(draw(st.binary(max_size=2048))))
    if kind == "weights pickle":
        payload = draw(st.sampled_from(["reduce", "dict"]))

        def write(d: Path) -> None:
            obj = _Pwned(str(d / "PWNED")) if payload == "reduce" else {"encoder.net.0.weight": [[0.0]]}
            (d / "model.safetensors").write_bytes(pickle.dumps(obj))

        return Damage(kind, write)
    if kind == "weights foreign":  # a valid safetensors file with other tensors in it
        from safetensors.numpy import save

        names = draw(st.lists(IDENTIFIERS, min_size=1, max_size=3, unique=True))
        tensors = {n: np.zeros(draw(st.lists(st.integers(1, 3), max_size=2)), np.float32) for n in names}
        return Damage(kind, weights_to(save(tensors)))
    if kind == "config random bytes":
        return Damage(kind, lambda d, b=draw(st.binary(max_size=200)): (d / "config.json").write_bytes(b))
    if kind == "config not a mapping":
        value = draw(NOT_A_MAPPING | st.none())
        return Damage(kind, lambda d: (d / "config.json").write_text(json.dumps(value)))
    if kind == "config key deleted":
        path = draw(st.sampled_from(paths + [["model"]]))
        still_loads = path not in (["model", "input_shape"], ["model"])
        return Damage(kind, config_to(_delete(path)), may_still_load=still_loads)
    if kind == "config value replaced":
        value = draw(SMALL_JSON_VALUES)
        return Damage(kind, config_to(_set(draw(st.sampled_from(paths)), value)), may_still_load=True)
    if kind == "config unknown key":
        section = draw(st.sampled_from(["model", "train", "data"]))
        path = [section, draw(IDENTIFIERS.filter(lambda k: k not in KNOWN))]
        return Damage(kind, config_to(_set(path, draw(st.integers()))))
    if kind == "config input_shape":
        shape = draw(st.lists(st.integers(-2, 9), max_size=4).filter(lambda s: s != config["model"]["input_shape"]))
        return Damage(kind, config_to(_set(["model", "input_shape"], shape)))
    return Damage(kind, config_to(_set(["format_version"], vconfig.FORMAT_VERSION + draw(st.integers(1, 10**6)))))


@pytest.mark.slow  # hypothesis: tens of cases per test
@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@fuzz(11)
@given(data=st.data(), command=st.sampled_from(["sample", "evaluate", "encode"]))
def test_damaged_run_folders_are_refused_in_one_line(kind: str, trained, data, command, inputs_unchanged):
    damage_ = data.draw(damages(trained, kind), label="damage")
    valid = inputs_unchanged / "valid.npy"
    with scratch() as tmp:
        run_dir = tmp / "run"
        run_dir.mkdir()
        for name in ("config.json", "model.safetensors"):
            shutil.copy(trained / name, run_dir / name)
        damage_.apply(run_dir)
        out = tmp / ("samples.npy" if command == "sample" else "z.npy")
        argv = {
            "sample": ["sample", run_dir, "-n", "4", "--out", out],
            "evaluate": ["evaluate", run_dir, "--data", valid],
            "encode": ["encode", run_dir, "--data", valid, "--out", out],
        }[command]
        before, before_run = snapshot(tmp), snapshot(run_dir)
        result = cli(*argv)
        assert snapshot(run_dir) == before_run  # never written to, whatever happened
        assert not (run_dir / "PWNED").exists()
        try:
            vaekit.load(str(run_dir))
        except VaekitError as exc:  # no model: the CLI refuses with the API's message
            assert refused(result) == str(exc)
            assert snapshot(tmp) == before
            return
        assert snapshot(run_dir) == before_run
        assert damage_.may_still_load, f"{damage_.kind}: the damaged run folder still loads"
        if result.code == 0:  # a valid model (another weight, another setting) does its job
            event("still a valid model")
            assert command == "evaluate" or out.is_file()
        else:  # a model that loads, refused for its data (a changed setting)
            refused(result)
            assert snapshot(tmp) == before


# --------------------------------------------------------------------------- regressions: bugs the fuzzers found, now fixed


def _refused_cleanly(argv: list[Any], tmp: Path) -> None:
    before = snapshot(tmp)
    refused(cli(*argv))
    assert snapshot(tmp) == before


# Caught: TrainConfig.validate does not bound seed: numpy refuses negative seeds, torch seeds beyond int64, and the trainer's seed * 1_000_003 overflows from about 2**43


@pytest.mark.parametrize("seed", [
    pytest.param("-1", id="negative"),
    pytest.param(str(2**64), id="2**64"),
    pytest.param(str(2**50), id="2**50"),
])
def test_train_refuses_an_out_of_range_seed(seed, inputs, tmp_path):
    _refused_cleanly(["train", "--data", inputs / "valid.npy", "--out", tmp_path / "run", f"--seed={seed}",
                      *flags(TINY), "--quiet"], tmp_path)


# Caught: validate() compares with < 0 / > 0, which NaN passes (and inf passes > 0): training starts, the run folder is created, then the loss is NaN (or Adam raises ValueError for weight_decay)


@pytest.mark.parametrize("setting", [
    pytest.param(["--beta=nan"], id="beta-nan"),
    pytest.param(["--beta=inf"], id="beta-inf"),
    pytest.param(["--lr=inf"], id="lr-inf"),
    pytest.param(["--weight-decay=nan"], id="weight_decay-nan"),
    pytest.param(["--kl-warmup-epochs=nan"], id="kl_warmup_epochs-nan"),
    pytest.param(["--likelihood=gaussian", "--obs-std=inf"], id="obs_std-inf"),
])
def test_train_refuses_non_finite_settings(setting, inputs, tmp_path):
    _refused_cleanly(["train", "--data", inputs / "valid.npy", "--out", tmp_path / "run", *setting,
                      *flags(TINY), "--quiet"], tmp_path)


@pytest.mark.parametrize("setting", [
    pytest.param({"hidden_dims": str(2**64)}, id="hidden_dims"),
    pytest.param({"latent_dim": str(2**64)}, id="latent_dim"),
])
def test_train_refuses_sizes_beyond_int64(setting, inputs, tmp_path):
    _refused_cleanly(["train", "--data", inputs / "valid.npy", "--out", tmp_path / "run",
                      *flags({**TINY, **setting}), "--quiet"], tmp_path)


# Caught: config.load_config_file catches only YAMLError/UnicodeDecodeError, and coerce only TypeError/ValueError


@pytest.mark.parametrize("text", [
    pytest.param("epochs: !!int abc\n", id="tagged-int-ValueError"),
    pytest.param("seed: 1" + "0" * 5000 + "\n", id="5000-digit-int-ValueError"),
    pytest.param("[" * 3000 + "]" * 3000 + "\n", id="deep-nesting-RecursionError", marks=pytest.mark.slow),  # ~4 s
    pytest.param("lr: 1" + "0" * 400 + "\n", id="int-beyond-float-OverflowError"),
    pytest.param('"a\\nb": 1\n', id="unknown-key-with-newline-prints-two-lines"),
])
def test_config_files_that_break_the_parser(text, inputs, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    _refused_cleanly(["train", "--data", inputs / "valid.npy", "--out", tmp_path / "run", "--config", config,
                      *flags(TINY), "--quiet"], tmp_path)


@pytest.mark.parametrize("text", [
    pytest.param('{"model": {"latent_dim": 1' + "0" * 5000 + "}}", id="5000-digit-int-ValueError"),
    pytest.param("[" * 3000 + "]" * 3000, id="deep-nesting-RecursionError"),
    pytest.param('{"train": {"lr": 1' + "0" * 400 + "}}", id="int-beyond-float-OverflowError"),
])
def test_run_folder_configs_that_break_the_parser(text, trained, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(trained / "model.safetensors", run_dir)
    (run_dir / "config.json").write_text(text)
    _refused_cleanly(["sample", run_dir, "-n", "2", "--out", tmp_path / "s.npy"], tmp_path)


@pytest.mark.parametrize("command", ["sample", "encode", "evaluate"])
def test_read_only_commands_refuse_a_seed_beyond_int64(command, trained, inputs, tmp_path):
    data = ["--data", inputs / "valid.npy"] if command != "sample" else []
    out = ["--out", tmp_path / "out.npy"] if command != "evaluate" else []
    _refused_cleanly([command, trained, *data, *out, f"--seed={2**64}"], tmp_path)


@pytest.mark.parametrize("temperature", ["nan", "inf"])
def test_sample_refuses_a_non_finite_temperature(temperature, trained, tmp_path):
    _refused_cleanly(["sample", trained, "-n", "2", "--out", tmp_path / "s.npy", f"--temperature={temperature}"],
                     tmp_path)


def test_train_refuses_data_it_cannot_read(inputs, tmp_path):
    small = {"epochs": 1, "hidden_dims": "8", "latent_dim": 2, "arch": "mlp", "val_fraction": 0.9, "quiet": True}
    with warnings.catch_warnings():  # a list of rows is array-like: the API trains on it (posterior collapse aside)
        warnings.simplefilter("ignore")
        assert vaekit.train([[0.5] * 6] * 40, **small).config.model.input_shape == (6,)
    _refused_cleanly(["train", "--data=--", "--out", tmp_path / "run", "--arch=mlp", "--val-fraction=0.9",
                      *flags(TINY), "--quiet"], tmp_path)


@pytest.mark.parametrize("raw", [
    pytest.param({"lr": 10**400}, id="int-beyond-float-OverflowError"),
    pytest.param({"hidden_dims": [10**5000]}, id="repr-of-5000-digit-int-ValueError"),
])
def test_from_dict_raises_config_error_for_huge_numbers(raw):
    with pytest.raises(ConfigError):
        vconfig.RunConfig.from_dict(raw).validate()
