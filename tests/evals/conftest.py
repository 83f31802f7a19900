"""Fixtures for the eval tests: the shipped suite run once per session over the real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "evals" / "datasets"
JUDGES = ROOT / "evals" / "judges"


def eval_env(settings) -> dict:
    """Environment for `aq-coach eval` over an indexed data dir (nothing from the developer's shell)."""
    return {"AQ_DATA_DIR": str(settings.data_dir), "AQ_CORPUS_DIR": str(settings.corpus_dir), "AQ_BACKEND": "composer",
            "AQ_EVAL_LLM_JUDGE": None, "OPENAI_BASE_URL": None, "OPENAI_API_KEY": None, "AQ_K": None}


def invoke_eval(args: list[str], env: dict):
    from typer.testing import CliRunner

    from assistant.cli import app

    return CliRunner().invoke(app, ["eval", *args], env=env)


@pytest.fixture(scope="session")
def shipped_eval(indexed_settings, tmp_path_factory):
    """`aq-coach eval --json` on the shipped suite, composer backend, real index: run once."""
    report = tmp_path_factory.mktemp("shipped-report")
    result = invoke_eval(["--json", "--backend", "composer", "--report", str(report)], eval_env(indexed_settings))
    payload = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    data = json.loads((report / "report.json").read_text(encoding="utf-8")) if (report / "report.json").exists() else None
    return {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr, "payload": payload,
            "report": data, "dir": report, "exception": result.exception}


@pytest.fixture
def run_cli(indexed_settings):
    """Call `aq-coach eval ARGS` over the session's real index; returns the CliRunner result."""
    env = eval_env(indexed_settings)
    return lambda args: invoke_eval(args, env)
