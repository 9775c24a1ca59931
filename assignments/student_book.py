"""Build the student edition of the book: the same pages, with every exercise solution removed.

    python assignments/student_book.py [--out _build/student] [--cache _build/.jupyter_cache]

Merges ``_config_student.yml`` over ``_config.yml`` (``hide_solutions: true`` for sphinx-exercise)
and builds strictly (``-W -n``) into ``OUT/_build/html``. The chapters' outputs come from the
execution cache of the main build (``make book`` fills ``_build/.jupyter_cache``; the student
edition's code cells are identical, so every chapter is a cache hit and nothing runs twice).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def merge(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay``'s keys replaced, recursing into nested mappings."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def student_config(cache: Path) -> dict:
    """The student edition's configuration, reading its outputs from the execution cache ``cache``."""
    config = merge(yaml.safe_load((ROOT / "_config.yml").read_text()),
                   yaml.safe_load((ROOT / "_config_student.yml").read_text()))
    config.setdefault("execute", {})["cache"] = str(Path(cache).resolve())
    return config


def build(out: Path, cache: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Write the merged configuration into ``out`` and build the student edition there."""
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "_config_student.yml"
    config_path.write_text(yaml.safe_dump(student_config(cache), sort_keys=False))
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jb), "build", str(ROOT), "--config", str(config_path), "--path-output", str(out),
                           "-W", "-n", "--keep-going"], env=env or dict(os.environ), capture_output=True, text=True,
                          check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    args = parser.parse_args(argv)
    proc = build(args.out.resolve(), args.cache)
    print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
    if proc.returncode == 0:
        print(f"Student edition: open {args.out / '_build' / 'html' / 'index.html'} in a browser.")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
