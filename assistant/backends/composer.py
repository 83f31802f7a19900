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
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from ..config import Settings
from ..corpus import Glossary
from ..doctrine import Doctrine
from ..doctrine import load as load_doctrine
from ..embeddings import as_vector, cosine, norm2
from ..guard import judge_sentence
from ..plan import QuestionPlan
from ..retrieval import SearchHit, tokenize
from ..text import split_sentences
from ..units import AnswerUnit, parse_units
from . import AnswerRequest, Piece

ABOUT_AQ_ID = "doctrine:about_aq"   # trace ids of fixed texts from corpus/doctrine.yaml
GAP_ID = "doctrine:gap"
DOCTRINE_ID = "doctrine:subject"


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


@dataclass
class Composition:
    text: str
    trace: list[tuple[str, str]]     # (sentence, chunk id); connective text has chunk id ""


def _containment(a: frozenset, b: frozenset) -> float:
    short = min(len(a), len(b))
    return len(a & b) / short if short else 0.0


@lru_cache(maxsize=4096)
def _fallback_units(kind: str, section: str, body: str, question: str, doctrine: Doctrine) -> tuple[AnswerUnit, ...]:
    return parse_units(body, kind, section, doctrine, question)


_NEGATES = re.compile(r"\b(not|no longer|never|isn't|aren't|doesn't|don't)\b|n't\b", re.I)
_FEEL = re.compile(r"\b(feel\w*|felt)\b", re.I)
_OTHER = {"improving": "disrupted", "disrupted": "improving"}
# kinds that describe one side of sprinting (improving or disrupted), the side the question is on
_ONE_SIDED = ("signs", "why_feel", "explain")
# kinds whose whole subject a not-covered topic can be, when the question names no AQ term
# (a feeling asked about is covered whatever else the question names: "flying 30s smooth, from blocks rushed")
_GAP_AS_SUBJECT = ("yes_no", "explain", "definition", "same_or_different")
# A unit that carries on from the one before it in its chunk ("Instead, athletes feel …").
_POINTS_BACK = re.compile(r"^(?:For example|That is why|Which is why),? (\w)")
_CARRIES_ON = re.compile(r"^(?:Instead|Rather|In other words|That is why|Which is why|But)\b", re.I)
# "AQ says those feelings may…": a unit that refers back to what its paragraph said before it
_LEANS_ON_PARAGRAPH = re.compile(r"^(?:\W*\w+\W+){0,3}?(?:those|these|that|this|such)\s+(?:feelings?|experiences?|changes?|"
                          r"relationships?|improvements?|words?|labels?|things?|moments?|sensations?)\b", re.I)


# Share of a sentence's own words found in one earlier answer's sentence that makes it a repeat: "what
# may drift" and "what may need to improve" share four in five of their words and are not the same point.
_SAID_BEFORE = 0.9


def _opening(sentence: str) -> tuple[str, ...]:
    """A sentence's first two words: an answer whose sentences open alike ("AQ views …", "AQ views …")
    reads like a list of quotes, not a coach."""
    return tuple(re.findall(r"[a-z']+", sentence.lower())[:2])


def _shares_word(own: set, tokens: frozenset) -> bool:
    """One of the question's own words is among the unit's, or begins one ("smooth" → "smoother")."""
    return bool(own & tokens) or any(t.startswith(w) for w in own if len(w) >= 4 for t in tokens)


def _listed(topics) -> str:
    """"a", "a or b", "a, b or c"."""
    topics = list(topics)
    return (", ".join(topics[:-1]) + " or " + topics[-1]) if len(topics) > 1 else (topics[0] if topics else "")


_SUPPORT_MIN_WORDS = 9   # a supporting unit shorter than this is a fragment of its paragraph


