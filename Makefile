# gradkit: set-up and the everyday commands. See README.md.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch is installed only when missing, so a GPU user's CUDA build is kept.
# The default is a CPU wheel on the course machines; override it, e.g.
#   make install TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
TORCH_SPEC ?= torch==2.13.0

.PHONY: install install-dev demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e .

install-dev: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[dev]"

demo: install
	$(VENV)/bin/gradkit demo

test: install-dev
	$(PY) -m pytest

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build dist lib/*.egg-info .pytest_cache .hypothesis out
