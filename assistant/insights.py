"""Insights for maintainers: what athletes ask, grouped into topics, and which topics need attention.

`Insights` (the service `aq-coach insights` and the maintainers' page call) reads the stored
conversations (assistant.conversations; SQLite or PostgreSQL): every athlete's question with the
answer it got, the answer's metadata (schema 3: its question vector, an honest gap or not, the
guard's action, the retrieval support, the plan's terms and not-covered topics) and its rating and
comment. `insights_from_rows(rows, rules)` is the pure part: it groups the questions into topics
(assistant.insights_groups) and gives each topic its figures and a verdict:

- `content_gap`: the articles don't cover it: at least `gap_share` of its answers were honest gaps,
  or its median support (the best passage cosine) is under the relevance floor (composer_gap_cosine);
- `answer_failure`: passages exist, but at least `down_share` of its answers were rated down, or
  `guard_share` flagged by the guard (and at least two of them: one thumb is not a pattern);
- `ok`.

Topics are sorted by how much attention they need: flagged topics first, by count × the share that
flagged them; then the rest by count. An answer stored before schema 3 has no vector and no
metadata: its question is embedded when insights reads it (the offline MiniLM), and its gap, guard
and support count as unknown.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from .insights_groups import central, facet_rows, group

VERDICTS = ("content_gap", "answer_failure", "ok")
SUBJECT_INTENTS = ("doctrine", "feel", "training")   # plan intents that say what a question is about
_MIN_EVIDENCE = 2          # answers rated down (or flagged) before a topic is an answer failure
_EXAMPLES = 5
_EMBEDDED_MAX = 50_000     # vectors Insights keeps for questions stored without one (about 77 MB)
_WORD = re.compile(r"[a-z][a-z'-]+")


@dataclass
class AskedQuestion:
    """One athlete's question as stored, with the answer it got (a row insights reads)."""

    id: int                            # the question's message id
    question: str                      # as the athlete asked it
    vector: np.ndarray | None = None   # the standalone question's vector (None: not stored; embedded on reading)
    standalone: str = ""               # the follow-up made whole, as the answer used it
    created_at: str = ""
    conversation_id: int | None = None
    answer_id: int | None = None       # None: never answered
    answer: str = ""
    gap: bool | None = None            # None: not known (answered before schema 3)
    guard: str | None = None           # the guard's action: passed | filtered | regenerated | replaced | fallback
    support: float | None = None       # the best passage cosine; None: no passages searched, or not known
    intent: str = ""
    terms: tuple[str, ...] = ()        # AQ terms the plan targeted (named first)
    gaps: tuple[str, ...] = ()         # not-covered topics the question named
    rating: int | None = None          # +1 / -1 / None
    comment: str | None = None

    @property
    def facets(self) -> tuple[str, ...]:
        """What the plan said the question is about: its not-covered topics, main AQ term and subject."""
        out = [f"gap:{g}" for g in self.gaps]
        if self.terms:
            out.append(f"term:{self.terms[0]}")
        if self.intent in SUBJECT_INTENTS:
            out.append(f"intent:{self.intent}")
        return tuple(out)

    @property
    def follow_up(self) -> bool:
        """The plan made it whole from the turn before ("and the swing side?"): it names a topic poorly."""
        return bool(self.standalone) and " ".join(self.standalone.split()) != " ".join(self.question.split())

    def support_seen(self) -> float | None:
        """The support this answer counts with: an out-of-scope answer searched nothing, so it found nothing."""
        return 0.0 if self.support is None and self.intent == "out_of_scope" else self.support


