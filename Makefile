# The two commands of the README:
#   make course   set up .venv, execute every course notebook headless (timed), then open JupyterLab
#   make test     set up .venv and run the whole test suite (unit tests + nbval over notebooks/)
#   make site     the course as a static website in site/ (executed notebooks + docs/)
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# make benchmark runs cells on every core (override: make benchmark WORKERS=1)
WORKERS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)

.PHONY: setup course test site benchmark experts clean-outputs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

course: setup
	$(BIN)/python -m illab course --out runs/course
	@if [ -z "$$CI" ] && [ -t 1 ]; then $(BIN)/jupyter lab notebooks/00_tour.ipynb; \
	else echo "Open the course with: $(BIN)/jupyter lab notebooks/00_tour.ipynb"; fi

test: setup
	# one pytest worker per core; --dist loadfile keeps each notebook's cells (and each test file) on one worker
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -n $(WORKERS) --dist loadfile \
	    --ignore=tests/test_browser.py $(PYTEST_ARGS)
	# the real-browser tests last, alone: beside the parallel suite JupyterLab's kernel connection can
	# drop under load and a Run All is lost (seen once on 23 Nov: 04's kernel never started a cell)
	$(BIN)/python -m pytest tests/test_browser.py $(PYTEST_ARGS)

# The course as a website: execute every notebook (as `make course`), render them and docs/ to site/
site: setup
	$(BIN)/python -m pip install -q -e ".[site]"
	$(BIN)/python -m illab course --out runs/course
	$(BIN)/python tools/build_site.py --executed runs/course --out site

# five resumable tables of one protocol, every bundled expert × 3 seeds (BC, BCO, DAgger; GAIL; inverse RL;
# the observation-only family; off-policy imitation), then one BENCHMARKS.md with every method as a column
benchmark: setup
	$(BIN)/python -m illab benchmark --out results/ --methods bc bco dagger --workers $(WORKERS) --quiet
	$(BIN)/python -m illab benchmark --out results/adversarial --methods gail --data results/data --workers $(WORKERS) --quiet
	$(BIN)/python -m illab benchmark --out results/irl --methods airl gcl appl --data results/data --workers $(WORKERS) --quiet
	$(BIN)/python -m illab benchmark --out results/observation --methods abco iupe --data results/data --workers $(WORKERS) --quiet
	$(BIN)/python -m illab benchmark --out results/offpolicy --methods sqil iqlearn --data results/data --workers $(WORKERS) --quiet
	$(BIN)/python -m illab benchmark --merge results results/adversarial results/irl results/observation results/offpolicy \
	    --markdown BENCHMARKS.md

experts: setup
	$(BIN)/python -m illab.experts.train cartpole acrobot mountaincar pendulum mountaincar-continuous \
	    lunarlander lunarlander-continuous hopper cheetah walker swimmer ant --resume
