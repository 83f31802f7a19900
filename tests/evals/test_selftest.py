"""Judge self-tests on hand-labelled data. The framing figures are a CI gate."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import shipped_judge

from assistant.evals import selftest

JUDGES = Path(__file__).resolve().parents[2] / "evals" / "judges"


def test_framing_judge_precision_and_recall_gate():
    r = selftest.framing_self_test(shipped_judge())
    assert r["n"] >= 80 and r["tp"] + r["fn"] >= 40
    assert r["precision"] >= 0.9, r["errors"]
    assert r["recall"] >= 0.9, r["errors"]


def test_framing_sentence_judge_figures():
    r = selftest.framing_sentences_self_test(shipped_judge())
    assert r["n"] >= 50 and r["precision"] is not None and r["recall"] is not None


def test_uncertain_is_an_error_either_way():
    rows = [("c1", "causal", "causal"), ("c2", "causal", "uncertain"), ("f1", "felt", "uncertain"), ("f2", "felt", "felt")]
    r = selftest.score(rows, "causal")
    assert (r["tp"], r["fn"], r["fp"], r["tn"], r["uncertain"]) == (1, 1, 1, 1, 2)
    assert r["precision"] == 0.5 and r["recall"] == 0.5
    assert {e["id"] for e in r["errors"]} == {"c2", "f1"}


def test_labelled_sets_for_the_other_judges_exist_and_are_balanced():
    scope = yaml.safe_load((JUDGES / "scope_labelled.yaml").read_text(encoding="utf-8"))["items"]
    grounding = yaml.safe_load((JUDGES / "grounding_labelled.yaml").read_text(encoding="utf-8"))["items"]
    assert len(scope) >= 20 and {i["label"] for i in scope} == {"refusal", "answer"}
    assert sum(i["label"] == "refusal" for i in scope) >= 10
    assert len(grounding) >= 20 and {i["label"] for i in grounding} == {"supported", "unsupported"}
    assert all(i["chunk"].strip() and i["sentence"].strip() for i in grounding)
    assert len({i["id"] for i in scope}) == len(scope) and len({i["id"] for i in grounding}) == len(grounding)


def test_scope_and_grounding_self_tests_report_figures():
    scope = selftest.scope_self_test()
    grounding = selftest.grounding_self_test()
    assert scope["positive"] == "refusal" and scope["n"] >= 20
    assert grounding["positive"] == "unsupported" and grounding["n"] >= 20
    # Not gates, but the judges must be clearly better than chance on their own labelled sets.
    assert scope["precision"] >= 0.8 and scope["recall"] >= 0.8
    assert grounding["precision"] >= 0.8 and grounding["recall"] >= 0.7


def test_run_self_tests_reports_a_broken_file_instead_of_raising(tmp_path, monkeypatch):
    monkeypatch.setattr(selftest, "JUDGES_DIR", tmp_path)
    out = selftest.run_self_tests(shipped_judge())
    assert set(out) == {"framing", "framing_sentences", "scope", "grounding", "helpfulness", "lead_by_kind"}
    assert all("error" in row for row in out.values())