@dataclass(frozen=True)
class TopicRules:
    """The thresholds of grouping and verdicts: the Settings fields insights_*, and the relevance floor
    (composer_gap_cosine, the cosine under which the composer says the articles don't cover a question)."""

    topic_cosine: float
    facet_weight: float
    gap_share: float
    down_share: float
    guard_share: float
    floor: float

    @classmethod
    def from_settings(cls, settings=None) -> TopicRules:
        """From settings; without, the Settings fields' defaults."""
        from .config import Settings

        def value(name: str):
            return getattr(settings, name) if settings is not None else Settings.model_fields[name].default

        return cls(*(value(f"insights_{n}") for n in ("topic_cosine", "facet_weight", "gap_share", "down_share",
                                                        "guard_share")), value("composer_gap_cosine"))


@dataclass
class Topic:
    """One topic: its questions' figures and verdict. `as_dict()` is what --json and the page show."""

    name: str                          # its most central question (not a follow-up, when it has one)
    terms: list[str]                   # the AQ terms (or not-covered topics, or words) its questions share
    count: int
    examples: list[str]                # up to 5 phrasings, most central first
    gap_share: float
    down_share: float
    guard_share: float
    support: float | None              # median retrieval support
    verdict: str
    reason: str                        # the verdict, in one line
    attention: float
    ratings: dict = field(default_factory=dict)       # {"up": n, "down": n}
    comments: list[dict] = field(default_factory=list)    # {"rating", "comment"}, thumbs-down first
    rated_down: list[dict] = field(default_factory=list)  # up to 3 {"question", "answer", "comment"}
    suggested_articles: list[str] = field(default_factory=list)
    last_asked: str = ""
    question_ids: list[int] = field(default_factory=list)

    def as_dict(self, ids: bool = False) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "question_ids"}
        if ids:
            data["question_ids"] = list(self.question_ids)
        return data


# --- the pure part: rows → topics ------------------------------------------------------------------

def insights_from_rows(rows: Sequence[AskedQuestion], rules: TopicRules | None = None, *, glossary=None,
                       doctrine=None, related: Sequence[tuple[str, str]] = ()) -> list[Topic]:
    """The topics of these questions, sorted by the attention they need. Rows without a vector are
    left out (Insights embeds them first). `glossary` and `doctrine` name a topic's terms and stop
    words; `related` ((title, about) of the articles the corpus links to) gives content gaps their
    suggested articles."""
    rules = rules or TopicRules.from_settings()
    rows = [r for r in rows if r.vector is not None]
    if not rows:
        return []
    matrix = facet_rows(np.stack([np.asarray(r.vector, dtype=np.float32) for r in rows]),
                        [r.facets for r in rows], rules.facet_weight)
    labels = group(matrix, rules.topic_cosine)
    topics = []
    for label in range(int(labels.max()) + 1):
        members = central(matrix, np.flatnonzero(labels == label))
        topics.append(_topic([rows[i] for i in members], rules, glossary, doctrine, related))
    return sorted(topics, key=lambda t: (t.verdict == "ok", -t.attention, -t.count, t.question_ids[0]))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _topic(members: list[AskedQuestion], rules: TopicRules, glossary, doctrine, related) -> Topic:
    answered = [r for r in members if r.answer_id is not None]
    known = [r for r in answered if r.gap is not None]
    gaps = sum(bool(r.gap) for r in known)
    flagged = sum(r.guard not in (None, "passed") for r in known)
    down = [r for r in answered if r.rating == -1]
    supports = [s for s in (r.support_seen() for r in known) if s is not None]
    support = round(statistics.median(supports), 3) if supports else None
    gap_share, down_share, guard_share = _share(gaps, len(known)), _share(len(down), len(answered)), _share(flagged, len(known))
    verdict, reason, attention = _verdict(rules, len(known), gaps, gap_share, support, len(answered), len(down), down_share,
                                          flagged, guard_share)
    topic = Topic(
        name=next((r.question for r in members if not r.follow_up), members[0].question),
        terms=topic_terms(members, glossary, doctrine), count=len(members),
        examples=_examples(members), gap_share=gap_share, down_share=down_share, guard_share=guard_share,
        support=support, verdict=verdict, reason=reason, attention=round(attention * len(members), 3),
        ratings={"up": sum(r.rating == 1 for r in answered), "down": len(down)},
        comments=[{"rating": r.rating, "comment": r.comment} for r in sorted(answered, key=lambda r: r.rating or 0)
                  if r.comment][:10],
        rated_down=[{"question": r.question, "answer": r.answer, "comment": r.comment or ""} for r in down[:3]],
        last_asked=max((r.created_at for r in members), default=""), question_ids=[r.id for r in members])
    if verdict == "content_gap":
        topic.suggested_articles = suggested_articles(members, topic.terms, doctrine, related)
    return topic


