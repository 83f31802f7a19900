"""Helpfulness judges (key_points, lead, no_repeat, length, honest_gap), their dataset fields, the runner and self-test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import shipped_judge

from assistant.evals import case_checks, runner, selftest, summary_tables
from assistant.evals import helpfulness as h
from assistant.evals.datasets import Case, DatasetError, load_answers, load_dataset, merge_checks
from assistant.evals.judges import FAIL, PASS, UNCERTAIN

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "evals" / "datasets"
LABELLED = ROOT / "evals" / "judges" / "helpfulness_labelled.yaml"

# ~60 words, in AQ's terms, no repeats.
GOOD = ("Not exactly: smoother sprinting does not always mean less aggression. AQ suggests aggressive sprinting may "
        "become easier for the sprint system to organize continuously. What athletes call relaxed is often pushing-side "
        "contribution, swing-side thrust and contributor timing improving together underneath. So chase aggressive, "
        "connected sprinting rather than a softer effort, and notice whether each stride feels less forced. [1]")
Q = "Should I relax more when I sprint?"


# --- key_points ---------------------------------------------------------------------------------

def test_key_points_verbatim_with_quotes_hyphens_and_plurals_normalised():
    answer = "Smoother sprinting doesn’t mean less aggression. The sprint-system relationships improve together."
    r = h.judge_key_points(answer, [["doesn't mean less aggression"], ["sprint system relationship improves together"]])
    assert r.verdict == PASS and r.detail["present"] == 2


def test_key_points_phrase_spread_over_a_few_words_in_order():
    answer = "AQ suggests aggressive sprinting may become easier for the sprint system to organize continuously."
    r = h.judge_key_points(answer, [["easier to organize"]])
    assert r.verdict == PASS and r.evidence[0]["how"] == "phrase, spread"
    assert not h.phrase_in("does not always mean", "It always does mean that, not less.", h.PHRASE_GAP)   # order kept


def test_key_points_missing_point_fails_with_the_point_named(embeddings):
    answer = "Wear light spikes and eat well before races. Sleep is important for recovery."
    r = h.judge_key_points(answer, [["relationships improve together"]], embeddings)
    assert r.verdict == FAIL
    assert r.evidence[0]["point"] == ["relationships improve together"] and r.evidence[0]["status"] == "missing"
    assert r.evidence[0]["cosine"] < h.KEY_POINT_COSINE


def test_key_points_paraphrase_passes_semantically(embeddings):
    answer = "The timing of the contributors gets cleaner."
    point = [["contributor timing"]]
    assert not h.phrase_in(point[0][0], answer, h.PHRASE_GAP)   # not verbatim: only the embedding can find it
    r = h.judge_key_points(answer, point, embeddings)
    assert r.verdict == PASS, r.evidence
    assert r.evidence[0]["how"] == "semantic" and r.evidence[0]["cosine"] >= h.KEY_POINT_COSINE + h.KEY_POINT_BAND


def test_key_points_without_embeddings_a_paraphrase_is_uncertain_not_a_pass():
    r = h.judge_key_points("The relationships all get better at once.", [["relationships improve together"]])
    assert r.verdict == UNCERTAIN and "no embeddings" in r.evidence[0]["detail"]


def test_key_point_threshold_is_a_named_constant_with_a_band():
    assert 0.2 < h.KEY_POINT_COSINE < 0.9 and 0 < h.KEY_POINT_BAND < 0.1


# --- lead ---------------------------------------------------------------------------------------

def test_lead_passes_on_a_lead_any_word_or_the_subject():
    r = h.judge_lead(GOOD, "Should I try to relax more when I sprint?", ["aggression"], "yes_no")
    assert r.verdict == PASS and r.evidence[0]["lead"][0].startswith("Not exactly")
    assert h.judge_lead("Relaxing is not the goal in AQ's view. More below.", "Should I relax more?", []).verdict == PASS


def test_lead_fails_when_the_first_two_sentences_wander():
    answer = ("Great question, and thanks for asking. Many athletes wonder about this. "
              "Relaxing more is not the point; aggression is.")
    r = h.judge_lead(answer, "Should I try to relax more when I sprint?", ["relax", "aggression"], "definition")
    assert r.verdict == FAIL
    assert r.evidence[0]["lead"] == ["Great question, and thanks for asking.", "Many athletes wonder about this."]
    assert "relax" in r.evidence[-1]["looked_for"]["lead_any"]


def test_lead_yes_no_stance_and_gap_admission():
    stance = h.judge_lead("No. That is a common idea, but AQ frames it differently.", "Is it all about the arms?", [], "yes_no")
    assert stance.verdict == PASS and any(e.get("via") == "stance" and e.get("match") == "no" for e in stance.evidence)
    no_verdict = h.judge_lead("The arms matter in AQ's view of the swing side.", "Is it all about the arms?", [], "yes_no")
    assert no_verdict.verdict == FAIL, "a yes/no lead needs its verdict, not just the subject"
    gap = h.judge_lead("AQ's articles don't cover that. They talk about other things.", "Which shoes should I buy?", [],
                       "how_to", covered=False)
    assert gap.verdict == PASS and any(e.get("via") == "gap admission" for e in gap.evidence)


def test_lead_judges_against_the_kind_of_ask():
    q = "Is swing-side thrust the same as the swing side?"
    one = h.judge_lead("In AQ's terms, swing-side thrust is how aggressively the swing side thrusts. It matters.", q, [],
                       "same_or_different", lead_terms=["swing-side thrust", "swing side"])
    assert one.verdict == PASS
    only = h.judge_lead("In AQ's terms, swing-side thrust is how hard it thrusts. It matters.", q, [],
                        "same_or_different", lead_terms=["swing-side thrust", "pushing side"])
    assert only.verdict == FAIL and "pushing side" in only.evidence[1]["missing"]
    q = "How would I know my timing is improving?"
    assert h.judge_lead("Sprinting feels smoother and less rushed. That is the sign.", q, [], "signs").verdict == PASS
    assert h.judge_lead("AQ names contributor timing. It is a relationship.", q, [], "signs").verdict == FAIL


def test_false_gap_flags_a_covered_question_answered_not_covered():
    assert h.judge_false_gap("AQ's articles don't cover that directly, so I won't invent an answer.").verdict == FAIL
    assert h.judge_false_gap("In AQ's terms, contributor timing is how cleanly both sides arrive.").verdict == PASS


# --- no_repeat ----------------------------------------------------------------------------------

def test_no_repeat_fails_on_a_repeated_sentence():
    s = "Athletes simply feel the result when those relationships begin improving together."
    r = h.judge_no_repeat(f"{s} AQ names pushing-side contribution and swing-side thrust. {s}")
    assert r.verdict == FAIL and r.evidence[0]["containment"] == 1.0 and r.evidence[0]["positions"] == [1, 3]


def test_no_repeat_fails_on_a_sentence_contained_in_another():
    r = h.judge_no_repeat("Contributor timing may arrive less cleanly. When you fade late in a 400m, AQ says contributor "
                          "timing may arrive less cleanly and the swing side may stop thrusting.")
    assert r.verdict == FAIL and r.evidence[0]["containment"] >= h.REPEAT_CONTAINMENT


def test_no_repeat_passes_distinct_sentences_and_ignores_headings():
    assert h.judge_no_repeat(GOOD).verdict == PASS
    answer = "**What AQ says may be improving underneath:**\nAQ says several things may be improving underneath together."
    assert h.judge_no_repeat(answer).verdict == PASS


# --- length -------------------------------------------------------------------------------------

@pytest.mark.parametrize("words, verdict", [(20, FAIL), (29, FAIL), (30, UNCERTAIN), (39, UNCERTAIN), (40, PASS),
                                            (160, PASS), (161, UNCERTAIN), (200, UNCERTAIN), (201, FAIL)])
def test_length_bands(words, verdict):
    assert h.judge_length(" ".join(["stride"] * words)).verdict == verdict


def test_length_excludes_citations_and_the_sources_list():
    answer = " ".join(["stride"] * 40) + " [1] [2, 3]\n\nSources:\n[1] " + " ".join(["section"] * 200)
    r = h.judge_length(answer)
    assert r.detail["words"] == 40 and r.verdict == PASS


# --- honest_gap ---------------------------------------------------------------------------------

GAP = ("AQ's articles don't cover warm-up routines, so I can't give you one from them. What they do say is that "
       "better sprinting comes from sprint-system relationships improving together, such as pushing-side contribution "
       "and swing-side thrust, and that smoother sprinting is not the same as less aggression.")


def test_honest_gap_passes_a_plain_admission():
    r = h.judge_honest_gap(GAP, covered=False)
    assert r.verdict == PASS and r.evidence[0]["position"] == 1


def test_honest_gap_fails_an_invented_warm_up_plan():
    plan = GAP + "\n\nTry this warm-up:\n1. Jog for 5 minutes.\n2. Do 3 sets of 10 A-skips.\n3. Finish with 4 strides."
    r = h.judge_honest_gap(plan, covered=False)
    assert r.verdict == FAIL and any(e.get("detail") == "invents a plan" for e in r.evidence)


def test_honest_gap_fails_when_the_answer_pretends_to_know():
    answer = ("A good warm-up starts with light jogging. Then do leg swings and some A-skips before your sprints. "
              "AQ focuses on pushing-side contribution.")
    r = h.judge_honest_gap(answer, covered=False)
    assert r.verdict == FAIL and "no admission" in r.evidence[0]["detail"]


def test_honest_gap_admission_after_the_lead_fails():
    answer = ("Sprinting well is about aggression. AQ talks about pushing-side contribution. "
              "The articles don't cover warm-ups.")
    r = h.judge_honest_gap(answer, covered=False)
    assert r.verdict == FAIL and "only after the lead" in r.evidence[0]["detail"]


def test_honest_gap_is_not_applied_to_covered_cases():
    assert h.judge_honest_gap(GOOD, covered=True) is None and h.judge_honest_gap(GOOD, covered=None) is None


# --- dataset fields -----------------------------------------------------------------------------

def test_shipped_helpfulness_dataset_loads():
    path = DATASETS / "helpfulness.yaml"
    assert path.exists(), "the shipped helpfulness dataset is missing"
    d = load_dataset(path)
    assert set(d.thresholds) == {"key_points", "lead", "no_repeat", "honest_gap", "length"}
    assert {c.split for c in d.cases} == {"tune", "heldout"}
    assert all(c.key_points and all(isinstance(p, list) and p for p in c.key_points) for c in d.cases if c.covered)
    assert any(c.covered is False for c in d.cases) and not d.retrieval_only


def _write(tmp_path, **fields) -> Path:
    case = {"id": "a", "question": "Should I relax more?", "article": "seed", "split": "tune", "kind": "yes_no",
            "key_points": [["easier to organize"]], "lead_any": ["relax"], "covered": True, **fields}
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"thresholds": {"key_points": 0.9, "lead": 0.9}}) + "\n" + json.dumps(case) + "\n", encoding="utf-8")
    return p


def test_helpfulness_fields_load(tmp_path):
    d = load_dataset(_write(tmp_path, key_points=[["a", "b"], "c"]))
    c = d.cases[0]
    assert (c.article, c.split, c.kind, c.covered) == ("seed", "tune", "yes_no", True)
    assert c.key_points == [["a", "b"], ["c"]] and c.lead_any == ["relax"] and d.thresholds == {"key_points": 0.9, "lead": 0.9}


@pytest.mark.parametrize("field, value, message", [
    ("split", "train", "must be one of tune, heldout"),
    ("kind", "yesno", "must be one of"),
    ("covered", "yes", "must be true or false"),
    ("article", "Smooth Form", "corpus slug"),
    ("key_points", "easier to organize", "list of points"),
    ("key_points", [[1]], "must be a string"),
    ("key_points", [[]], "at least one phrase"),
    ("key_points", [{"a": 1}], "list of alternative phrases"),
    ("lead_any", "relax", "list of strings"),
])
def test_bad_helpfulness_field_is_a_dataset_error(tmp_path, field, value, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(_write(tmp_path, **{field: value}))
    assert info.value.field.startswith(field) and info.value.line == 2


def test_unknown_helpfulness_threshold_is_a_dataset_error(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("thresholds: {key_point: 0.9}\ncases:\n  - id: a\n    question: q?\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="unknown threshold"):
        load_dataset(p)


# --- runner -------------------------------------------------------------------------------------

def _helpful_dataset(tmp_path) -> Path:
    p = tmp_path / "helpful.yaml"
    p.write_text(
        "thresholds: {key_points: 0.9, lead: 0.9, no_repeat: 1.0, honest_gap: 0.9, length: 0.8}\n"
        "cases:\n"
        "  - {id: t1, article: seed, split: tune, kind: yes_no, question: 'Should I relax more when I sprint?',\n"
        "     key_points: [[does not always mean], [easier to organize, organize continuously]], lead_any: [relax], covered: true}\n"
        "  - {id: h1, article: seed, split: heldout, kind: yes_no, question: 'Should I relax more when I sprint?',\n"
        "     key_points: [[does not always mean], [relationships improve together]], lead_any: [relax], covered: true}\n"
        "  - {id: f1, article: smooth-form, split: heldout, kind: definition, question: 'What is smoothness?',\n"
        "     key_points: [[what the athlete feels]], covered: true}\n"
        "  - {id: g1, article: none, split: tune, kind: how_to, question: 'What is the best warm-up?', covered: false}\n",
        encoding="utf-8")
    return p


def _answers(tmp_path, h1_answer: str) -> Path:
    p = tmp_path / "answers.jsonl"
    rows = [{"id": "t1", "question": Q, "answer": GOOD}, {"id": "h1", "question": Q, "answer": h1_answer},
            {"id": "f1", "question": "What is smoothness?", "answer": GOOD}, {"id": "g1", "question": "What is the best warm-up?", "answer": GAP}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def _run(tmp_path, h1_answer, embeddings, corpus_dir):
    data = merge_checks(load_answers(_answers(tmp_path, h1_answer)), load_dataset(_helpful_dataset(tmp_path)))
    cases = runner.run_answers(data, k=4, framing=shipped_judge(), embeddings=embeddings, corpus_dir=corpus_dir)
    result = runner.RunResult(data, "answers", "answers-file", 4, cases)
    result.summary = runner.summarise(result)
    return result


def test_a_missing_key_point_fails_the_summary_and_says_why(tmp_path, embeddings, corpus_dir):
    result = _run(tmp_path, GOOD, embeddings, corpus_dir)     # h1's second point is not in GOOD
    s = result.summary
    assert not s["ok"] and "key_points" in s["failed_thresholds"]
    assert s["checks"]["key_points"]["splits"]["tune"]["pass_rate"] == 1.0
    assert s["checks"]["key_points"]["splits"]["heldout"]["pass_rate"] == 0.0
    assert set(s["splits"]) == {"tune", "heldout"} and s["splits"]["heldout"]["cases"] == 1
    fail = next(f for f in s["helpfulness_failures"] if f["check"] == "key_points")
    assert fail["id"] == "h1" and fail["split"] == "heldout" and "relationships improve together" in fail["why"]
    assert s["checks"]["honest_gap"]["applied"] == 1 and s["checks"]["honest_gap"]["pass"] == 1
    t1 = next(r for r in result.cases if r.id == "t1")
    assert all(c.verdict == PASS for c in t1.checks if c.name in summary_tables.HELPFULNESS_CHECKS), [c.as_dict() for c in t1.checks]


def test_fixing_the_answer_makes_the_summary_pass(tmp_path, embeddings, corpus_dir):
    fixed = GOOD.replace("improving together underneath", "improving together underneath, as relationships improve together")
    s = _run(tmp_path, fixed, embeddings, corpus_dir).summary
    assert s["failed_thresholds"] == [] and s["ok"], s["helpfulness_failures"]


def test_cases_whose_article_is_not_in_the_corpus_are_skipped(tmp_path, embeddings, corpus_dir):
    result = _run(tmp_path, GOOD, embeddings, corpus_dir)
    f1 = next(r for r in result.cases if r.id == "f1")
    assert f1.verdict == runner.SKIPPED and "smooth-form" in f1.skipped and not f1.checks
    s = result.summary
    assert s["skipped"] == 1 and s["skipped_cases"][0]["id"] == "f1" and s["cases"] == 3
    (corpus_dir / "smooth-form.md").write_text("---\ntitle: x\n---\n# x\n", encoding="utf-8")
    again = _run(tmp_path, GOOD, embeddings, corpus_dir)
    assert next(r for r in again.cases if r.id == "f1").verdict != runner.SKIPPED


def test_report_shows_helpfulness_failures_splits_and_skips(tmp_path, embeddings, corpus_dir):
    from assistant.evals.report import write_report

    result = _run(tmp_path, GOOD, embeddings, corpus_dir)
    jpath, hpath = write_report(result, tmp_path / "r")
    data = json.loads(jpath.read_text(encoding="utf-8"))
    assert data["summary"]["helpfulness_failures"] and data["summary"]["splits"]["tune"]["checks"]["key_points"]
    assert next(c for c in data["cases"] if c["id"] == "f1")["verdict"] == "skipped"
    html = hpath.read_text(encoding="utf-8")
    assert "Helpfulness checks not passed" in html and "Per split" in html and "Skipped cases" in html
    assert runner.load_baseline(jpath)["h1"]["verdict"] == FAIL and "f1" not in runner.load_baseline(jpath)


def test_no_repeat_and_length_apply_to_every_in_scope_case_only():
    case, out = Case("x", ["q?"]), Case("o", ["q?"], scope="out")
    names = [c.name for c in case_checks.judge_case(case, GOOD, framing=shipped_judge(), sources=None, hits=None, k=4)]
    assert names[-2:] == ["no_repeat", "length"] and "key_points" not in names and "honest_gap" not in names
    names = [c.name for c in case_checks.judge_case(out, "I can't help with that.", framing=shipped_judge(), sources=None, hits=None, k=4)]
    assert "no_repeat" not in names and "length" not in names


# --- self-test ----------------------------------------------------------------------------------

def _labelled():
    assert LABELLED.exists(), f"{LABELLED.relative_to(ROOT)} is missing: the helpfulness self-test needs it"
    return LABELLED


def test_helpfulness_self_test_heldout_accuracy(embeddings):
    r = selftest.helpfulness_self_test(_labelled(), embeddings)
    for judge in selftest.HELPFULNESS_JUDGES:
        for split in ("tune", "heldout"):
            assert r["judges"][judge][split]["n"] > 0, (judge, split)
        acc = r["judges"][judge]["heldout"]["accuracy"]
        # key_points misses paraphrases MiniLM scores low (measured 0.83 heldout); the rest reach 0.97+.
        floor = 0.8 if judge == "key_points" else 0.9
        assert acc >= floor, (judge, acc, r["judges"][judge]["heldout"]["errors"])


def test_key_point_threshold_matches_the_tune_split(embeddings):
    tuned = selftest.tune_key_point_cosine(_labelled(), embeddings)
    assert h.KEY_POINT_COSINE in tuned["tied"], tuned


def test_helpfulness_self_test_is_in_every_report():
    out = selftest.run_self_tests(shipped_judge())
    assert "helpfulness" in out
    if LABELLED.exists():
        assert "error" not in out["helpfulness"], out["helpfulness"]
        assert set(out["helpfulness"]["judges"]) == set(selftest.HELPFULNESS_JUDGES)


def test_lead_judge_agrees_with_blind_ratings_on_the_kinds_judged_on_their_own_terms():
    # why_feel, work_on, contrast, pushback: blind ratings of composer answers (evals/judges/lead_labelled.yaml).
    # Measured 0.79 heldout (the subject-word fallback these kinds had before: 0.36).
    r = selftest.lead_self_test()
    assert r["tune"]["n"] >= 50 and r["heldout"]["n"] >= 50
    assert r["heldout"]["accuracy"] >= 0.75, r["heldout"]["errors"]
