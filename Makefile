# lotterylab: two commands a user needs.
#   make book   - install everything into .venv, execute every chapter, build the HTML book strictly
#   make test   - install everything into .venv and run the whole test suite (incl. a strict book build)
# Other targets: make test-fast (everything but the book build, < 3 minutes), make test-gpu (the CUDA
# tests; skipped without CUDA), make notebooks (chapters as .ipynb for Jupyter/Colab), make lab (JupyterLab
# on them), make test-notebooks (run them in the student install), make reference CH=N (a chapter's
# paper-scale reference run), make bench, make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# The instructor's tools (make assignments / grade, and the assignment tests of make test).
INSTRUCTOR_STAMP := $(VENV)/.instructor-$(shell cat requirements.txt requirements-instructor.txt pyproject.toml | cksum | cut -d' ' -f1)
# What the executed chapters depend on besides their own code cells: a change empties the execution cache.
CODE_HASH := $(shell cat lotterylab/*.py requirements.txt _config.yml | cksum | cut -d' ' -f1)

# Chapters build with plain-text progress off, a non-interactive plot backend and the CPU threads set.
BOOK_ENV := LOTTERYLAB_PROGRESS=off MPLBACKEND=module://matplotlib_inline.backend_inline

# The browser test uses Debian's chromium (never a browser downloaded by Playwright).
CHROMIUM ?= /usr/bin/chromium

.PHONY: install book test test-fast test-gpu browser notebooks bench clean reference notebook-venv test-notebooks lab

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

book: $(STAMP)
	@if [ "$$(cat _build/.code-hash 2>/dev/null)" != "$(CODE_HASH)" ]; then rm -rf _build/.jupyter_cache; fi
	$(BOOK_ENV) $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "$(CODE_HASH)" > _build/.code-hash
	@echo "Open _build/html/index.html in a browser."

test: $(STAMP) $(INSTRUCTOR_STAMP) browser
	LOTTERYLAB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -rs tests/test_gpu.py

browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser test needs Chromium: run 'sudo apt-get install chromium', or pass CHROMIUM=/path/to/chromium."; \
	    exit 1; \
	  fi; }

# Student notebooks (issue 14). Conversion needs only jupytext, in a small venv of its own; the
# student install (`pip install -e ".[notebook]"`: the package, its runtime needs and JupyterLab, no
# book toolchain) lives in $(NB_VENV). `make test-notebooks` runs every notebook there, top to bottom.
CONVERT_VENV := _build/convert-venv
NB_VENV      := _build/notebook-venv
NB_STAMP     := $(NB_VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
LAB_STAMP    := $(VENV)/.lab-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)

notebooks:
	test -x $(CONVERT_VENV)/bin/python || $(PYTHON) -m venv $(CONVERT_VENV)
	$(CONVERT_VENV)/bin/python -c "import jupytext" 2>/dev/null || $(CONVERT_VENV)/bin/python -m pip install --quiet "jupytext>=1.16,<2"
	$(CONVERT_VENV)/bin/python scripts/notebooks.py convert book/[0-9]*.md
	@echo "Notebooks written next to the chapters: book/*.ipynb (open them with 'make lab', or on Colab)"

notebook-venv: $(NB_STAMP)

$(NB_STAMP): pyproject.toml
	test -x $(NB_VENV)/bin/python || $(PYTHON) -m venv $(NB_VENV)
	$(NB_VENV)/bin/python -m pip install --quiet -e ".[notebook]" -c requirements.txt
	rm -f $(NB_VENV)/.installed-*
	touch $@

# Every chapter notebook executed in the student install (quick preset, a real kernel), as the tests do.
test-notebooks: $(STAMP) $(NB_STAMP) browser
	LOTTERYLAB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m slow -k "student_install or jupyterlab" tests/test_notebooks.py tests/test_lab.py

# JupyterLab on the chapter notebooks, with the project's environment (.venv) as the kernel.
lab: $(STAMP) notebooks
	@test -f $(LAB_STAMP) || { $(BIN)/python -m pip install --quiet --no-build-isolation -e ".[notebook]" && rm -f $(VENV)/.lab-* && touch $(LAB_STAMP); }
	LOTTERYLAB_GLUE=off $(BIN)/jupyter lab --notebook-dir=book $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Reference runs (reference/chNN/, see lotterylab/reference): make reference CH=7. Resumable: stop it
# with Ctrl-C and run it again. It uses the GPU when there is one; in the background, prefix `nice`.
reference: $(STAMP)
	@test -n "$(CH)" || { echo "usage: make reference CH=<chapter>  (chapters with a reference: see lotterylab/reference/__init__.py)"; exit 2; }
	$(BIN)/python -m lotterylab.reference $(CH)

bench: $(STAMP)
	set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf _build

# Classroom edition (see book/instructor_guide.md):
#   make assignments                 - student notebooks and autograder zips, in _build/assignments/NAME/dist/
#   make grade SUBMISSIONS=folder    - grade every .ipynb in folder without Docker; writes folder/grades.csv
#   make book-student                - the book without exercise solutions, in _build/student/_build/html/
# The instructor's tools (Otter-Grader) install from requirements-instructor.txt into the same .venv
# (INSTRUCTOR_STAMP, defined at the top because `test` needs them too).

.PHONY: instructor assignments grade book-student

instructor: $(INSTRUCTOR_STAMP)

$(INSTRUCTOR_STAMP): $(STAMP) requirements-instructor.txt
	$(BIN)/python -m pip install --quiet -r requirements-instructor.txt
	rm -f $(VENV)/.instructor-*
	touch $@

assignments: $(INSTRUCTOR_STAMP)
	$(BIN)/python assignments/otter_tools.py build

grade: assignments
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make grade SUBMISSIONS=folder-of-submitted-notebooks"; exit 2; }
	$(BIN)/python assignments/otter_tools.py grade "$(SUBMISSIONS)"

# Reuses the execution cache of `make book` (same code cells), so no chapter runs twice.
book-student: book
	$(BOOK_ENV) $(BIN)/python assignments/student_book.py
