"""Fixtures for the student notebooks (issue 14): the student install, and every chapter run in it.

``conftest.py`` imports them, so the book build (``built_book``) can reuse the student run's outputs
through its execution cache instead of executing every chapter a second time.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import notebooks

STUDENT_VENV = ROOT / "_build" / "notebook-venv"
CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.md"))
# LOTTERYLAB_NOTEBOOKS=07_scaling_ensembling,... runs only those chapters in the student install (while
# working on one chapter); the book build then executes the others itself.
SELECTED = [c for c in CHAPTERS if not os.environ.get("LOTTERYLAB_NOTEBOOKS")
            or c.stem in os.environ["LOTTERYLAB_NOTEBOOKS"].split(",")]


def book_env(results: Path) -> dict:
    """The environment the book build runs its chapters in (quick preset, CPU, no progress bars)."""
    return dict(os.environ, LOTTERYLAB_PRESET="quick", LOTTERYLAB_PROGRESS="off", LOTTERYLAB_DEVICE="cpu",
                LOTTERYLAB_RESULTS=str(results), MPLBACKEND="module://matplotlib_inline.backend_inline")


@pytest.fixture(scope="session")
def student_python():
    """Python of the student install (``make notebook-venv``: ``pip install -e ".[notebook]"``, no book toolchain)."""
    t0 = time.time()
    proc = subprocess.run(["make", "-s", "notebook-venv"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          check=False)
    assert proc.returncode == 0, f"student install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"\nstudent install ready in {time.time() - t0:.0f} s")
    return STUDENT_VENV / "bin" / "python"


@pytest.fixture(scope="session")
def student_executed(student_python, tmp_path_factory):
    """Every chapter executed top to bottom in the student install's kernel (set-up cell first).

    Returns the folder of executed notebooks (``NN_name.ipynb`` and ``times.json``). Glue calls emit
    myst-nb glue outputs (``LOTTERYLAB_GLUE=on``) so that the book build can use these outputs.
    """
    out = tmp_path_factory.mktemp("student_run")
    env = dict(book_env(out / "results"), LOTTERYLAB_GLUE="on")
    for key in ("PYTHONPATH", "VIRTUAL_ENV"):  # nothing of the test environment leaks into the student's
        env.pop(key, None)
    env["PATH"] = f"{student_python.parent}:{env.get('PATH', '')}"
    proc = subprocess.run([str(student_python), str(ROOT / "scripts" / "notebooks.py"), "execute", "--out",
                           str(out / "executed"), *map(str, SELECTED)], env=env, capture_output=True, text=True,
                          timeout=3600, cwd=ROOT, check=False)
    assert proc.returncode == 0, f"a notebook failed in the student install:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    print(proc.stdout)
    return out / "executed"


def stage_for_build(executed: Path, build_out: Path) -> list[str]:
    """Put the student run's outputs into the execution cache of a build with ``--path-output build_out``."""
    return notebooks.stage(sorted(executed.glob("[0-9]*.ipynb")), build_out / "_build" / ".jupyter_cache")
