"""Answer units: a chunk body turned into typed, stanced units an answer can quote (pure logic).

The chunks are hand-written in the shape of AQ's articles (leads with bullet lists, FAQ answers
opening on ✅/❌, rhetorical set-ups), so these tests need no index.
"""

from __future__ import annotations

import re

import pytest
from helpers import judge_sentence, shipped_doctrine, shipped_judge

from assistant.units import AnswerUnit, dump_units, load_units, parse_units, with_vectors


@pytest.fixture(scope="module")
def doctrine():
    return shipped_doctrine()


def _units(body: str, doctrine, kind: str = "section", question: str = "") -> list[AnswerUnit]:
    return list(parse_units(body, kind, "Some Section", doctrine, shipped_judge(), question))


def _texts(body: str, doctrine, **kw) -> list[str]:
    return [u.text for u in _units(body, doctrine, **kw)]


def test_units_skip_questions_headings_and_filler(doctrine):
    texts = _texts("🔥 What exactly are athletes FEELING when they sprint?\n\nInteresting.\n\n"
                   "🔥 WHY one athlete is actually faster.\n\n"
                   "But that usually creates another question immediately:\n- “Okay… what exactly does that mean?”\n\n"
                   "AQ says the deeper sprint-system relationships underneath matter much more than the label itself.", doctrine)
    assert texts == ["AQ says the deeper sprint-system relationships underneath matter much more than the label itself."]


def test_units_join_a_lead_and_its_bullets(doctrine):
    texts = _texts("AQ looks deeper into:\n- pushing-side contribution\n- swing-side thrust\n- contributor timing", doctrine)
    assert texts == ["AQ looks deeper into pushing-side contribution, swing-side thrust, and contributor timing."]


def test_units_join_a_sentence_broken_over_blocks(doctrine):
    texts = _texts("Because “coordination” often describes:\n\n🔥 an athlete experience\n\nWITHOUT clearly identifying:\n\n"
                   "🔥 the specific sprint-system relationships improving underneath.", doctrine)
    assert texts == ["“Coordination” often describes an athlete experience without clearly identifying "
                     "the specific sprint-system relationships improving underneath."]


def test_units_finish_an_open_when_clause_with_the_next_block(doctrine):
    texts = _texts("When athletes suddenly feel:\n- smoother\n- lighter\n\n"
                   "AQ says several sprint-system relationships may actually be improving together underneath.", doctrine)
    assert texts == ["When athletes suddenly feel smoother and lighter, AQ says several sprint-system relationships "
                     "may actually be improving together underneath."]


def test_units_resolve_it_or_drop_the_sentence(doctrine):
    texts = _texts("🔥 In other words:\n\nAQ does not view better sprinting as passive smoothness alone.\n\n"
                   "AQ views it as aggressive sprinting becoming easier for the sprint system to organize continuously.", doctrine)
    assert "AQ views better sprinting as aggressive sprinting becoming easier for the sprint system to organize continuously." in texts
    assert not any(re.search(r"\bit as\b", t) for t in texts)
    # no referent in the chunk: the sentence is left out rather than left dangling
    assert _texts("AQ views it as the athlete feeling the result of sprint-system relationships improving together.", doctrine) == []


def test_units_rewrite_this_explains_why(doctrine):
    texts = _texts("This also explains why sprinting can suddenly feel:\n- heavy\n- rushed\n"
                   "even when the athlete is trying just as hard.", doctrine)
    assert texts == ["Sprinting can suddenly feel heavy and rushed even when the athlete is trying just as hard."]


def test_a_line_too_short_to_stand_alone_finishes_the_point_before_it(doctrine):
    texts = _texts("Some sprinters with very fast times still look untidy on video.\n\nTheir knees may drop.\n\n"
                   "Interesting.\n\nTheir hips may sway.", doctrine)
    # the short line joins its sentence; after filler there is no sentence for it to finish
    assert texts == ["Some sprinters with very fast times still look untidy on video. Their knees may drop."]


