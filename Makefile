# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# torch first and pinned: an unpinned torchvision resolves to a build that does not match torch.
TORCH = torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: install demo test docs export clean

install:
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps -c constraints.txt facenet-pytorch  # its metadata pins an old torch; its needs are in settings.ini

# The main job: build the embedded sample data (cached in ~/.cache/resproto), train the tiny CLIP with VLRL + RL + GRP
# with one forgery method held out, evaluate every method and plot the prototype bank: runs/demo/ (a few minutes on a CPU).
demo: install
	rm -rf runs/demo
	resproto_demo --out runs --run_name demo

test: install
	nbdev_test --n_workers 2 --do_print --timing

# The docs artifact where Quarto is missing (nbdev_docs builds the site where it exists): every notebook executed
# and rendered to _docs/html/, two at a time, with the inline matplotlib backend (under Agg, pyplot figures would be
# missing from the pages); one line per notebook, "docs: ok NAME" or "docs: FAILED NAME".
DOCS_HTML = _docs/html
docs: install
	@rm -rf $(DOCS_HTML) && mkdir -p $(DOCS_HTML)/logs && cp -r nbs/images $(DOCS_HTML)/images
	@find nbs -name '*.ipynb' -not -path '*/[._]*' | sort | xargs -P 2 -n 1 sh -c '\
	  rel=$${1#nbs/}; name=$${rel%.ipynb}; log=$(DOCS_HTML)/logs/$$(echo "$$name" | tr / _).log; \
	  if MPLBACKEND=module://matplotlib_inline.backend_inline jupyter nbconvert --to html --execute \
	       --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 --output-dir "$(DOCS_HTML)/$$(dirname "$$rel")" "$$1" >"$$log" 2>&1; \
	  then echo "docs: ok $$name"; else echo "docs: FAILED $$name (log: $$log)"; tail -n 25 "$$log"; exit 1; fi' sh

export:
	nbdev_export && nbdev_clean && $(PYTHON) tools/readme.py

clean:
	rm -rf runs _docs _proc
