"""The composer: the offline default answerer. No LLM; faithful by construction.

It composes from the answer units chunking built at ingest (assistant.units), guided by the
question plan (assistant.plan):

1. the lead answers the question directly: the about-AQ text, a glossary definition, a plain
   yes/no stance taken from the best unit, the training unit for "what should I work on", or,
   when AQ's articles don't cover the question, a plain admission first;
2. supporting units follow, ranked by how close they are to the question (embedding cosine and
   shared words) and picked with maximal marginal relevance, never repeating or containing
   another sentence, never on the opposite stance (improving vs disrupted) to the question's;
3. the answer stops at a word budget.

Every content sentence keeps the id of the chunk it came from. The weights are Settings fields.
Beside it: backends.unit_ranking scores the candidate units, backends.answer_shapes writes the lead
(1.) and backends.draft holds the answer being written; this module picks the support (2., 3.).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields

from ..config import Settings
from ..corpus import Glossary
from ..doctrine import Doctrine
from ..embeddings import as_vector, cosine
from ..guard import FramingJudge
from ..plan import QuestionPlan
from ..retrieval import SearchHit
from . import AnswerRequest, Piece
from .answer_shapes import AnswerShapes, listed
from .draft import GAP_ID, AnswerDraft, Composition
from .unit_ranking import Candidate, UnitRanker, names_any, shares_word


@dataclass(frozen=True)
class ComposerWeights:
    """The composer's Settings fields (composer_*), without the prefix."""

    semantic_weight: float
    lexical_weight: float
    rank_weight: float
    term_weight: float
    marker_weight: float
    stance_weight: float
    kind_bonus: dict
    mmr_lambda: float
    paraphrase_cosine: float
    support_cosine: float
    gap_support_cosine: float
    gap_cosine: float
    covered_cosine: float
    min_words: int
    max_words: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ComposerWeights:
        def value(name: str):
            key = f"composer_{name}"
            return getattr(settings, key) if settings is not None else Settings.model_fields[key].default

        return cls(**{f.name: value(f.name) for f in fields(cls)})


_OTHER = {"improving": "disrupted", "disrupted": "improving"}
# "AQ says those feelings may…": a unit that refers back to what its paragraph said before it
_LEANS_ON_PARAGRAPH = re.compile(r"^(?:\W*\w+\W+){0,3}?(?:those|these|that|this|such)\s+(?:feelings?|experiences?|changes?|"
                          r"relationships?|improvements?|words?|labels?|things?|moments?|sensations?)\b", re.I)
# "… all of those feelings as …": a unit naming what its paragraph listed before it, anywhere in the
# sentence; as support, after other passages, it points at nothing
_REFERS_BACK = re.compile(r"\b(?:all of )?(?:those|these|such)\s+(?:feelings?|experiences?|changes?|words?|labels?|"
                          r"things?|moments?|sensations?|improvements?|disruptions?)\b", re.I)
_SUPPORT_MIN_WORDS = 9   # a supporting unit shorter than this is a fragment of its paragraph


