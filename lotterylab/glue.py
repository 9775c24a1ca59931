"""``glue``: myst-nb's ``glue`` during a book build, a short printed line anywhere else.

The chapters glue computed numbers and sentences into their prose with ``glue(name, value,
display=False)``. In a book build this must emit exactly what ``myst_nb.glue`` emits (a display
output that myst-nb pastes into ``{glue:text}`` / ``{glue:md}`` placeholders). A student running the
notebook in plain Jupyter or on Colab has no myst-nb, and the generated notebooks show each
placeholder as **``[name]``**: there ``glue`` prints ``[name] = value``, the sentence the reader's own
run contributes. myst-nb is never imported: the output format is reproduced here (the tests compare
it with myst-nb's own).

``LOTTERYLAB_GLUE`` chooses: ``on`` (emit glue outputs, as in a book build), ``off`` (print), or
``auto`` (the default: emit inside an IPython kernel when myst-nb is installed, i.e. when this
environment can build the book; print otherwise).

Example:
    >>> import os
    >>> os.environ["LOTTERYLAB_GLUE"] = "off"
    >>> glue("accuracy", 0.98123456, display=False)
    [accuracy] = 0.9812
    >>> del os.environ["LOTTERYLAB_GLUE"]
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any

from lotterylab.errors import LotteryLabError, check_choice

__all__ = ["ENV_GLUE", "GLUE_PREFIX", "book_build", "glue"]

ENV_GLUE = "LOTTERYLAB_GLUE"
# myst_nb.ext.glue.GLUE_PREFIX: the mime prefix that hides a glued value in the notebook itself.
GLUE_PREFIX = "application/papermill.record/"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def book_build() -> bool:
    """Whether ``glue`` emits myst-nb glue outputs (``$LOTTERYLAB_GLUE``; see the module docstring).

    Example:
        >>> os.environ["LOTTERYLAB_GLUE"] = "on"
        >>> book_build()
        True
        >>> del os.environ["LOTTERYLAB_GLUE"]
    """
    mode = check_choice(ENV_GLUE, os.environ.get(ENV_GLUE, "auto").strip().lower() or "auto", ("auto", "on", "off"))
    if mode != "auto":
        return mode == "on"
    return _in_kernel() and importlib.util.find_spec("myst_nb") is not None


def _short(value: Any) -> str:
    """A one-line rendering of a glued value: floats to 4 significant digits, Markdown as its text."""
    if hasattr(value, "data") and isinstance(value.data, str):  # IPython.display.Markdown
        text = value.data
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def glue(name: str, value: Any, display: bool = True) -> None:
    """Glue ``value`` under ``name`` in a book build; elsewhere print ``[name] = value`` (or show it).

    In a book build this is ``myst_nb.glue(name, value, display)``, output for output. Elsewhere, with
    ``display=False`` it prints one line; with ``display=True`` it displays ``value`` as Jupyter would.

    Example:
        >>> os.environ["LOTTERYLAB_GLUE"] = "off"
        >>> glue("verdict", "tickets win", display=False)
        [verdict] = tickets win
        >>> del os.environ["LOTTERYLAB_GLUE"]
    """
    if not isinstance(name, str) or not name.strip():
        raise LotteryLabError(f"name must be a non-empty string; got {name!r}.")
    if book_build():
        from IPython.core.formatters import format_display_data
        from IPython.display import display as ipy_display

        mimebundle, metadata = format_display_data(value)
        mime_prefix = "" if display else GLUE_PREFIX
        metadata["scrapbook"] = {"name": name, "mime_prefix": mime_prefix}
        ipy_display({mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
    elif display and _in_kernel():
        from IPython.display import display as ipy_display

        ipy_display(value)
    else:
        print(f"[{name}] = {_short(value)}")