def _verdict(rules: TopicRules, known: int, gaps: int, gap_share: float, support: float | None, answered: int,
             down: int, down_share: float, flagged: int, guard_share: float) -> tuple[str, str, float]:
    """(verdict, its reason, the share that decided it: count × share is the topic's attention)."""
    if known and gap_share >= rules.gap_share:
        return "content_gap", f"{gaps} of {known} answers said the articles don't cover it", gap_share
    if support is not None and support < rules.floor:
        return ("content_gap", f"no passage is close: median support {support:.2f} is under the floor {rules.floor:.2f}",
                max(gap_share, 1 - support))
    if down >= _MIN_EVIDENCE and down_share >= rules.down_share:
        return "answer_failure", f"{down} of {answered} answers rated down, though passages cover it", down_share
    if flagged >= _MIN_EVIDENCE and guard_share >= rules.guard_share:
        return "answer_failure", f"{flagged} of {known} answers flagged by the guard", guard_share
    return "ok", f"{answered} answered, {down} rated down", 0.0


def _examples(members: list[AskedQuestion]) -> list[str]:
    seen, out = set(), []
    for r in members:
        key = " ".join(re.findall(r"[a-z0-9']+", r.question.lower()))   # case and punctuation aside, the same phrasing
        if key not in seen:
            seen.add(key)
            out.append(r.question)
        if len(out) == _EXAMPLES:
            break
    return out


def _stop_words(doctrine) -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | frozenset(getattr(doctrine, "generic_words", ()) or ())


