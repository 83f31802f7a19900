"""Rated answers become eval cases (assistant.evals.feedback_cases, `aq-coach feedback export --as-eval`).

The round trip runs on both databases: athletes rate answers in a real ConversationStore, the export
writes a dataset, `aq-coach eval` accepts it and skips every unfilled case with one line, and once a
maintainer fills in a case's key points the eval answers it through the real offline service.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant.cli import app
from assistant.conversations import ConversationStore
from assistant.evals import runner
from assistant.evals.datasets import MAX_TURNS, Case, DatasetError, load_dataset
from assistant.evals.feedback_cases import collect, render, write

VAGUE = "Too vague: I wanted to know what to work on."
CAUSAL = "It said coordination makes me faster, that's not what AQ says."
GIVEN = "Work on it.\nMore on that later.\n\n- practise"


def _rated_store(url: str) -> tuple[ConversationStore, dict[str, int]]:
    """Two athletes' conversations: a two-turn one whose second answer got 👎 with a comment (its first
    answer 👍, no comment) and a one-turn one with 👎 and a comment."""
    store = ConversationStore(url)
    store.append_message("athlete-a", "user", "What is contributor timing?")
    first = store.append_message("athlete-a", "assistant", "Contributor timing is …", backend="composer")
    store.append_message("athlete-a", "user", "How do I improve it?")
    second = store.append_message("athlete-a", "assistant", GIVEN, backend="composer")
    store.append_message("athlete-b", "user", "Does coordination make me faster?")
    third = store.append_message("athlete-b", "assistant", "Yes, better coordination makes you faster.", backend="composer")
    ids = {
        "liked": store.add_feedback("athlete-a", "What is contributor timing?", "Contributor timing is …", [], "composer", 1,
                                    message_id=first),
        "two_turn": store.add_feedback("athlete-a", "How do I improve it?", GIVEN, [], "composer", -1, VAGUE, message_id=second),
        "one_turn": store.add_feedback("athlete-b", "Does coordination make me faster?", "Yes, better coordination makes you "
                                       "faster.", [], "composer", -1, CAUSAL, message_id=third),
    }
    return store, ids


def _export(args: list[str], url: str):
    return CliRunner().invoke(app, ["feedback", "export", *args], env={"AQ_DATABASE_URL": url})


def _fill(text: str, case_id: str, points: str) -> str:
    """What a maintainer does: replace one case's empty key_points in the file, comments kept."""
    head, tail = text.split(f"  - id: {case_id}\n", 1)
    assert "    key_points: []\n" in tail
    return head + f"  - id: {case_id}\n" + tail.replace("    key_points: []\n", f"    key_points:\n    - {points}\n", 1)


