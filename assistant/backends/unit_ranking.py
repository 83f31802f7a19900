"""The composer's candidates: the retrieved chunks' answer units, scored against the question plan.

A unit's score weighs how close it is to the question (embedding cosine and shared words), its
chunk's retrieval rank and its kind, plus bonuses for the AQ terms asked, training (for "what should
I work on") and a stance (for a yes/no). A unit on the opposite stance to the question's is left out.
The weights are Settings fields (backends.composer.ComposerWeights).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ..corpus import Glossary
from ..doctrine import Doctrine
from ..embeddings import as_vector, cosine, norm2
from ..guard import FramingJudge
from ..plan import QuestionPlan
from ..retrieval import SearchHit, tokenize
from ..units import AnswerUnit, parse_units

if TYPE_CHECKING:  # the composer imports this module: its weights are named here for the annotations only
    from .composer import ComposerWeights


@dataclass
class Candidate:
    unit: AnswerUnit
    chunk_id: str
    rank: int
    tokens: frozenset
    vector: tuple | None
    matched: frozenset = frozenset()   # tokens for matching: the unit and the set-up it answers
    follower: Candidate | None = None  # the next unit of its chunk, when that one carries on from it ("Instead, …")
    semantic: float = 0.0
    score: float = 0.0
    norm2: float = 0.0   # vector @ vector, kept: every comparison needs it


@lru_cache(maxsize=4096)
def _fallback_units(kind: str, section: str, body: str, question: str, doctrine: Doctrine,
                    framing: FramingJudge) -> tuple[AnswerUnit, ...]:
    return parse_units(body, kind, section, doctrine, framing, question)


# A unit that says no (a yes/no's verdict), not text.NEGATION: "no" and "without" inside a unit's sentence
# ("no single quality", "without interruption") do not make it a denial, "no longer" does.
NEGATES = re.compile(r"\b(not|no longer|never|isn't|aren't|doesn't|don't)\b|n't\b", re.I)
# kinds that describe one side of sprinting (improving or disrupted), the side the question is on
_ONE_SIDED = ("signs", "why_feel", "explain")
# A unit that carries on from the one before it in its chunk ("Instead, athletes feel …").
_CARRIES_ON = re.compile(r"^(?:Instead|Rather|In other words|That is why|Which is why|But)\b", re.I)


def names_any(c: Candidate, terms) -> bool:
    """The unit names one of these AQ terms (case- and hyphen-insensitive)."""
    text = c.unit.text.lower().replace("-", " ")
    return any(t.lower().replace("-", " ") in text for t in terms)


def shares_word(own: set, tokens: frozenset) -> bool:
    """One of the question's own words is among the unit's, or begins one ("smooth" → "smoother")."""
    return bool(own & tokens) or any(t.startswith(w) for w in own if len(w) >= 4 for t in tokens)


class UnitRanker:
    """Makes, scores and orders the candidate units of the retrieved chunks for one question plan."""

    def __init__(self, glossary: Glossary, doctrine: Doctrine, framing: FramingJudge, embeddings, weights: ComposerWeights) -> None:
        self.glossary = glossary
        self.doctrine = doctrine
        self.framing = framing
        self.embeddings = embeddings
        self.w = weights
        self._vectors: dict[str, tuple] = {}   # fallback embeddings, for hits that came without unit vectors
        # Per unit (by identity: the searcher keeps its units for an index version): its words and its
        # vector as an array with its norm, made once instead of in every answer that ranks it.
        self._prepared: dict[int, tuple] = {}
        self.generic_tokens = frozenset(tokenize(" ".join(self.doctrine.generic_words)))

    def embed(self, texts: list[str]) -> list[tuple | None]:
        """Vectors for units that came without one (hand-built hits, an index from before units)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing and self.embeddings is not None:
            if len(self._vectors) > 4096:
                self._vectors.clear()  # bounded: a long-running server must not grow it forever
            for t, v in zip(missing, self.embeddings.embed_documents(missing)):
                self._vectors[t] = tuple(v)
        return [self._vectors.get(t) for t in texts]

    def _prepare(self, u: AnswerUnit) -> tuple:
        """(unit, its tokens, its matching tokens, its vector as an array or None, that vector's norm²)."""
        entry = self._prepared.get(id(u))
        if entry is None or entry[0] is not u:
            if len(self._prepared) > 20000:
                self._prepared.clear()  # bounded: a new index version brings new units
            vector = as_vector(u.vector)
            entry = (u, frozenset(tokenize(u.text)), frozenset(tokenize(u.match_text)), vector, norm2(vector))
            self._prepared[id(u)] = entry
        return entry

    def candidates(self, hits: list[SearchHit]) -> list[Candidate]:
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            units = hit.units if hit.units is not None else _fallback_units(hit.kind, hit.section, hit.body, hit.question,
                                                                            self.doctrine, self.framing)
            mine = [Candidate(u, hit.id, rank, tokens, vector, matched=matched, norm2=norm2)
                    for u, tokens, matched, vector, norm2 in map(self._prepare, units)]
            for first, second in zip(mine, mine[1:]):
                if second.unit.follows or _CARRIES_ON.match(second.unit.text):
                    first.follower = second
            out.extend(mine)
        lacking = [c for c in out if c.vector is None]
        for c, v in zip(lacking, self.embed([c.unit.match_text for c in lacking])):
            c.vector = as_vector(v)  # compared many times while the answer is written
            c.norm2 = norm2(c.vector)
        return out

    def _query_tokens(self, plan: QuestionPlan) -> set:
        query = set(tokenize(plan.standalone))
        for term in plan.terms:
            query |= set(tokenize(term))
        return query

    def _score(self, cands: list[Candidate], plan: QuestionPlan, qvec) -> None:
        w, d = self.w, self.doctrine
        query = self._query_tokens(plan)
        named = [t.lower().replace("-", " ") for t in plan.named]
        qn = norm2(qvec)
        for c in cands:
            u = c.unit
            c.semantic = cosine(qvec, c.vector, qn, c.norm2)
            lexical = len(query & c.matched) / math.sqrt(max(1, len(query)) * max(1, len(c.matched)))
            c.score = (w.semantic_weight * c.semantic + w.lexical_weight * lexical
                       + w.rank_weight / (1 + c.rank) + w.kind_bonus.get(u.kind, 0.0))
            if named and any(t in u.text.lower().replace("-", " ") for t in named):
                c.score += w.term_weight
            if plan.wants_training and self.is_training(u):
                c.score += w.marker_weight
            if plan.intent in ("doctrine", "injection") and d.doctrine_marker.search(u.text):
                c.score += w.marker_weight
            if plan.kind == "yes_no" and (u.verdict or NEGATES.search(u.text)):
                c.score += w.stance_weight

    def training_unit(self, ranked: list[Candidate], plan: QuestionPlan | None = None) -> Candidate | None:
        """What to work on, in AQ's terms: the training unit naming the most AQ terms, by score; first
        one that names a term the question names, or its previous turn did ("how do I improve it?" after "what is
        contributor timing?"), not a term only implied (an umbrella like "sprint-system relationships")."""
        training = [c for c in ranked if self.is_training(c.unit)]
        targets = plan.named if plan else ()
        return max(training, key=lambda c: (names_any(c, targets), c.score + self.w.term_weight * self.terms_named(c)),
                   default=None)

    def own_words(self, plan: QuestionPlan) -> set:
        """The question's own words: not the ones nearly every question uses ("sprint", "fast")."""
        return set(tokenize(plan.question)) - self.generic_tokens

    def stance_words(self, c: Candidate, side: str) -> int:
        """How many words of one side (improving / disrupted) the unit uses: a richer description
        of the feeling the athlete asks about."""
        pattern = self.doctrine.disrupted if side == "disrupted" else self.doctrine.improving
        return min(6, len(pattern.findall(c.unit.text)))

    def terms_named(self, c: Candidate) -> int:
        """How many AQ terms (the glossary's) the unit names: at most 3 count."""
        return min(3, len(self.glossary.terms_in(c.unit.text)))

    def is_training(self, u: AnswerUnit) -> bool:
        return bool(self.doctrine.training_marker.search(u.text) or self.doctrine.training_section.search(u.section))

    def _fits(self, c: Candidate, plan: QuestionPlan) -> bool:
        """A unit on the opposite stance to the question's, or on both sides at once, is left out."""
        if not plan.stance or c.unit.stance == "neutral" or plan.kind not in _ONE_SIDED:
            return True  # what to train answers a disrupted stride with what may need to improve
        if plan.wants_training and self.is_training(c.unit):
            return True  # "how do I stop feeling stiff?": the same, asked from the feeling
        return c.unit.stance == plan.stance

    def rank(self, hits: list[SearchHit], plan: QuestionPlan, qvec) -> list[Candidate]:
        cands = self.candidates(hits)
        self._score(cands, plan, qvec)
        seen, out = set(), []
        for c in sorted(cands, key=lambda c: (-c.score, c.rank)):
            if c.unit.text not in seen and self._fits(c, plan):
                seen.add(c.unit.text)
                out.append(c)
        return out