def _common_words(members: list[AskedQuestion], doctrine, n: int = 3) -> list[str]:
    """The content words most of the topic's questions use (each question counted once per word)."""
    stop = _stop_words(doctrine)
    counts = Counter(w for r in members for w in {w.strip("'-") for w in _WORD.findall(r.question.lower())}
                     if len(w) > 2 and w not in stop)
    least = max(2, len(members) // 4)
    return [w for w, c in counts.most_common(n) if c >= least] or [w for w, _ in counts.most_common(1)]


def topic_terms(members: list[AskedQuestion], glossary=None, doctrine=None) -> list[str]:
    """What a topic's questions share: the AQ terms (the glossary's) at least a third of them name, and
    the not-covered topics at least a third name; else their most common content words."""
    least = max(1, len(members) / 3)
    named = Counter(t for r in members for t in dict.fromkeys(
        [t.term for t in glossary.terms_in(r.question)] if glossary is not None else list(r.terms[:1])))
    gaps = Counter(g for r in members for g in dict.fromkeys(r.gaps))
    shared = [t for t, c in named.most_common() if c >= least] + [g for g, c in gaps.most_common() if c >= least]
    return shared or _common_words(members, doctrine)


def suggested_articles(members: list[AskedQuestion], terms: list[str], doctrine, related) -> list[str]:
    """Titles of the articles the corpus links to (front matter `related:`) that match the topic: one
    the doctrine's words for a not-covered topic the questions name find in it, or one sharing two of
    the topic's content words."""
    named = {g for r in members for g in r.gaps}
    patterns = [g.pattern for g in getattr(doctrine, "not_covered", ()) if g.topic in named]
    stop = _stop_words(doctrine)
    words = {w for t in terms for w in _WORD.findall(t.lower()) if w not in stop}
    out = []
    for title, about in related:
        text = f"{title} {about}"
        own = {w for w in _WORD.findall(text.lower()) if w not in stop}
        if any(p.search(text) for p in patterns) or len(words & own) >= 2:
            out.append(title)
    return out


# --- the service: stored conversations → rows → topics ------------------------------------------

Progress = Callable[[str, int, int], None]   # (stage, done, total)


class Insights:
    """Topics of what athletes asked, from the app database (AQ_DATABASE_URL). The CLI and the
    maintainers' page call `topics(since_days)`; `Topic.as_dict()` is what they show."""

    def __init__(self, settings, store=None, embeddings=None) -> None:
        from .conversations import ConversationStore

        self.settings = settings
        self.store = store if store is not None else ConversationStore(settings.app_database_url)
        self.rules = TopicRules.from_settings(settings)
        self._embeddings = embeddings
        self._corpus: tuple | None = None
        # vectors embedded here for questions stored without one, by message id: the maintainers' page
        # reads the same rows on every load and must not embed them again each time
        self._embedded: dict[tuple[int, str], np.ndarray] = {}

    def stored_questions(self) -> int:
        """How many athletes' questions the database holds (any age)."""
        return count_questions(self.store.engine)

    def questions(self, since_days: float | None = None, progress: Progress | None = None) -> list[AskedQuestion]:
        """The questions asked in the last `since_days` days (all when None), each with a vector."""
        glossary, doctrine, _ = self.corpus()
        rows = read_questions(self.store.engine, cutoff(since_days), doctrine, glossary)
        self._embed_missing(rows, progress)
        return rows

    def topics(self, since_days: float | None = None, progress: Progress | None = None) -> list[Topic]:
        """The topics of the questions asked in the last `since_days` days, sorted by attention needed."""
        rows = self.questions(since_days, progress)
        if progress:
            progress("grouping", 0, len(rows))
        glossary, doctrine, related = self.corpus()
        found = insights_from_rows(rows, self.rules, glossary=glossary, doctrine=doctrine, related=related)
        if progress:
            progress("grouping", len(rows), len(rows))
        return found

    def corpus(self) -> tuple:
        """(glossary, doctrine, related articles) of the corpus; an unreadable corpus gives none."""
        if self._corpus is None:
            from .corpus import CorpusError
            from .indexing import doctrine_for, glossary_for, related_for

            try:
                self._corpus = (glossary_for(self.settings), doctrine_for(self.settings), related_for(self.settings))
            except (CorpusError, OSError, ValueError):
                self._corpus = (None, None, [])
        return self._corpus

    def _embedder(self):
        if self._embeddings is None:
            from .embeddings import make_embeddings

            self._embeddings = make_embeddings(self.settings)
        return self._embeddings

    def _embed_missing(self, rows: list[AskedQuestion], progress: Progress | None) -> None:
        """Questions answered before schema 3 (or never answered) have no stored vector, and one stored by
        another embedding model has another length: embed them now, with the current model."""
        lengths = {len(r.vector) for r in rows if r.vector is not None}
        if len(lengths) > 1 or (lengths and any(r.vector is None for r in rows)):   # the current model's length wins
            length = len(self._embedder().embed_query("length"))
            for row in rows:
                if row.vector is not None and len(row.vector) != length:
                    row.vector = None
        for row in rows:
            if row.vector is None:
                row.vector = self._embedded.get((row.id, row.standalone or row.question))
        lacking = [r for r in rows if r.vector is None]
        if not lacking:
            return
        self._embedder()
        if len(self._embedded) + len(lacking) > _EMBEDDED_MAX:
            self._embedded.clear()   # bounded: a long-running page forgets, and embeds again once
        for start in range(0, len(lacking), 256):
            if progress:
                progress("embedding older questions", start, len(lacking))
            batch = lacking[start:start + 256]
            for row, vector in zip(batch, self._embeddings.embed_documents([r.standalone or r.question for r in batch])):
                row.vector = np.asarray(vector, dtype=np.float32)
                self._embedded[(row.id, row.standalone or row.question)] = row.vector
        if progress:
            progress("embedding older questions", len(lacking), len(lacking))


def count_questions(engine) -> int:
    """How many athletes' questions (user messages) the database holds."""
    from sqlalchemy import func, select

    from .database import messages

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages).where(messages.c.role == "user")).scalar() or 0)