class Composer:
    """Compose an answer from retrieved chunks' answer units; deterministic, offline, traceable."""

    name = "composer"
    faithful = True    # it writes the articles' own sentences: no grounding check
    streams = False    # the whole answer is composed before its first piece

    def __init__(self, glossary: Glossary | None, doctrine: Doctrine, framing: FramingJudge, embeddings=None,
                 weights: ComposerWeights | None = None, related=()) -> None:
        self.glossary = glossary or Glossary([])
        self.related = tuple(related)  # (title, about) of linked AQ articles the corpus lacks
        self.doctrine = doctrine       # the corpus's, and its framing judge: no answer quotes a causal sentence
        self.framing = framing
        self.embeddings = embeddings
        self.w = weights or ComposerWeights.from_settings()
        self.ranker = UnitRanker(self.glossary, self.doctrine, framing, embeddings, self.w)
        self.shapes = AnswerShapes(self.glossary, self.doctrine, self.ranker, self.related)

    # -- the answerer interface (assistant.backends.Answerer) ------------------------------------
    def stream(self, request: AnswerRequest) -> Iterator[Piece]:
        """The composed answer, one piece (a unit with its citation, or a connective) at a time,
        each carrying the id of the chunk it was taken from."""
        trace = self.compose(request.plan, request.passages + request.more_passages, request.query_vector,
                             history=request.history).trace
        for n, (text, chunk_id) in enumerate(trace, 1):
            yield Piece(text if n == len(trace) else text + "\n\n", chunk_id)

    def condense(self, history: list[dict], question: str) -> str | None:
        return None  # the plan's own way: the previous topic + the follow-up

    # -- composing -------------------------------------------------------------------------------
    def compose(self, plan: QuestionPlan, hits: list[SearchHit], query_vector=None, history=None) -> Composition:
        if not hits:
            text = self.doctrine.text("no_match")
            return Composition(text, [(text, "")])
        # One float32 array, not a list of 384 floats converted again for every unit it is compared with.
        qvec = as_vector(query_vector if query_vector is not None else self._question_vector(plan.standalone))
        # a follow-up never repeats what the previous answers already said
        answer = AnswerDraft([m.get("content", "") for m in history or () if m.get("role") == "assistant"],
                             self.framing, self.doctrine.doctrine_marker)
        ranked = [c for c in self.ranker.rank(hits, plan, qvec) if not answer.said_before(c)]
        self.shapes.lead(answer, plan, ranked, qvec, hits)
        self._support(answer, ranked, plan, qvec)
        self.shapes.point_to_related(answer, plan)
        note = self.doctrine.text("gap_note").format(topics=listed(plan.gaps))
        if plan.gaps and not answer.gap and note:
            # a topic the articles don't cover, named in passing: said plainly, after the answer to the ask
            answer.say(note, GAP_ID)
        return answer.finish()

    def _question_vector(self, text: str):
        return self.ranker.embed([text])[0] if self.embeddings is not None else None

    @staticmethod
    def _naming_first(pool: list[Candidate], plan: QuestionPlan) -> list[Candidate]:
        """What is X? / are X and Y the same?: the support speaks of the terms defined, where passages do."""
        if plan.kind not in ("definition", "same_or_different") or not plan.named:
            return pool
        return [c for c in pool if names_any(c, plan.named)] or pool

    def _support(self, answer: AnswerDraft, ranked: list[Candidate], plan: QuestionPlan, qvec=None) -> None:
        """Add units by maximal marginal relevance until the word budget is met."""
        # The answer keeps one side: once its lead describes sprinting improving (or disrupted),
        # nothing from the other side is added. A contrast's lead gave both sides: its support is on
        # the side the athlete asks about, if any.
        side = plan.stance or ("" if plan.kind == "contrast" else next(
            (c.unit.stance for c in answer.sources if c.unit.stance in ("improving", "disrupted")), ""))
        # (what to work on answers a disrupted stride with what may need to improve: a training unit keeps any side)
        pool = [c for c in ranked if not answer.overlaps(c) and not (
            side and not (plan.wants_training and self.ranker.is_training(c.unit))
            and (c.unit.stance in (_OTHER[side], "mixed")
                 # the unit brings the sentence after it along ("…, they feel the result when … improving")
                 or (c.follower is not None and c.follower.unit.stance in (_OTHER[side], "mixed"))))]
        # a fragment (a sentence of a few words) or a unit pointing back
        # ("AQ says those feelings…") leans on the sentences around it in the article: alone it dangles
        pool = [c for c in pool if len(c.unit.text.split()) >= _SUPPORT_MIN_WORDS and not _LEANS_ON_PARAGRAPH.match(c.unit.text)
                and not _REFERS_BACK.search(c.unit.text)]
        if not plan.wants_training and plan.kind != "about_aq":
            # what to work on answers "what should I do?", not "how would I know?" or "what is it?"
            pool = [c for c in pool if not self.ranker.is_training(c.unit)]
        pool = self._naming_first(pool, plan)
        if answer.gap:  # only what is close to the question, or about the AQ term it names
            named = [t.lower().replace("-", " ") for t in plan.named]
            own = self.ranker.own_words(plan)
            pool = [c for c in pool if (c.semantic >= self.w.gap_support_cosine and shares_word(own, c.tokens))
                    or any(t in c.unit.text.lower().replace("-", " ") for t in named)][:1]
        lam = self.w.mmr_lambda
        # Each candidate's greatest similarity to what the answer says, brought up to date with only
        # the vectors added since the last pick (the answer only grows).
        similar: dict[int, float] = {}
        compared = 0
        while pool and (answer.words < self.w.min_words or not answer.cited):
            added, compared = answer.vectors[compared:], len(answer.vectors)
            for c in pool:
                for v, n in added:
                    if v is not None:
                        s = cosine(c.vector, v, c.norm2, n)
                        if id(c) not in similar or s > similar[id(c)]:
                            similar[id(c)] = s
            best = max(pool, key=lambda c: lam * c.score - (1 - lam) * similar.get(id(c), 0.0))
            pool.remove(best)
            if answer.overlaps(best) or (qvec is not None and best.semantic < self.w.support_cosine):
                continue  # every later sentence fits the ask (when there are vectors to tell)
            if any(cosine(best.vector, v, best.norm2, n) >= self.w.paraphrase_cosine for v, n in answer.vectors if v is not None):
                continue  # the same point in other words
            if answer.words + len(best.unit.text.split()) > self.w.max_words:
                continue
            answer.cite(best)
