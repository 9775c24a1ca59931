"""The graded assignments: `make assignments` and `make grade`, checked end to end with Otter-Grader.

For every instructor master in ``assignments/``, the student notebook must hold no solution and no
hidden test; graded without Docker (the code path of ``make grade``), the solution notebook gets full
marks, the unanswered student notebook gets 0 on every code question, and a deliberately wrong answer
passes that question's public tests but fails a hidden one. Each master's three submissions are graded
once, into one CSV, which the tests then read.
"""

import csv
import json
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # raised inside Otter 7.0.0 by pandas 3
pytest.importorskip("otter", reason="instructor tools missing: pip install -r requirements-instructor.txt "
                                    "(`make test` installs them)")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "assignments"))
# assignments/otter_tools.py is the script behind `make assignments` and `make grade`.
import otter_tools

# For each master: the question and a one-line edit of its solution that makes the answer wrong in a
# way the public tests do not see (the right count of pruned weights, but the largest ones; ...).
WRONG = {
    "lth1_original_hypothesis": ("q1", "torch.topk(magnitude, n_prune, largest=False)",
                                 "torch.topk(magnitude, n_prune, largest=True)"),
    "lth2_tickets_without_training": ("q1", "flatten(), k, largest=True)", "flatten(), k, largest=False)"),
    "lth3_tickets_and_scale": ("q1", 'torch.einsum("dk,shk->sdh", x, W1) + b1[:, None, :]',
                               'torch.einsum("dk,shk->sdh", x, W1)'),
}
MASTERS = {p.stem: p for p in otter_tools.MASTERS}


def test_every_master_has_a_wrong_answer():
    assert set(MASTERS) == set(WRONG), "add a deliberately wrong answer for each master to WRONG"
    assert len(MASTERS) >= 3, "one assignment per part of the book"


def _notebook(path):
    return json.loads(Path(path).read_text())


def _code(nb):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _master_blocks(master):
    """Solution lines and test-function names of a master, read from its MyST source."""
    text = master.read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.DOTALL)
    solution_lines, hidden, public = [], [], []
    for cell in cells:
        if "# BEGIN TEST CONFIG" in cell:
            name = re.search(r"def (test_\w+)", cell).group(1)
            (hidden if re.search(r"^hidden:\s*true", cell, flags=re.MULTILINE) else public).append(name)
            continue
        inside = False
        for line in cell.splitlines():
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif inside or line.rstrip().endswith("# SOLUTION"):
                code = line.split("# SOLUTION")[0].strip()
                if len(code) > 12:  # short lines such as `return grad, None` may legitimately recur
                    solution_lines.append(code)
    return solution_lines, hidden, public


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`make assignments` into a fresh folder."""
    out = tmp_path_factory.mktemp("assignments")
    otter_tools.build(list(MASTERS.values()), out)
    return out


@pytest.fixture(scope="module")
def graded(dist, tmp_path_factory):
    """Per master, grade the solution, the unanswered and a wrong notebook through `make grade`'s code path."""
    folder = tmp_path_factory.mktemp("submissions")
    for name in MASTERS:
        nb_dist = dist / name / "dist"
        solution = _notebook(nb_dist / "autograder" / f"{name}.ipynb")
        (folder / f"{name}-solution.ipynb").write_text(json.dumps(solution))
        (folder / f"{name}-unanswered.ipynb").write_text((nb_dist / "student" / f"{name}.ipynb").read_text())
        _, old, new = WRONG[name]
        hits = [c for c in solution["cells"] if c["cell_type"] == "code" and old in "".join(c["source"])]
        assert len(hits) == 1, f"{name}: the wrong-answer edit must match exactly one code cell"
        hits[0]["source"] = "".join(hits[0]["source"]).replace(old, new)
        (folder / f"{name}-wrong.ipynb").write_text(json.dumps(solution))
    otter_tools.main(["grade", str(folder), "--dist", str(dist)])
    with (folder / "grades.csv").open() as f:
        rows = {row["file"].removesuffix(".ipynb"): row for row in csv.DictReader(f)}
    return folder, rows


