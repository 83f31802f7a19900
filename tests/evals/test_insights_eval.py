"""The insights eval (assistant.evals.insights_eval): the labelled seed conversations
(evals/insights/seed_conversations.yaml, written blind to the code) played through the real service
and the real chat controller into SQLite and into a throwaway PostgreSQL, then `aq-coach insights`
judged against the labels: precision and recall of content_gap and answer_failure per split, the
thresholds chosen on the tune split only, held-out figures at least 0.8."""

from __future__ import annotations

import json

import pytest
from helpers import SHIPPED_CORPUS, fresh_postgres_database, report
from typer.testing import CliRunner

from assistant.cli import app
from assistant.conversations import ConversationStore
from assistant.evals.insights_eval import FLAGS, FRESH, choose_rules, load_seed, score, seed_store, summary_lines, worst
from assistant.insights import Insights

pytestmark = [pytest.mark.slow]
FLOOR = 0.8


def test_the_seed_is_what_the_issue_asks_for():
    seed = load_seed()
    assert sum(len(t.conversations) for t in seed) >= 300
    for split in ("tune", "held_out"):
        labels = [t.label for t in seed if t.split == split]
        assert labels.count("content_gap") >= 2 and labels.count("answer_failure") >= 2 and labels.count("ok") >= 2
    assert sum(t.label == "content_gap" for t in seed) >= 5
    downs = [c.rating for t in seed if t.label == "answer_failure" for c in t.conversations]
    assert downs.count("down") > len(downs) / 2


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, service, tmp_path_factory):
    """The seed stored in a fresh database of each kind, as the chat controller stores athletes' chats."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'aq_coach.sqlite'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"), "seed")
    store = ConversationStore(url)
    seed = load_seed()
    asked = seed_store(service, store, seed)
    insights = Insights(service.settings.model_copy(update={"database_url": url}), store=store,
                        embeddings=service.searcher.embeddings)
    return {"kind": request.param, "url": url, "seed": seed, "asked": asked, "insights": insights}


def test_every_seeded_question_is_stored_with_its_vector_and_rating(seeded):
    rows = seeded["insights"].questions()
    conversations = [c for t in seeded["seed"] for c in t.conversations]
    assert len(rows) == len(seeded["asked"]) == sum(len(c.turns) for c in conversations)
    assert all(r.vector is not None and r.gap is not None and r.guard for r in rows)
    rated = [r.rating for r in rows if r.rating is not None]
    assert len(rated) == sum(c.rating != "none" for c in conversations)
    assert sum(bool(r.comment) for r in rows) == sum(bool(c.comment) and c.rating != "none" for c in conversations)


def test_insights_finds_the_seed_topics_verdicts(request, seeded):
    insights, seed, asked = seeded["insights"], seeded["seed"], seeded["asked"]
    topics = insights.topics()
    figures = score(topics, asked, seed)
    glossary, doctrine, related = insights.corpus()
    choice = choose_rules(insights.questions(), asked, seed, insights.rules, glossary=glossary, doctrine=doctrine,
                          related=related)
    chosen = choice.sweeps[str(choice.rules.topic_cosine)]
    report(request, [*summary_lines(figures, seeded["kind"]),
                     f"insights {seeded['kind']}: {len(topics)} topics from {len(asked)} questions; chosen on the tune split: "
                     f"topic cosine {choice.rules.topic_cosine} (tune pairwise F1 {chosen['pairwise_f1']:.3f}), "
                     f"gap share {choice.rules.gap_share} (of {chosen['gap_share']}), "
                     f"down share {choice.rules.down_share} (of {chosen['down_share']}); settings: {insights.rules}"])
    # the settings' thresholds are the tune split's choice, and the held-out topics meet the floor
    assert choice.rules == insights.rules
    assert worst(figures["tune"]) >= FLOOR
    for flag in FLAGS:
        assert figures["held_out"][flag]["precision"] >= FLOOR, figures["held_out"]
        assert figures["held_out"][flag]["recall"] >= FLOOR, figures["held_out"]


def test_insights_json_is_the_services_topics(seeded, tmp_path):
    env = {"AQ_DATA_DIR": str(tmp_path / "data"), "AQ_CORPUS_DIR": str(SHIPPED_CORPUS), "AQ_DATABASE_URL": seeded["url"]}
    result = CliRunner().invoke(app, ["insights", "--json"], env=env)
    assert result.exit_code == 0, result.output
    topics = json.loads(result.stdout)["topics"]
    assert topics == [t.as_dict() for t in seeded["insights"].topics()]
    flagged = [t for t in topics if t["verdict"] != "ok"]
    assert topics[: len(flagged)] == flagged   # the topics needing attention first
    gaps = {term for t in topics if t["verdict"] == "content_gap" for term in t["terms"]}
    assert {"shoes and spikes", "plyometrics", "warm-ups"} <= gaps
    assert any(t["suggested_articles"] for t in topics if t["verdict"] == "content_gap")


@pytest.mark.xfail(strict=True, reason=(
    "issue 28, open: on a second labelled set written blind after the thresholds were chosen "
    "(evals/insights/fresh_conversations.yaml), content_gap P 1.00 R 1.00 but answer_failure P 0.75 R 0.75: "
    "covered subjects that sit close together merge; strict, so it fails loudly once fixed"))
def test_a_fresh_blind_set_meets_the_floor(request, service, tmp_path):
    """The fresh set in a database of its own (its writer labelled some subjects the first seed also has, the
    other way round: stored together, the two sets would contradict each other), judged: never tuned on."""
    store = ConversationStore(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    seed = load_seed(FRESH)
    asked = seed_store(service, store, seed)
    insights = Insights(service.settings, store=store, embeddings=service.searcher.embeddings)
    figures = score(insights.topics(), asked, seed)
    report(request, summary_lines({"fresh": figures["fresh"]}, "sqlite"))
    assert figures["fresh"]["topics"] >= 12
    for flag in FLAGS:
        assert figures["fresh"][flag]["precision"] >= FLOOR, figures["fresh"]
        assert figures["fresh"][flag]["recall"] >= FLOOR, figures["fresh"]
