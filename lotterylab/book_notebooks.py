"""Sphinx extension of the book build (never used by the chapters): loads ``scripts/notebooks.py``.

It lives in the package so that the book build finds it whatever folder its configuration file is in
(the student edition writes its merged ``_config.yml`` elsewhere). It imports nothing on import.

Example:
    >>> from lotterylab.book_notebooks import scripts_folder
    >>> (scripts_folder() / "notebooks.py").exists()
    True
"""
from __future__ import annotations

import sys
from pathlib import Path

from lotterylab.errors import LotteryLabError

__all__ = ["scripts_folder", "setup"]


def scripts_folder() -> Path:
    """The repository's ``scripts/`` folder (the book is always built from a checkout)."""
    folder = Path(__file__).resolve().parents[1] / "scripts"
    if not (folder / "notebooks.py").exists():
        raise LotteryLabError(f"scripts/notebooks.py not found at {folder}: build the book from a checkout.")
    return folder


def setup(app):
    """Sphinx entry point: register the hooks of ``scripts/notebooks.py``."""
    folder = str(scripts_folder())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import notebooks

    return notebooks.setup(app)
