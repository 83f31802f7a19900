"""The causal rules, compiled for one doctrine's subject.

Each rule is a named regex relating a mention of the doctrine's subject (C, "coordination") to a
speed mention (S). The subject comes from the corpus's doctrine (`subject_pattern`), and the AQ terms
that end a subject's reach from its glossary, so a corpus with its own doctrine gets rules for its
own subject. Compiling takes a few milliseconds and happens once per doctrine (`FramingJudge`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from .language import (
    _ACTION,
    _ACTION_START,
    _ACTION_START_WORDS,
    _AGENT,
    _AGENT_WORDS,
    _CLAUSE_BLOCK,
    _DEGREE,
    _FWD_CUE,
    _FWD_VERB,
    _G3,
    _G5,
    _G_CV,
    _G_VS,
    _IMPROVE_INTRANS,
    _PERC_BLOCK,
    _PRED_NOUN,
    _REV_CUE,
    _S,
    _gap,
)


@dataclass(frozen=True)
class _Rule:
    name: str
    rx: re.Pattern[str]
    # "span": a negator anywhere from clause start to match end voids the claim;
    # "prefix": only before the match (the pattern carries its own negation);
    # "sentence": anywhere in the sentence (conditionals span two clauses);
    # "verb": before the match or from the relation cue on ("the reason you are NOT
    # faster is your coordination" negates nothing).
    neg_scope: str = "span"
    c_may_be_perceived: bool = False  # "faster because he LOOKS more coordinated"
    needs_free_s: bool = False  # S must occur outside the match (conditionals)
    # Speed only (scanning a whole sentence with patterns like these is slow in
    # Python's re): a rule that needs a speed mention is skipped without one, and a
    # rule is tried with rx.match only where it can start: at C or S mentions, or at
    # tokens listed in `starts` ("^" = sentence start, "S" = speed mentions).
    needs_s: bool = False
    anchor: str = ""
    starts: frozenset[str] = frozenset()


def _r(name: str, pattern: str, starts: str = "", *, c: str, **kw: object) -> _Rule:
    anchor = "c" if pattern.startswith(c) else "s" if pattern.startswith(S) else ""
    if not anchor and not starts:
        raise ValueError(f"rule {name} needs a C/S start or `starts` tokens")
    return _Rule(name, re.compile(pattern), needs_s="(?P<s>" in pattern or bool(kw.get("needs_free_s")),
                 anchor=anchor, starts=frozenset(starts.split()), **kw)  # type: ignore[arg-type]


S = rf"(?P<s>\b{_S}\b)"
# "coordination between the pushing and the swing side" is still one subject.
_POSTMOD = r"(?:\s+(?:between|of|across|among)\s+(?:[\w'-]+\s+){0,6}?(?:and|with)\s+(?:[\w'-]+\s+){0,3}?[\w'-]+)?"


def _specific_rules(C: str) -> tuple[_Rule, ...]:
    """Specific, high-precision shapes: tried first."""
    r = partial(_r, c=C)
    return (
        # "without good coordination you will never reach top speed"
        r("necessity", rf"\bwithout{_G3}{C}\b[^;:\u2014.]{{0,60}}?\b(?:not|never|no|impossible|hard|difficult|struggle\w*)\b[^;:\u2014.]{{0,60}}?{S}", neg_scope="prefix", starts="without"),
        r("necessity", rf"\b(?:not|never|impossible|no)\b[^;:\u2014.]{{0,50}}?{S}[^;:\u2014.]{{0,40}}?\bwithout{_G3}{C}", neg_scope="prefix", starts="not never impossible no"),
        r("necessity", rf"\bwithout{_G3}{C}\b[^;:\u2014.]{{0,60}}?\b(?P<s>slow\w*|lose\s+speed)", neg_scope="prefix", starts="without"),
        # "the more coordinated you are, the faster you'll run"
        r("the-more-the-faster", rf"\bthe\s+(?:more|better|greater|higher|stronger|cleaner|smoother|less|worse|poorer)\b[^,;:\u2014.]{{0,60}}?{C}[^;:\u2014.]{{0,60}}?,?\s*\bthe\b[^;:\u2014.]{{0,80}}?{S}", starts="the"),
        # "the secret to sprinting fast is coordination", "what makes X fast is coordination"
        r("speed-explained-by", rf"\b(?:key|secret|reasons?|cause|source|driver|explanation|answer|difference|factor|thing|way|route|path|trick|foundation|basis|engine|ingredient|what)\b(?:\s+(?:to|of|for|behind|in|why|that|makes?|drives?|separates?|determines?|gives?|produces?|creates?|explains?|causes?))?{_G5}{S}{_gap(4)}(?P<v>is|are|was|lies\s+in|comes\s+down\s+to|boils\s+down\s+to|=|:)(?:\s+\w+){{0,3}}?\s+{C}", neg_scope="verb", starts="key secret reason reasons cause source driver explanation answer difference factor thing way route path trick foundation basis engine ingredient what"),
        # "the fastest sprinters are simply the most coordinated"
        r("fast-are-coordinated", rf"\b(?:{_S}|elite|world[- ]class|top|best|great)\s+(?:\w+\s+)?{_AGENT}?\s*(?:are|is|were|was|tend\s+to\s+be|will\s+be|have|has|possess|show)(?P<v>)\s+(?:{_DEGREE}\s+){{0,4}}?{C}", starts="S elite world world-class top best great"),
        # "coordinated athletes are faster athletes", "sprinters with better coordination run faster"
        r("coordinated-are-fast", rf"{C}\s+{_AGENT}\s+(?:\w+\s+){{0,2}}?(?P<v>are|is|run|runs|sprint|sprints|move|moves|tend\s+to\s+be|will\s+be|become|get|gets|go){_G3}{S}"),
        r("coordinated-are-fast", rf"\b(?:{_AGENT}|those|anyone|someone|you)\s+(?:with|who\s+have|who\s+are|who\s+is|that\s+are|who|that)\s+(?:\w+\s+){{0,2}}?{C}(?:\s+\w+){{0,6}}?\s+(?P<v>are|is|run|sprint|move|tend\s+to\s+be|will\s+be|get|become|go|have){_G3}{S}", starts=_AGENT_WORDS + " those anyone someone you"),
        # "faster sprinting is really just coordination", "speed is mostly coordination"
        r("speed-is-coordination", rf"{S}{_gap(4)}(?P<v>is|are|=|equals|means)\s+(?:(?:just|simply|really|mostly|largely|basically|essentially|all|only|primarily|mainly|ultimately|nothing|but|a|an|the|your|their|his|her|good|better|great|pure)\s+)*{C}"),
        # "he is faster because he is more coordinated"
        r("because", rf"{S}{_gap(8, r'but|although|though|whereas|while')}(?P<v>because|since|thanks\s+to|due\s+to|owing\s+to|as\s+a\s+result\s+of)\s+(?:of\s+)?(?:\S+\s+){{0,5}}?{C}", c_may_be_perceived=True),
        # "if you want to be faster, work on your coordination" / "to run faster, become more coordinated"
        r("goal-then-coordination", rf"(?:^|[,;:\u2014]\s*|\b)(?:if\s+you\s+(?:really\s+)?(?:want|wish|hope|are\s+trying|need|would\s+like|plan)\s+to|in\s+order\s+to|^to|want\s+to)\s+(?:\w+\s+){{0,2}}?{S}\b[^;:\u2014.]{{0,20}}?,?\s+(?:then\s+)?(?:you\s+(?:need|must|should|have|will\s+need|got)\s+(?:to\s+)?)?(?P<v>{_ACTION})\s+(?:\w+\s+){{0,3}}?{C}", starts="^ , ; : \u2014 if in to want"),
        # "improve your coordination and you'll run faster", "work on coordination to get quicker"
        r("coordination-then-goal", rf"{_ACTION_START}(?P<v>{_ACTION})\s+(?:\w+\s+){{0,3}}?{C}(?:\s+\w+){{0,3}}?\s*,?\s+(?:and|to|so|then|in\s+order\s+to|if\s+you\s+want\s+to|for|,){_G5}{S}", starts=_ACTION_START_WORDS),
        # "your times will drop once your coordination improves"
        r("when-coordination-improves", rf"\b(?:once|when|whenever|as\s+soon\s+as|as|if|after|the\s+moment)\s+(?:\w+\s+){{0,3}}?{C}\s+(?:\w+\s+){{0,2}}?(?P<v>{_IMPROVE_INTRANS})\b", neg_scope="sentence", needs_free_s=True, starts="once when whenever as if after the"),
        r("when-coordination-improves", rf"\b(?:once|when|whenever|as\s+soon\s+as|as|if|after|the\s+moment)\s+(?:\w+\s+){{0,2}}?(?P<v>get|gets|become|becomes|are|is|grow|grows)\s+(?:more|better|well|really|truly|properly)[\s-]+(?:\w+\s+)?{C}", neg_scope="sentence", needs_free_s=True, starts="once when whenever as if after the"),
        # "if you are slow, it is probably your coordination"
        r("slow-blamed-on-coordination", rf"\b(?:if|when|whenever)\b[^,;:\u2014.]{{0,40}}?{S}[^;:\u2014.]{{0,30}}?,\s*(?:then\s+)?(?P<v>it\s+is|that\s+is|blame|the\s+(?:problem|culprit|cause|issue|reason)\s+is)\s+(?:\w+\s+){{0,3}}?{C}", starts="if when whenever"),
        # "nothing improves sprint speed like better coordination"
        r("nothing-beats-coordination", rf"\b(?:nothing|no\s+(?:\w+\s+){{0,2}}?(?:way|drill|method|training|quality|factor|skill))\b(?:\s+\w+){{0,2}}?\s+(?P<v>{_FWD_VERB}){_G_VS}{S}{_gap(3)}(?:like|than|more\s+than|as\s+much\s+as)\s+(?:\w+\s+){{0,3}}?{C}", neg_scope="prefix", starts="nothing no"),
    )


def _broad_rules(C: str) -> tuple[_Rule, ...]:
    """The broad forward / reverse shapes: tried last."""
    r = partial(_r, c=C)
    return (
        # "poor coordination is what is holding you back"
        r("holding-back", rf"{C}{_G_CV}(?P<v>(?:hold(?:s|ing)?|held|keep(?:s|ing)?|kept)\s+(?:\w+\s+){{0,2}}?back|slow(?:s|ing|ed)?\s+(?:\w+\s+){{0,2}}?down|(?:is|are)\s+(?:the\s+)?(?:\w+\s+)?(?:limiter|limiting\s+factor|bottleneck))"),
        # "coordination drives / explains / is the key to / is responsible for ... speed"
        r("coordination-causes-speed", rf"{C}{_POSTMOD}{_G_CV}(?P<v>{_FWD_CUE}){_G_VS}{S}"),
        # "speed comes from / depends on / is a product of ... coordination"
        r("speed-from-coordination", rf"{S}{_gap(6, _CLAUSE_BLOCK, _PERC_BLOCK)}(?P<v>{_REV_CUE}){_G3}{C}"),
        # "coordination is the cause." (speed implied by the question being answered)
        r("coordination-is-the-cause", rf"{C}{_G3}(?P<v>is|are|as|was|=)\s+(?:(?:the|a|an|one|main|real|true|primary|biggest|underlying|mechanical|ultimate|key|hidden|actual|single|most|important|whole)\s+)*(?:cause|explanation|mechanism|driver|secret|reason|engine|answer|key)\b(?:\s+(?:itself|here|of\s+it\s+all|behind\s+it(?:\s+all)?|in\s+sprinting|in\s+running))?\s*(?=$|[.!;:\u2014,)])"),
    )


def _anaphor_rules(C: str) -> tuple[_Rule, ...]:
    """A clause that starts with a pronoun standing for the subject in the previous clause or
    sentence: "— it's what actually makes you fast", "That's where speed comes from."."""
    r = partial(_r, c=C)
    return (
        r("anaphora", rf"^(?:and\s+|so\s+|but\s+|yes\s*,?\s*)?(?:it|that|this|which)\s+(?:(?:is|was|will\s+be|has\s+been|really\s+is|is\s+really|is\s+actually|is\s+exactly|is\s+precisely|is\s+also|is\s+ultimately)\s+)?(?:\w+\s+){{0,2}}?(?P<v>{_FWD_VERB}|(?:the\s+)?(?:\w+\s+)?{_PRED_NOUN}|where|how){_G_VS}{S}", starts="^"),
        r("anaphora", rf"^(?:\w+\s+)?(?P<v>{_ACTION})\s+(?:it|that|this|them)\b\s+(?:\w+\s+){{0,2}}?(?:and|to|so|then){_gap(4)}{S}", starts="^"),
    )


@dataclass(frozen=True)
class RuleSet:
    """Everything in the judge that names the doctrine's subject or the corpus's terms."""

    subject: re.Pattern[str]          # a subject mention anywhere, any case (the judge's fast path)
    c_rx: re.Pattern[str]             # a subject mention in normalised text
    causal: tuple[_Rule, ...]
    anaphora: tuple[_Rule, ...]
    relation_terms: re.Pattern[str]   # AQ's own terms: a sentence that moves on to them leaves the subject
    short_answer_head: re.Pattern[str]
    imperative_head: re.Pattern[str]


# Words of a term that say nothing on their own ("timing BETWEEN steps").
_FUNCTION_WORDS = frozenset("a an and as at between by for from in into of on or the to with".split())


def _relation_terms(terms: Iterable[str], generic_words: Iterable[str]) -> re.Pattern[str]:
    """Any word of an AQ term ("pushing", "thrust", "relationships") with its endings, except the
    corpus's generic words ("sprint", "steps"): those name no relation."""
    skip = _FUNCTION_WORDS | {w.lower() for w in generic_words}
    pieces: set[str] = set()
    for term in terms:
        words = term.lower().replace("-", " ").split()
        pieces.update(re.escape(w) for w in words if w not in skip and len(w) > 2)
    if not pieces:
        return re.compile(r"(?!x)x")
    return re.compile(r"\b(?:" + "|".join(sorted(pieces, key=lambda p: (-len(p), p))) + r")\w*\b")


def compile_rules(subject_pattern: str, terms: Iterable[str], generic_words: Iterable[str] = ()) -> RuleSet:
    """The rule set for a doctrine's subject (a regex fragment) and a glossary's terms."""
    C = rf"(?P<c>\b{subject_pattern})"
    return RuleSet(
        subject=re.compile(subject_pattern, re.I),
        c_rx=re.compile(rf"\b{subject_pattern}"),
        causal=_specific_rules(C) + _broad_rules(C),
        anaphora=_anaphor_rules(C),
        relation_terms=_relation_terms(terms, generic_words),
        short_answer_head=re.compile(
            rf"^(?:(?:it\s+is|simple|easy|answer|the\s+answer\s+is|one\s+word|that\s+is|mostly|mainly|basically|honestly)\W+)?"
            rf"(?:\w+\s+){{0,2}}?{subject_pattern}"),
        imperative_head=re.compile(rf"^(?:just\s+|simply\s+|first\s*,?\s+)?{_ACTION}\s+(?:\w+\s+){{0,3}}?{subject_pattern}"),
    )