def test_a_sentence_opening_on_they_or_a_connective_follows_the_unit_before_it(doctrine):
    units = _units("Athletes rarely track swing-side thrust or contributor timing while they sprint.\n\n"
                   "They simply feel the result when those relationships improve together.\n\n"
                   "AQ looks at sprint-system continuity across many strides.", doctrine)
    assert [u.follows for u in units] == [False, True, False]
    assert units[1].text.startswith("Athletes simply feel")
    assert load_units(dump_units(units))[1].follows  # it survives the trip through Chroma metadata


def test_units_never_keep_a_causal_sentence_or_the_belief_aq_argues_against(doctrine):
    units = _units("Coordination makes sprinters fast.\n\nTraditional sprint thinking often assumes:\n- the athlete became weaker\n"
                   "- less coordinated\n\nAQ suggests the sprint system may be struggling to organize aggressive movement continuously.",
                   doctrine)
    assert [u.text for u in units] == ["AQ suggests the sprint system may be struggling to organize aggressive movement continuously."]
    assert all(judge_sentence(u.text).label != "causal" for u in units)
    # the belief it answers is kept beside it, for matching a question that voices that belief
    assert "weaker" in units[0].context and "weaker" in units[0].match_text and "weaker" not in units[0].text


def test_faq_units_keep_the_answer_and_its_verdict(doctrine):
    units = _units("❌ Not directly.\n\nAQ views coordination as the athlete’s description of the result, "
                   "not the underlying mechanical explanation.", doctrine, kind="faq", question="Does coordination cause speed?")
    assert [u.text for u in units] == ["AQ views coordination as the athlete’s description of the result, not the underlying mechanical explanation."]
    assert units[0].kind == "faq" and units[0].verdict == "no" and units[0].question == "Does coordination cause speed?"
    yes = _units("✅ Yes.\n\nSmoother sprinting can feel lighter while aggressive movement increases.", doctrine, kind="faq")
    assert yes[0].verdict == "yes"
    # an ambiguous mark the importer dropped leaves no verdict rather than a guessed one
    plain = _units("Smoother sprinting can feel lighter while aggressive movement increases.", doctrine, kind="faq")
    assert plain[0].verdict == ""


@pytest.mark.parametrize("text, stance", [
    ("Sprinting may suddenly feel smoother, lighter and quicker.", "improving"),
    ("Sprinting can feel heavy, rushed and disconnected.", "disrupted"),
    ("Sprinting may begin feeling less interrupted from stride to stride.", "improving"),          # "less" + a disrupted word
    ("The athlete may feel less connected to the ground.", "disrupted"),     # "less" + an improving word
    ("AQ looks deeper into pushing-side contribution and swing-side thrust.", "neutral"),
])
def test_units_carry_the_side_of_sprinting_they_describe(text, stance, doctrine):
    assert _units(text, doctrine)[0].stance == stance


def test_definition_like_sentences_are_typed_with_their_subject(doctrine):
    units = _units("AQ views form as what an observer can see, not as the target of training.\n\n"
                   "Sprint-system continuity is how connected sprinting stays from stride to stride.", doctrine)
    kinds = {u.text.split()[0]: (u.kind, u.subject) for u in units}
    assert kinds["AQ"] == ("summary", "form")
    assert kinds["Sprint-system"] == ("definition", "sprint-system continuity")


def test_units_round_trip_through_metadata_with_their_vectors(doctrine):
    units = with_vectors(_units("Sprinting may suddenly feel smoother, lighter and quicker.", doctrine), [[0.25, -0.5, 1.0]])
    back = load_units(dump_units(units))
    assert back[0].text == units[0].text and back[0].stance == "improving"
    assert back[0].vector == pytest.approx((0.25, -0.5, 1.0), abs=1e-3)
    assert load_units("not json") == () and load_units("") == ()