def _questions(dist, name):
    """``{question: points}`` of the autograded questions, from the autograder notebook's config."""
    meta = _notebook(dist / name / "dist" / "autograder" / f"{name}.ipynb")["metadata"]["otter"]["tests"]
    return {q: float(re.search(r"^points = ([\d.]+)", src, flags=re.MULTILINE).group(1)) for q, src in meta.items()}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_student_notebook_has_no_solution_and_no_hidden_test(dist, name):
    student_path = dist / name / "dist" / "student" / f"{name}.ipynb"
    student = _notebook(student_path)
    text = student_path.read_text()
    code = "\n".join(_code(student))
    solution_lines, hidden, public = _master_blocks(MASTERS[name])
    assert solution_lines and hidden and public, "the master has solutions, hidden and public tests"
    leaked = [line for line in solution_lines if line in code]
    assert not leaked, f"solution code in the student notebook: {leaked}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "# ASSIGNMENT CONFIG", "# BEGIN QUESTION",
                   "BEGIN TEST CONFIG", "Rubric", "Answer (example)", "hidden=True"):
        assert marker not in text, f"instructor material in the student notebook: {marker!r}"
    for test in hidden:
        assert test not in text, f"hidden test {test} is in the student notebook"
    embedded = "\n".join(student["metadata"]["otter"]["tests"].values())
    for test in public:
        assert f"def {test}(" in embedded, f"public test {test} should ship with the student notebook"
    assert all("..." in c for c in _code(student) if "def " in c and "grader" not in c), "answer cells are stubbed"


@pytest.mark.slow  # grades 9 notebooks once (about 100 s on 2 CPU cores) for all these tests
@pytest.mark.parametrize("name", sorted(WRONG))
def test_solution_gets_full_marks(dist, graded, name):
    _, rows = graded
    row, questions = rows[f"{name}-solution"], _questions(dist, name)
    assert set(questions) <= set(row), "a CSV column per autograded question"
    for q, points in questions.items():
        assert float(row[q]) == points, f"{q}: {row[q]} of {points}"
    assert float(row["total"]) == float(row["possible"]) == sum(questions.values())


@pytest.mark.slow  # grades 9 notebooks once (about 100 s on 2 CPU cores) for all these tests
@pytest.mark.parametrize("name", sorted(WRONG))
def test_unanswered_notebook_gets_zero(dist, graded, name):
    _, rows = graded
    row = rows[f"{name}-unanswered"]
    assert {q: float(row[q]) for q in _questions(dist, name)} == {q: 0.0 for q in _questions(dist, name)}
    assert float(row["total"]) == 0.0 and float(row["possible"]) > 0


@pytest.mark.slow  # grades 9 notebooks once (about 100 s on 2 CPU cores) for all these tests
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_passes_public_but_fails_hidden_tests(graded, name):
    folder, rows = graded
    question = WRONG[name][0]
    report = json.loads((folder / "results" / f"{name}-wrong.json").read_text())
    cases = report[question]["test_case_results"]
    public = [c for c in cases if not c["test_case"]["hidden"]]
    hidden = [c for c in cases if c["test_case"]["hidden"]]
    assert public and all(c["passed"] for c in public), "the wrong answer should pass the public tests"
    assert any(not c["passed"] for c in hidden), "the hidden tests must catch the wrong answer"
    full = float(rows[f"{name}-solution"][question])
    assert 0 < float(rows[f"{name}-wrong"][question]) < full, "partial credit: public points only"


@pytest.mark.slow
def test_grade_writes_one_csv(graded):
    folder, rows = graded
    with (folder / "grades.csv").open() as f:
        header = next(csv.reader(f))
    assert header[:2] == ["file", "assignment"] and header[-2:] == ["total", "possible"]
    assert {h for h in header[2:-2]} >= {"q1", "q2", "q3"}
    expected = {f"{n}-{kind}" for n in WRONG for kind in ("solution", "unanswered", "wrong")}
    assert set(rows) == expected, "one row per submission"
    assert all(rows[f"{n}-wrong"]["assignment"] == n for n in WRONG), "each notebook graded by its own autograder"
    assert all(0 < float(rows[f"{n}-wrong"]["total"]) < float(rows[f"{n}-solution"]["total"]) for n in WRONG)
