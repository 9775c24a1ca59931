"""Progress bars for long runs: a widget in Jupyter, plain text in scripts, off in book builds.

Set ``LOTTERYLAB_PROGRESS`` to ``auto`` (default), ``text`` or ``off``. The book build sets ``off``
so executed pages don't embed progress-bar widgets.

Functions that run long take ``progress``: a tqdm-like bar to update, or None to make a bar of
their own with :func:`progress_bar` (its mode from ``$LOTTERYLAB_PROGRESS``).

Example:
    >>> for _ in progress_bar(range(3), desc="demo", mode="off"):
    ...     pass
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from lotterylab.errors import check_choice

__all__ = ["ENV_PROGRESS", "progress_bar"]

ENV_PROGRESS = "LOTTERYLAB_PROGRESS"
MODES = ("auto", "text", "off")


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 mode: str | None = None, **kwargs):
    """A tqdm progress bar chosen by ``mode`` (default ``$LOTTERYLAB_PROGRESS`` or ``auto``)."""
    mode = check_choice("mode", mode or os.environ.get(ENV_PROGRESS, "auto").strip().lower(), MODES)
    if mode == "auto":
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
        kwargs.setdefault("file", sys.stderr)
    return tqdm(iterable, total=total, desc=desc, disable=(mode == "off"), **kwargs)


def check_progress(progress) -> None:
    """Raise unless ``progress`` is None or has tqdm's ``update`` method.

    Example:
        >>> check_progress(None)
    """
    if progress is not None and not callable(getattr(progress, "update", None)):
        from lotterylab.errors import LotteryLabError

        raise LotteryLabError(f"progress={progress!r} must be a tqdm-like bar (with .update) or None; to silence "
                              f"bars set {ENV_PROGRESS}=off.")
