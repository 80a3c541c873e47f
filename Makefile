# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,notebooks,app,cluster,server

.PHONY: demo test bench install clean dashboard chromium screenshots gpu-check data

# The VADER corpus (Hutto & Gilbert, ICWSM 2014) inside the vaderSentiment sdist, from PyPI.
DATA   := .cache/pets-data/vaderSentiment-3.3.2.tar.gz

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

$(DATA): | $(STAMP)
	$(VENV)/bin/pets data fetch --dir $(dir $(DATA))

data: $(DATA)

demo: $(STAMP) $(DATA)
	$(VENV)/bin/pets demo

test: $(STAMP) chromium $(DATA)
	$(PY) -m pytest -q tests notebooks --nbval-lax --nbval-current-env

screenshots: $(STAMP) chromium
	PETS_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/app/test_e2e.py -s

dashboard: $(STAMP)
	$(VENV)/bin/streamlit run app/Home.py

# The dashboard's browser test (tests/app/test_e2e.py) drives the Debian chromium with Playwright;
# nothing is downloaded by Playwright itself. Without root the test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium) \
	      || echo "make: could not apt-get install chromium; the e2e dashboard test will skip"; \
	  else \
	    echo "make: chromium is missing and we are not root: run 'sudo apt-get install chromium'" \
	         "to enable the e2e dashboard test (it skips meanwhile)"; \
	  fi; }

bench: $(STAMP)
	$(VENV)/bin/pets bench overhead

clean:
	rm -rf $(VENV) .pytest_cache

# On a machine with an NVIDIA GPU: the gpu-marked tests, then the paper-scale benchmarks in bf16,
# each writing docs/results/<gpu>/<bench>.csv (about 8 minutes on one H200).
GPU_BENCHES ?= overhead systems throughput breakdown streams batching
gpu-check: $(STAMP)
	$(PY) -m pytest -q -m gpu tests -p no:cacheprovider
	for b in $(GPU_BENCHES); do \
	  $(VENV)/bin/pets bench $$b --scale paper --device cuda --dtype bfloat16 --refresh-committed || exit 1; \
	done
