"""The lead of a composed answer, in the shape its kind of ask wants (plan_model.KINDS).

The lead answers the question directly: the about-AQ text, a glossary definition, a plain yes/no
stance taken from the best unit, what it feels like and what is underneath, a correction, the
training unit for "what should I work on", or, when AQ's articles don't cover the question, a plain
admission first. The composer (backends.composer) adds the supporting units after it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..corpus import Glossary
from ..doctrine import Doctrine
from ..plan import QuestionPlan
from ..retrieval import SearchHit, tokenize
from ..text import split_sentences
from .draft import ABOUT_AQ_ID, DOCTRINE_ID, GAP_ID, AnswerDraft
from .unit_ranking import NEGATES, Candidate, UnitRanker, names_any, shares_word

# the question compares two things in so many words (sentence structure, not a kind of ask): a term
# defined alone is then set beside the athlete's word ("is the swing side just my arms?")
_COMPARES = re.compile(r"\b(?:same|different|difference|differ|just|basically|another word|synonym|vs|versus)\b|=", re.I)
_FEEL = re.compile(r"\b(feel\w*|felt)\b", re.I)
# kinds whose whole subject a not-covered topic can be, when the question names no AQ term
# (a feeling asked about is covered whatever else the question names: "flying 30s smooth, from blocks rushed")
_GAP_AS_SUBJECT = ("yes_no", "explain", "definition", "same_or_different")


def listed(topics, last: str = "or") -> str:
    """"a", "a or b", "a, b or c" (or "and", with last="and")."""
    topics = list(topics)
    return (", ".join(topics[:-1]) + f" {last} " + topics[-1]) if len(topics) > 1 else (topics[0] if topics else "")


def _prose_title(title: str) -> str:
    """A linked article's title inside a sentence: its main part ("Is X Real? (And Why)" → "Is X Real"),
    no end mark to split the sentence at, SHOUTED words in title case."""
    main = re.split(r"[?!]|\s\(", title, maxsplit=1)[0].strip(" .:")
    return re.sub(r"\b[A-Z]{3,}\b", lambda m: m.group(0).capitalize() if m.group(0) != "AQ" else "AQ", main)


def _leaves_side(c: Candidate, side: str) -> bool:
    """The unit brings the sentence after it along (answer.cite), and that one is on the other side."""
    return c.follower is not None and c.follower.unit.stance not in (side, "neutral")


class AnswerShapes:
    """Writes an answer's lead into its draft, one shape per kind of ask."""

    def __init__(self, glossary: Glossary, doctrine: Doctrine, ranker: UnitRanker, related=()) -> None:
        self.glossary = glossary
        self.doctrine = doctrine
        self.ranker = ranker
        self.w = ranker.w
        self.related = tuple(related)  # (title, about) of linked AQ articles the corpus lacks
        # words every felt passage or question about feeling uses: naming them is not naming what the athlete said
        self._felt_filler = frozenset(tokenize(f"feel feels felt feeling like {doctrine.subject}"))

    def lead(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate], qvec, hits: list[SearchHit]) -> None:
        if plan.set_aside and self.doctrine.text("set_aside"):
            answer.say(self.doctrine.text("set_aside"))  # the off-topic part, said plainly first (not a gap: nothing is missing)
        if plan.kind == "about_aq" and any(answer.repeats(s) for s in split_sentences(self.doctrine.about_aq)):
            plan = replace(plan, kind="explain")  # said already in this chat: the passages that answer it instead
        if plan.kind == "about_aq" and self.doctrine.about_aq:
            answer.say(self.doctrine.about_aq, ABOUT_AQ_ID)
            titles = listed((f"“{_prose_title(title)}”" for title, _ in self.related), last="and")
            if titles and self.doctrine.text("related_articles"):
                answer.say(self.doctrine.text("related_articles").format(titles=titles), ABOUT_AQ_ID)
            # and where to start: what AQ has athletes work on (a passage the text above doesn't already list)
            fresh = [c for c in ranked if self.ranker.is_training(c.unit) and not answer.overlaps(c)]
            best = self.ranker.training_unit(fresh)
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
                self._lead_one(answer, part, self.ranker.rank(hits, part, qvec) or ranked)
            return
        self._lead_one(answer, plan, ranked)

    def _lead_one(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> None:
        """The first sentences, in the shape the kind of ask wants (plan_model.KINDS)."""
        shape = {"definition": self._lead_definition, "same_or_different": self._lead_same_or_different,
                 "signs": self._lead_felt, "why_feel": self._lead_underneath, "contrast": self._lead_contrast,
                 "work_on": self._lead_work_on, "yes_no": self._lead_verdict, "pushback": self._lead_correction}
        lead = shape.get(plan.kind)
        if lead is not None and lead(answer, plan, ranked):
            pass
        elif plan.kind == "explain" and 1 <= len(plan.named) <= 2 and self._define(answer, plan, 2):
            pass  # "explain continuity in simple words", "how do X and Y link up": what each is, first
        elif ranked and not answer.overlaps(ranked[0]):
            answer.cite(ranked[0])
        if plan.intent in ("doctrine", "injection"):
            # what AQ holds instead: the relationships underneath, in its own terms
            under = self._under([c for c in ranked if not answer.overlaps(c)], plan.stance or "improving", None)
            if under is not None:
                answer.cite(under)

    def _lead_definition(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        if not plan.named and self._define_subject(answer, plan):
            # "what is coordination, really?": the doctrine's own answer, then what is underneath, on the
            # side the question is on ("her coordination fell apart": what drifting apart means)
            under = self._under(ranked, plan.stance or "improving", None)
            if under is not None and not answer.overlaps(under):
                answer.cite(under)
            return True
        if self._define(answer, plan, 2):  # "what's the difference between X and Y?": both
            # how it feels, in a passage that names the term defined
            side = plan.stance or "improving"
            felt = self._felt([c for c in ranked if names_any(c, plan.named)], side, plan) or self._felt(ranked, side, plan)
            if felt is not None and not answer.overlaps(felt):
                answer.cite(felt)
            return True
        asked = set(tokenize(plan.question))
        best = next((c for c in ranked if c.unit.subject and set(tokenize(c.unit.subject)) <= asked), None)
        if best:
            answer.cite(best)
            return True
        # "wdym by 'interrupted'?": the AQ term whose everyday word the question asks about
        term = self.glossary.likeliest_term(plan.question)
        return term is not None and bool(self._define(answer, replace(plan, named=(term.term,)), 1))

    def _lead_same_or_different(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Both terms defined, then how they relate. The doctrine's subject ("isn't that just
        coordination?") counts as one of the two, defined in the doctrine's own words."""
        # "is that the same as turnover?": a term this chat defined already counts as one of the two
        known = sum(1 for name in self._asked_terms(plan)[:2]
                    if (term := self.glossary.get(name)) is not None and answer.repeats(term.definition))
        said = self._define(answer, plan, 2)
        if said < 2 and self._define_subject(answer, plan):
            said += 1
        if said < 2 and not plan.named:
            # "is rhythm the same as coordination?": the term the everyday word most likely means
            term = self.glossary.likeliest_term(self.doctrine.subject_pattern.sub(" ", plan.question))
            if term is not None:
                said += self._define(answer, replace(plan, named=(term.term,), terms=()), 1, said)
        # "is the swing side just my arms?": one AQ term, and an everyday word it is compared with
        if said >= 2 or (said and (said + known >= 2 or _COMPARES.search(plan.question))):
            answer.say(self.doctrine.text("not_the_same"))
        return said > 0

    def _define_subject(self, answer: AnswerDraft, plan: QuestionPlan) -> bool:
        """The doctrine's definition of its subject (coordination), when the question names it and
        the chat has not said it yet; whether it was said."""
        subject = self.doctrine.text("subject_definition")
        if subject and self.doctrine.subject_pattern.search(plan.question) and not answer.repeats(subject):
            answer.say(subject, DOCTRINE_ID)
            return True
        return False

    def _lead_work_on(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        in_passing = self.doctrine.text("gap_in_passing").format(topics=listed(plan.gaps))
        if plan.gaps and in_passing and not answer.repeats(in_passing):
            answer.say(in_passing, GAP_ID)
        best = self.ranker.training_unit(ranked, plan)
        if best:
            answer.cite(best)
        if plan.stance == "disrupted":
            # "how do I stop my form falling apart?": and what may be happening underneath that feeling
            fresh = [c for c in ranked if not answer.overlaps(c)]
            under = self._under(fresh, "disrupted", best)
            if under is None or under.unit.stance != "disrupted":
                under = self._felt(fresh, "disrupted", plan)  # (the list above already names the terms)
            if under is not None:
                answer.cite(under)
        return best is not None

    def _felt(self, ranked: list[Candidate], side: str, plan: QuestionPlan) -> Candidate | None:
        """The unit that best says how sprinting feels on one side (improving or disrupted)."""
        # (the doctrine's own sentence "coordination is the label for how … feels" defines; it is not a feeling)
        felt = [c for c in ranked[:12] if _FEEL.search(c.unit.text) and c.unit.stance == side and not _leaves_side(c, side)
                and not self.doctrine.doctrine_marker.search(c.unit.text)]
        # the athlete's own words ("heavy", "rushed") in the first sentence: it names what they said
        own = self.ranker.own_words(plan) - set(tokenize(" ".join(plan.terms))) - self._felt_filler
        return max(felt, key=lambda c: c.score + 0.05 * self.ranker.stance_words(c, side)
                   + 0.5 * min(3, len(own & frozenset(tokenize(split_sentences(c.unit.text)[0])))), default=None)

    def _under(self, ranked: list[Candidate], side: str, besides: Candidate | None) -> Candidate | None:
        """The unit that says, in AQ's terms, what may be happening underneath, on one side."""
        # what may need to improve (a training unit) is the answer to "what should I do?", not what is underneath
        named = [c for c in ranked if c is not besides and self.ranker.terms_named(c) >= 2 and not self.ranker.is_training(c.unit)
                 and not _leaves_side(c, side)]
        return next((c for c in named if c.unit.stance == side), named[0] if named else None)

    def _lead_felt(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """How would I know…: what it feels like, on the side asked, then what is underneath."""
        side = plan.stance or "improving"
        felt = self._felt(ranked, side, plan)
        if felt is not None and not answer.overlaps(felt):
            answer.cite(felt)
        under = self._under([c for c in ranked if not answer.overlaps(c)], side, felt)
        if under is not None:
            answer.cite(under)
        return bool(felt or under)

    def _lead_underneath(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Why does it feel…: the feeling named in AQ's words, then what may be happening underneath."""
        return self._lead_felt(answer, plan, ranked)

    def _lead_contrast(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Two situations: the passage closest to the question, then each side it leaves out, with
        that side's own passage."""
        fresh = [c for c in ranked if not answer.overlaps(c)]
        # The situation the athlete worries about first: the plan's side, or the disrupted one when the
        # question describes both ("practice feels smooth, races feel rushed"), in a close passage on it.
        # Two athletes compared ("look the same, one is faster") describe no side: the closest passage leads.
        worry = plan.stance or ("disrupted" if all(self.doctrine.side_words(plan.question).values()) else "")
        first = next((c for c in fresh[:5] if worry and c.unit.stance == worry), None)
        if first is None and worry:
            first = self._felt(fresh, worry, plan)
        first = first or (fresh[0] if fresh else None)
        if first is None:
            return False
        answer.cite(first)
        # both situations, each with its own side's passage: the side the athlete worries about first
        sides = ("improving", "disrupted") if worry != "disrupted" else ("disrupted", "improving")
        for side in sides:
            if any(c.unit.stance == side for c in answer.sources):
                continue
            c = self._felt(ranked, side, plan) or self._under(ranked, side, None)
            if c is not None and c.unit.stance == side and not answer.overlaps(c):
                answer.cite(c, prefix=self.doctrine.text("by_contrast"), lower=True)
        if worry:
            # and what may be happening underneath the situation the athlete worries about
            under = self._under([c for c in ranked if not answer.overlaps(c)], worry, None)
            if under is not None and under.unit.stance == worry:
                answer.cite(under)
        return True

    def _lead_verdict(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        if not ranked:
            return False
        # the unit that takes a stance answers a yes/no most directly: an FAQ verdict, else a negation
        best = next((c for c in ranked[:3] if c.unit.verdict), None) or next(
            (c for c in ranked[:3] if NEGATES.search(c.unit.text)), ranked[0])
        answer.cite(best, prefix=self._verdict(plan, best))
        return True

    def _lead_correction(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> bool:
        """Pushback: a plain correction, then the passage that says what AQ does hold."""
        if not ranked:
            return False
        doctrine = [c for c in ranked[:6] if self.doctrine.doctrine_marker.search(c.unit.text)]
        best = doctrine[0] if doctrine and plan.intent in ("doctrine", "injection") else ranked[0]
        answer.say(self.doctrine.text("correction_lead"))
        if plan.intent not in ("doctrine", "injection") and not self._define(answer, plan, 2):
            # "it's all one timing": what each term AQ uses means; "turnover is the whole game": what
            # AQ's term for the claim's everyday word says about it
            term = self.glossary.likeliest_term(plan.question)
            if term is not None:
                self._define(answer, replace(plan, named=(term.term,)), 1)
        if not answer.overlaps(best):
            answer.cite(best)
        return True

    def _verdict(self, plan: QuestionPlan, best: Candidate) -> str:
        """A plain verdict to open a yes/no answer, taken from the unit that answers it."""
        t = self.doctrine.text
        # the doctrine's plain "Not directly." answers its subject tied to speed ("does coordination make
        # you faster?"), not every question naming it ("do older sprinters lose coordination first?")
        ties_outcome = plan.intent != "doctrine" or bool(self.doctrine.outcome.search(plan.question))
        if (best.unit.verdict == "no" or (plan.intent == "doctrine" and NEGATES.search(best.unit.text))) and ties_outcome:
            return t("verdict_no")
        if best.unit.verdict == "yes":
            return t("verdict_yes")
        if NEGATES.search(best.unit.text):
            return t("verdict_not_necessarily")
        return t("verdict_it_depends")

    def _asked_terms(self, plan: QuestionPlan) -> list[str]:
        return list(dict.fromkeys(list(plan.named) + list(plan.terms)))

    def _define(self, answer: AnswerDraft, plan: QuestionPlan, most: int, before: int = 0) -> int:
        """The glossary definitions of (at most `most` of) the asked terms, after `before` definitions
        already said; how many were said."""
        said = before
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
        return said - before

    def point_to_related(self, answer: AnswerDraft, plan: QuestionPlan) -> None:
        """"Is that different from strength balance?": the question names a linked article's subject (two
        words of its title in a row, not both generic), which the corpus lacks: say where AQ covers it."""
        if plan.kind == "about_aq":
            return  # its answer lists every linked article already
        asked = f" {' '.join(tokenize(plan.question))} "
        for title, _ in self.related:
            words = tokenize(_prose_title(title).split(":")[0])
            if any(f" {a} {b} " in asked for a, b in zip(words, words[1:])
                   if not {a, b} <= self.ranker.generic_tokens):
                self._point_to(answer, title)
                return

    def _point_to(self, answer: AnswerDraft, title: str) -> None:
        text = self.doctrine.text("related_article").format(title=_prose_title(title))
        if text and not answer.repeats(text):
            answer.say(text, GAP_ID)

    def _admit_gap(self, answer: AnswerDraft, plan: QuestionPlan, ranked: list[Candidate]) -> None:
        what = listed(plan.gaps)
        if what:
            answer.say(f"AQ's articles don't cover {what}, so I won't invent advice on it.", GAP_ID)
        else:
            answer.say("AQ's articles don't cover that directly, so I won't invent an answer.", GAP_ID)
        topics = [g.pattern for g in self.doctrine.not_covered if g.topic in plan.gaps]
        for title, about in self.related:
            if any(p.search(f"{title} {about}") for p in topics):
                self._point_to(answer, title)
                break
        if plan.named and self._define(answer, plan, 1):
            return
        if plan.wants_training:  # "what drills…?": no drills, but what AQ would have you work on
            best = self.ranker.training_unit(ranked, plan)
            if best:
                answer.cite(best)
                return
        # closest: a passage that mentions the very topic (the arms, for arm action),
        # else one near the question in meaning that shares one of its own words (not only "sprint")
        own = self.ranker.own_words(plan)
        vectors = any(c.vector is not None for c in ranked)
        close = ([c for c in ranked if any(p.search(c.unit.text) for p in topics)
                  and (c.semantic >= self.w.support_cosine or not vectors)]
                 or [c for c in ranked if c.semantic >= self.w.gap_support_cosine and shares_word(own, c.tokens)])
        if close:
            answer.say("The closest thing they do say:")
            answer.cite(close[0])
        elif self.doctrine.text("gap_offer"):
            answer.say(self.doctrine.text("gap_offer"), GAP_ID)
