"""The runner: multi-turn history, per-case verdicts, summaries, baselines and reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import shipped_doctrine, shipped_judge

from assistant.answering import Answer, GuardReport
from assistant.answering import Source as AnswerSource
from assistant.evals import answer_sources, case_checks, runner
from assistant.evals.datasets import Case, Dataset, DatasetError, Source, load_answers, load_dataset
from assistant.evals.judges import FAIL, PASS, UNCERTAIN, CheckResult
from assistant.evals.report import render_html, write_report
from assistant.retrieval import SearchHit

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "evals" / "datasets"

CHUNK_TEXT = ("What This Means For Speed Training\nAQ focuses on improving:\n- pushing-side contribution\n- swing-side thrust\n"
              "AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously during sprinting.")


class _Settings:
    k = 4


class FakeSearcher:
    def __init__(self):
        self.queries = []

    def search(self, query, k=None):
        self.queries.append(query)
        return [SearchHit("c1", "T", "What This Means For Speed Training", 0.5, "excerpt", CHUNK_TEXT),
                SearchHit("c2", "T", "Frequently Asked Questions", 0.4, "faq", "Q?\nA.", kind="faq",
                          question="Does AQ believe coordination is the cause of sprint speed?")]


class FakeService:
    """Stands in for AnsweringService in logic tests: records the history each turn receives."""

    def __init__(self, texts):
        self.settings = _Settings()
        self.searcher = FakeSearcher()
        self.glossary = None
        self.framing = shipped_judge()
        self.texts = list(texts)
        self.calls = []

    def answer(self, question, history=None, backend=None):
        self.calls.append((question, [dict(m) for m in history or []]))
        hits = self.searcher.search(question, 4)
        text = self.texts.pop(0)
        src = [AnswerSource(h.id, h.title, h.section, h.excerpt, h.score, h.question) for h in hits[:1]]
        return Answer(text, src, "composer", GuardReport(True, "pass", "passed"), {}, question,
                      trace=[{"sentence": text, "chunk_id": "c1"}])


# One grounded sentence plus short connective ones (too few content words to be graded for grounding), so the
# answer also meets the length check (40-160 words) that applies to every in-scope answer.
PAD = " Here is how AQ sees it. That is the short version. It is not about one single cue. It is about how things work together."
GOOD = "AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously during sprinting." + PAD


def test_multi_turn_feeds_prior_turns_as_history_and_checks_the_last_answer():
    case = Case("mt", ["Why does my sprint feel off?", "How do I fix that?"], tags=["multi-turn"],
                terms_any=["sprint-system relationships"], gold_sections=["What This Means For Speed Training"])
    svc = FakeService(["First answer, no terms here at all.", GOOD])
    [r] = runner.run_service(Dataset(Path("d.yaml"), "", {}, [case]), svc)
    assert [q for q, _ in svc.calls] == case.turns
    assert svc.calls[0][1] == []
    assert svc.calls[1][1] == [{"role": "user", "content": "Why does my sprint feel off?"},
                               {"role": "assistant", "content": "First answer, no terms here at all."}]
    assert r.answer == GOOD and r.verdict == PASS
    assert [c.name for c in r.checks] == ["framing", "terms", "grounding", "scope", "retrieval", "no_repeat", "length"]
    assert r.check("retrieval").detail["first_rank"] == 1
    assert svc.searcher.__class__ is FakeSearcher  # the recording wrapper is removed afterwards


def test_case_verdicts_fail_over_uncertain_over_pass():
    svc = FakeService(["Better coordination makes you faster.", GOOD, GOOD])
    cases = [Case("bad", ["q?"]), Case("ok", ["q?"]), Case("unsure", ["q?"], gold_sections=["Introduction"])]
    results = runner.run_service(Dataset(Path("d.yaml"), "", {}, cases), svc)
    assert [r.verdict for r in results] == [FAIL, PASS, FAIL]
    assert results[0].check("framing").evidence[0]["chunk_id"] == "c1"


def _result(cases, thresholds, mode="answers"):
    ds = Dataset(Path("x.yaml"), "", thresholds, [Case(c.id, c.turns, tags=c.tags) for c in cases])
    return runner.RunResult(ds, mode, "composer", 4, cases)


def _case(cid, tags, *checks):
    return runner.CaseResult(cid, ["q?"], "a", tags, runner.judges.combine(c.verdict for c in checks), list(checks))


def test_summary_counts_uncertain_as_not_passing_and_reports_tags_and_thresholds():
    cases = [
        _case("a", ["t1"], CheckResult("framing", PASS), CheckResult("terms", PASS)),
        _case("b", ["t1", "t2"], CheckResult("framing", UNCERTAIN), CheckResult("terms", PASS)),
        _case("c", ["t2"], CheckResult("framing", PASS), CheckResult("terms", FAIL)),
    ]
    result = _result(cases, {"framing": 1.0, "terms": 0.6, "scope": 0.9})
    s = runner.summarise(result)
    assert s["checks"]["framing"]["pass_rate"] == round(2 / 3, 4) and s["checks"]["framing"]["uncertain"] == 1
    assert s["thresholds"]["framing"]["status"] == "failed" and s["thresholds"]["terms"]["status"] == "ok"
    assert s["thresholds"]["scope"]["status"] == "n/a"          # a check never applied does not fail the run
    assert s["failed_thresholds"] == ["framing"] and not s["ok"]
    assert s["framing_failures"] == []
    assert (s["passed"], s["failed"], s["uncertain"]) == (1, 1, 1)
    assert s["tags"]["t1"]["pass_rate"] == 0.5 and s["tags"]["t2"]["pass"] == 0
    assert s["tags"]["t2"]["checks"]["terms"]["pass_rate"] == 0.5


def test_a_framing_fail_fails_the_run_even_without_a_framing_threshold():
    s = runner.summarise(_result([_case("a", [], CheckResult("framing", FAIL))], {}))
    assert s["framing_failures"] == ["a"] and not s["ok"]


def test_retrieval_thresholds_of_a_retrieval_set():
    checks = [CheckResult("retrieval", PASS, 0.5, detail={"recall_at_k": 0.5, "mrr": 1.0, "k": 3}),
              CheckResult("retrieval", FAIL, 0.0, detail={"recall_at_k": 0.0, "mrr": 0.0, "k": 3})]
    cases = [_case("a", [], checks[0]), _case("b", [], checks[1])]
    res = _result(cases, {"recall_at_3": 0.5, "mrr": 0.6}, mode="retrieval")
    res.k = 3
    s = runner.summarise(res)
    assert s["retrieval"] == {"k": 3, "cases": 2, "recall_at_k": 0.5, "section_recall_at_k": 0.25, "mrr": 0.5, "mean_retrieved": 3.0}
    assert s["thresholds"]["recall_at_3"]["status"] == "ok" and s["thresholds"]["mrr"]["status"] == "failed"
    assert s["checks"]["retrieval"]["threshold"] == 0.5


def test_answers_mode_flags_every_causal_answer_with_evidence():
    data = load_answers(DATASETS / "causal_answers.jsonl")
    results = runner.run_answers(data, k=4, framing=shipped_judge())
    assert len(results) == 8
    for r in results:
        framing = r.check("framing")
        assert r.verdict == FAIL and framing.verdict == FAIL, r.id
        assert framing.evidence and framing.evidence[0]["sentence"] and framing.evidence[0]["rule"]
        assert r.check("grounding").verdict == UNCERTAIN    # no sources: never a pass


def test_answers_file_sources_are_tied_to_the_corpus_chunks_they_quote(settings):
    from assistant.indexing import corpus_chunks

    chunks, _ = corpus_chunks(settings)
    data = load_answers(DATASETS / "good_answers.jsonl")
    resolved = answer_sources.resolve_sources(data.cases[0].sources, chunks)
    ids = {c.id for c in chunks}
    assert all(s.id in ids and len(s.text) > len(s.excerpt) for s in resolved)
    assert answer_sources.resolve_sources([Source(id="zz", excerpt="text that is in no chunk of the article at all")], chunks)[0].id == "zz"


def test_baseline_regressions_and_bad_baselines(tmp_path):
    before = {"cases": [{"id": "a", "verdict": "pass", "checks": [{"name": "framing", "verdict": "pass"}]},
                        {"id": "b", "verdict": "fail", "checks": []}]}
    p = tmp_path / "report.json"
    p.write_text(json.dumps(before), encoding="utf-8")
    base = runner.load_baseline(p)
    cases = [_case("a", [], CheckResult("framing", FAIL, evidence=[{"sentence": "x"}])), _case("b", [], CheckResult("framing", PASS))]
    regressions, improvements = runner.compare(_result(cases, {}), base)
    assert regressions == [{"id": "a", "before": "pass", "after": "fail", "checks": ["framing"], "evidence": [{"sentence": "x"}]}]
    assert improvements == [{"id": "b", "before": "fail", "after": "pass"}]
    for bad in ("{not json", json.dumps([1]), json.dumps({"cases": [{"id": 1}]})):
        p.write_text(bad, encoding="utf-8")
        with pytest.raises(DatasetError):
            runner.load_baseline(p)
    with pytest.raises(DatasetError, match="does not exist"):
        runner.load_baseline(tmp_path / "missing.json")


def test_reports_are_written_and_html_is_self_contained_and_escaped(tmp_path):
    hostile = '<script>alert("x")</script> Better coordination makes you faster.'
    case = Case("x", ["<b>q</b>?"], tags=["<i>tag</i>"])
    checks = case_checks.judge_case(case, hostile, framing=shipped_judge(), sources=None, hits=None, k=4)
    cr = runner.CaseResult("x", case.turns, hostile, case.tags, runner.judges.combine(c.verdict for c in checks), checks)
    res = _result([cr], {"framing": 1.0})
    res.summary = runner.summarise(res)
    res.judge_self_test = {"framing": {"precision": 1.0, "recall": 1.0, "n": 1, "uncertain": 0, "errors": [], "positive": "causal"}}
    jpath, hpath = write_report(res, tmp_path / "r")
    data = json.loads(jpath.read_text(encoding="utf-8"))
    assert set(data) >= {"summary", "cases", "judge_self_test", "regressions"}
    assert data["cases"][0]["checks"][0]["name"] == "framing" and data["cases"][0]["verdict"] == "fail"
    assert set(data["cases"][0]) >= {"id", "question", "answer", "tags", "verdict", "checks", "backend", "sources"}
    html = hpath.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<svg" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<link" not in html


def test_html_renders_the_shipped_report(shipped_eval):
    html = render_html(shipped_eval["report"])
    assert html.count("<details") == len(shipped_eval["report"]["cases"])
    assert "Judge self-test" in html and "Pass rate per tag" in html


def test_shipped_report_structure(shipped_eval):
    data = shipped_eval["report"]
    assert data is not None, shipped_eval["stderr"]
    ids = [c["id"] for c in data["cases"]]
    assert len(ids) == len(load_dataset(DATASETS / "answers.yaml").cases)
    for c in data["cases"]:
        names = [ch["name"] for ch in c["checks"]]
        assert names[0] == "framing" and "scope" in names
        assert all(ch["verdict"] in (PASS, FAIL, UNCERTAIN) for ch in c["checks"])
        assert c["backend"] == "composer"
    multi = next(c for c in data["cases"] if c["id"] == "mt-05")
    assert len(multi["turns"]) == 3 and multi["question"] == multi["turns"][-1]
    assert data["summary"]["mode"] == "service" and data["summary"]["checks"]["framing"]["applied"] == len(ids)


def test_llm_judge_counts_when_configured(tmp_path):
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class Causal(BaseChatModel):
        @property
        def _llm_type(self):
            return "fake"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            reply = '{"framing": "causal", "grounded": true, "on_topic": true, "reason": "says coordination drives speed"}'
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])

    judge = runner.judges.LLMJudge(Causal(), "fake", tmp_path, shipped_doctrine().statement)
    data = load_answers(DATASETS / "good_answers.jsonl")
    results = runner.run_answers(data, k=4, framing=shipped_judge(), llm_judge=judge)
    assert all(r.check("llm").verdict == FAIL and r.verdict == FAIL for r in results)
    res = runner.RunResult(data, "answers", "answers-file", 4, results, llm_judge=True)
    s = runner.summarise(res)
    assert s["llm_judge"] and s["checks"]["llm"]["fail"] == 6
