# Two commands set up everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first, pinned, from the local CPU wheel when the machine has one: an unpinned torch
# (or one pulled in by sentence-transformers) would be a multi-GB CUDA build.
TORCH := torch==2.13.0
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := $(if $(WHEELS),--find-links $(WHEELS),)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: install run serve ingest test test-fast lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_FLAGS) $(TORCH)
	$(BIN)/pip install -q $(PIP_FLAGS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

ingest: install
	$(BIN)/newsrag ingest

run: install
	$(BIN)/newsrag ingest || echo "some articles failed to ingest (see above); serving the rest"
	$(BIN)/newsrag serve

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not server"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) .newsrag