class Composer:
    """Compose an answer from retrieved chunks' answer units; deterministic, offline, traceable."""

    name = "composer"
    faithful = True    # it writes the articles' own sentences: no grounding check
    streams = False    # the whole answer is composed before its first piece

    def __init__(self, glossary: Glossary | None = None, doctrine: Doctrine | None = None, embeddings=None,
                 weights: ComposerWeights | None = None, related=()) -> None:
        self.glossary = glossary or Glossary([])
        self.related = tuple(related)  # (title, about) of linked AQ articles the corpus lacks
        self.doctrine = doctrine or load_doctrine()
        self.embeddings = embeddings
        self.w = weights or ComposerWeights.from_settings()
        self._vectors: dict[str, tuple] = {}   # fallback embeddings, for hits that came without unit vectors
        # Per unit (by identity: the searcher keeps its units for an index version): its words and its
        # vector as an array with its norm, made once instead of in every answer that ranks it.
        self._prepared: dict[int, tuple] = {}
        self._generic_tokens = set(tokenize(" ".join(self.doctrine.generic_words)))

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

    # -- candidates ------------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> list[tuple | None]:
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
            units = hit.units if hit.units is not None else _fallback_units(hit.kind, hit.section, hit.body, hit.question, self.doctrine)
            mine = [Candidate(u, hit.id, rank, tokens, vector, matched=matched, norm2=norm2)
                    for u, tokens, matched, vector, norm2 in map(self._prepare, units)]
            for first, second in zip(mine, mine[1:]):
                if second.unit.follows or _CARRIES_ON.match(second.unit.text):
                    first.follower = second
            out.extend(mine)
        lacking = [c for c in out if c.vector is None]
        for c, v in zip(lacking, self._embed([c.unit.match_text for c in lacking])):
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
            if plan.wants_training and self._is_training(u):
                c.score += w.marker_weight
            if plan.intent in ("doctrine", "injection") and d.doctrine_marker.search(u.text):
                c.score += w.marker_weight
            if plan.kind == "yes_no" and (u.verdict or _NEGATES.search(u.text)):
                c.score += w.stance_weight

    def _training_unit(self, ranked: list[Candidate]) -> Candidate | None:
        """What to work on, in AQ's terms: the training unit naming the most AQ terms, by score."""
        training = [c for c in ranked if self._is_training(c.unit)]
        return max(training, key=lambda c: c.score + self.w.term_weight * self._terms_named(c), default=None)

    def _own_words(self, plan: QuestionPlan) -> set:
        """The question's own words: not the ones nearly every question uses ("sprint", "fast")."""
        return set(tokenize(plan.question)) - self._generic_tokens

    def _stance_words(self, c: Candidate, side: str) -> int:
        """How many words of one side (improving / disrupted) the unit uses: a richer description
        of the feeling the athlete asks about."""
        pattern = self.doctrine.disrupted if side == "disrupted" else self.doctrine.improving
        return min(6, len(pattern.findall(c.unit.text)))

    def _terms_named(self, c: Candidate) -> int:
        """How many AQ terms (the glossary's) the unit names: at most 3 count."""
        return min(3, len(self.glossary.terms_in(c.unit.text)))

    def _is_training(self, u: AnswerUnit) -> bool:
        return bool(self.doctrine.training_marker.search(u.text) or self.doctrine.training_section.search(u.section))

    def _fits(self, c: Candidate, plan: QuestionPlan) -> bool:
        """A unit on the opposite stance to the question's, or on both sides at once, is left out."""
        if not plan.stance or c.unit.stance == "neutral" or plan.kind not in _ONE_SIDED:
            return True  # what to train answers a disrupted stride with what may need to improve
        if plan.wants_training and self._is_training(c.unit):
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

    # -- composing -------------------------------------------------------------------------------
    def compose(self, plan: QuestionPlan, hits: list[SearchHit], query_vector=None, history=None) -> Composition:
        if not hits:
            text = self.doctrine.text("no_match")
            return Composition(text, [(text, "")])
        # One float32 array, not a list of 384 floats converted again for every unit it is compared with.
        qvec = as_vector(query_vector if query_vector is not None else self._question_vector(plan.standalone))
        # a follow-up never repeats what the previous answers already said
        answer = _Draft([m.get("content", "") for m in history or () if m.get("role") == "assistant"],
                        self.doctrine.doctrine_marker)
        ranked = [c for c in self.rank(hits, plan, qvec) if not answer.said_before(c)]
        self._lead(answer, plan, ranked, qvec, hits)
        self._support(answer, ranked, plan, qvec)
        note = self.doctrine.text("gap_note").format(topics=_listed(plan.gaps))
        if plan.gaps and not answer.gap and note:
            # a topic the articles don't cover, named in passing: said plainly, after the answer to the ask
            answer.say(note, GAP_ID)
        return answer.finish()

    def _question_vector(self, text: str):
        return self._embed([text])[0] if self.embeddings is not None else None

    def _lead(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate], qvec, hits) -> None:
        if plan.kind == "about_aq" and any(answer.repeats(s) for s in split_sentences(self.doctrine.about_aq)):
            plan = replace(plan, kind="explain")  # said already in this chat: the passages that answer it instead
        if plan.kind == "about_aq" and self.doctrine.about_aq:
            answer.say(self.doctrine.about_aq, ABOUT_AQ_ID)
            # and where to start: what AQ has athletes work on (a passage the text above doesn't already list)
            fresh = [c for c in ranked if self._is_training(c.unit) and not answer.overlaps(c)]
            best = self._training_unit(fresh)
            if best is not None:
                answer.cite(best)
            return
        if plan.kind == "not_covered" and not plan.gaps and (
                plan.follows or max((c.semantic for c in ranked), default=0) >= self.w.covered_cosine):
            # the plan saw no covered topic, but no not-covered topic is named, and the question follows a
            # covered turn or a passage answers it closely ("what makes elite sprinters fast?"): a false
            # "not covered" is worse than an answer
            plan = replace(plan, kind="explain")
        if plan.kind == "not_covered" or (plan.gaps and not plan.named and plan.kind in _GAP_AS_SUBJECT):
            # "is arm action important?": a yes/no about a topic the articles don't cover
            self._admit_gap(answer, plan, ranked)
            return
        if plan.parts:
            # Each part is led on its own kind and stance, ranked against the whole question: a later
            # part ("and what should I work on?") takes its topic from the first.
            for n, part in enumerate(plan.parts):
                if n and not part.named:
                    part = replace(part, named=plan.named, terms=plan.terms)
                self._lead_one(answer, part, self.rank(hits, part, qvec) or ranked)
            return
        self._lead_one(answer, plan, ranked)

    def _lead_one(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> None:
        """The first sentences, in the shape the kind of ask wants (plan_model.KINDS)."""
        shape = {"definition": self._lead_definition, "same_or_different": self._lead_same_or_different,
                 "signs": self._lead_felt, "why_feel": self._lead_underneath, "contrast": self._lead_contrast,
                 "work_on": self._lead_work_on, "yes_no": self._lead_verdict, "pushback": self._lead_correction}
        lead = shape.get(plan.kind)
        if lead is not None and lead(answer, plan, ranked):
            pass
        elif plan.kind == "explain" and 1 <= len(plan.named) <= 2 and self._define(answer, plan, 2):
            pass  # "explain continuity in simple words", "how do X and Y link up": what each is, first
        elif ranked:
            answer.cite(ranked[0])
        if plan.intent in ("doctrine", "injection"):
            # what AQ holds instead: the relationships underneath, in its own terms
            under = self._under([c for c in ranked if not answer.overlaps(c)], plan.stance or "improving", None)
            if under is not None:
                answer.cite(under)

    def _lead_definition(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        if not plan.named and self._define_subject(answer, plan):
            # "what is coordination, really?": the doctrine's own answer, then what is underneath
            under = self._under(ranked, "improving", None)
            if under is not None and not answer.overlaps(under):
                answer.cite(under)
            return True
        if self._define(answer, plan, 2):  # "what's the difference between X and Y?": both
            felt = self._felt(ranked, plan.stance or "improving", plan)
            if felt is not None and not answer.overlaps(felt):
                answer.cite(felt)
            return True
        asked = set(tokenize(plan.question))
        best = next((c for c in ranked if c.unit.subject and set(tokenize(c.unit.subject)) <= asked), None)
        if best:
            answer.cite(best)
        return best is not None

    def _lead_same_or_different(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Both terms defined, then how they relate. The doctrine's subject ("isn't that just
        coordination?") counts as one of the two, defined in the doctrine's own words."""
        said = self._define(answer, plan, 2)
        if said < 2 and self._define_subject(answer, plan):
            said += 1
        if said >= 2:
            answer.say(self.doctrine.text("not_the_same"))
        return said > 0

    def _define_subject(self, answer: _Draft, plan: QuestionPlan) -> bool:
        """The doctrine's definition of its subject (coordination), when the question names it and
        the chat has not said it yet; whether it was said."""
        subject = self.doctrine.text("subject_definition")
        if subject and self.doctrine.subject_pattern.search(plan.question) and not answer.repeats(subject):
            answer.say(subject, DOCTRINE_ID)
            return True
        return False

    def _lead_work_on(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        in_passing = self.doctrine.text("gap_in_passing").format(topics=_listed(plan.gaps))
        if plan.gaps and in_passing and not answer.repeats(in_passing):
            answer.say(in_passing, GAP_ID)
        best = self._training_unit(ranked)
        if best:
            answer.cite(best)
        return best is not None

    def _felt(self, ranked: list[Candidate], side: str, plan: QuestionPlan) -> Candidate | None:
        """The unit that best says how sprinting feels on one side (improving or disrupted)."""
        felt = [c for c in ranked[:12] if _FEEL.search(c.unit.text) and c.unit.stance == side]
        return max(felt, key=lambda c: c.score + 0.05 * self._stance_words(c, side), default=None)

    def _under(self, ranked: list[Candidate], side: str, besides: Candidate | None) -> Candidate | None:
        """The unit that says, in AQ's terms, what may be happening underneath, on one side."""
        # what may need to improve (a training unit) is the answer to "what should I do?", not what is underneath
        named = [c for c in ranked if c is not besides and self._terms_named(c) >= 2 and not self._is_training(c.unit)]
        return next((c for c in named if c.unit.stance == side), named[0] if named else None)

    def _lead_felt(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """How would I know…: what it feels like, on the side asked, then what is underneath."""
        side = plan.stance or "improving"
        felt = self._felt(ranked, side, plan)
        if felt is not None and not answer.overlaps(felt):
            answer.cite(felt)
        under = self._under([c for c in ranked if not answer.overlaps(c)], side, felt)
        if under is not None:
            answer.cite(under)
        return bool(felt or under)

    def _lead_underneath(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Why does it feel…: the feeling named in AQ's words, then what may be happening underneath."""
        return self._lead_felt(answer, plan, ranked)

    def _lead_contrast(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Two situations: the passage closest to the question, then each side it leaves out, with
        that side's own passage."""
        if not ranked:
            return False
        answer.cite(ranked[0])
        # the side the athlete worries about leads; the other side is added when the question is balanced
        sides = ("improving", "disrupted") if not plan.stance else (plan.stance,)
        for side in sides:
            if any(c.unit.stance == side for c in answer.sources):
                continue
            c = self._felt(ranked, side, plan) or self._under(ranked, side, None)
            if c is not None and c.unit.stance == side and not answer.overlaps(c):
                answer.cite(c, prefix=self.doctrine.text("by_contrast"), lower=True)
        return True

    def _lead_verdict(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        if not ranked:
            return False
        # the unit that takes a stance answers a yes/no most directly: an FAQ verdict, else a negation
        best = next((c for c in ranked[:3] if c.unit.verdict), None) or next(
            (c for c in ranked[:3] if _NEGATES.search(c.unit.text)), ranked[0])
        answer.cite(best, prefix=self._verdict(plan, best))
        return True

    def _lead_correction(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Pushback: a plain correction, then the passage that says what AQ does hold."""
        if not ranked:
            return False
        doctrine = [c for c in ranked[:6] if self.doctrine.doctrine_marker.search(c.unit.text)]
        best = doctrine[0] if doctrine and plan.intent in ("doctrine", "injection") else ranked[0]
        answer.say(self.doctrine.text("correction_lead"))
        if plan.intent not in ("doctrine", "injection"):
            self._define(answer, plan, 2)  # "it's all one timing": what each term AQ uses means
        answer.cite(best)
        return True

    def _verdict(self, plan: QuestionPlan, best: Candidate) -> str:
        """A plain verdict to open a yes/no answer, taken from the unit that answers it."""
        t = self.doctrine.text
        if best.unit.verdict == "no" or (plan.intent == "doctrine" and _NEGATES.search(best.unit.text)):
            return t("verdict_no")
        if best.unit.verdict == "yes":
            return t("verdict_yes")
        if _NEGATES.search(best.unit.text):
            return t("verdict_not_necessarily")
        return t("verdict_it_depends")

    def _asked_terms(self, plan: QuestionPlan) -> list[str]:
        return list(dict.fromkeys(list(plan.named) + list(plan.terms)))

    def _define(self, answer: _Draft, plan: QuestionPlan, most: int) -> int:
        """The glossary definitions of (at most `most` of) the asked terms; how many were said."""
        said = 0
        names = self._asked_terms(plan)[:most] if plan.kind == "same_or_different" else (
            plan.named[:most] or (plan.terms[:1] if plan.intent == "term" else ()))
        for name in names:
            term = self.glossary.get(name)
            if term and not answer.repeats(term.definition):
                lead = "In AQ's terms," if not said else "And"
                article = " the" if term.term.endswith("side") else ""
                answer.say(f"{lead}{article} **{term.term}** is {term.definition[0].lower() + term.definition[1:]}",
                           f"glossary:{term.term}")
                said += 1
        return said

    def _admit_gap(self, answer: _Draft, plan: QuestionPlan, ranked: list[Candidate]) -> None:
        what = _listed(plan.gaps)
        if what:
            answer.say(f"AQ's articles don't cover {what}, so I won't invent advice on it.", GAP_ID)
        else:
            answer.say("AQ's articles don't cover that directly, so I won't invent an answer.", GAP_ID)
        topics = [g.pattern for g in self.doctrine.not_covered if g.topic in plan.gaps]
        for title, about in self.related:
            if any(p.search(f"{title} {about}") for p in topics):
                answer.say(f"AQ has a separate article that may cover it, “{title.rstrip('!. ')}”, "
                           "but it isn't among the articles I answer from.", GAP_ID)
                break
        if plan.named and self._define(answer, plan, 1):
            return
        if plan.wants_training:  # "what drills…?": no drills, but what AQ would have you work on
            best = self._training_unit(ranked)
            if best:
                answer.cite(best)
                return
        # closest: a passage that mentions the very topic (the arms, for arm action),
        # else one near the question in meaning that shares one of its own words (not only "sprint")
        own = self._own_words(plan)
        vectors = any(c.vector is not None for c in ranked)
        close = ([c for c in ranked if any(p.search(c.unit.text) for p in topics)
                  and (c.semantic >= self.w.support_cosine or not vectors)]
                 or [c for c in ranked if c.semantic >= self.w.gap_support_cosine and _shares_word(own, c.tokens)])
        if close:
            answer.say("The closest thing they do say:")
            answer.cite(close[0])
        elif self.doctrine.text("gap_offer"):
            answer.say(self.doctrine.text("gap_offer"), GAP_ID)

    def _support(self, answer: _Draft, ranked: list[Candidate], plan: QuestionPlan, qvec=None) -> None:
        """Add units by maximal marginal relevance until the word budget is met."""
        # The answer keeps one side: once its lead describes sprinting improving (or disrupted),
        # nothing from the other side is added.
        side = plan.stance or next((c.unit.stance for c in answer.sources if c.unit.stance in ("improving", "disrupted")), "")
        # (what to work on answers a disrupted stride with what may need to improve: a training unit keeps any side)
        pool = [c for c in ranked if not answer.overlaps(c) and not (
            side and c.unit.stance in (_OTHER[side], "mixed") and plan.kind != "contrast"
            and not (plan.wants_training and self._is_training(c.unit)))]
        # a fragment (a sentence of a few words) or a unit pointing back
        # ("AQ says those feelings…") leans on the sentences around it in the article: alone it dangles
        pool = [c for c in pool if len(c.unit.text.split()) >= _SUPPORT_MIN_WORDS and not _LEANS_ON_PARAGRAPH.match(c.unit.text)]
        if not plan.wants_training and plan.kind != "about_aq":
            # what to work on answers "what should I do?", not "how would I know?" or "what is it?"
            pool = [c for c in pool if not self._is_training(c.unit)]
        if answer.gap:  # only what is close to the question, or about the AQ term it names
            named = [t.lower().replace("-", " ") for t in plan.named]
            own = self._own_words(plan)
            pool = [c for c in pool if (c.semantic >= self.w.gap_support_cosine and _shares_word(own, c.tokens))
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


class _Draft:
    """An answer being written: its pieces, their chunk ids, and what it already says."""

    def __init__(self, said_before: list[str] = (), doctrine_marker: re.Pattern | None = None) -> None:
        self.doctrine_marker = doctrine_marker   # the doctrine sentence, said at most once
        self.said_doctrine = False
        self.pieces: list[tuple[str, str]] = []
        self.tokens: list[frozenset] = []
        self.before = [frozenset(tokenize(s)) for text in said_before for s in split_sentences(text)]
        self.openings: set[tuple[str, ...]] = set()   # each sentence's first two words
        self.vectors: list[tuple] = []   # (vector, its norm²) of each unit quoted
        self.cited: list[str] = []
        self.sources: list[Candidate] = []   # the units quoted, in order
        self.words = 0
        self.gap = False

    def say(self, text: str, chunk_id: str = "") -> None:
        self.pieces.append((text, chunk_id))
        self.said_doctrine |= bool(chunk_id == DOCTRINE_ID or (self.doctrine_marker and self.doctrine_marker.search(text)))
        self.tokens.extend(frozenset(tokenize(s)) for s in split_sentences(text))
        self.openings.update(_opening(s) for s in split_sentences(text))
        self.words += len(re.findall(r"[A-Za-z0-9]+", text))
        if chunk_id == GAP_ID:
            self.gap = True

    def repeats(self, text: str) -> bool:
        """Most of this text was said already, in this answer or an earlier one."""
        mine = frozenset(tokenize(text))
        if any(_containment(mine, t) >= 0.6 for t in self.tokens if t):
            return True
        return self._said_before(mine)

    def said_before(self, c: Candidate) -> bool:
        """An earlier answer in the conversation already said (most of) this unit: most of the unit's
        own words are in one of its sentences (a short sentence that shares words is no repeat)."""
        return any(self._said_before(frozenset(tokenize(s))) for s in split_sentences(c.unit.text))

    def _said_before(self, mine: frozenset) -> bool:
        return bool(mine) and any(len(mine & t) / len(mine) >= _SAID_BEFORE for t in self.before if t)

    def overlaps(self, c: Candidate) -> bool:
        """A sentence of the unit repeats, or is mostly contained in, a sentence already said (in
        this answer or an earlier one), or opens with the same two words as one of this answer's."""
        if any(_containment(c.tokens, t) >= 0.6 for t in self.tokens if t) or self.said_before(c):
            return True
        if self.said_doctrine and self.doctrine_marker and self.doctrine_marker.search(c.unit.text):
            return True
        sentences = split_sentences(c.unit.text)
        if any(_opening(s) in self.openings for s in sentences):
            return True
        return any(_containment(frozenset(tokenize(s)), t) >= 0.6 for s in sentences for t in self.tokens if t)

    def cite(self, c: Candidate, prefix: str = "", following: bool = False, lower: bool = False) -> None:
        if c.chunk_id not in self.cited:
            self.cited.append(c.chunk_id)
        # "For example, …" and "That is why …" point at the article's previous sentence, which the
        # answer has only when this unit follows it.
        text = c.unit.text if following else _POINTS_BACK.sub(lambda m: m.group(1).upper(), c.unit.text)
        if lower and text[:1].isupper() and not text[1:2].isupper():
            text = text[0].lower() + text[1:]  # after a connective ("By contrast, when …")
        if judge_sentence(text).label == "causal":
            return
        self.say(f"{prefix + ' ' if prefix else ''}{text} [{self.cited.index(c.chunk_id) + 1}]", c.chunk_id)
        self.sources.append(c)
        if c.follower is not None and c.follower not in self.sources and not self.overlaps(c.follower):
            self.cite(c.follower, following=True)  # "… do not usually feel X." + "Instead, they feel the combined result …"
        self.vectors.append((c.vector, c.norm2))

    def finish(self) -> Composition:
        return Composition("\n\n".join(t for t, _ in self.pieces), list(self.pieces))
