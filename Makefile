# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# torch first and pinned: an unpinned torchvision resolves to a build that does not match torch.
TORCH = torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: install demo test export clean

install:
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -c constraints.txt -e ".[dev]"

demo: install
	resproto_smoke --out runs/smoke

test: install
	nbdev_test --n_workers 2 --do_print --timing

export:
	nbdev_export && nbdev_clean && $(PYTHON) tools/readme.py

clean:
	rm -rf runs _docs _proc
