"""Tests for assistant.guard, the deterministic framing judge / doctrine guard.

Doctrine under test: coordination is the athlete's label for how improved sprinting
FEELS; no answer may claim that coordination causes, drives or explains speed.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest
import yaml
from helpers import judge_framing, judge_sentence

from assistant.guard import FramingVerdict, SentenceJudgement
from assistant.text import split_sentences

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "evals" / "judges" / "framing_labelled.yaml"
SENTENCES = ROOT / "evals" / "judges" / "framing_sentences.yaml"
ARTICLE = ROOT / "tests" / "fixtures" / "aq-what-exactly-is-coordination-in-running.raw.txt"

MIN_PRECISION = 0.95
MIN_RECALL = 0.95


def _is_causal(text: str) -> bool:
    return judge_sentence(text).label == "causal"


# ------------------------------------------------------------------------ API
def test_dataclasses_are_frozen_and_shaped():
    j = judge_sentence("Coordination drives sprint speed.")
    assert isinstance(j, SentenceJudgement)
    assert [f.name for f in dataclasses.fields(SentenceJudgement)] == ["sentence", "label", "evidence", "rule"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.label = "felt"  # type: ignore[misc]
    v = judge_framing("Coordination drives sprint speed.")
    assert isinstance(v, FramingVerdict)
    assert v.verdict == "fail"
    assert isinstance(v.sentences, tuple)
    assert isinstance(v.violations, tuple)
    assert isinstance(v.evidence, list)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.verdict = "pass"  # type: ignore[misc]


def test_neutral_has_empty_evidence_and_rule():
    j = judge_sentence("Timing between steps sharpens as the athlete gets faster.")
    assert (j.label, j.evidence, j.rule) == ("neutral", "", "")


def test_causal_judgement_carries_evidence_and_rule():
    j = judge_sentence("Honestly, better coordination makes you faster.")
    assert j.label == "causal"
    assert "coordination makes you faster" in j.evidence
    assert j.rule
    assert j.sentence == "Honestly, better coordination makes you faster."


def test_empty_text_passes():
    v = judge_framing("")
    assert v.verdict == "pass" and v.sentences == () and v.evidence == []


# ------------------------------------------------------------------ splitting
def test_split_markdown_bullets_numbers_and_newlines():
    text = (
        "## What AQ looks at\n"
        "AQ looks underneath. It asks what changed!\n"
        "- pushing-side contribution\n"
        "• swing-side thrust\n"
        "* contributor timing\n"
        "1. timing between steps\n"
        "2) sprint-system continuity\n"
    )
    assert split_sentences(text) == [
        "What AQ looks at",
        "AQ looks underneath.",
        "It asks what changed!",
        "pushing-side contribution",
        "swing-side thrust",
        "contributor timing",
        "timing between steps",
        "sprint-system continuity",
    ]


def test_split_keeps_citations_abbreviations_and_decimals():
    text = (
        "Coordination is the athlete's label for how sprinting feels [1]. "
        "It reflects relationships, e.g. swing-side thrust, improving together. [2] "
        "He ran 10.5 s. Does AQ agree? Not directly."
    )
    assert split_sentences(text) == [
        "Coordination is the athlete's label for how sprinting feels [1].",
        "It reflects relationships, e.g. swing-side thrust, improving together. [2]",
        "He ran 10.5 s.",
        "Does AQ agree?",
        "Not directly.",
    ]


def test_split_quote_after_terminator_and_stray_citation_line():
    text = 'Athletes say "it felt coordinated." Then they look faster.\n[3]'
    assert split_sentences(text) == [
        'Athletes say "it felt coordinated."',
        "Then they look faster. [3]",
    ]


# --------------------------------------------------------------- causal claims
CAUSAL = [
    "Speed comes from coordination.",
    "Improve your coordination and you'll run faster.",
    "Coordination is the key mechanism behind speed.",
    "Coordinated athletes are faster athletes.",
    "Better coordination makes you faster.",
    "The fastest sprinters are simply the most coordinated.",
    "Coordination drives sprint speed.",
    "Coordination determines sprint speed.",
    "Coordination produces sprint speed.",
    "Coordination explains sprint speed.",
    "Coordination is responsible for sprint speed.",
    "Coordination underlies sprint speed.",
    "Coordination is the secret to sprint speed.",
    "Speed is a product of coordination.",
    "If you want to be faster, work on your coordination.",
    "Coordination is the reason elite sprinters are fast.",
    "AQ believes that better coordination is the underlying mechanical explanation of sprint speed.",
    "Coordination training is what makes sprinters fast.",
    "Lack of coordination is why you are slow.",
    "To run faster, become more coordinated.",
    "Being coordinated is what makes you fast.",
    "Being more coordinated will make you quicker.",
    "Good coordination is the foundation of speed.",
    "He is faster because he is more coordinated.",
    "He is faster because he looks more coordinated.",
    "Coordination isn't just a feeling — it's what actually makes you fast.",
    "Without good coordination, you'll never reach top speed.",
    "The more coordinated you are, the faster you'll run.",
    "Your times will drop once your coordination improves.",
    "What makes elite sprinters fast is their coordination, not their strength.",
]


@pytest.mark.parametrize("sentence", CAUSAL)
def test_causal_paraphrases_are_caught(sentence):
    j = judge_sentence(sentence)
    assert j.label == "causal", (sentence, j)
    assert j.evidence and j.rule


# ----------------------------------------------------- negations, reports, felt
NOT_CAUSAL = [
    "AQ does not treat coordination as the cause.",
    "It's a common belief that coordination makes sprinters fast, but AQ sees it differently.",
    "Many athletes grow up believing coordination is the explanation for faster sprinting.",
    "Coordination is not the mechanical explanation.",
    "The word coordination does not explain why one athlete is faster.",
    "Coordination is not what makes you fast — it's how improved sprinting feels.",
    "Rather than coordination causing speed, AQ sees sprint-system relationships improving together.",
    "Traditional sprint thinking says better coordination makes you faster, but AQ looks underneath.",
    "Does AQ believe coordination is the cause of sprint speed?",
    "I can't say that coordination causes speed, because AQ doesn't hold that.",
    "You might have heard that coordination is the secret to speed.",
    "The idea that coordination drives speed is a myth.",
    "Coordination makes you faster — or so many coaches say.",
    "No amount of coordination work will make you faster on its own.",
    "The faster athlete may appear more coordinated.",
    "Two athletes can both look coordinated while producing speed very differently.",
]


@pytest.mark.parametrize("sentence", NOT_CAUSAL)
def test_negations_reports_and_questions_are_not_flagged(sentence):
    assert judge_sentence(sentence).label in ("felt", "neutral"), sentence
    assert judge_framing(sentence).verdict == "pass", sentence


FELT = [
    "Coordination is the athlete's label for how improved sprinting feels.",
    "Sprinting FEELS more coordinated when contributor timing gets cleaner.",
    "When the pushing side and swing side work together, athletes call that feeling coordination.",
    "The faster athlete may appear more coordinated.",
]


@pytest.mark.parametrize("sentence", FELT)
def test_felt_framing_is_labelled_felt(sentence):
    j = judge_sentence(sentence)
    assert j.label == "felt", (sentence, j)
    assert j.evidence and j.rule.startswith("felt")


def test_speed_to_coordination_direction_is_not_causal():
    # The article's own direction: speed (via improved relationships) -> looks/feels coordinated.
    assert not _is_causal("Speed makes a sprinter look more coordinated, not the other way around.")
    assert not _is_causal("He looks more coordinated because he is faster.")
    assert _is_causal("He is faster because he is more coordinated.")


def test_reported_belief_that_is_endorsed_counts():
    assert _is_causal("Many athletes believe coordination makes them faster, and they're right.")
    v = judge_framing("Many coaches say coordination makes you faster. They're right.")
    assert v.verdict == "fail"
    assert v.violations[0].rule == "reported-then-endorsed"


def test_markdown_and_curly_quotes_are_normalised():
    assert _is_causal("**Coordination** is what makes you fast.")
    assert not _is_causal("Athletes call that feeling \u201ccoordination\u201d, and it isn\u2019t the cause of speed.")


# ----------------------------------------------------------- answer level
def test_one_causal_sentence_fails_a_long_answer():
    answer = (
        "Coordination is the athlete's label for how improved sprinting feels. "
        "AQ looks at pushing-side contribution and swing-side thrust.\n"
        "- timing between steps\n"
        "- sprint-system continuity\n"
        "Still, coordination is what drives your speed [1]."
    )
    v = judge_framing(answer)
    assert v.verdict == "fail"
    assert len(v.violations) == 1
    assert v.violations[0].sentence == "Still, coordination is what drives your speed [1]."
    assert len(v.evidence) == 1 and "drives your speed" in v.evidence[0]


def test_doctrine_answer_passes():
    answer = (
        "No. AQ does not treat coordination as the cause of sprint speed. "
        "Coordination is the athlete's label for how improved sprinting FEELS when the pushing side "
        "and swing side, swing-side thrust, contributor timing and timing between steps improve together. "
        "The faster athlete may appear more coordinated, but the relationships underneath matter more."
    )
    v = judge_framing(answer)
    assert v.verdict == "pass", v.evidence
    assert v.violations == () and v.evidence == []
    assert any(s.label == "felt" for s in v.sentences)


def test_claims_split_across_sentences():
    assert judge_framing("Want to run faster? Improve your coordination.").verdict == "fail"
    assert judge_framing("Why are elite sprinters so fast? Coordination.").verdict == "fail"
    assert judge_framing("Focus on coordination. It is what makes you fast.").verdict == "fail"
    # Same shapes, doctrine-safe content.
    assert judge_framing("Want to run faster? Improve swing-side thrust.").verdict == "pass"
    assert judge_framing("Is coordination the secret to speed? No, it's how improved sprinting feels.").verdict == "pass"


def test_undecided_mention_is_uncertain_not_pass():
    v = judge_framing("AQ looks at contributor timing. Coordination and speed go hand in hand.")
    assert v.verdict == "uncertain"
    assert v.violations == ()
    assert len(v.evidence) == 1 and v.evidence[0].startswith("uncertain")


def _clean_article(raw: str) -> str:
    # The fixture is mojibake: "β" stands for quotes/apostrophes, "π…" for emoji bullets.
    text = raw.replace("β’", "•").replace("β¦", "…")
    text = re.sub(r"(?<=\w)β(?=\w)", "'", text)
    text = re.sub(r"β(?=[\s\w])|(?<=[\w.?!])β", '"', text)
    return re.sub(r"[πβΒ][^\w\s\"']*|[ο₯¦§¨ͺ»Έ]", " ", text)


def test_the_article_itself_passes():
    text = _clean_article(ARTICLE.read_text(encoding="utf-8"))
    v = judge_framing(text)
    assert len(v.sentences) > 300
    assert v.violations == (), v.evidence
    assert v.verdict == "pass", v.evidence


def test_speed_of_a_ten_sentence_answer(capsys):
    answer = " ".join(
        [
            "Coordination is not what makes you fast, because athletes call improved "
            "sprint-system relationships coordination when speed rises.",
            "When the pushing side and swing side work together, sprinting feels faster and more coordinated.",
        ]
        * 5
    )
    judge_framing(answer)  # warm-up
    runs = []
    for _ in range(15):
        t0 = time.perf_counter()
        judge_framing(answer)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    with capsys.disabled():
        print(f"\n[guard] 10-sentence answer, every sentence mentioning coordination: best {best * 1000:.3f} ms")
    assert best < 0.005  # a few ms at most, even on a loaded CI box


# ------------------------------------------------------------ labelled data
def _prf(pairs: list[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    tp = sum(1 for gold, pred in pairs if gold and pred)
    fp = sum(1 for gold, pred in pairs if not gold and pred)
    fn = sum(1 for gold, pred in pairs if gold and not pred)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def test_labelled_files_are_well_formed():
    answers = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    assert answers["description"]
    items = answers["items"]
    assert len(items) >= 70
    assert len({i["id"] for i in items}) == len(items)
    assert all(i["label"] in ("causal", "felt") and i["text"] and i["note"] for i in items)
    causal_share = sum(i["label"] == "causal" for i in items) / len(items)
    assert 0.4 <= causal_share <= 0.6
    sents = yaml.safe_load(SENTENCES.read_text(encoding="utf-8"))
    assert sents["description"]
    assert len(sents["sentences"]) >= 50
    assert all(s["label"] in ("causal", "felt", "neutral") for s in sents["sentences"])


def test_sentence_level_precision_recall(capsys):
    data = yaml.safe_load(SENTENCES.read_text(encoding="utf-8"))["sentences"]
    pairs, misses = [], []
    for item in data:
        j = judge_sentence(item["text"])
        gold, pred = item["label"] == "causal", j.label == "causal"
        pairs.append((gold, pred))
        if gold != pred:
            misses.append(f"{item['label']} -> {j.label} [{j.rule}] {item['text']}")
    p, r, tp, fp, fn = _prf(pairs)
    with capsys.disabled():
        print(f"\n[guard] sentence level: n={len(data)} precision={p:.3f} recall={r:.3f} (tp={tp} fp={fp} fn={fn})")
        for m in misses:
            print("   miss:", m)
    assert p >= MIN_PRECISION and r >= MIN_RECALL, misses


def test_answer_level_precision_recall(capsys):
    items = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["items"]
    tp = fp = fn = 0
    misses = []
    for item in items:
        v = judge_framing(item["text"])
        gold = item["label"] == "causal"
        if gold and v.verdict == "fail":
            tp += 1
        elif gold:  # "pass" and "uncertain" are both misses for a causal answer
            fn += 1
            misses.append(f"{item['id']} causal -> {v.verdict}")
        elif v.verdict != "pass":  # "fail" and "uncertain" are both false alarms for felt
            fp += 1
            misses.append(f"{item['id']} felt -> {v.verdict}: {v.evidence}")
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    with capsys.disabled():
        print(f"\n[guard] answer level: n={len(items)} precision={p:.3f} recall={r:.3f} (tp={tp} fp={fp} fn={fn})")
        for m in misses:
            print("   miss:", m)
    assert p >= MIN_PRECISION and r >= MIN_RECALL, misses


# ------------------------------------------------------------------- held out
# Written after the rules were tuned and run once, unchanged, to show how the rules
# generalise. The first run's result is recorded here honestly: 15/17 exact, and the
# two misses are causal sentences judged "uncertain" (the guard does not silently
# pass them). They are kept, not tuned away.
HELD_OUT = [
    ("causal", "What separates a 10.2 sprinter from a 10.8 sprinter is mostly coordination."),
    ("causal", "Coordinated sprinting is simply faster sprinting."),
    ("causal", "Once an athlete learns to coordinate their limbs, their speed takes off."),  # miss: uncertain
    ("causal", "Your top-end speed is limited by your coordination."),
    ("causal", "Coordination is the engine room of acceleration."),
    ("causal", "The best thing you can do for your speed is to become more coordinated."),
    ("causal", "Sprint speed is, at its core, a coordination problem."),  # miss: uncertain
    ("causal", "Coordination unlocks the speed you already have."),
    ("causal", "Improved coordination is the main driver behind her faster times this season."),
    ("felt", "Coordination is not what unlocks speed in AQ's view; it's how unlocked speed feels."),
    ("felt", "Plenty of coaches will tell you speed depends on coordination, but AQ looks at pushing-side contribution instead."),
    ("felt", "Sprinting often feels more coordinated right as top speed improves."),
    ("felt", "Calling a fast rep 'coordinated' is just naming the feeling."),
    ("felt", "AQ never frames coordination as the source of speed."),
    ("felt", "Does coordination really determine how fast you run?"),
    ("felt", "When swing-side thrust and timing between steps improve, the athlete runs faster and describes the rep as coordinated."),
    ("felt", "The idea that speed comes from coordination leaves out what actually changed underneath."),
]


def test_held_out_generalisation(capsys):
    correct = 0
    for label, text in HELD_OUT:
        verdict = judge_framing(text).verdict
        if label == "causal":
            assert verdict != "pass", f"causal claim silently passed: {text}"
            correct += verdict == "fail"
        else:
            assert verdict == "pass", f"false alarm ({verdict}): {text}"
            correct += 1
    accuracy = correct / len(HELD_OUT)
    with capsys.disabled():
        print(f"\n[guard] held-out: {correct}/{len(HELD_OUT)} exact ({accuracy:.2f}); no causal claim passed, no false alarm")
    assert accuracy >= 0.85
