"""The one progress bar of the package (tqdm on stderr), used by the Translator, the CLI, Ray jobs and documents.

    bar = progress_bar(total, show, unit="line", desc="translating")
    bar.update(n); bar.close()

`show=False` gives a bar that does nothing, so callers never branch on it. `total=None` counts without a total.
"""

from __future__ import annotations

import sys
from typing import Any


def stderr_is_tty() -> bool:
    """True when stderr is a terminal (a progress bar is then shown by default)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class NoBar:
    """The bar of `progress_bar(..., show=False)`: update and close do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, show: bool, unit: str = "sent", desc: str = "translating",
                 leave: bool = False) -> Any:
    """A tqdm bar on stderr counting `unit`s up to `total` (None: no total), or a NoBar when `show` is false.
    `leave`: keep the finished bar on screen."""
    if not show:
        return NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=leave)


__all__ = ["progress_bar", "stderr_is_tty", "NoBar"]
