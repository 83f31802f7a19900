"""The AQ glossary: the nine terms, defined without claiming coordination causes speed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.corpus import CorpusError, Glossary, Term, load_glossary
from assistant.retrieval import expand_query

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "corpus" / "glossary.yaml"
ARTICLE = ROOT / "corpus" / "what-exactly-is-coordination-in-running.md"

TERMS = [
    "pushing side",
    "swing side",
    "swing-side thrust",
    "contributor timing",
    "timing between steps",
    "sprint-system relationships",
    "sprint-system continuity",
    "sprint-system cycling",
    "aggressive projection",
]

# Claims that coordination is the cause/mechanism of speed, the framing the article rejects.
_COORD = r"(?:better |good |improved |more |poor |bad )?coordination"
CAUSAL_CLAIMS = [
    re.compile(rf"\b{_COORD} (?:causes?|caused|produces?|creates?|drives?|makes?|generates?|determines?|governs?|explains?|leads? to|results? in|is responsible for)\b", re.I),  # noqa: E501  (a pattern reads best on one line)
    re.compile(rf"\b(?:because of|due to|caused by|thanks to|result of|comes from|driven by|produced by) {_COORD}\b", re.I),
    re.compile(rf"\b{_COORD} (?:is|was) (?:the |what |why )?(?:cause|reason|mechanism|explanation|source|key|secret)\b", re.I),
    re.compile(rf"\b{_COORD} (?:is|was) why\b", re.I),
]


def causal_claim(text: str) -> str | None:
    for pattern in CAUSAL_CLAIMS:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary(GLOSSARY)


def test_exactly_the_nine_terms(glossary):
    assert [t.term for t in glossary] == TERMS
    assert len(glossary) == 9
    for name in TERMS:
        assert glossary.get(name) is not None
        assert glossary.get(name.upper()) is glossary.get(name)


def test_terms_come_from_the_article(glossary):
    article = ARTICLE.read_text(encoding="utf-8").lower()
    for term in glossary:
        assert term.term.lower() in article, f"{term.term!r} is not an AQ term used by the article"


@pytest.mark.parametrize("name", TERMS)
def test_each_term_has_a_definition_and_everyday_words(glossary, name):
    term = glossary.get(name)
    assert len(term.definition.split()) >= 8, "definition too thin"
    assert term.term.lower() not in {w.lower() for w in term.everyday}
    assert len(term.everyday) >= 3 and all(w.strip() for w in term.everyday)
    for related in term.related:
        assert glossary.get(related) is not None, f"{name}: related {related!r} is not a glossary term"


@pytest.mark.parametrize("name", TERMS)
def test_definitions_avoid_causal_coordination_claims(glossary, name):
    term = glossary.get(name)
    assert causal_claim(term.definition) is None, term.definition
    if "coordination" in term.definition.lower():
        # The article's framing: coordination is the athlete's label for a feeling, not a mechanism.
        assert re.search(r"\b(feel|feels|felt|call|calls|label|describe)\b", term.definition, re.I)


@pytest.mark.parametrize(
    "text",
    [
        "Better coordination causes faster sprinting.",
        "Speed comes from coordination.",
        "Coordination is the reason elite sprinters are fast.",
        "Athletes get faster because of improved coordination.",
        "Good coordination is why some athletes are faster.",
    ],
)
def test_the_causal_check_catches_causal_wording(text):
    assert causal_claim(text) is not None


def test_the_causal_check_allows_the_articles_framing():
    ok = ("When sprint-system relationships improve together the athlete feels what they call coordination; "
          "AQ views coordination as the athlete’s label for how improved sprinting feels.")
    assert causal_claim(ok) is None


def test_expand_query_adds_aq_terms(glossary):
    query = "my arms feel off"
    expanded = expand_query(query, glossary)
    assert expanded.startswith(query)
    added = expanded[len(query):]
    assert "swing side" in added
    # "feel off" is the everyday "feels off": timing / sprint-system relationships.
    assert "contributor timing" in added or "sprint-system relationships" in added


def test_everyday_words_match_in_other_forms(glossary):
    for text, term in [("my arm feels weird", "swing side"), ("I keep pushing off too early", "pushing side"),
                       ("feeling off lately", "contributor timing"), ("my turnover is slow", "sprint-system cycling")]:
        assert term in [t.term for t in glossary.expansions(text)], text


def test_expand_query_does_not_repeat_named_terms(glossary):
    expanded = expand_query("what is the swing side", glossary)
    assert expanded.count("swing side") == 1
    assert expand_query("what is the weather today", glossary) == "what is the weather today"
    assert expand_query("my arms feel off", None) == "my arms feel off"
    assert expand_query("my arms feel off", Glossary([])) == "my arms feel off"


def test_load_glossary_edge_cases(tmp_path):
    assert len(load_glossary(tmp_path / "missing.yaml")) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("terms: [unclosed", encoding="utf-8")
    with pytest.raises(CorpusError, match="not valid YAML"):
        load_glossary(bad)
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("terms:\n  - term: swing side\n    definition: d\n  - just a string\n  - definition: no name\n",
                     encoding="utf-8")
    assert [t.term for t in load_glossary(mixed)] == ["swing side"]
    assert isinstance(load_glossary(mixed).terms[0], Term)


def test_an_everyday_word_of_several_terms_means_the_one_listing_it_first():
    glossary = Glossary([Term("stride timing", "d", ("cadence", "rhythm")), Term("step linking", "d", ("rhythm", "flow")),
                         Term("ground push", "d", ("push off",))])
    assert glossary.likeliest_term("is rhythm the same thing?").term == "step linking"
    assert glossary.likeliest_term("my cadence and rhythm").term == "stride timing"   # listed first there
    assert glossary.likeliest_term("pushing off hard").term == "ground push"          # stemmed, like expansions()
    assert glossary.likeliest_term("what about my elbows?") is None
