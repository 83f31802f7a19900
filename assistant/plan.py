"""The question plan: what one turn asks, worked out once, read by every later step.

A plan holds the standalone question (a follow-up made whole), the kind of answer it wants, the
AQ terms it names, the stance it asks about (sprinting improving or disrupted), the topics it
names that AQ's articles don't cover, and, for a two-part question, the plan of each part.
Retrieval, the composer, the LLM prompt and the guard read the plan; nothing classifies again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .corpus import Glossary
from .doctrine import Doctrine
from .scope import TRAINING, Intent, classify, is_follow_up, leans_on_previous, named_terms, names_off_topic

KINDS = ("yes_no", "definition", "why", "how_to", "comparison", "feel_good", "feel_bad", "about_aq", "out_of_scope")

_YES_NO = re.compile(r"^\W*(?:\w+[,:]\s+)?(is|are|am|was|were|do|does|did|can|could|should|shall|will|would|has|have|"
                     r"isn'?t|aren'?t|doesn'?t|don'?t|won'?t|shouldn'?t)\b", re.I)
_DEFINE = re.compile(r"\b(what(?:'s| is| are| does)\b(?!.*\b(?:going on|happening|behind|changing|improving|different)\b)|"
                     r"define|definition|meaning of|mean by|what do (?:you|they|people|coaches) mean|in (?:simple|plain) "
                     r"(?:words|english|terms)|break it down|fancy way of saying|refer to|talk(?:s|ing)? about)", re.I)
_WHY = re.compile(r"\b(why|what(?:'s| is) (?:going on|happening|behind|changing|improving)|how come|what causes|"
                  r"how does aq explain|what explains|could something else)\b", re.I)
_COMPARE = re.compile(r"\b(difference between|differ\w*|vs\.?|versus|compared? (?:to|with)|which (?:one )?(?:is|matters|"
                      r"counts) (?:more|better)|(?:or|and) [^?]{1,40}which (?:one )?is better|which (?:one )?is better)\b", re.I)
_ABOUT_AQ = re.compile(r"^\W*(?:so\s+)?(?:what|who)(?:'s| is| are)\s+aq\W*$|\b(?:what|who) is aq\b|\b(?:aq'?s|the aq) "
                       r"(?:approach|system|method|philosophy)\b|\babout aq\b|\baq\b.{0,40}\bdifferent from\b", re.I)
# "…mean, and what should I work on?": a second question joined to the first.
_SECOND = re.compile(r"(?:,?\s+and\s+|\?\s+|;\s+)(?=(?:what|how|why|should|is|are|does|do|can|when|which)\b)", re.I)


@dataclass(frozen=True)
class QuestionPlan:
    question: str                    # as the athlete asked it (cleaned)
    standalone: str                  # the question with a follow-up's missing context filled in
    kind: str                        # one of KINDS
    intent: str                      # scope's coaching intent (doctrine, feel, term, training, injection, injury …)
    terms: tuple[str, ...] = ()      # AQ terms named (first) or implied by everyday words
    named: tuple[str, ...] = ()      # AQ terms the question names itself
    stance: str = ""                 # improving | disrupted | "" (neither)
    gaps: tuple[str, ...] = ()       # not-covered topics the question names (doctrine.yaml: not_covered)
    parts: tuple["QuestionPlan", ...] = ()   # a two-part question: each part's plan
    in_scope: bool = True

    @property
    def wants_training(self) -> bool:
        return self.kind == "how_to" or bool(TRAINING.search(self.standalone))

    def as_dict(self) -> dict:
        return {"standalone": self.standalone, "kind": self.kind, "intent": self.intent, "terms": list(self.terms),
                "stance": self.stance, "gaps": list(self.gaps), "parts": [p.standalone for p in self.parts]}


def answer_kind(question: str, intent: Intent, stance: str) -> str:
    """Which kind of answer the question wants (see KINDS)."""
    if not intent.in_scope:
        return "out_of_scope"
    if _ABOUT_AQ.search(question):
        return "about_aq"
    if intent.kind == "feel" or (stance and re.search(r"\b(feel\w*|felt)\b", question, re.I)):
        return "feel_bad" if (intent.feel == "bad" or stance == "disrupted") and intent.feel != "good" else "feel_good"
    if _COMPARE.search(question):
        return "comparison"
    if _DEFINE.search(question) and (intent.kind == "term" or not TRAINING.search(question)):
        return "definition"
    if TRAINING.search(question) and not _YES_NO.match(question):
        return "how_to"
    if _WHY.search(question):
        return "why"
    if _YES_NO.match(question) or re.search(r"\b(is (?:he|she|it|that) right|is that (?:a )?\w+ sign|right\?)", question, re.I):
        return "yes_no"
    if intent.kind == "training":
        return "how_to"
    return "why"


_ASKS = re.compile(r"(?:^|[.?!]\s+)(?:what|how|why|should|is|are|does|do|can|when|which)\b|\?", re.I)


def _parts(question: str) -> list[str]:
    """The two questions of a two-part question ("What does that mean, and what should I work on?"),
    or [] for one question. The first part keeps what comes before it, for context."""
    text = question.strip()
    splits = list(_SECOND.finditer(text))
    if not splits:
        return []
    cut = splits[-1]
    head, tail = text[:cut.start()].strip(" ,;"), text[cut.end():].strip()
    if len(head.split()) < 3 or len(tail.split()) < 3 or not _ASKS.search(head):
        return []
    return [head if head.endswith("?") else head + "?", tail]


def the_ask(question: str) -> str:
    """The sentences that ask ("…my arms cross my body. Is he right?" → "Is he right?"); the whole
    question when none ends in "?". What comes before them is context, not what is asked."""
    sentences = re.split(r"(?<=[.?!])\s+", question.strip())
    asks = [s for s in sentences if s.rstrip().endswith("?")]
    return " ".join(asks) if asks and len(asks) < len(sentences) else question


def _plan_one(question: str, standalone: str, intent: Intent, glossary: Glossary | None, doctrine: Doctrine) -> QuestionPlan:
    stance = doctrine.stance_of(standalone)
    stance = stance if stance in ("improving", "disrupted") else ""
    ask = the_ask(question)
    kind = answer_kind(ask if intent.in_scope else standalone, intent, stance)
    if standalone != question and kind == "why" and not _WHY.search(question):
        kind = answer_kind(standalone, intent, stance)  # "and the swing side?": the kind comes from the whole question
    found = named_terms(standalone, glossary)
    named = tuple([t for t in intent.terms if t in found] + [t for t in found if t not in intent.terms])
    gaps = () if kind in ("about_aq", "out_of_scope") else tuple(doctrine.gaps_in(ask))
    return QuestionPlan(question, standalone, kind, intent.kind, tuple(intent.terms), named, stance, gaps,
                        in_scope=intent.in_scope)


def plan_question(question: str, history: list[dict], glossary: Glossary | None, doctrine: Doctrine,
                  condense: Callable[[str], str | None] | None = None) -> QuestionPlan:
    """The plan for one turn. `condense` (an LLM, when there is one) rewrites a follow-up as a
    standalone question; without it, the previous question is put in front of the follow-up."""
    standalone, intent = _resolve(question, history, glossary, doctrine, condense)
    plan = _plan_one(question, standalone, intent, glossary, doctrine)
    if plan.in_scope and plan.intent not in ("injection",) and plan.kind != "about_aq":
        pieces = _parts(question)
        if pieces:
            parts = tuple(_plan_one(p, p, classify(p, glossary, doctrine), glossary, doctrine) for p in pieces)
            plan = replace(plan, parts=parts, gaps=tuple(dict.fromkeys(g for p in parts for g in p.gaps)))
    return plan


def _resolve(question: str, history: list[dict], glossary: Glossary | None, doctrine: Doctrine,
             condense: Callable[[str], str | None] | None) -> tuple[str, Intent]:
    """A standalone question and its intent; a follow-up borrows the previous turn's topic."""
    intent = classify(question, glossary, doctrine)
    previous = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    # A question with no sprint words but a pronoun ("and what happens when it gets worse?"), or one
    # that asks what to train ("what should I work on?"), leans on the previous turn too, unless it
    # names an off-topic subject of its own.
    borrows = is_follow_up(question, glossary) or (
        intent.kind == "out_of_scope" and not names_off_topic(question, doctrine)
        and (leans_on_previous(question) or bool(TRAINING.search(question))))
    if not previous or intent.kind in ("injection", "injury") or not borrows:
        return question, intent
    previous_intent = classify(previous, glossary, doctrine)
    if intent.kind == "out_of_scope" and not previous_intent.in_scope:
        return question, intent
    standalone = f"{previous} {question}"
    if condense is not None:
        condensed = condense(question)
        if condensed and 8 <= len(condensed) <= 400:
            standalone = condensed.splitlines()[0]
    resolved = classify(standalone, glossary, doctrine)
    if TRAINING.search(question):
        resolved.kind = "training"
    if not resolved.in_scope:
        resolved = previous_intent
    if resolved.kind == "term" and intent.kind != "term" and not named_terms(question, glossary):
        # the follow-up keeps the topic, not the request for a definition; but "and the swing
        # side?" after "what is the pushing side?" asks for the new term's definition
        resolved.kind = "general"
    # "and the swing side?" after "what is the pushing side?": the follow-up's own terms lead.
    own = [t for t in intent.terms if t in resolved.terms]
    resolved.terms = own + [t for t in resolved.terms if t not in own]
    return standalone, resolved
