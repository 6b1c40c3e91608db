# The README's commands. `make book` and `make test` set everything up from nothing:
# a virtual environment with the pinned dependencies, the offline data, then their job.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
STAMP := $(VENV)/.installed-stamp
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup data browser book test test-fast run params bench rehearsal clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

setup: $(STAMP) data

# Fashion-MNIST from Debian's package (installed here when running as root).
data:
	@if [ ! -e $(FASHION_MNIST) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Fashion-MNIST (Debian package dataset-fashion-mnist)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "NOTE: Fashion-MNIST is not installed. Run 'sudo apt-get install dataset-fashion-mnist'," \
	         "or set REPCHANGE_DATA to a folder with its idx files; notebooks that need it will stop with this advice."; \
	  fi; \
	fi

# Chromium for the browser check of the built book (tests/test_book_check.py, `repchange check-book`).
browser:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Chromium (Debian package chromium) for the browser check of the book"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "NOTE: Chromium is not installed ('sudo apt-get install chromium'); the browser checks of the book are skipped."; \
	  fi; \
	fi

book: setup
	$(PY) -m repchange book --profile $(PROFILE)

# One worker per core, each taking whole test files (the notebook tier's first: tests/conftest.py).
test: setup browser
	$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder

# The paper profile's code paths on miniature data in the real formats (repchange.book.rehearsal), before a GPU run.
REHEARSAL := $(abspath runs/rehearsal)
rehearsal: setup
	$(PY) -m repchange rehearsal-data $(REHEARSAL)
	REPCHANGE_DATA=$(REHEARSAL)/data TORCH_HOME=$(REHEARSAL)/torch REPCHANGE_STORE=$(REHEARSAL)/store \
	  $(PY) -m repchange book --profile rehearsal --out _build/rehearsal

# The fast tier while editing (about 2 minutes): unit tests without the notebook and slow ones.
test-fast: setup
	$(PY) -m pytest -n auto --dist loadfile -m "not notebook and not slow" -q

# make run NB=notebooks/a1_cka_pretraining.py PROFILE=smoke PARAMS="-p a_pretrain_epochs 3"
run: setup
	@test -n "$(NB)" || (echo "usage: make run NB=notebooks/<name>.py [PROFILE=smoke] [PARAMS='-p name value']"; exit 2)
	$(PY) -m repchange run $(NB) --profile $(PROFILE) $(PARAMS)

params: setup
	@test -n "$(NB)" || (echo "usage: make params NB=notebooks/<name>.py"; exit 2)
	$(PY) -m repchange params $(NB)

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf _build runs/notebooks
