"""Settings: every field documented in the README, and the verb that shows them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from assistant.cli import app
from assistant.config import Settings, env_name, settings_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- settings table:.*?-->\n(.*?)<!-- end of settings table -->", text, re.S)
    assert match, "README.md has no generated settings table"
    return match.group(1)


def test_the_readme_settings_table_is_current():
    assert _readme_table() == settings_markdown(), "run `aq-coach settings --markdown` and paste it into README.md"


def test_every_field_is_described_and_in_the_readme():
    table = _readme_table()
    for name, field in Settings.model_fields.items():
        assert (field.description or "").strip(), f"{name} has no description"
        assert f"`{env_name(name)}`" in table


def test_no_setting_is_read_around_settings():
    # Every AQ_* variable the package reads is a Settings field.
    package = Path(__file__).resolve().parents[1] / "assistant"
    fields = {env_name(n) for n in Settings.model_fields}
    for path in package.rglob("*.py"):
        for var in re.findall(r"""environ(?:\.get)?[\[(]\s*["'](AQ_[A-Z_]+)""", path.read_text(encoding="utf-8")):
            assert var in fields, f"{path.name} reads {var} outside Settings"


def test_settings_verb_shows_what_differs_and_hides_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("AQ_K", "7")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("AQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    assert "sk-secret-value" not in result.output
    rows = {r["variable"]: r for r in json.loads(result.output)["settings"]}
    assert rows["AQ_K"] == {"variable": "AQ_K", "value": "7", "changed": True}
    assert rows["OPENAI_API_KEY"]["changed"] and rows["OPENAI_API_KEY"]["value"] == "(set)"
    assert not rows["AQ_CHUNK_SIZE"]["changed"]
    human = CliRunner().invoke(app, ["settings"])
    assert human.exit_code == 0 and "AQ_K" in human.output and "sk-secret-value" not in human.output


def test_stray_variables_are_fields(monkeypatch):
    monkeypatch.setenv("AQ_EVAL_LLM_JUDGE", "1")
    monkeypatch.setenv("AQ_BENCH_TRIVIAL_STREAM", "3")
    settings = Settings()
    assert settings.eval_llm_judge is True and settings.bench_trivial_stream == 3