def test_rated_answers_round_trip_through_the_eval(database_url, run_cli, tmp_path):
    _, ids = _rated_store(database_url)
    target = tmp_path / "feedback.yaml"
    r = _export(["--as-eval", str(target)], database_url)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"wrote 2 feedback case(s) to {target}" in " ".join(r.stdout.split())
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# ") and "fill in key_points" in text and "no key points filled in yet, skipped" in text
    data = yaml.safe_load(text)
    two, one = f"fb-{ids['two_turn']}", f"fb-{ids['one_turn']}"
    assert [c["id"] for c in data["cases"]] == [two, one]          # the 👍 without a comment is not exported
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id[two]["turns"] == ["What is contributor timing?", "How do I improve it?"] and "question" not in by_id[two]
    assert (by_id[two]["given_answer"], by_id[two]["comment"], by_id[two]["rating"]) == (GIVEN, VAGUE, "down")
    assert by_id[one]["question"] == "Does coordination make me faster?" and by_id[one]["comment"] == CAUSAL
    assert all(c["key_points"] == [] and c["tags"] == ["feedback"] for c in data["cases"])
    plain = _export(["--json"], database_url)                      # without --as-eval: every rating, as before
    assert plain.exit_code == 0 and len(json.loads(plain.stdout)["feedback"]) == 3

    checked = run_cli(["--json", "--dataset", str(target), "--report", str(tmp_path / "r1")])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    summary = json.loads(checked.stdout)["summary"]
    assert (summary["cases"], summary["passed"], summary["skipped"]) == (0, 0, 2)
    assert [s["line"] for s in summary["skipped_cases"]] == [f"feedback case {i}: no key points filled in yet, skipped"
                                                             for i in (two, one)]

    shown = run_cli(["--dataset", str(target), "--report", str(tmp_path / "r0")])
    assert "NOTHING SCORED" in shown.stdout and "PASSED" not in shown.stdout, "nothing scored is not a pass"

    target.write_text(_fill(text, two, '["contributor timing"]'), encoding="utf-8")
    scored = run_cli(["--dataset", str(target), "--report", str(tmp_path / "r2")])
    assert scored.exit_code == 0, scored.stdout + scored.stderr
    assert f"feedback case {one}: no key points filled in yet, skipped" in scored.stdout
    assert f"feedback case {two}" not in scored.stdout
    report = json.loads((tmp_path / "r2" / "report.json").read_text(encoding="utf-8"))
    case = {c["id"]: c for c in report["cases"]}
    assert case[one]["verdict"] == "skipped" and case[one]["checks"] == []
    assert case[two]["turns"] == ["What is contributor timing?", "How do I improve it?"]
    key_points = next(c for c in case[two]["checks"] if c["name"] == "key_points")
    assert key_points["verdict"] == "pass" and case[two]["verdict"] == "pass"
    assert (report["summary"]["cases"], report["summary"]["passed"], report["summary"]["skipped"]) == (1, 1, 1)
    html = (tmp_path / "r2" / "report.html").read_text(encoding="utf-8")
    assert f"feedback case {one}: no key points filled in yet, skipped" in html


def test_what_is_exported_and_how(tmp_path):
    """A commented 👍 is exported too; a rating with no stored message is a one-question case; a long
    conversation keeps its last MAX_TURNS questions; a row with no question at all is left out, named."""
    store = ConversationStore(tmp_path / "app.sqlite")
    liked = store.add_feedback("s1", "What is the swing side?", "The swing side …", [], "composer", 1, "Great, more like this")
    for n in range(MAX_TURNS + 2):
        store.append_message("s2", "user", f"question {n}")
        last = store.append_message("s2", "assistant", f"answer {n}")
    long = store.add_feedback("s2", f"question {MAX_TURNS + 1}", f"answer {MAX_TURNS + 1}", [], None, -1, message_id=last)
    empty = store.add_feedback("s3", "", "an answer", [], None, -1)
    store.add_feedback("s4", "Fine?", "Fine.", [], None, 1)
    export = collect(store)
    cases = {c["id"]: c for c in export.cases}
    assert set(cases) == {f"fb-{liked}", f"fb-{long}"} and export.praised == 1 and export.rows == 4
    assert cases[f"fb-{liked}"]["rating"] == "up" and cases[f"fb-{liked}"]["question"] == "What is the swing side?"
    assert cases[f"fb-{long}"]["turns"] == [f"question {n}" for n in range(2, MAX_TURNS + 2)]
    assert cases[f"fb-{long}"]["comment"] is None
    assert export.left_out == [{"id": f"fb-{empty}", "reason": "no question was stored with it"}]
    target = tmp_path / "feedback.yaml"
    write(target, render(export, "test db", target.name))       # checked by the dataset loader before it lands
    loaded = {c.id: c for c in load_dataset(target).cases}
    assert loaded[f"fb-{liked}"].rating == "up" and loaded[f"fb-{liked}"].comment == "Great, more like this"
    assert loaded[f"fb-{long}"].comment is None and len(loaded[f"fb-{long}"].turns) == MAX_TURNS
    assert all(c.from_feedback and not c.has_own_checks() for c in loaded.values())


# --- bad input: one clear line, never a traceback --------------------------------------------------

