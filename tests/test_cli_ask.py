"""`aq-coach ask` and `aq-coach chat`, driven through typer's CliRunner over the real index.

AQ_DATA_DIR / AQ_CORPUS_DIR point at the session's real embedded Chroma (conftest), so the CLI
builds its own service exactly as a user's shell would.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
from helpers import judge_framing
from typer.testing import CliRunner

from assistant.cli import app


@pytest.fixture
def cli(monkeypatch, indexed_settings):
    monkeypatch.setenv("AQ_DATA_DIR", str(indexed_settings.data_dir))
    monkeypatch.setenv("AQ_CORPUS_DIR", str(indexed_settings.corpus_dir))
    runner = CliRunner()

    def run(*args, input=None):
        result = runner.invoke(app, list(args), input=input)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        return result

    return run


def _json(result) -> dict:
    return json.loads(result.stdout)


def test_ask_json_has_the_documented_keys(cli):
    r = cli("ask", "--json", "Is coordination the reason elite sprinters are so fast?")
    assert r.exit_code == 0, r.output
    data = _json(r)
    assert {"answer", "sources", "backend", "guard"} <= set(data)
    assert data["backend"] == "composer"
    assert data["sources"] and {"id", "section", "excerpt"} <= set(data["sources"][0])
    assert data["guard"]["verdict"] == "pass" and data["guard"]["action"] == "passed"
    assert judge_framing(data["answer"]).verdict == "pass"


def test_ask_prints_the_answer_and_numbered_sources_for_people(cli):
    r = cli("ask", "What is contributor timing?")
    assert r.exit_code == 0, r.output
    assert "contributor timing" in r.stdout
    assert "Sources:" in r.stdout and "[1]" in r.stdout


@pytest.mark.parametrize("question", ["", "   ", "\t"])
def test_empty_question_exits_2_with_a_clear_message(cli, question):
    r = cli("ask", question)
    assert r.exit_code == 2
    assert "question is empty" in r.stderr
    assert r.stdout == ""


def test_empty_question_with_json_reports_an_error_object(cli):
    r = cli("ask", "--json", " ")
    assert r.exit_code == 2
    assert "empty" in _json(r)["error"]


def test_very_long_question_is_shortened_with_a_notice(cli):
    q = "Why does my sprint feel heavy and rushed? " + "x" * 100_000
    r = cli("ask", "--json", q)
    assert r.exit_code == 0, r.output[-2000:]
    data = _json(r)
    assert any("very long" in n for n in data["notices"])
    assert len(data["question"]) <= 2000
    assert data["answer"]


def test_history_file_resolves_a_follow_up(cli, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([
        {"role": "user", "content": "Why does my sprint feel off?"},
        {"role": "assistant", "content": "AQ suggests important sprint-system relationships may become disrupted."},
    ]), encoding="utf-8")
    r = cli("ask", "--json", "--history", str(history), "How do I fix that?")
    assert r.exit_code == 0, r.output
    data = _json(r)
    assert "feel off" in data["question"]
    assert data["sources"]
    assert "may need to" in data["answer"] or "focuses on improving" in data["answer"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "not valid JSON"),
    ('{"role": "user", "content": "hi"}', "must be a JSON list"),
    ('[{"role": "user"}]', "must be a JSON list"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_bad_history_file_exits_2(cli, tmp_path, content, message):
    path = tmp_path / "history.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    r = cli("ask", "--history", str(path), "How do I fix that?")
    assert r.exit_code == 2
    assert message in r.stderr


def test_unknown_backend_exits_2(cli):
    r = cli("ask", "--backend", "gpt-99", "What is contributor timing?")
    assert r.exit_code == 2
    assert "unknown backend" in r.stderr


def test_out_of_scope_question_has_no_sources(cli):
    r = cli("ask", "--json", "I pulled my hamstring, how do I rehab it?")
    assert r.exit_code == 0
    data = _json(r)
    assert data["sources"] == [] and "professional" in data["answer"]


def test_openai_backend_that_is_down_falls_back_with_a_notice(cli, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("AQ_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("AQ_LLM_TIMEOUT_S", "3")
    r = cli("ask", "--json", "--backend", "openai", "Does better coordination make you faster?")
    assert r.exit_code == 0, r.output
    data = _json(r)
    assert data["guard"]["action"] == "fallback"
    assert data["backend"] == "composer (fallback from openai)"
    assert any("could not be reached" in n for n in data["notices"])


def test_chat_json_answers_each_line_with_history(cli):
    r = cli("chat", "--json", input="Why does my sprint feel off?\n\nHow do I fix that?\n/quit\nignored after quit\n")
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2
    first, second = lines
    assert re.search(r"\bfeel", first["answer"])  # a feel answer speaks to the feeling
    assert first["sources"] and second["sources"]
    # the second turn was resolved against the first
    assert "feel off" in second["question"] and "fix" in second["question"]
    assert second["intent"] == "training"
    for data in lines:
        assert judge_framing(data["answer"]).verdict == "pass"


def test_chat_new_forgets_the_conversation(cli):
    r = cli("chat", "--json", input="Why does my sprint feel off?\n/new\nHow do I fix that?\n")
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[1]["question"] == "How do I fix that?"
