"""A progress bar for data that keeps a person waiting: drawing sprites, downloading, reading images.

Shown on stderr only when it is a terminal (as the trainer's bar), and only
once the wait passes ``DELAY_S``, so quick loads, scripts, logs and notebooks
print nothing. tqdm is imported only when a bar can be shown.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

#: Seconds before a bar appears: a load that is done sooner prints nothing.
DELAY_S = 1.0


class _Silent:
    """The bar when none is shown: counts nothing, prints nothing."""

    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, unit: str = "it", *, enabled: bool = True, terminal_only: bool = True,
    **options,
) -> Iterator:
    """A tqdm bar of ``total`` units on stderr, or a silent one when not ``enabled`` (or, with
    ``terminal_only``, when stderr is not a terminal: the caller that decides itself passes False).

    ``options`` go to tqdm (e.g. ``unit_scale=True`` for bytes, ``delay=0``); ``total=None`` counts without an end.
    """
    if not enabled or (terminal_only and not sys.stderr.isatty()):
        yield _Silent()
        return
    from tqdm.auto import tqdm  # noqa: PLC0415 - only when a bar is shown

    settings = {"delay": DELAY_S, "leave": False, "dynamic_ncols": True, **options}
    with tqdm(total=total, desc=description, unit=unit, **settings) as bar:
        yield bar
