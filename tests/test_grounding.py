"""The grounding guard (assistant.grounding): is a model's sentence supported by its passages?"""

from __future__ import annotations

import pytest

from assistant.grounding import GroundingCheck

PASSAGES = [
    "Contributor timing is how cleanly the pushing side and swing side arrive into their aggressive movement "
    "responsibilities together. When timing drifts, sprinting often feels rushed and disconnected.",
]


@pytest.fixture(scope="module")
def check(embeddings, glossary):
    from helpers import shipped_doctrine

    from assistant.config import Settings

    s = Settings()
    return GroundingCheck(embeddings, glossary, s.grounding_cosine, s.grounding_overlap, s.grounding_cosine_with_overlap,
                          shipped_doctrine().generic_words)


def test_a_restated_passage_sentence_is_supported_and_its_citation_is_not_a_number(check):
    evidence = check.evidence(PASSAGES)
    ok, score = check.supported("When timing drifts, sprinting often feels rushed and disconnected. [2]", evidence)
    assert ok and score["new_numbers"] == []


@pytest.mark.parametrize("sentence", [
    "Do three sets of ten A-skips before every sprint session.",
    "Run 6 x 40 m at 95% effort with 3 minutes rest.",
    "Eat a banana before every race.",
])
def test_invented_plans_and_claims_are_not_supported(check, sentence):
    assert not check.supported(sentence, check.evidence(PASSAGES))[0]


def test_an_honest_gap_needs_no_passage(check):
    assert check.supported("AQ's articles don't cover warm-ups, so I won't invent one.", check.evidence(PASSAGES))[0]


def test_grounding_thresholds_hold_on_the_labelled_set(embeddings, glossary):
    """Precision and recall of catching unsupported sentences on each split of the labelled set: tune
    (the thresholds are chosen there) and heldout (new contexts, labelled before any scoring, never tuned on)."""
    from pathlib import Path

    import yaml
    from helpers import shipped_doctrine

    from assistant.config import Settings
    from assistant.grounding import GroundingCheck, precision_recall

    data = yaml.safe_load((Path(__file__).parent.parent / "evals" / "judges" / "grounding_guard_labelled.yaml").read_text())
    assert len(data["items"]) >= 80 and sum("real output" in i["source"] for i in data["items"]) >= 30
    held = [i for i in data["items"] if i["split"] == "heldout"]
    assert len(held) >= 20 and sum("real output" in i["source"] for i in held) >= 10
    assert {i["context"] for i in held}.isdisjoint({i["context"] for i in data["items"] if i["split"] == "tune"})
    s = Settings()
    check = GroundingCheck(embeddings, glossary, s.grounding_cosine, s.grounding_overlap, s.grounding_cosine_with_overlap,
                           shipped_doctrine().generic_words)
    evidence = {k: check.evidence(v["passages"]) for k, v in data["contexts"].items()}
    figures = {}
    for split in ("tune", "heldout"):
        rows = [(not check.supported(i["sentence"], evidence[i["context"]])[0], i["label"] == "unsupported")
                for i in data["items"] if i["split"] == split]
        figures[split] = precision_recall(rows)
    print(f"\n[grounding] tune {figures['tune']}\n[grounding] heldout {figures['heldout']}")
    for split in ("tune", "heldout"):
        assert figures[split]["precision"] >= 0.9 and figures[split]["recall"] >= 0.8, (split, figures[split])


def test_the_shipped_grounding_thresholds_are_the_tuners_choice_on_the_tune_split(embeddings, glossary):
    """Settings' grounding thresholds come from tune_grounding() on the tune split alone: re-tuning
    after a change to the check or to the labelled set must be a visible change to config.py."""
    from pathlib import Path

    import yaml
    from helpers import shipped_doctrine

    from assistant.config import Settings
    from assistant.grounding import GroundingCheck, tune_grounding

    data = yaml.safe_load((Path(__file__).parent.parent / "evals" / "judges" / "grounding_guard_labelled.yaml").read_text())
    s = Settings()
    check = GroundingCheck(embeddings, glossary, s.grounding_cosine, s.grounding_overlap, s.grounding_cosine_with_overlap,
                           shipped_doctrine().generic_words)
    tune = [i for i in data["items"] if i["split"] == "tune"]
    evidence = {k: check.evidence(v["passages"]) for k, v in data["contexts"].items() if k in {i["context"] for i in tune}}
    chosen = tune_grounding(check, tune, evidence)
    assert (chosen["cosine"], chosen["overlap"], chosen["cosine_with_overlap"]) == pytest.approx(
        (s.grounding_cosine, s.grounding_overlap, s.grounding_cosine_with_overlap)), chosen
