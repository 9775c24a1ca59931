"""Build and grade the lotterylab assignments with Otter-Grader, without Docker.

    python assignments/otter_tools.py build [--out _build/assignments] [MASTER.md ...]
    python assignments/otter_tools.py grade SUBMISSIONS [--out SUBMISSIONS/grades.csv] [--dist _build/assignments]

``build`` turns each instructor master ``assignments/lth*.md`` (MyST Markdown, Otter's assignment
format) into a notebook and runs ``otter assign`` on it. For a master ``NAME.md`` it writes
``OUT/NAME/dist/student/NAME.ipynb`` (hand this out), ``OUT/NAME/dist/autograder/NAME.ipynb``
(the solution notebook with every test) and ``OUT/NAME/dist/autograder/NAME-autograder_*.zip``.

``grade`` grades every ``*.ipynb`` in SUBMISSIONS with ``otter run`` (Otter's non-containerised
grader; it executes the notebook in a local kernel, so use it only on notebooks you are willing to
run). The autograder is chosen from the notebook's Otter metadata (``assignment_name``). It writes
one CSV: a row per submission, a column of points per autograded question, the total and the
points possible; Otter's per-test results go to ``results/NOTEBOOK.json`` beside the CSV. Written
questions (``manual: true``) are graded by hand with the rubric in the solution notebook and do not
appear in the CSV.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "assignments").glob("lth*_*.md"))
DEFAULT_OUT = ROOT / "_build" / "assignments"
BIN = Path(sys.executable).parent


def build(masters: list[Path], out: Path) -> list[Path]:
    """Student notebook and autograder zip for each master; returns the ``dist`` folders."""
    dists = []
    for master in masters:
        work = out / master.stem
        notebook = work / f"{master.stem}.ipynb"
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "jupytext"), "--quiet", "--to", "ipynb", "-o", str(notebook), str(master)],
                       check=True)
        dist = work / "dist"
        # The tests are exception-based (asserts), so the master needs no executing before assign;
        # `make test` grades the solution notebook instead of letting assign run it a second time.
        subprocess.run([str(BIN / "otter"), "assign", "--no-run-tests", "--no-pdfs", str(notebook), str(dist)],
                       check=True, cwd=work, stdout=subprocess.DEVNULL)
        dists.append(dist)
        print(f"{master.name}: student notebook {dist / 'student' / notebook.name}, "
              f"autograder {autograder_zip(dist)}")
    return dists


def autograder_zip(dist: Path) -> Path:
    """The newest autograder zip that ``otter assign`` wrote into ``dist``."""
    zips = sorted((dist / "autograder").glob("*-autograder_*.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        raise FileNotFoundError(f"no autograder zip in {dist / 'autograder'}: run `make assignments`")
    return zips[-1]


def assignment_name(notebook: Path) -> str:
    """The assignment a notebook belongs to, from the metadata ``otter assign`` put there."""
    meta = json.loads(notebook.read_text()).get("metadata", {}).get("otter", {})
    name = meta.get("assignment_name")
    if not name:
        raise ValueError(f"{notebook}: no Otter assignment name in its metadata (was it made by `make assignments`?)")
    return name


def grade_one(notebook: Path, zip_path: Path, report: Path | None = None) -> dict[str, tuple[float, float]]:
    """``{question: (score, possible)}`` for one submission, graded by ``otter run``.

    With ``report``, Otter's full results (every test case, hidden ones included, with its message)
    are written there as JSON: the feedback an instructor can pass on after the deadline.
    """
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(zip_path), quiet=True)
    if results.catastrophic_error is not None:
        print(f"{notebook.name}: grading failed: {results.catastrophic_error!r}", file=sys.stderr)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(results.to_dict(), indent=1, default=str))
    return {name: (float(results.get_score(name)), float(results.get_result(name).possible))
            for name in sorted(results.results)}


def grade(folder: Path, out_csv: Path, dist_root: Path) -> list[dict]:
    """Grade every notebook in ``folder`` and write the scores to ``out_csv``; returns the rows."""
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(f"no .ipynb submissions in {folder}")
    rows, questions = [], []
    for notebook in notebooks:
        name = assignment_name(notebook)
        start = time.perf_counter()
        scores = grade_one(notebook, autograder_zip(dist_root / name / "dist"),
                           out_csv.parent / "results" / f"{notebook.stem}.json")
        row = {"file": notebook.name, "assignment": name}
        for q, (score, _) in scores.items():
            row[q] = score
            questions += [q] if q not in questions else []
        row["total"] = sum(s for s, _ in scores.values())
        row["possible"] = sum(p for _, p in scores.values())
        rows.append(row)
        print(f"{notebook.name}: {row['total']:g}/{row['possible']:g} ({time.perf_counter() - start:.0f} s)")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "assignment", *questions, "total", "possible"], restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out_csv}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="student notebooks and autograder zips")
    b.add_argument("masters", nargs="*", type=Path, default=MASTERS)
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, default=None, help="CSV path (default: SUBMISSIONS/grades.csv)")
    g.add_argument("--dist", type=Path, default=DEFAULT_OUT, help="where `build` wrote the assignments")
    args = parser.parse_args(argv)
    if args.command == "build":
        build([m.resolve() for m in args.masters], args.out.resolve())
    else:
        grade(args.submissions, args.out or args.submissions / "grades.csv", args.dist.resolve())


if __name__ == "__main__":
    main()
