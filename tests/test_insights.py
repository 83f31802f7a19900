"""Insights (assistant.insights, insights_groups, insights_report) and `aq-coach insights`.

The pure part (`insights_from_rows`) is tested on rows built here: real AskedQuestion rows with
vectors made to be near or far. What is stored with an answer, and read back, goes through the real
service (composer, real index, real MiniLM), the real chat controller and sessions, on SQLite and a
real PostgreSQL. The labelled seed and its figures are tests/evals/test_insights_eval.py.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from helpers import SHIPPED_CORPUS, shipped_doctrine
from typer.testing import CliRunner

from assistant.chat import ChatController
from assistant.cli import app
from assistant.conversations import ConversationStore
from assistant.insights import AskedQuestion, Insights, TopicRules, cutoff, insights_from_rows
from assistant.insights_groups import facet_rows, group
from assistant.insights_report import render_page, write_report
from assistant.sessions import SessionChat

DIM = 384
RULES = TopicRules.from_settings()


def _direction(n: int) -> np.ndarray:
    """The n-th of a set of near-orthogonal unit directions."""
    v = np.random.default_rng(1000 + n).normal(size=DIM)
    return v / np.linalg.norm(v)


def _near(n: int, k: int, noise: float = 0.25) -> list[np.ndarray]:
    """k vectors close to direction n (cosine ≈ 0.95 to each other)."""
    rng = np.random.default_rng(n * 97 + k)
    out = []
    for _ in range(k):
        v = _direction(n) + noise * rng.normal(size=DIM) / np.sqrt(DIM)
        out.append(v / np.linalg.norm(v))
    return out


_ids = iter(range(1, 10**6))


def _row(vector, question="a question?", **kw) -> AskedQuestion:
    n = next(_ids)
    base = {"answer_id": 10**6 + n, "gap": False, "guard": "passed", "support": 0.6, "intent": "general"}
    return AskedQuestion(id=n, question=question, vector=vector, **{**base, **kw})


# --- grouping ------------------------------------------------------------------------------------

def test_questions_close_in_meaning_form_one_topic_and_far_ones_apart():
    rows = [_row(v, f"q{n}-{i}") for n in range(3) for i, v in enumerate(_near(n, 5))]
    topics = insights_from_rows(rows, RULES)
    assert sorted(t.count for t in topics) == [5, 5, 5]
    for t in topics:
        assert len({q.split("-")[0] for q in t.examples}) == 1   # each topic holds one direction's questions


def test_a_not_covered_topic_the_questions_name_joins_them_whatever_their_words():
    a, b = _direction(1), 0.3 * _direction(1) + 0.95 * _direction(2)
    b /= np.linalg.norm(b)
    assert float(a @ b) < RULES.topic_cosine   # too far apart in meaning alone
    rows = [_row(a, "what spikes should I buy?", gaps=("shoes and spikes",)),
            _row(b, "are pins on a rubber track ok?", gaps=("shoes and spikes",))]
    assert [t.count for t in insights_from_rows(rows, RULES)] == [2]
    from dataclasses import replace

    assert sorted(t.count for t in insights_from_rows(rows, replace(RULES, facet_weight=0))) == [1, 1]


def test_the_plan_subject_keeps_apart_questions_that_share_their_words():
    same = _near(3, 2, noise=0.8)   # related in meaning (cosine about 0.6), one about the doctrine
    rows = [_row(same[0], "does coordination cause speed?", intent="doctrine"),
            _row(same[1], "what does coordination mean?", intent="term")]
    assert float(same[0] @ same[1]) >= RULES.topic_cosine
    assert sorted(t.count for t in insights_from_rows(rows, RULES)) == [1, 1]


def test_grouping_is_deterministic_and_numbers_topics_by_their_first_question():
    rows = facet_rows(np.stack([v for n in (4, 5, 4) for v in _near(n, 3)]), [()] * 9, 1.0)
    first, again = group(rows, 0.55), group(rows, 0.55)
    assert first.tolist() == again.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]


def test_rows_without_a_vector_are_left_out_and_no_rows_give_no_topics():
    assert insights_from_rows([], RULES) == []
    assert insights_from_rows([_row(None)], RULES) == []


# --- figures and verdicts ---------------------------------------------------------------------------

def _topic(n: int, count: int, **kw):
    (topic,) = insights_from_rows([_row(v, f"question {n}.{i}", **kw(i) if callable(kw) else kw)
                                   for i, v in enumerate(_near(n, count))], RULES)
    return topic


def test_honest_gaps_make_a_content_gap():
    topic = _topic(6, 4, gap=True, support=0.45)
    assert topic.verdict == "content_gap" and topic.gap_share == 1.0 and "4 of 4" in topic.reason


def test_no_passage_above_the_floor_makes_a_content_gap():
    topic = _topic(7, 4, support=RULES.floor - 0.1)
    assert topic.verdict == "content_gap" and topic.gap_share == 0.0 and topic.support < RULES.floor


def test_covered_but_rated_down_is_an_answer_failure_and_one_thumb_is_not_a_pattern():
    rows = [_row(v, f"q{i}", rating=-1 if i < 3 else None, comment="too vague" if i == 0 else None)
            for i, v in enumerate(_near(8, 5))]
    (topic,) = insights_from_rows(rows, RULES)
    assert topic.verdict == "answer_failure" and topic.down_share == 0.6 and topic.ratings == {"up": 0, "down": 3}
    assert topic.comments == [{"rating": -1, "comment": "too vague"}] and len(topic.rated_down) == 3
    (one,) = insights_from_rows([_row(v, rating=-1 if i == 0 else None) for i, v in enumerate(_near(8, 2))], RULES)
    assert one.down_share == 0.5 and one.verdict == "ok"   # half its answers, but only one thumb


def test_guard_interventions_make_an_answer_failure():
    topic = _topic(9, 4, guard="replaced")
    assert topic.verdict == "answer_failure" and topic.guard_share == 1.0


def test_a_covered_topic_rated_well_is_ok_and_unknown_metadata_counts_as_unknown():
    topic = _topic(10, 4, rating=1, support=0.62)
    assert (topic.verdict, topic.support, topic.ratings) == ("ok", 0.62, {"up": 4, "down": 0})
    old = _topic(11, 3, gap=None, guard=None, support=None, rating=-1)   # answered before schema 3
    assert (old.gap_share, old.guard_share, old.support, old.verdict) == (0.0, 0.0, None, "answer_failure")


def test_topics_needing_attention_come_first():
    rows = ([_row(v, rating=1) for v in _near(12, 9)] + [_row(v, gap=True) for v in _near(13, 3)]
            + [_row(v, rating=-1) for v in _near(14, 5)])
    topics = insights_from_rows(rows, RULES)
    assert [(t.verdict, t.count) for t in topics] == [("answer_failure", 5), ("content_gap", 3), ("ok", 9)]
    assert topics[0].attention > topics[1].attention > topics[2].attention == 0


# --- naming ----------------------------------------------------------------------------------------

def test_a_topic_is_named_by_its_central_question_and_the_aq_terms_it_names(glossary):
    vs = _near(15, 4)
    rows = [_row(vs[0], "and the swing side?", standalone="What is contributor timing? and the swing side?"),
            _row(vs[1], "What is contributor timing?"), _row(vs[2], "what is contributor timing"),
            _row(vs[3], "Contributor timing in plain words please")]
    (topic,) = insights_from_rows(rows, RULES, glossary=glossary)
    assert topic.name != "and the swing side?"   # a follow-up names a topic poorly
    assert topic.terms == ["contributor timing"]
    assert len(topic.examples) == 3 and "what is contributor timing" not in topic.examples   # phrasings, once each


def test_without_aq_terms_a_topic_is_named_by_its_common_words():
    rows = [_row(v, q) for v, q in zip(_near(16, 3), ("how long should my warm up be", "warm up drills before a race",
                                                         "is a long warm up bad"))]
    (topic,) = insights_from_rows(rows, RULES, doctrine=shipped_doctrine())
    assert topic.terms[:2] == ["warm", "long"]


def test_a_content_gap_suggests_the_related_article_that_matches(settings):
    from assistant.indexing import related_for

    related = related_for(settings)   # the corpus's front matter: articles it links to but does not hold
    rows = [_row(v, "should I lift weights?", gap=True, gaps=("weights and strength training",)) for v in _near(17, 3)]
    (topic,) = insights_from_rows(rows, RULES, doctrine=shipped_doctrine(), related=related)
    isometric = [title for title, about in related if "isometric" in title.lower()]
    assert isometric and topic.suggested_articles == isometric
    (covered,) = insights_from_rows([_row(v, rating=1) for v in _near(18, 3)], RULES, doctrine=shipped_doctrine(),
                                    related=related)
    assert covered.suggested_articles == []


def test_a_topic_as_dict_is_plain_json():
    topic = _topic(19, 2, gap=True)
    data = json.loads(json.dumps(topic.as_dict()))
    assert {"name", "terms", "count", "examples", "gap_share", "down_share", "guard_share", "support", "verdict",
            "suggested_articles", "comments"} <= set(data)
    assert "question_ids" not in data and len(topic.as_dict(ids=True)["question_ids"]) == 2


# --- the page ---------------------------------------------------------------------------------------

def test_the_report_is_one_escaped_page_with_a_bar_chart(tmp_path):
    nasty = '<script>alert("x")</script> & <b>'
    rows = [_row(v, nasty, rating=-1, comment=nasty, answer=nasty) for v in _near(20, 3)]
    topics = [t.as_dict() for t in insights_from_rows(rows, RULES)]
    page = render_page(topics)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    html, data = write_report(tmp_path / "r", topics)
    assert html.read_text(encoding="utf-8") == page and json.loads(data.read_text(encoding="utf-8"))["topics"] == topics


# --- stored with each answer, read back -------------------------------------------------------------

def test_an_answer_is_stored_with_its_question_vector_and_metadata(service, glossary, database_url):
    store = ConversationStore(database_url)
    controller = ChatController(service, store, glossary)
    session = "a" * 32
    chat, turns = [], []
    for question in ("what spikes should I buy for the 100?", "What is contributor timing?", "and how do I improve it?"):
        for step in controller.respond(question, session, chat, turns):
            chat, turns = step.chat, step.turns
    list(SessionChat(service, store).turn("b" * 32, "What is the swing side?", "t1"))   # /chat_session stores the same
    controller.like(session, turns, len(turns) - 1, "Dislike")
    rows = Insights(service.settings.model_copy(update={"database_url": database_url}), store=store).questions()
    assert [r.question for r in rows] == ["what spikes should I buy for the 100?", "What is contributor timing?",
                                          "and how do I improve it?", "What is the swing side?"]
    spikes, timing, follow_up, swing = rows
    for row in rows:
        expected = np.asarray(service.searcher.query_vector(row.standalone), dtype=np.float32)
        assert row.vector is not None and float(row.vector @ expected / np.linalg.norm(row.vector)) > 0.9999
        assert row.guard == "passed" and row.intent and 0 < row.support <= 1
    assert spikes.gap and spikes.gaps == ("shoes and spikes",) and not timing.gap and "contributor timing" in timing.terms
    assert follow_up.follow_up and "contributor timing" in follow_up.standalone.lower() and follow_up.rating == -1
    assert swing.answer_id is not None and not swing.follow_up


def test_the_answer_keeps_its_vector_out_of_its_printed_form(service):
    answer = service.answer("What is the pushing side?")
    assert len(answer.query_vector) == DIM and answer.support is not None
    assert "query_vector" not in answer.as_dict() and "query_vector" not in repr(answer)
    assert answer.insight_meta()["gap"] is False and service.answer("what spikes should I buy?").gap


def test_questions_stored_without_vectors_are_embedded_when_read(tmp_path, settings, embeddings):
    store = ConversationStore(tmp_path / "old.sqlite")
    store.append_message("s1", "user", "Should I do plyometrics before sprinting?")   # as stored before schema 3
    store.append_message("s1", "assistant", "An answer.")
    store.append_message("s1", "user", "Still there?")   # never answered
    rows = Insights(settings.model_copy(update={"database_url": store.url}), store=store, embeddings=embeddings).questions()
    assert [r.answer_id is not None for r in rows] == [True, False]
    expected = np.asarray(embeddings.embed_query("Should I do plyometrics before sprinting?"), dtype=np.float32)
    assert float(rows[0].vector @ expected / (np.linalg.norm(rows[0].vector) * np.linalg.norm(expected))) > 0.999
    assert rows[0].gap is None and rows[0].gaps == ("plyometrics",)   # the doctrine's words, read again


def test_since_leaves_out_older_questions(tmp_path, settings, embeddings):
    store = ConversationStore(tmp_path / "since.sqlite")
    for question in ("old question?", "new question?"):
        store.append_message(question, "user", question)
    with sqlite3.connect(tmp_path / "since.sqlite") as conn:
        conn.execute("UPDATE messages SET created_at = '2020-01-01T00:00:00.000000+00:00' WHERE content = 'old question?'")
    insights = Insights(settings.model_copy(update={"database_url": store.url}), store=store, embeddings=embeddings)
    assert [r.question for r in insights.questions(7)] == ["new question?"]
    assert len(insights.questions()) == 2 and insights.stored_questions() == 2
    with pytest.raises(ValueError):
        cutoff(-1)


# --- the command ------------------------------------------------------------------------------------

def _invoke(args: list[str], data_dir, url: str | None = None):
    env = {"AQ_DATA_DIR": str(data_dir), "AQ_CORPUS_DIR": str(SHIPPED_CORPUS), "AQ_DATABASE_URL": url}
    return CliRunner().invoke(app, ["insights", *args], env=env)


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_insights_cli_json_and_report(service, glossary, tmp_path):
    store = ConversationStore(tmp_path / "data" / "aq_coach.sqlite")
    controller = ChatController(service, store, glossary)
    for n, question in enumerate(("what spikes should I buy?", "which spikes for the 200?", "What is the pushing side?")):
        list(controller.respond(question, f"{n:032x}", [], []))
    result = _invoke(["--json", "--report", str(tmp_path / "report")], tmp_path / "data")
    assert result.exit_code == 0, result.output
    topics = json.loads(result.stdout)["topics"]
    expected = Insights(service.settings.model_copy(update={"database_url": store.url}), store=store).topics()
    assert topics == [t.as_dict() for t in expected] and sum(t["count"] for t in topics) == 3
    assert topics[0]["verdict"] == "content_gap" and topics[0]["count"] == 2 and topics[0]["terms"] == ["shoes and spikes"]
    assert (tmp_path / "report" / "insights.html").exists()
    human = _invoke([], tmp_path / "data")
    assert human.exit_code == 0 and "content gap" in human.stdout and "pushing" in human.stdout


@pytest.mark.parametrize("since, message", [("abc", "--since must be a number of days"), ("-3", "0 or more")])
def test_a_bad_since_is_one_line(tmp_path, since, message):
    result = _invoke(["--since", since], tmp_path / "data")
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert len(_lines(result.stderr)) == 1


def test_no_database_is_one_line_and_none_is_created(tmp_path):
    result = _invoke([], tmp_path / "data")
    assert result.exit_code == 1 and "no chat history" in result.stderr and len(_lines(result.stderr)) == 1
    as_json = _invoke(["--json"], tmp_path / "data")
    assert as_json.exit_code == 1 and "no chat history" in json.loads(as_json.stdout)["error"]
    assert not (tmp_path / "data" / "aq_coach.sqlite").exists()


def test_a_database_with_no_questions_is_one_line(tmp_path):
    ConversationStore(tmp_path / "data" / "aq_coach.sqlite")   # the schema, and nothing asked yet
    result = _invoke([], tmp_path / "data")
    assert result.exit_code == 1 and "no conversations stored yet" in result.stderr and len(_lines(result.stderr)) == 1


def test_an_unreachable_database_is_one_line(tmp_path):
    result = _invoke([], tmp_path / "data", "postgresql+psycopg://aq:pw@127.0.0.1:1/aq")
    assert result.exit_code == 1 and "cannot open the database" in result.stderr and "pw" not in result.stderr
    assert len(_lines(result.stderr)) == 1 and "Traceback" not in result.output


def test_overlapping_turns_pair_each_answer_with_its_own_question(tmp_path):
    """Two tabs of one session: both questions stored before either answer; each answer names its question."""
    from assistant.insights import read_questions

    store = ConversationStore(f"sqlite:///{tmp_path / 'a.sqlite'}")
    sid = "a" * 32
    first = store.append_message(sid, "user", "What is contributor timing?", turn_id="t1")
    second = store.append_message(sid, "user", "Can I eat before a race?", turn_id="t2")
    store.append_message(sid, "assistant", "timing", turn_id="t1", reply_to=first, vector=[1.0, 0.0], meta={"gap": False})
    store.append_message(sid, "assistant", "not covered", turn_id="t2", reply_to=second, vector=[0.0, 1.0], meta={"gap": True})
    rows = {r.question: r for r in read_questions(store.engine)}
    assert (rows["What is contributor timing?"].answer, rows["What is contributor timing?"].gap) == ("timing", False)
    assert (rows["Can I eat before a race?"].answer, rows["Can I eat before a race?"].gap) == ("not covered", True)


def test_vectors_of_another_embedding_model_are_embedded_again(settings, embeddings):
    rows = [AskedQuestion(1, "What is contributor timing?", vector=np.ones(1536, dtype=np.float32)),
            AskedQuestion(2, "What is the swing side?", vector=None)]
    Insights(settings, embeddings=embeddings)._embed_missing(rows, None)
    assert [len(r.vector) for r in rows] == [384, 384]


def test_questions_stored_without_a_vector_are_embedded_once_per_insights(settings, embeddings):
    """The maintainers' page keeps one Insights and reads the same rows on every load."""
    class Counting(type(embeddings)):
        calls = 0

        def embed_documents(self, texts):
            Counting.calls += len(texts)
            return super().embed_documents(texts)

    counting = Counting.__new__(Counting)
    counting.__dict__.update(embeddings.__dict__)
    insights = Insights(settings, embeddings=counting)
    for _ in range(3):
        rows = [AskedQuestion(1, "What is contributor timing?"), AskedQuestion(2, "What is the swing side?")]
        insights._embed_missing(rows, None)
        assert all(r.vector is not None and len(r.vector) == 384 for r in rows)
    assert Counting.calls == 2
    # a message whose text changed (another database, the same id) is embedded afresh
    insights._embed_missing([AskedQuestion(1, "What is the pushing side?")], None)
    assert Counting.calls == 3
