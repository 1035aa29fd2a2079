# gradkit: set-up and the everyday commands. See README.md.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch is installed only when missing, so a GPU user's CUDA build is kept.
# The default is a CPU wheel on the course machines; override it, e.g.
#   make install TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
TORCH_SPEC ?= torch==2.13.0

.PHONY: install install-dev system-deps hub-deps hub demo test test-all test-a5 test-floors bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# system-deps: Debian's bubblewrap, the grader's sandbox for student kernels (see
# autograder/README.md). Installed only when missing and only as root with apt-get;
# without it the grader falls back to a weaker isolation mode and says so.
system-deps:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq bubblewrap) \
	  || echo "note: bubblewrap (bwrap) is not installed; grading uses a weaker sandbox"; }

install: $(PY) system-deps
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e .

install-dev: $(PY) system-deps hub-deps
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[dev]"

# hub-deps: JupyterHub's configurable-http-proxy from npm, into autograder/hub_proxy/
# (from its package-lock.json), unless one is on PATH. `gradkit hub start` does the same
# when it finds none.
HUB_PROXY := autograder/hub_proxy/node_modules/.bin/configurable-http-proxy
hub-deps:
	@command -v configurable-http-proxy >/dev/null || test -x $(HUB_PROXY) || { command -v npm >/dev/null \
	  && (cd autograder/hub_proxy && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)) \
	  || echo "note: npm is missing; the course hub needs Node.js and npm for configurable-http-proxy"; }

# hub: the course hub (course/hub_guide.md): JupyterHub for c.CourseHub in
# course/nbgrader_config.py and course/roster.csv. Needs root; `gradkit hub stop` ends it.
hub: install hub-deps
	$(PIP) install --quiet -e ".[hub]"
	$(VENV)/bin/gradkit hub start

demo: install
	$(VENV)/bin/gradkit demo

# test: the everyday tier, under 5 minutes on 2 cores: the library's numpy layer, the
# grader's units and one class graded end to end in the sandbox through `gradkit`
# (tests/autograder/integration/test_grade_end_to_end.py), and a term on the course hub
# (test_course_hub.py: needs root, as on CI). Tests marked `slow` (Ray
# training, every assignment's verify, the integrity corpora, the browser, two nodes)
# and `a5_grading` are left to test-all.
test: install-dev
	$(PY) -m pytest -m "not slow and not a5_grading"

# test-all: everything, a5's graded runs included (each a5 kernel starts its own Ray);
# 25-32 minutes on 2 cores. CI runs it (.ci/run, after `make browser-deps`). Elsewhere the browser
# tests skip, saying why, unless `make browser-deps` has run; with CI set they fail instead.
test-all: install-dev
	$(PY) -m pytest -m ""

# test-a5: only a5_distributed_ray's graded runs (gradkit verify: reference, blank and the
# stored wrong answers, and tests/assignments/test_a5_grading.py), about 6 minutes.
test-a5: install-dev
	$(PY) -m pytest -m a5_grading

# test-floors: the numpy-only core layer (autodiff, nn, optim, data) at the oldest
# versions pyproject.toml promises, in its own venv. The constraints pin each package of
# FLOORS_PACKAGES to its floor (`numpy>=1.25` -> `numpy==1.25`); torch comes along only
# as the tests' oracle, at TORCH_SPEC. The kit is used from lib/, not installed.
FLOORS_VENV    ?= .venv-floors
FLOORS_PY      := $(FLOORS_VENV)/bin/python
FLOORS_PACKAGES = numpy matplotlib pytest hypothesis
FLOORS_TESTS    = tests/lib/test_value.py tests/lib/test_dual.py tests/lib/test_numerical.py \
                  tests/lib/test_jacobian.py tests/lib/test_tensor_ops.py tests/lib/test_tensor_errors.py \
                  tests/lib/test_nn.py tests/lib/test_optim.py tests/lib/test_data.py
define FLOORS_CONSTRAINTS
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
floors = {}
for spec in specs:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?>=([0-9][^,;\s]*)", spec.strip())
    if match:
        floors[match[1].lower()] = match[3]
missing = [name for name in sys.argv[1:] if name not in floors]
if missing:
    sys.exit(f"test-floors: pyproject.toml gives no floor for {missing}")
print("\n".join(f"{name}=={floors[name]}" for name in sys.argv[1:]))
endef
export FLOORS_CONSTRAINTS

test-floors:
	test -x $(FLOORS_PY) || $(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_PY) -c "$$FLOORS_CONSTRAINTS" $(FLOORS_PACKAGES) > $(FLOORS_VENV)/constraints.txt
	cat $(FLOORS_VENV)/constraints.txt
	$(FLOORS_PY) -m pip install --quiet -c $(FLOORS_VENV)/constraints.txt $(FLOORS_PACKAGES) "$(TORCH_SPEC)"
	cd lib && ../$(FLOORS_PY) -c "import numpy, matplotlib; print('numpy', numpy.__version__, 'matplotlib', matplotlib.__version__)"
	PYTHONPATH=lib $(FLOORS_PY) -m pytest -q -p no:cacheprovider -m "not slow" $(FLOORS_TESTS)

# browser-deps: what the browser tests (test_browser_student.py, test_browser_hub.py) need: Debian's chromium (installed
# only when /usr/bin/chromium is missing; needs root, as on CI) and playwright-core from
# npm in tests/support/browser/ (no browser download: the test drives the system chromium).
.PHONY: browser-deps
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	cd tests/support/browser && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build dist lib/*.egg-info .pytest_cache .hypothesis out
