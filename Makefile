# Two commands do everything:  `make book`  and  `make test`.
# Both first create .venv from requirements-lock.txt (when missing or stale).

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.dnalib-installed
BOOK_DIR    ?= .
BOOK_FLAGS  := -W -n --keep-going
PYTEST_ARGS ?=

# Offline machines: use the local data mirror next to the repository when there
# is one and the caller did not choose a mirror.
ifeq ($(origin DNALIB_DATA_MIRROR), undefined)
ifneq ($(wildcard ../shared/data/SHA256SUMS),)
export DNALIB_DATA_MIRROR := $(abspath ../shared/data)
endif
endif

.PHONY: help env book test lab student colab grade clean-book lock

help:
	@echo "make book   set up .venv and build the book (executes every chapter) -> _build/html/index.html"
	@echo "make test   set up .venv and run the whole test suite"
	@echo "make lab    set up .venv and open JupyterLab on the notebooks (DIR=student: the student copies)"
	@echo "make student  write student copies of the chapters (solutions removed) to student/"
	@echo "make colab  write the Colab copies of the chapters to colab/ (committed; after editing a chapter)"
	@echo "make grade SUBMISSIONS=dir  table of the exercise checks of submitted notebooks (a folder per student)"
	@echo "make env    only set up .venv"
	@echo "make lock   re-resolve requirements-lock.txt and environment.yml from pyproject.toml"

# The virtualenv is rebuilt when the lock or pyproject.toml is newer than it.
$(STAMP): requirements-lock.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "environment ready: $(VENV)"

env: $(STAMP)

book: $(STAMP)
	$(BIN)/python .ci/vendor_js.py $(BOOK_DIR)/book/_vendor
	$(BIN)/jupyter-book build $(BOOK_DIR) $(BOOK_FLAGS)
	@echo "book built: $(abspath $(BOOK_DIR))/_build/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

STUDENT_DIR ?= student

student: $(STAMP)
	$(BIN)/python -m dnalib.classroom notebooks $(STUDENT_DIR)

# The Colab copies (plain Markdown, no solutions) are committed: Colab opens them from GitHub.
# Run after editing a chapter; tests/test_colab_copies.py fails while one is out of date.
colab: $(STAMP)
	$(BIN)/python -m dnalib.classroom colab notebooks colab

SUBMISSIONS ?= submissions

grade: $(STAMP)
	$(BIN)/python -m dnalib.classroom grade $(SUBMISSIONS) --chapters notebooks

# `make lab` opens the chapters (the instructors' copies, MyST rendered by jupyterlab-myst);
# `make lab DIR=student` the student copies (written by `make student` when missing).
# JupyterLab refuses to run as root without --allow-root; root is the default user of
# many containers, so it is added there.
DIR       ?= notebooks
LAB_FLAGS ?=
ifeq ($(shell id -u 2>/dev/null),0)
LAB_ROOT  := --allow-root
endif

lab: $(STAMP)
	@if [ "$(DIR)" = "$(STUDENT_DIR)" ] && [ ! -d "$(DIR)" ]; then $(MAKE) --no-print-directory student; fi
	@test -d "$(DIR)" || { echo "make lab: no folder $(DIR): DIR=notebooks (the chapters) or DIR=$(STUDENT_DIR) (the student copies)" >&2; exit 2; }
	$(BIN)/jupyter lab $(LAB_ROOT) $(LAB_FLAGS) $(DIR)

clean-book:
	rm -rf _build

lock:
	bash .ci/update-lock
