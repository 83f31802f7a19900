"""Dataset and answers-file loading: the shipped files load; every bad file is a clear DatasetError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.evals import datasets as ds
from assistant.evals.datasets import DatasetError, load_answers, load_dataset, merge_checks

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "evals" / "datasets"


# --- the shipped files -----------------------------------------------------------------------------

def test_shipped_answers_suite_loads():
    d = load_dataset(DATASETS / "answers.yaml")
    assert len(d.cases) >= 50
    assert d.thresholds["framing"] == 1.0 and d.thresholds["retrieval_recall_at_k"] == 0.8
    by_id = {c.id: c for c in d.cases}
    assert by_id["trap-02"].forbidden == by_id["trap-01"].forbidden and len(by_id["trap-01"].forbidden) == 7  # anchor expanded
    assert by_id["mt-05"].turns[-1] == by_id["mt-05"].question and len(by_id["mt-05"].turns) == 3
    assert by_id["oos-01"].expects_refusal and not by_id["trap-01"].expects_refusal
    assert by_id["trap-01"].line and by_id["trap-01"].line > 1
    assert not d.retrieval_only


def test_shipped_retrieval_set_is_retrieval_only():
    d = load_dataset(DATASETS / "retrieval.yaml")
    assert d.retrieval_only and d.retrieval_k(4) == 3
    assert all(c.gold_sections for c in d.cases)


def test_shipped_answers_files_load():
    bad = load_answers(DATASETS / "causal_answers.jsonl")
    assert len(bad.cases) == 8 and all(c.framing == "felt" and c.answer for c in bad.cases)
    good = load_answers(DATASETS / "good_answers.jsonl")
    assert len(good.cases) == 6 and all(c.sources for c in good.cases)
    assert good.cases[0].sources[0].section and good.cases[0].sources[0].excerpt
    assert good.thresholds == ds.DEFAULT_THRESHOLDS


# --- formats ------------------------------------------------------------------------------------

def test_jsonl_dataset_with_thresholds_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"thresholds": {"framing": 1.0, "terms": 0.5}, "description": "x"}\n\n'
                 '{"id": "a", "question": "What is contributor timing?", "terms_any": ["contributor timing"]}\n'
                 '{"id": "b", "turns": ["Why does it feel off?", "How do I fix that?"], "tags": ["multi-turn"]}\n', encoding="utf-8")
    d = load_dataset(p)
    assert d.thresholds == {"framing": 1.0, "terms": 0.5}
    assert [c.id for c in d.cases] == ["a", "b"] and d.cases[1].question == "How do I fix that?"
    assert d.cases[0].line == 3


def test_yaml_top_level_list_gets_default_thresholds(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("- {id: a, question: 'Why does sprinting feel off?'}\n", encoding="utf-8")
    d = load_dataset(p)
    assert d.thresholds == ds.DEFAULT_THRESHOLDS and d.cases[0].id == "a"


def test_answers_file_ignores_unknown_fields_and_takes_check_fields(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"id": "x", "question": "q?", "answer": "A.", "model": "gpt", "latency_ms": 12,
                             "terms_any": ["pushing side"], "scope": "out", "tags": ["t"],
                             "sources": [{"id": 3, "section": "S", "excerpt": "E", "extra": 1}]}) + "\n", encoding="utf-8")
    c = load_answers(p).cases[0]
    assert c.answer == "A." and c.terms_any == ["pushing side"] and c.scope == "out" and c.tags == ["t"]
    assert c.sources[0].id == "3" and c.sources[0].section == "S"


def test_merge_checks_takes_the_dataset_case_checks(tmp_path):
    dset = tmp_path / "d.yaml"
    dset.write_text("thresholds: {framing: 1.0}\ncases:\n  - {id: a, question: 'q?', terms_any: [swing side], forbidden: ['x+']}\n", encoding="utf-8")
    ans = tmp_path / "a.jsonl"
    ans.write_text('{"id": "a", "question": "q?", "answer": "The swing side."}\n{"id": "z", "question": "q?", "answer": "B."}\n', encoding="utf-8")
    merged = merge_checks(load_answers(ans), load_dataset(dset))
    assert merged.cases[0].terms_any == ["swing side"] and merged.cases[0].forbidden == ["x+"]
    assert merged.cases[1].terms_any == [] and merged.thresholds == {"framing": 1.0}


# --- bad files ----------------------------------------------------------------------------------

BAD_YAML = [
    ("cases: [\n  {id: a, question: 'x'\n", "not valid YAML", None),
    ("just a string\n", "must be a mapping", None),
    ("thresholds: {framing: 1}\n", "cases: missing", None),
    ("cases: {id: a}\n", "must be a list of cases", None),
    ("cases:\n  - 5\n", "must be a mapping", None),
    ("cases:\n  - question: 'no id'\n", "id: missing", None),
    ("cases:\n  - {id: a}\n", "question: missing", None),
    ("cases:\n  - {id: a, question: 'q'}\n  - {id: a, question: 'r'}\n", "duplicate id 'a'", "id"),
    ("cases:\n  - {id: a, question: 'q', turns: ['x']}\n", "not both", "turns"),
    ("cases:\n  - id: a\n    question: 'q'\n    tags: doctrine\n", "list of strings", "tags"),
    ("cases:\n  - id: a\n    question: 'q'\n    terms_any: [1, 2]\n", "must be a string", "terms_any[0]"),
    ("cases:\n  - id: a\n    question: 'q'\n    forbidden: ['(unclosed']\n", "not a valid regex", "forbidden[0]"),
    ("cases:\n  - id: a\n    question: 'q'\n    term_any: [x]\n", "unknown field", "term_any"),
    ("cases:\n  - {id: a, question: 'q', framing: causal}\n", "must be one of felt", "framing"),
    ("cases:\n  - {id: a, question: 'q', scope: maybe}\n", "must be one of in, out", "scope"),
    ("cases:\n  - {id: a, question: '   '}\n", "must not be empty", "question"),
    ("cases:\n  - {id: a, turns: []}\n", "non-empty list", "turns"),
    ("cases:\n  - {id: [1], question: 'q'}\n", "must be a string", "id"),
    ("thresholds: {framing: 1.5}\ncases:\n  - {id: a, question: q}\n", "from 0 to 1", "thresholds.framing"),
    ("thresholds: {framing: yes}\ncases:\n  - {id: a, question: q}\n", "number from 0 to 1", "thresholds.framing"),
    ("thresholds: {framming: 1.0}\ncases:\n  - {id: a, question: q}\n", "unknown threshold", "thresholds.framming"),
    ("thresholds: [1]\ncases:\n  - {id: a, question: q}\n", "mapping of check name", "thresholds"),
    ("cases: []\n", "has no cases", None),
]


@pytest.mark.parametrize("text,message,field", BAD_YAML)
def test_bad_yaml_is_a_dataset_error_naming_file_and_field(tmp_path, text, message, field):
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(p)
    err = info.value
    assert message in str(err)
    assert str(p) in str(err)
    if field:
        assert err.field == field and field in str(err)


def test_error_carries_the_line_of_the_bad_case(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("thresholds: {framing: 1.0}\ncases:\n  - {id: a, question: 'q'}\n  - id: b\n    question: 'q'\n    tags: 7\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(p)
    assert info.value.line == 6 and f"{p}:6: tags:" in str(info.value)


def test_yaml_syntax_error_has_a_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("cases:\n  - id: a\n    question: 'q'\n   bad: [\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(p)
    assert info.value.line is not None and "not valid YAML" in str(info.value)


BAD_JSONL = [
    ('{"id": "a", "question": "q"\n', "not valid JSON", 1),
    ('[1, 2]\n', "must be a JSON object", 1),
    ('{"id": "a", "question": "q", "answer": "x"}\n{"id": "b", "question": 5, "answer": "y"}\n', "must be a string", 2),
    ('{"id": "a", "question": "q"}\n', "answer: missing", 1),
    ('{"id": "a", "question": "q", "answer": ["x"]}\n', "must be a string", 1),
    ('{"id": "a", "question": "q", "answer": "x", "sources": "s1"}\n', "list of source objects", 1),
    ('{"id": "a", "question": "q", "answer": "x", "sources": [5]}\n', "must be an object", 1),
    ('{"id": "a", "question": "q", "answer": "x", "sources": [{"excerpt": 5}]}\n', "must be a string", 1),
    ('{"id": "a", "question": "q", "answer": "x", "forbidden": ["("]}\n', "not a valid regex", 1),
    ('{"id": "a", "question": "q", "answer": "x"}\n{"id": "a", "question": "q", "answer": "x"}\n', "duplicate id", 2),
]


@pytest.mark.parametrize("text,message,line", BAD_JSONL)
def test_bad_answers_file_is_a_dataset_error_with_line(tmp_path, text, message, line):
    p = tmp_path / "bad.jsonl"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_answers(p)
    assert message in str(info.value) and info.value.line == line


def test_missing_file_folder_and_empty_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope.yaml")
    with pytest.raises(DatasetError, match="folder"):
        load_dataset(tmp_path)
    (tmp_path / "e.yaml").write_text("  \n", encoding="utf-8")
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(tmp_path / "e.yaml")


def test_binary_and_invalid_utf8(tmp_path):
    (tmp_path / "b.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DatasetError, match="binary"):
        load_dataset(tmp_path / "b.yaml")
    (tmp_path / "u.jsonl").write_bytes(b'{"id": "a"}\n{"id": "\xff\xfe"}\n')
    with pytest.raises(DatasetError, match="not valid UTF-8") as info:
        load_answers(tmp_path / "u.jsonl")
    assert info.value.line == 2


def test_huge_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "MAX_FILE_BYTES", 1000)
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"id": "a", "question": "q", "answer": "x" * 2000}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="too big"):
        load_answers(p)


def test_overlong_answer_and_too_many_turns(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"id": "a", "question": "q", "answer": "x" * (ds.MAX_TEXT_CHARS + 1)}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="too long"):
        load_answers(p)
    p = tmp_path / "t.yaml"
    p.write_text(json.dumps({"cases": [{"id": "a", "turns": ["q"] * (ds.MAX_TURNS + 1)}]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="too many turns"):
        load_dataset(p)


def test_deep_nesting_and_alias_bombs_are_dataset_errors(tmp_path):
    p = tmp_path / "deep.jsonl"
    p.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(DatasetError):
        load_answers(p)
    p = tmp_path / "deep.yaml"
    p.write_text("cases: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    with pytest.raises(DatasetError):
        load_dataset(p)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev = chr(ord("a") + n - 1)
        cur = chr(ord("a") + n)
        bomb.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    bomb.append("cases:\n  - {id: a, question: q, tags: *i}")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(bomb) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="tags"):
        load_dataset(p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_dataset_error(tmp_path, data):
    for name in ("f.yaml", "f.jsonl"):
        p = tmp_path / name
        p.write_bytes(data)
        try:
            load_dataset(p)
            load_answers(p)
        except DatasetError:
            pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_fields = st.sampled_from(["id", "question", "turns", "answer", "tags", "framing", "terms_any", "terms_all",
                           "gold_sections", "scope", "forbidden", "sources", "thresholds"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(st.dictionaries(_fields, _json_values, max_size=6), min_size=1, max_size=4))
def test_wrong_types_in_any_field_are_dataset_errors(tmp_path, objs):
    p = tmp_path / "f.jsonl"
    p.write_text("\n".join(json.dumps(o) for o in objs) + "\n", encoding="utf-8")
    for loader in (load_dataset, load_answers):
        try:
            loader(p)
        except DatasetError:
            pass


def test_giant_integers_are_dataset_errors(tmp_path):
    p = tmp_path / "n.jsonl"
    p.write_text('{"id": ' + "9" * 6000 + ', "question": "q", "answer": "x"}\n', encoding="utf-8")
    with pytest.raises(DatasetError):
        load_answers(p)
    p = tmp_path / "n.yaml"
    p.write_text("cases:\n  - {id: " + "9" * 6000 + ", question: q}\n", encoding="utf-8")
    with pytest.raises(DatasetError):
        load_dataset(p)