def test_nothing_to_export_writes_nothing_and_says_so(database_url, tmp_path):
    store = ConversationStore(database_url)
    target = tmp_path / "feedback.yaml"
    r = _export(["--as-eval", str(target)], database_url)
    assert r.exit_code == 0 and "nothing to export: no thumbs-down or commented answers in" in r.stdout
    assert f"{target} was not written" in " ".join(r.stdout.split()) and not target.exists()
    store.add_feedback("s1", "Q?", "A.", [], None, 1)              # a 👍 without a comment is not a case either
    r = _export(["--as-eval", str(target), "--json"], database_url)
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["exported"] == 0 and data["file"] is None and data["thumbs_up_without_comment"] == 1
    assert not target.exists()


def test_an_existing_file_is_kept_without_force(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    _rated_store(url)
    target = tmp_path / "feedback.yaml"
    target.write_text("# my filled-in cases\n", encoding="utf-8")
    r = _export(["--as-eval", str(target)], url)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert (f"error: {target} already exists; add --force to write over it (key points filled in there would be lost)"
            in " ".join(r.stderr.split()))
    assert target.read_text(encoding="utf-8") == "# my filled-in cases\n"
    r = _export(["--as-eval", str(target), "--json"], url)
    assert r.exit_code == 2 and "already exists" in json.loads(r.stdout)["error"]
    r = _export(["--as-eval", str(target), "--force"], url)
    assert r.exit_code == 0 and len(load_dataset(target).cases) == 2


def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked / "feedback.yaml"
    if not Path("/sys").is_dir():
        pytest.skip("running as root with no /sys: no folder here refuses a new file")
    return Path("/sys/aq-coach-feedback.yaml")      # sysfs refuses new files, even to root


@pytest.mark.parametrize("case", ["folder", "no-folder", "parent-is-file", "unwritable", "jsonl", "force-alone"])
def test_bad_targets_get_one_clear_line(tmp_path, case):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    _rated_store(url)
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    target, args, message = {
        "folder": (tmp_path, None, f"{tmp_path} is a folder; name a file"),
        "no-folder": (tmp_path / "nope" / "f.yaml", None, f"cannot write {tmp_path / 'nope' / 'f.yaml'}: {tmp_path / 'nope'} does not exist"),
        "parent-is-file": (tmp_path / "plain.txt" / "f.yaml", None, f"{tmp_path / 'plain.txt'} is not a folder"),
        "unwritable": (_unwritable(tmp_path), None, "Permission denied"),
        "jsonl": (tmp_path / "f.jsonl", None, "the export is YAML; name it .yaml or .yml"),
        "force-alone": (None, ["--force"], "--force goes with --as-eval FILE"),
    }[case]
    r = _export(args or ["--as-eval", str(target)], url)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert message in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) <= 2     # one line (rich may wrap it once)
    if target is not None and not target.is_dir():
        assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]           # no temporary file left behind


# --- the dataset side: the new fields and when a case is skipped ------------------------------------

@pytest.mark.parametrize("field,value,message", [
    ("rating", "meh", "rating: must be one of up, down, got 'meh'"),
    ("given_answer", 42, "given_answer: must be a string, got a number"),
    ("comment", ["a"], "comment: must be a string, got a list"),
])
def test_bad_feedback_fields_name_line_and_field(tmp_path, field, value, message):
    path = tmp_path / "fb.yaml"
    path.write_text(yaml.safe_dump({"cases": [{"id": "fb-1", "question": "Q?", "key_points": [], field: value}]}),
                    encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_only_unfilled_feedback_cases_are_skipped():
    unfilled = Case("fb-1", ["Q?"], given_answer="A.", comment="bad", rating="down")
    assert runner.skip_reason(unfilled, None) == runner.UNFILLED
    assert runner._skipped(unfilled, runner.UNFILLED).skip_line == "feedback case fb-1: no key points filled in yet, skipped"
    for filled in (Case("fb-2", ["Q?"], rating="down", key_points=[["x"]]), Case("fb-3", ["Q?"], rating="down", forbidden=["x"]),
                   Case("fb-4", ["Q?"], rating="up", scope="out"), Case("fb-5", ["Q?"], comment="c", gold_sections=["S"])):
        assert runner.skip_reason(filled, None) == "", filled.id
    assert runner.skip_reason(Case("plain", ["Q?"]), None) == ""    # a case that is not from feedback runs as before