def read_questions(engine, since: str | None = None, doctrine=None, glossary=None) -> list[AskedQuestion]:
    """Every question asked at or after `since` (an ISO time; None: all), oldest conversation first,
    each with the answer that followed it in its conversation, the answer's stored vector and
    metadata, and its rating and comment. A question answered before schema 3 gets its not-covered
    topics and AQ terms from the doctrine and glossary instead (its gap, guard and support stay unknown)."""
    from sqlalchemy import select

    from .database import feedback, messages

    m, f = messages, feedback
    query = (select(m.c.id, m.c.conversation_id, m.c.role, m.c.content, m.c.created_at, m.c.question_vector, m.c.answer_meta)
             .order_by(m.c.conversation_id, m.c.id))
    if since:
        query = query.where(m.c.created_at >= since)
    with engine.connect() as conn:
        stored = conn.execute(query).all()
        rated = {r.message_id: (r.rating, r.comment) for r in conn.execute(
            select(f.c.message_id, f.c.rating, f.c.comment).where(f.c.message_id.is_not(None)).order_by(f.c.id))}
    rows: list[AskedQuestion] = []
    by_id: dict[int, AskedQuestion] = {}
    asked: AskedQuestion | None = None
    for msg in stored:
        if msg.role == "user":
            asked = AskedQuestion(id=int(msg.id), question=msg.content, created_at=msg.created_at or "",
                                  conversation_id=int(msg.conversation_id))
            rows.append(asked)
            by_id[asked.id] = asked
            continue
        # the question it names (stored since schema 3), else the conversation's last question before it
        target = by_id.get(parse_meta(msg.answer_meta).get("reply_to") or -1, asked)
        if target is not None and target.conversation_id == msg.conversation_id and target.answer_id is None:
            _answered(target, msg, rated.get(msg.id))
    for row in rows:
        if row.gap is None and not row.gaps and not row.terms:   # nothing stored: the plan's lexical facts, read again
            row.gaps = tuple(doctrine.gaps_in(row.question)) if doctrine is not None else ()
            row.terms = tuple(t.term for t in glossary.terms_in(row.question)) if glossary is not None else ()
    return rows


def _answered(row: AskedQuestion, msg, rating: tuple | None) -> None:
    """The answer's stored vector, metadata and rating onto its question's row."""
    from .database import unpack_vector

    meta = parse_meta(msg.answer_meta)
    row.answer_id, row.answer = int(msg.id), msg.content
    row.vector = unpack_vector(msg.question_vector)
    if meta:
        row.standalone = str(meta.get("standalone") or "")
        row.gap = bool(meta.get("gap"))
        row.guard = str(meta.get("guard") or "") or None
        row.support = float(meta["support"]) if isinstance(meta.get("support"), (int, float)) else None
        row.intent = str(meta.get("intent") or "")
        row.terms = tuple(str(t) for t in meta.get("terms") or ())
        row.gaps = tuple(str(g) for g in meta.get("gaps") or ())
    if rating is not None:
        row.rating, row.comment = int(rating[0]), rating[1]


def cutoff(since_days: float | None, now: datetime | None = None) -> str | None:
    """The ISO time `since_days` days ago (None: no cutoff); a negative or absurd number is a ValueError."""
    if since_days is None:
        return None
    days = float(since_days)
    if not days >= 0 or days > 100_000:   # also NaN
        raise ValueError(f"--since must be a number of days, 0 or more (not {since_days!r})")
    return ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="microseconds")


def parse_meta(text: str | None) -> dict:
    """An answer's stored metadata (messages.answer_meta), {} when there is none or it is unreadable."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
