# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,notebooks,app,cluster

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pets demo

test: $(STAMP)
	$(PY) -m pytest -q tests notebooks --nbval-lax --nbval-current-env

bench: $(STAMP)
	$(VENV)/bin/pets bench overhead

clean:
	rm -rf $(VENV) .pytest_cache
