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

# Until the embedded demo data lands: a short training run of the tiny CLIP on a generated FF++-layout tree.
demo: install
	rm -rf runs/smoke
	$(PYTHON) -c "from resproto.data.testing import make_ffpp_splits; make_ffpp_splits('runs/smoke-data/FaceForensics++', frames=4, size=64, methods=('Deepfakes', 'FaceSwap'))"
	resproto_train --backbone resproto-tiny --pretrained none --data_root runs/smoke-data --manipu_type Deepfakes,FaceSwap \
	  --test_dataset FF++ --train_batch_size 8 --max_epoch 3 --start_epoch 1 --pts_num 16 --cluster_param 2 --lr 1e-3 \
	  --num_workers 0 --results_dir runs --run_name smoke

test: install
	nbdev_test --n_workers 2 --do_print --timing

# The docs artifact where Quarto is missing (nbdev_docs builds the site where it exists): every notebook executed
# and rendered to _docs/html/, two at a time, with the inline matplotlib backend (under Agg, pyplot figures would be
# missing from the pages); one line per notebook, "docs: ok NAME" or "docs: FAILED NAME".
DOCS_HTML = _docs/html
docs: install
	@rm -rf $(DOCS_HTML) && mkdir -p $(DOCS_HTML)/logs
	@find nbs -name '*.ipynb' -not -path '*/[._]*' | sort | xargs -P 2 -n 1 sh -c '\
	  rel=$${1#nbs/}; name=$${rel%.ipynb}; log=$(DOCS_HTML)/logs/$$(echo "$$name" | tr / _).log; \
	  if MPLBACKEND=module://matplotlib_inline.backend_inline jupyter nbconvert --to html --execute \
	       --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 --output-dir "$(DOCS_HTML)/$$(dirname "$$rel")" "$$1" >"$$log" 2>&1; \
	  then echo "docs: ok $$name"; else echo "docs: FAILED $$name (log: $$log)"; tail -n 25 "$$log"; exit 1; fi' sh

export:
	nbdev_export && nbdev_clean && $(PYTHON) tools/readme.py

clean:
	rm -rf runs _docs _proc
