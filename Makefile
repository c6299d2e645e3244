# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite, docs rendered as it runs).
#
# Where things are installed: the active virtual environment or conda environment if there is one, else a project
# environment .venv/ made with $(PYTHON) (`make PYTHON=python3.12 test` chooses the interpreter). Nothing is installed
# into the system Python. Installation runs once and again only when settings.ini, setup.py or constraints.txt change.
PYTHON ?= python3
ifdef VIRTUAL_ENV
  ENV := $(VIRTUAL_ENV)
else ifdef CONDA_PREFIX
  ENV := $(CONDA_PREFIX)
else
  ENV := .venv
endif
BIN := $(ENV)/bin
PY := $(BIN)/python
STAMP := $(ENV)/.resproto-installed
# The environment's console scripts (resproto_train, ...) and python first on PATH, for the notebooks' subprocesses too.
export PATH := $(abspath $(BIN)):$(PATH)
# The CPU build of torch for machines with no GPU (CI): `make TORCH_INDEX=https://download.pytorch.org/whl/cpu install`.
TORCH_INDEX ?=
export HF_HUB_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: install demo test browser-test check lab docs export clean where outputs

where:
	@echo "resproto: Python environment $(ENV)/ ($$($(PY) --version 2>/dev/null || echo 'not made yet: make install'))"

# A stock Debian/Ubuntu Python may lack ensurepip (package python3-venv): then the environment is made without pip and
# the system pip installs pip into it (pip >= 22.3 can target another interpreter), which PEP 668 allows.
$(PY):
	@echo "resproto: making the virtual environment $(ENV)/ with $(PYTHON)"
	@$(PYTHON) -m venv $(ENV) 2>/dev/null || { rm -rf $(ENV) && $(PYTHON) -m venv --without-pip $(ENV) && \
	  $(PYTHON) -m pip --python $(PY) install -q pip; } || { rm -rf $(ENV); \
	  echo "resproto: cannot make a virtual environment with $(PYTHON): install python3-venv (apt) or pass PYTHON=/path/to/python3.11+"; exit 1; }

# torch and torchvision first, at the versions constraints.txt pins (an unpinned torchvision resolves to a build that
# does not match torch); facenet-pytorch's metadata pins an old torch, so it goes in with --no-deps (its needs are in
# settings.ini).
$(STAMP): settings.ini setup.py constraints.txt | $(PY)
	@echo "resproto: installing into $(ENV)/"
	$(PY) -m pip install -q -c constraints.txt torch torchvision $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m pip install -q --no-deps -c constraints.txt facenet-pytorch
	@touch $@

install: $(STAMP) where

# The main job: build the embedded sample data (cached in ~/.cache/resproto), train the tiny CLIP with VLRL + RL + GRP
# with one forgery method held out, evaluate every method and plot the prototype bank: runs/demo/ (a few minutes on a CPU).
demo: install
	rm -rf runs/demo
	$(BIN)/resproto_demo --out runs --run_name demo

# Every notebook executed once, two at a time: its tests run, and the executed notebook is rendered to _docs/html/.
# One line per notebook ("test: ok NAME" / "test: FAILED NAME"), then "N passed, N failed".
test: install
	$(PY) tools/nbtest.py --n_workers 2

# The prototype explorer in headless Chromium (report.html as a file, the widget in JupyterLab) on the demo's run;
# one line per check, screenshots in _docs/browser/; "browser: skipped" where no browser is installed (apt-get install -y chromium).
browser-test: install
	@[ -d runs/demo ] || { echo "browser-test: runs/demo is missing: make demo first"; exit 1; }
	@$(PY) tools/browser_test.py runs/demo; rc=$$?; if [ $$rc -eq 77 ]; then echo "browser: skipped"; exit 0; fi; exit $$rc

# The figure notebooks and the tutorial are committed with their outputs, so that they read on GitHub: run this after
# changing one of them (the tests run them again either way; this only writes the outputs back).
FIGURE_NOTEBOOKS = nbs/07_distortions.ipynb nbs/18_viz_bank.ipynb nbs/18b_viz_eval.ipynb nbs/19_viz_report.ipynb nbs/tutorials/explore_prototypes.ipynb
outputs: install
	$(PY) tools/nbtest.py --no_docs --save_outputs --n_workers 1 --path $(FIGURE_NOTEBOOKS)

# What CI checks besides the tests: the package is the notebooks' export, the notebooks are clean, the README is the
# index notebook's, and the package passes the linter (ruff.toml).
check: install
	@$(BIN)/nbdev_export && git diff --exit-code --stat -- resproto || { echo "check: run nbdev_export and commit the package"; exit 1; }
	@$(BIN)/nbdev_clean && git diff --exit-code --stat -- nbs || { echo "check: run nbdev_clean and commit the notebooks"; exit 1; }
	@$(PY) tools/readme.py --check
	@$(BIN)/ruff check
	@echo "check: ok"

# JupyterLab on the project (where the prototype explorer runs); `make demo` first makes the run it opens.
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=. nbs/tutorials/explore_prototypes.ipynb

# The docs without running the tests' bookkeeping: the same renderer as `make test`. `nbdev_docs` builds the Quarto
# site where Quarto is installed.
docs: test

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean && $(PY) tools/readme.py

clean:
	rm -rf runs _docs _proc
