# Two commands do everything on a fresh machine (each creates .venv when missing):
#   make demo   train a small model on the bundled data, propagate masks, write figures + metrics
#               (make demo QUICK=1: use the shipped tutorial checkpoint instead of training)
#   make test   every check CI runs
# TORCH picks the torch build: the default CPU release; on a GPU machine e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
TORCH ?= torch==2.13.0
OUT   ?= out
export OMP_NUM_THREADS ?= 2

.PHONY: demo test install readme docs clean browser

$(VENV)/.installed: setup.py settings.ini pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/contrastcorr demo --out $(OUT) $(if $(QUICK),--quick)

# Debian's chromium for the real-browser widget test (tests/test_browser.py); without root or apt the test skips
# itself and says why.
browser: $(VENV)/.installed
	VENV=$(VENV) bash tools/ci_browser_setup.sh || echo "warning: chromium/playwright not installed: the browser test will skip"

test: $(VENV)/.installed browser
	@echo "== notebooks clean and library in sync (nbdev_clean and nbdev_export change nothing)"
	@git status --porcelain > .git/state-before; git diff >> .git/state-before
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	@git status --porcelain > .git/state-after; git diff >> .git/state-after
	@cmp -s .git/state-before .git/state-after || { git status --porcelain; git diff --stat; echo "nbdev_clean/nbdev_export changed files: run them and commit"; exit 1; }
	@echo "== README in step with nbs/index.ipynb"
	$(PY) tools/readme.py --check
	@echo "== lint: ruff (120 columns, pyflakes, import order; notebooks included)"
	$(BIN)/ruff check .
	@$(PY) -c 'import torch; print("== this CPU: torch.backends.cpu.get_cpu_capability() =", torch.backends.cpu.get_cpu_capability())'
	@echo "== execute every notebook"
	$(BIN)/nbdev_test --n_workers 2 --timing
	@echo "== pytest"
	$(BIN)/pytest tests/ -q -rs -p no:cacheprovider
	@echo "== the numeric tests again with the CPU kernels forced down (AVX2, then no vector extensions)"
	VENV=$(VENV) bash tools/ci_legs.sh
	@echo "== the pip user's path: the wheel alone runs the tutorials and the demo"
	VENV=$(VENV) TORCH="$(TORCH)" bash tools/ci_wheel.sh

readme: $(VENV)/.installed
	$(PY) tools/readme.py

docs: $(VENV)/.installed
	$(PY) tools/docs.py --out _docs

clean:
	rm -rf $(VENV) $(OUT) _docs _proc
