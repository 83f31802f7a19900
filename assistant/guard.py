"""Deterministic framing judge: does an answer claim that coordination causes speed?

AQ doctrine (corpus/doctrine.yaml): "coordination" names how better sprinting feels to the
athlete, never the cause of speed.
This module is both the runtime doctrine guard and the eval suite's framing judge, so
it is pure stdlib, offline and fast (precompiled regex tables, no model calls).

How a sentence is judged:
  1. normalise (lowercase, straight quotes, expanded contractions, spaced dashes);
  2. no "coordinat*" mention -> neutral (nothing to claim);
  3. each causal rule (a named regex relating a coordination mention C to a speed
     mention S) is tried; a match only counts when C is not a perception object
     ("feels coordinated"), S is not a perceived speed ("feels faster"), the claim is
     not quoted, negated ("not", "rather than", ...), reported from someone else
     ("many athletes believe", "traditional thinking says", ...) or debunked
     ("... is a myth"). A reported belief that is then endorsed ("and they're
     right") counts again;
  4. otherwise a felt cue (feel, label, call, appear, ...) -> felt, else neutral.
judge_framing adds three cross-sentence rules (question + coordination answer,
pronoun anaphora, reported belief + affirmation) that single sentences cannot see.
A sentence that mentions coordination and speed but that no rule decides (not causal,
no felt cue, no negation/report/question) makes the verdict "uncertain"; those
sentences are kept in FramingVerdict._undecided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from .text import CITATION_MARK, STREAM_BOUNDARY, split_sentences

Label = Literal["causal", "felt", "neutral"]
Verdict = Literal["pass", "fail", "uncertain"]

__all__ = [
    "Label",
    "Verdict",
    "SentenceJudgement",
    "FramingVerdict",
    "StreamGuard",
    "judge_sentence",
    "judge_framing",
]


@dataclass(frozen=True)
class SentenceJudgement:
    """How one sentence frames coordination."""

    sentence: str
    label: Label  # causal | felt | neutral
    evidence: str  # span that decided it ("" for neutral)
    rule: str  # short rule name ("" for neutral)


@dataclass(frozen=True)
class FramingVerdict:
    """Answer-level verdict: fail if any sentence is causal."""

    verdict: Verdict
    sentences: tuple[SentenceJudgement, ...]
    # Neutral sentences that mention coordination and speed but that no rule could
    # decide (the reason for "uncertain"). Private, defaulted and left out of repr/eq
    # so the public API stays exactly verdict + sentences.
    _undecided: tuple[SentenceJudgement, ...] = field(
        default=(), repr=False, compare=False
    )

    @property
    def violations(self) -> tuple[SentenceJudgement, ...]:
        """The causal sentences."""
        return tuple(s for s in self.sentences if s.label == "causal")

    @property
    def evidence(self) -> list[str]:
        """One human-readable line per violating or undecided sentence."""
        out = [
            f"causal [{s.rule}]: '{s.evidence}' in: {s.sentence}"
            for s in self.violations
        ]
        undecided = self._undecided
        if not undecided and self.verdict == "uncertain":
            # Built by hand without _undecided: recompute rather than say nothing.
            undecided = tuple(
                s for s in self.sentences
                if s.label == "neutral" and _analyse(s.sentence).undecided
            )
        out += [
            f"uncertain: coordination and speed both mentioned, no rule decided: {s.sentence}"
            for s in undecided
        ]
        return out


# --------------------------------------------------------------------------- text
# Normalisation happens once per sentence; every pattern below assumes lowercase,
# straight quotes, expanded contractions and " — " for any dash used as a break.

_QUOTE_MAP = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u2013": " \u2014 ", "\u2014": " \u2014 ", "\u2015": " \u2014 ",
        "\u2026": "...",
    }
)

# One pass for all contractions. 's is only expanded after pronouns: "athlete's
# label" is a possessive.
_CONTRACTION_RX = re.compile(
    r"\b(?:(can|won|shan|ai)'t|cannot)\b|n't\b|'(ll|re|ve|m)\b"
    r"|\b(i|you|we|they|he|she|it|that)'d\b"
    r"|\b(it|that|what|he|she|there|here|who|this|where|how|why|everything|nothing|something|let)'s\b"
)
_IRREGULAR_NOT = {"can": "can not", "won": "will not", "shan": "shall not", "ai": "is not"}
_SUFFIX = {"ll": " will", "re": " are", "ve": " have", "m": " am"}


def _expand(m: re.Match[str]) -> str:
    text = m.group(0)
    if text == "cannot":
        return "can not"
    if m.group(1):
        return _IRREGULAR_NOT[m.group(1)]
    if m.group(2):
        return _SUFFIX[m.group(2)]
    if m.group(3):
        return f"{m.group(3)} would"
    if m.group(4):
        return "let us" if m.group(4) == "let" else f"{m.group(4)} is"
    return " not"  # n't


_MARKDOWN = re.compile(r"[*_`#>]+")
_SPACED_HYPHEN = re.compile(r"\s+-{1,2}\s+|--")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    t = text.translate(_QUOTE_MAP).lower()
    t = _MARKDOWN.sub(" ", t)  # markdown emphasis / headings / quotes
    if "-" in t:
        t = _SPACED_HYPHEN.sub(" \u2014 ", t).replace("co-ordinat", "coordinat")  # spaced hyphen = dash
    if "'" in t or "cannot" in t:
        t = _CONTRACTION_RX.sub(_expand, t)
    return _SPACES.sub(" ", t).strip()


# ---------------------------------------------------------------- vocabulary
def _subject_pattern() -> str:
    """The doctrine's subject ("coordination" and its forms), from corpus/doctrine.yaml.

    The rule tables below are compiled once, at import, from AQ's doctrine file (the doctrine is
    AQ's, shared by every corpus), so the subject is data, not code."""
    from .doctrine import load

    return load().data.get("subject_pattern") or re.escape(load().subject)


_C = _subject_pattern()

# Speed / sprint-performance mentions. Times ("10.5", "your times") and race
# outcomes ("pulls away", "outruns") count: they are speed claims in sprint talk.
_S = (
    r"(?:speed\w*|velocit\w+|fast(?:er|est)?|quick(?:er|est|ness)?"
    r"|slow(?:er|est|ness|s|ed|ing)?|pace|accelerat\w+|top[- ]end"
    r"|(?:sprint|race|running)\s+(?:performance|times?|results?)|performance"
    r"|(?:your|their|his|her|my|our|race|sprint|personal|\d+\s?m)\s+(?:times?|bests?|pbs?|prs?)|tenths|hundredths"
    r"|personal\s+bests?|pbs?|prs?|\d{1,2}\.\d{1,2}(?:\s?s(?:ec(?:ond)?s?)?)?"
    r"|pull(?:s|ed|ing)?\s+away|outr[au]n\w*|outsprint\w*|win(?:s|ning)?\s+(?:races?|the\s+race)"
    r"|times\s+(?:drop|fall|come\s+down|improve)|(?:time|seconds|tenths|hundredths)\s+off)"
)
# Only degree words may sit between "the fastest sprinters are" and "coordinated"
# ("speed is often confused with coordination" must not read as an identity).
_DEGREE = (
    r"(?:simply|just|usually|always|generally|typically|also|often|really|basically|all|the|a|an"
    r"|much|far|way|clearly|more|most|better|best|well|highly|very|superior|great|greater|good"
    r"|excellent|incredibly|so|extremely|exceptionally|naturally|invariably|almost|their|his|her|your)"
)
_AGENT_WORDS = (
    "sprinter sprinters athlete athletes runner runners ones people guys women men players kids"
    " mover movers bodies sprinting running movement stride strides step steps sprint sprints"
    " technique mechanics form motion"
)
_AGENT = (
    r"(?:sprinters?|athletes?|runners?|ones|people|guys|women|men|players|kids|movers?|bodies"
    r"|sprinting|running|movement|strides?|steps?|sprints?|technique|mechanics|form|motion)"
)

_SEP = r"[\s,\"'()\[\]]+"  # stays inside a clause: no ; : — . ! ?
_WORD = r"[\w'./%-]+"
_CLAUSE_BLOCK = (
    r"when|whenever|while|if|because|since|which|who|whom|where|after|before|until"
    r"|once|whereas|although|though|but|unless|yet|however"
)
_PERC_BLOCK = (
    r"feel\w*|felt|look\w*|seem\w*|appear\w*|call\w*|describ\w*|label\w*"
    r"|experienc\w*|notic\w*|sense|senses|sensed|sensation\w*|perceiv\w*|name|names|named|word|words"
)


def _gap(n: int, *blocks: str) -> str:
    """0..n words inside one clause, refusing the given blocker words."""
    block = "|".join(blocks)
    word = rf"(?!(?:{block})\b){_WORD}" if block else _WORD
    return rf"(?:{_SEP}{word}){{0,{n}}}?{_SEP}"


# "athletes mention coordination and AQ explains why ...": a new subject ends C's reach.
_NEW_SUBJECT = r"and\s+(?:aq|we|i|you|they|he|she|athletes?|coaches?|sprinters?|people)"
_G_CV = _gap(8, _CLAUSE_BLOCK, _PERC_BLOCK, _NEW_SUBJECT)  # coordination -> relation cue
_G_VS = _gap(6, _CLAUSE_BLOCK, _PERC_BLOCK,
             r"different|distinct|separate|independent|unrelated|regardless|alongside|along|together|parallel|tandem")
_G3 = _gap(3, _CLAUSE_BLOCK, _PERC_BLOCK, r"than|different|distinct|separate|unlike|independent")
_G5 = _gap(5, _CLAUSE_BLOCK, _PERC_BLOCK)

# Verbs / phrases whose subject is the cause and whose object is the effect.
_FWD_VERB = (
    r"(?:caus(?:e|es|ed|ing)|driv(?:e|es|en|ing)|drove|determin(?:e|es|ed|ing)"
    r"|dictat(?:e|es|ed|ing)|govern(?:s|ed|ing)?|control(?:s|led|ling)?"
    r"|produc(?:e|es|ed|ing)|creat(?:e|es|ed|ing)|generat(?:e|es|ed|ing)"
    r"|explain(?:s|ed|ing)?|underl(?:ie|ies|ay|ying)|underpin(?:s|ned|ning)?"
    r"|lead(?:s|ing)?\s+to|led\s+to|result(?:s|ed|ing)?\s+in|translat(?:e|es|ed|ing)\s+(?:in)?to"
    r"|power(?:s|ed|ing)?|fuel(?:s|led|ed|ling|ing)?|unlock(?:s|ed|ing)?|boost(?:s|ed|ing)?"
    # "coordination improves WITH speed" is the reverse direction, not a cause
    r"|(?:increas(?:e|es|ed|ing)|improv(?:e|es|ed|ing)|ris(?:e|es|ing)|grow(?:s|ing)?)(?!\s+(?:with|as|alongside|along|together|when|in\s+step))"
    r"|enhanc(?:e|es|ed|ing)|rais(?:e|es|ed|ing)"
    r"|maximi[sz](?:e|es|ed|ing)|give(?:s|n)?|gave|giving|mak(?:e|es|ing)|made"
    r"|account(?:s|ed|ing)?\s+for|separat(?:e|es|ed|ing)|distinguish(?:es|ed|ing)?"
    r"|set(?:s|ting)?\s+apart|limit(?:s|ed|ing)?|cost(?:s|ing)?|contribut(?:e|es|ed|ing)\s+to"
    r"|influenc(?:e|es|ed|ing)|affect(?:s|ed|ing)?|impact(?:s|ed|ing)?|shap(?:e|es|ed|ing)"
    r"|matter(?:s|ed)?|help(?:s|ed|ing)?|allow(?:s|ed|ing)?|enabl(?:e|es|ed|ing)|lets?"
    r"|gets?|takes?|turn(?:s|ed|ing)?\s+(?:\w+\s+){0,2}?into|convert(?:s|ed|ing)?|means?|equals?|=|->|\u2192|predict(?:s|ed)?"
    r"|decid(?:e|es|ed|ing)|play(?:s|ed|ing)?\s+(?:a|an|the)\s+(?:\w+\s+)?(?:role|part)"
    r"|hold(?:s|ing)?\s+the\s+(?:key|secret)|sets?|setting|defin(?:e|es|ed|ing)|caps?|capped"
    r"|shav(?:e|es|ed|ing)|knock(?:s|ed|ing)?|cuts?|cutting|trim(?:s|med|ming)?|lower(?:s|ed|ing)?|reduc(?:e|es|ed|ing)"
    r"|so|therefore|hence|thus)"
)
_COPULA = r"(?:is|are|was|were|be|being|becomes?|remains?|as|=)"
# Predicate nouns: "coordination is the key / reason / foundation ... (of) speed".
_PRED_NOUN = (
    r"(?:key|secret|reasons?|causes?|source|driver|engine|foundation|basis|root|mechanism"
    r"|explanation|answer|difference|factor|ingredient|determinant|predictor|x-factor|link"
    r"|piece|recipe|route|path|way|road|ticket|shortcut|gateway|origin|heart|core|essence"
    r"|backbone|cornerstone|catalyst|trigger|lever|limiter|bottleneck|culprit|precondition"
    r"|prerequisite|requirement|essential|crucial|vital|necessary|critical|fundamental"
    r"|central|important|responsible|behind|advantage|why|edge|component|contributor)"
)
_FWD_CUE = rf"(?:{_FWD_VERB}|{_COPULA}(?:{_SEP}{_WORD}){{0,4}}?{_SEP}{_PRED_NOUN})"

# Phrases whose subject is the effect (speed) and whose object is the cause.
_REV_CUE = (
    r"(?:(?:com(?:e|es|ing)|came)\s+(?:\w+\s+)?from|com(?:e|es|ing)\s+down\s+to"
    r"|boil(?:s|ed)?\s+down\s+to|(?:is|are)\s+(?:all\s+)?down\s+to|all\s+about"
    r"|(?:caused|driven|determined|dictated|governed|controlled|produced|created|generated"
    r"|explained|limited|powered|fuell?ed|unlocked|shaped|held\s+back)\s+by"
    r"|built\s+on|rooted\s+in|grounded\s+in|based\s+on|depend(?:s|ed|ing|ent)?\s+on"
    r"|rel(?:y|ies|ied|iant)\s+on|hing(?:e|es|ed)\s+on|rests?\s+on|stem(?:s|med)?\s+from"
    r"|result(?:s|ed|ing)?\s+from|flow(?:s|ed)?\s+from|springs?\s+from|deriv(?:e|es|ed)\s+from"
    r"|(?:product|result|function|consequence|by-?product|outcome|expression|reflection|matter|question)\s+of"
    r"|starts?\s+with|begins?\s+with|requir(?:e|es|ed)|needs?|demand(?:s|ed)?|impossible\s+without"
    r"|lies\s+in|(?:locked|tied|trapped|hidden|bound)\s+(?:up\s+)?in|follow(?:s|ed|ing)?|(?:owe[sd]?|attribut\w+|credit\w*)\s+(?:\w+\s+){0,3}?to"
    r"|by|through|via"
    # bare "with" only as "faster with better coordination", not "confused with"
    r"|with(?=\s+(?:\w+\s+){0,2}?(?:better|good|great|more|improved|superior|excellent|proper|sharper|cleaner|high|higher)\b))"
)

_ACTION = (
    r"(?:improve|improving|work\s+on|working\s+on|train|training|develop|developing"
    r"|focus\s+on|focusing\s+on|build|building|sharpen|fix|practi[cs]e|clean\s+up|master"
    r"|become|becoming|be|being|get|getting|chase|chasing|prioriti[sz]e|invest\s+in|add"
    r"|adding|do|doing|need|needs|boost|enhance|refine|drill|emphasi[sz]e)"
)
# Where an imperative / recommended action may start.
_ACTION_START = (
    r"(?:^|[,:;\u2014]\s*|\b(?:to|just|simply|should|must|need\s+to|have\s+to|try\s+to|and"
    r"|then|first|please|so|is\s+to|are\s+to|instead\s+of|rather\s+than|of|you|we|they|athletes?|sprinters?)\s+)"
)
_ACTION_START_WORDS = (
    "^ , : ; \u2014 to just simply should must need have try and then first please so is are"
    " instead rather of you we they athlete athletes sprinter sprinters"
)
_IMPROVE_INTRANS = (
    r"(?:improv\w*|gets?\s+better|gets?\s+sharper|gets?\s+cleaner|click\w*|comes?\s+together"
    r"|develop\w*|increas\w*|is\s+there|is\s+better|is\s+good|is\s+right|is\s+sorted|goes\s+up"
    r"|rises|sharpens)"
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


def _r(name: str, pattern: str, starts: str = "", **kw: object) -> _Rule:
    anchor = "c" if pattern.startswith(C) else "s" if pattern.startswith(S) else ""
    if not anchor and not starts:
        raise ValueError(f"rule {name} needs a C/S start or `starts` tokens")
    return _Rule(name, re.compile(pattern), needs_s="(?P<s>" in pattern or bool(kw.get("needs_free_s")),
                 anchor=anchor, starts=frozenset(starts.split()), **kw)  # type: ignore[arg-type]


C, S = rf"(?P<c>\b{_C})", rf"(?P<s>\b{_S}\b)"
# "coordination between the pushing and the swing side" is still one subject.
_POSTMOD = r"(?:\s+(?:between|of|across|among)\s+(?:[\w'-]+\s+){0,6}?(?:and|with)\s+(?:[\w'-]+\s+){0,3}?[\w'-]+)?"

# Ordered: specific, high-precision shapes first; the broad forward/reverse last.
_CAUSAL_RULES: tuple[_Rule, ...] = (
    # "without good coordination you will never reach top speed"
    _r("necessity", rf"\bwithout{_G3}{C}\b[^;:\u2014.]{{0,60}}?\b(?:not|never|no|impossible|hard|difficult|struggle\w*)\b[^;:\u2014.]{{0,60}}?{S}", neg_scope="prefix", starts="without"),
    _r("necessity", rf"\b(?:not|never|impossible|no)\b[^;:\u2014.]{{0,50}}?{S}[^;:\u2014.]{{0,40}}?\bwithout{_G3}{C}", neg_scope="prefix", starts="not never impossible no"),
    _r("necessity", rf"\bwithout{_G3}{C}\b[^;:\u2014.]{{0,60}}?\b(?P<s>slow\w*|lose\s+speed)", neg_scope="prefix", starts="without"),
    # "the more coordinated you are, the faster you'll run"
    _r("the-more-the-faster", rf"\bthe\s+(?:more|better|greater|higher|stronger|cleaner|smoother|less|worse|poorer)\b[^,;:\u2014.]{{0,60}}?{C}[^;:\u2014.]{{0,60}}?,?\s*\bthe\b[^;:\u2014.]{{0,80}}?{S}", starts="the"),
    # "the secret to sprinting fast is coordination", "what makes X fast is coordination"
    _r("speed-explained-by", rf"\b(?:key|secret|reasons?|cause|source|driver|explanation|answer|difference|factor|thing|way|route|path|trick|foundation|basis|engine|ingredient|what)\b(?:\s+(?:to|of|for|behind|in|why|that|makes?|drives?|separates?|determines?|gives?|produces?|creates?|explains?|causes?))?{_G5}{S}{_gap(4)}(?P<v>is|are|was|lies\s+in|comes\s+down\s+to|boils\s+down\s+to|=|:)(?:\s+\w+){{0,3}}?\s+{C}", neg_scope="verb", starts="key secret reason reasons cause source driver explanation answer difference factor thing way route path trick foundation basis engine ingredient what"),
    # "the fastest sprinters are simply the most coordinated"
    _r("fast-are-coordinated", rf"\b(?:{_S}|elite|world[- ]class|top|best|great)\s+(?:\w+\s+)?{_AGENT}?\s*(?:are|is|were|was|tend\s+to\s+be|will\s+be|have|has|possess|show)(?P<v>)\s+(?:{_DEGREE}\s+){{0,4}}?{C}", starts="S elite world world-class top best great"),
    # "coordinated athletes are faster athletes", "sprinters with better coordination run faster"
    _r("coordinated-are-fast", rf"{C}\s+{_AGENT}\s+(?:\w+\s+){{0,2}}?(?P<v>are|is|run|runs|sprint|sprints|move|moves|tend\s+to\s+be|will\s+be|become|get|gets|go){_G3}{S}"),
    _r("coordinated-are-fast", rf"\b(?:{_AGENT}|those|anyone|someone|you)\s+(?:with|who\s+have|who\s+are|who\s+is|that\s+are|who|that)\s+(?:\w+\s+){{0,2}}?{C}(?:\s+\w+){{0,6}}?\s+(?P<v>are|is|run|sprint|move|tend\s+to\s+be|will\s+be|get|become|go|have){_G3}{S}", starts=_AGENT_WORDS + " those anyone someone you"),
    # "faster sprinting is really just coordination", "speed is mostly coordination"
    _r("speed-is-coordination", rf"{S}{_gap(4)}(?P<v>is|are|=|equals|means)\s+(?:(?:just|simply|really|mostly|largely|basically|essentially|all|only|primarily|mainly|ultimately|nothing|but|a|an|the|your|their|his|her|good|better|great|pure)\s+)*{C}"),
    # "he is faster because he is more coordinated"
    _r("because", rf"{S}{_gap(8, r'but|although|though|whereas|while')}(?P<v>because|since|thanks\s+to|due\s+to|owing\s+to|as\s+a\s+result\s+of)\s+(?:of\s+)?(?:\S+\s+){{0,5}}?{C}", c_may_be_perceived=True),
    # "if you want to be faster, work on your coordination" / "to run faster, become more coordinated"
    _r("goal-then-coordination", rf"(?:^|[,;:\u2014]\s*|\b)(?:if\s+you\s+(?:really\s+)?(?:want|wish|hope|are\s+trying|need|would\s+like|plan)\s+to|in\s+order\s+to|^to|want\s+to)\s+(?:\w+\s+){{0,2}}?{S}\b[^;:\u2014.]{{0,20}}?,?\s+(?:then\s+)?(?:you\s+(?:need|must|should|have|will\s+need|got)\s+(?:to\s+)?)?(?P<v>{_ACTION})\s+(?:\w+\s+){{0,3}}?{C}", starts="^ , ; : \u2014 if in to want"),
    # "improve your coordination and you'll run faster", "work on coordination to get quicker"
    _r("coordination-then-goal", rf"{_ACTION_START}(?P<v>{_ACTION})\s+(?:\w+\s+){{0,3}}?{C}(?:\s+\w+){{0,3}}?\s*,?\s+(?:and|to|so|then|in\s+order\s+to|if\s+you\s+want\s+to|for|,){_G5}{S}", starts=_ACTION_START_WORDS),
    # "your times will drop once your coordination improves"
    _r("when-coordination-improves", rf"\b(?:once|when|whenever|as\s+soon\s+as|as|if|after|the\s+moment)\s+(?:\w+\s+){{0,3}}?{C}\s+(?:\w+\s+){{0,2}}?(?P<v>{_IMPROVE_INTRANS})\b", neg_scope="sentence", needs_free_s=True, starts="once when whenever as if after the"),
    _r("when-coordination-improves", rf"\b(?:once|when|whenever|as\s+soon\s+as|as|if|after|the\s+moment)\s+(?:\w+\s+){{0,2}}?(?P<v>get|gets|become|becomes|are|is|grow|grows)\s+(?:more|better|well|really|truly|properly)[\s-]+(?:\w+\s+)?{C}", neg_scope="sentence", needs_free_s=True, starts="once when whenever as if after the"),
    # "if you are slow, it is probably your coordination"
    _r("slow-blamed-on-coordination", rf"\b(?:if|when|whenever)\b[^,;:\u2014.]{{0,40}}?{S}[^;:\u2014.]{{0,30}}?,\s*(?:then\s+)?(?P<v>it\s+is|that\s+is|blame|the\s+(?:problem|culprit|cause|issue|reason)\s+is)\s+(?:\w+\s+){{0,3}}?{C}", starts="if when whenever"),
    # "nothing improves sprint speed like better coordination"
    _r("nothing-beats-coordination", rf"\b(?:nothing|no\s+(?:\w+\s+){{0,2}}?(?:way|drill|method|training|quality|factor|skill))\b(?:\s+\w+){{0,2}}?\s+(?P<v>{_FWD_VERB}){_G_VS}{S}{_gap(3)}(?:like|than|more\s+than|as\s+much\s+as)\s+(?:\w+\s+){{0,3}}?{C}", neg_scope="prefix", starts="nothing no"),
    # "poor coordination is what is holding you back"
    _r("holding-back", rf"{C}{_G_CV}(?P<v>(?:hold(?:s|ing)?|held|keep(?:s|ing)?|kept)\s+(?:\w+\s+){{0,2}}?back|slow(?:s|ing|ed)?\s+(?:\w+\s+){{0,2}}?down|(?:is|are)\s+(?:the\s+)?(?:\w+\s+)?(?:limiter|limiting\s+factor|bottleneck))"),
    # "coordination drives / explains / is the key to / is responsible for ... speed"
    _r("coordination-causes-speed", rf"{C}{_POSTMOD}{_G_CV}(?P<v>{_FWD_CUE}){_G_VS}{S}"),
    # "speed comes from / depends on / is a product of ... coordination"
    _r("speed-from-coordination", rf"{S}{_gap(6, _CLAUSE_BLOCK, _PERC_BLOCK)}(?P<v>{_REV_CUE}){_G3}{C}"),
    # "coordination is the cause." (speed implied by the question being answered)
    _r("coordination-is-the-cause", rf"{C}{_G3}(?P<v>is|are|as|was|=)\s+(?:(?:the|a|an|one|main|real|true|primary|biggest|underlying|mechanical|ultimate|key|hidden|actual|single|most|important|whole)\s+)*(?:cause|explanation|mechanism|driver|secret|reason|engine|answer|key)\b(?:\s+(?:itself|here|of\s+it\s+all|behind\s+it(?:\s+all)?|in\s+sprinting|in\s+running))?\s*(?=$|[.!;:\u2014,)])"),
)

# A clause that starts with a pronoun standing for coordination in the previous
# clause / sentence: "— it's what actually makes you fast", "That's where speed comes from."
_ANAPHOR_RULES: tuple[_Rule, ...] = (
    _r("anaphora", rf"^(?:and\s+|so\s+|but\s+|yes\s*,?\s*)?(?:it|that|this|which)\s+(?:(?:is|was|will\s+be|has\s+been|really\s+is|is\s+really|is\s+actually|is\s+exactly|is\s+precisely|is\s+also|is\s+ultimately)\s+)?(?:\w+\s+){{0,2}}?(?P<v>{_FWD_VERB}|(?:the\s+)?(?:\w+\s+)?{_PRED_NOUN}|where|how){_G_VS}{S}", starts="^"),
    _r("anaphora", rf"^(?:\w+\s+)?(?P<v>{_ACTION})\s+(?:it|that|this|them)\b\s+(?:\w+\s+){{0,2}}?(?:and|to|so|then){_gap(4)}{S}", starts="^"),
)

# ------------------------------------------------------------ scope markers
# Phrases that look negative but do not negate the claim ("not just a feeling").
_NOT_NEG = re.compile(
    r"\b(?:not\s+(?:just|only|merely|simply)|no\s+(?:doubt|wonder|secret|question|matter)"
    r"|nothing\s+(?:but|more\s+than)|without\s+(?:a\s+)?(?:doubt|question)"
    r"|not\s+surprising(?:ly)?|(?:never|not)\s+forget|can\s+not\s+(?:stress|overstate)"
    r"|not\s+least|no\s+longer\s+just)\b"
)
# Short corrective asides that do not touch the claim: "coordination, not strength, drives speed".
_ASIDE = re.compile(r"(?:,|\u2014)\s*(?:and\s+)?(?:not|rather\s+than|instead\s+of)\s+(?:[\w'-]+\s+){0,3}?[\w'-]+\s*(?:,|\u2014)")
_NEG = re.compile(
    r"\b(?:not|never|no|nobody|nothing|none|neither|nor|no\s+longer|rather\s+than|instead\s+of"
    r"|hardly|disagree\w*|reject\w*|den(?:y|ies|ied)|dispute\w*|doubt\w*|challeng\w*|myth"
    r"|misconception|misleading|mistaken|wrong|false|untrue|overrat\w*|oversimplif\w*"
    r"|fail(?:s|ed)?\s+to|stop\s+(?:thinking|believing|saying)|avoid\s+(?:thinking|saying)"
    r"|unrelated|independent\s+of|distinct\s+from|separate\s+from)\b"
)
# Someone other than AQ/us holds the view ("many athletes believe", "the idea that").
_DIST_NOMINAL = re.compile(
    r"\b(?:(?:common|popular|widespread|old|traditional|conventional|usual)\s+(?:\w+\s+){0,2}?"
    r"(?:belief|view|idea|notion|wisdom|thinking|assumption|story|line|claim|explanation|advice|saying|take|narrative|myth)"
    r"|belief\s+that|myth|misconception|the\s+(?:idea|notion|claim|assumption|view|theory|story"
    r"|argument|suggestion|statement|sentence|phrase|line|belief)\s+that|so-called|supposedly|allegedly"
    r"|tempting\s+to\s+(?:believe|think|say|assume)|traditional\w*|conventional\w*|old-school"
    r"|you\s+(?:might|may|will|probably|often)\s+(?:have\s+)?(?:hear\w*|been\s+told|read)"
    r"|you\s+have\s+(?:probably\s+)?(?:heard|been\s+told|read)"
    r"|(?:is|are|was|were)\s+(?:often|commonly|widely|usually|sometimes|frequently|typically)\s+"
    r"(?:said|assumed|believed|thought|claimed|taught|described|treated|seen|viewed|presented)"
    r"|gr[eo]w\s+up\s+(?:believing|thinking|hearing)|asked\s+me\s+to|want(?:s|ed)?\s+me\s+to"
    r"|told\s+me\s+to|wants?\s+you\s+to\s+believe|would\s+have\s+you\s+believe"
    r"|(?:love|like)s?\s+to\s+(?:say|claim|think)|according\s+to\s+(?!aq\b))"
)
_DIST_VERB = re.compile(
    r"\b(?:people|athletes?|coaches?|sprinters?|runners?|many|most|some|others|they|you|everyone"
    r"|someone|somebody|folks|fans|commentators|experts|textbooks|trainers|parents|he|she|who"
    r"|thinking|wisdom|training|coaching|user|users|question)\b(?:\s+\w+){0,3}?\s+"
    r"(?:believ\w*|think\w*|thought|assum\w*|claim\w*|say|says|said|saying|tell|tells|told"
    r"|teach\w*|taught|insist\w*|argu\w*|hear|heard|expect\w*|suggest\w*|preach\w*|swear"
    r"|ask|asks|asked|asking|wonder\w*)\b"
)
# Distancing that follows the claim: "... — that's a myth", "... or so people say".
_DIST_AFTER = re.compile(
    r"\b(?:myth|misconception|wrong|false|untrue|mistaken|outdated|oversimplif\w*|nonsense"
    r"|misleading|incorrect|not\s+(?:true|correct|right|accurate|the\s+case|how\s+aq)"
    r"|or\s+so\s+(?:\w+\s+){0,3}?(?:say|says|think|thinks|believe|believes|claim|claims)"
    r"|according\s+to\s+(?!aq\b)|is\s+what\s+(?:many|some|most|people|coaches|athletes)\b)"
)
# Endorsement of a reported view: "..., and they're right."
_AFFIRM = re.compile(
    r"\b(?:they|he|she|you|that|this|it|which|those\s+\w+|the\s+\w+)\s+(?:are|is|were|was)\s+"
    r"(?:(?:absolutely|completely|quite|totally|entirely|exactly|dead|so|100%)\s+)?"
    r"(?:right|correct|true|spot\s+on|accurate)\b|\brightly\b|\bcorrectly\b|\bagree\b"
)
_AFFIRM_SENTENCE = re.compile(
    r"^(?:and\s+|but\s+)?(?:(?:they|he|she|you|that|this|it|those\s+\w+|the\s+\w+)\s+(?:are|is|were|was)\s+"
    r"(?:(?:absolutely|completely|quite|totally|entirely|exactly|dead|so|100%)\s+)?(?:right|correct|true|spot\s+on|accurate)"
    r"|(?:exactly|true|correct|absolutely|indeed|spot\s+on)\b|(?:aq|we|i)\s+(?:\w+\s+)?agrees?)"
)
# Asking about the relation is not asserting it ("AQ asks what athletes mean by coordination").
_INQUIRY = re.compile(
    r"\b(?:ask|asks|asked|asking|question\w*|wonder\w*|whether)\b"
    # a named common cause: "... because both reflect the same relationships"
    r"|\bboth\b[^.;]{0,40}?\b(?:reflect\w*|come\s+from|result\s+from|stem\s+from|follow\s+from|depend\s+on)"
)
_SARCASM = re.compile(r"^(?:yeah,?\s+right|as\s+if|oh\s+sure|sure,?\s+because|right,?\s+because|because\s+obviously)\b")

# Perception around a coordination mention makes it the FEEL, not a cause.
_PERC_BEFORE = re.compile(
    r"\b(?:feel|feels|felt|feeling|look|looks|looked|looking|appear\w*|seem\w*|call|calls|called"
    r"|calling|label\w*|describ\w*|experienc\w*|perceiv\w*|notic\w*|sense\s+of|sensation\s+of"
    r"|so-called|summari[sz]\w*)\b(?:\s+[\w'-]+){0,3}?\s+$"
)
_PERC_AFTER = re.compile(r"^\w*(?:\s+\w+)?\s+(?:feel|feels|felt|feeling|sensation|label|experience)\b")
_S_PERC_BEFORE = re.compile(r"\b(?:feel|feels|felt|feeling|look|looks|looked|seem\w*|appear\w*)\b(?:\s+[\w'-]+)?\s+$")
_S_HOW_FEELS = re.compile(r"^[\w\s,'-]{0,40}?\b(?:feel|feels|felt|looks|seems|appears)\b")

_HARD_BREAK = re.compile(r"[;:\u2014()]")
_SOFT_BREAK = re.compile(r"\b(?:but|however|yet|although|though|whereas|while)\b")

_FELT_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("felt-label", re.compile(r"\b(?:label\w*|name|word|term|description|describ\w*|summari[sz]\w*|call(?:s|ed|ing)?|mention\w*)\b")),
    ("felt-feeling", re.compile(r"\b(?:feel|feels|felt|feeling|feelings|sensation\w*|experienc\w*|notic\w*|sense|perceiv\w*)\b")),
    ("felt-appearance", re.compile(r"\b(?:look|looks|looked|looking|appear\w*|seem\w*)\b")),
)

_C_RX = re.compile(rf"\b{_C}")
_TOKEN = re.compile(r"[\w][\w'-]*|[,;:\u2014]")
_S_RX = re.compile(rf"\b{_S}\b")
_RELATION_TERMS = re.compile(
    r"\b(?:pushing[- ]side|swing[- ]side|swing\s+side|pushing\s+side|timing|continuity|projection"
    r"|relationships?|contributor\w*|thrust|sprint[- ]system)\b"
)
# Questions that ask how to get / why someone is fast, answered by the next sentence.
_SPEED_QUESTION = re.compile(r"\b(?:why|how|what|want|wanna|need|looking\s+to|wish)\b")
_SHORT_ANSWER_HEAD = re.compile(
    rf"^(?:(?:it\s+is|simple|easy|answer|the\s+answer\s+is|one\s+word|that\s+is|mostly|mainly|basically|honestly)\W+)?(?:\w+\s+){{0,2}}?{_C}"
)
_IMPERATIVE_HEAD = re.compile(rf"^(?:just\s+|simply\s+|first\s*,?\s+)?{_ACTION}\s+(?:\w+\s+){{0,3}}?{_C}")


# ------------------------------------------------------------------ analysis
@dataclass(frozen=True)
class _Analysis:
    judgement: SentenceJudgement
    undecided: bool = False
    reported: bool = False  # a causal pattern was voided only because it was reported
    c_focus: bool = False  # ends on a plain (not perceived, not negated) coordination mention
    question: bool = False
    has_s: bool = False
    has_neg: bool = False
    norm: str = ""


def _clause_start(norm: str, pos: int) -> int:
    """Start of the clause containing pos (after the last hard or soft break)."""
    start = 0
    for m in _HARD_BREAK.finditer(norm, 0, pos):
        start = m.end()
    for m in _SOFT_BREAK.finditer(norm, start, pos):
        start = m.start()
    return start


def _strip_aside(m: re.Match[str]) -> str:
    # An aside that negates coordination itself ("timing, not coordination, explains") stays.
    return m.group(0) if "coordinat" in m.group(0) else " , "


def _negated(text: str) -> bool:
    if not _NEG.search(text):
        return False  # fast path: most text has no negator at all
    text = _ASIDE.sub(_strip_aside, _NOT_NEG.sub(" ", text))
    return bool(_NEG.search(text))


def _c_perceived(norm: str, c_start: int, c_end: int) -> bool:
    before = norm[max(0, c_start - 45):c_start]
    before = before[max(before.rfind(","), before.rfind(";"), before.rfind("\u2014")) + 1:]
    return bool(_PERC_BEFORE.search(before) or _PERC_AFTER.match(norm[c_end:c_end + 30]))


def _s_perceived(norm: str, s_start: int, s_end: int) -> bool:
    if _S_PERC_BEFORE.search(norm[max(0, s_start - 25):s_start]):
        return True
    return norm[max(0, s_start - 4):s_start] == "how " and bool(_S_HOW_FEELS.match(norm[s_end:s_end + 30]))


_SINGLE_QUOTED = re.compile(r"(?<!\w)'(?=\S)(.+?)(?<=\S)'(?!\w)")


def _quoted(norm: str, pos: int) -> bool:
    """Inside a double-quoted span, or a single-quoted span (apostrophes are mostly
    gone after contraction expansion, so ' pairs are real quotes)."""
    if norm.count('"', 0, pos) % 2 == 1 and '"' in norm[pos:]:
        return True
    for m in _SINGLE_QUOTED.finditer(norm):
        if m.start() < pos < m.end():
            return True
    return False


_REPORT_STOP = re.compile(r"[;.]")


def _distanced(norm: str, m_start: int, m_end: int) -> bool:
    """Reported from someone else / debunked, and not endorsed afterwards."""
    # A report governs what follows it up to a sentence stop, ";" or a contrast
    # ("..., but AQ ..."); ":" and dashes often introduce the reported content itself.
    start = 0
    for b in _REPORT_STOP.finditer(norm, 0, m_start):
        start = b.end()
    for b in _SOFT_BREAK.finditer(norm, start, m_start):
        start = b.start()
    prefix = norm[start:m_start]
    after = norm[m_end:]
    reported = bool(_DIST_NOMINAL.search(prefix) or _DIST_VERB.search(prefix))
    debunked = bool(_DIST_AFTER.search(after))
    if not (reported or debunked):
        return False
    if reported and not debunked:
        aff = _AFFIRM.search(after)
        if aff and not _negated(after[:aff.end()]):
            return False
    return True


def _check(rule: _Rule, m: re.Match[str], norm: str) -> str:
    """'' if the match is a live causal claim, else why it was voided."""
    gd = m.groupdict()
    c0 = m.start("c") if gd.get("c") is not None else m.start()
    if gd.get("c") is not None and not rule.c_may_be_perceived:
        if _c_perceived(norm, m.start("c"), m.end("c")):
            return "perceived"
    if gd.get("s") is not None and _s_perceived(norm, m.start("s"), m.end("s")):
        return "perceived"
    if rule.needs_free_s:
        free = [s for s in _S_RX.finditer(norm)
                if not (m.start() <= s.start() < m.end()) and not _s_perceived(norm, s.start(), s.end())]
        if not free:
            return "no-speed"
    if _quoted(norm, c0):
        return "quoted"
    if rule.neg_scope == "sentence":
        region = norm
    else:
        region_start = _clause_start(norm, m.start())
        region_end = m.start() if rule.neg_scope in ("prefix", "verb") else m.end()
        region = norm[region_start:region_end]
        if rule.neg_scope == "verb":
            region += " " + norm[m.start("v"):m.end()]
    if _negated(region):
        return "negated"
    if _distanced(norm, m.start(), m.end()):
        return "reported"
    return ""


def _clauses(norm: str) -> list[str]:
    return [c.strip(" ,") for c in _HARD_BREAK.split(norm) if c.strip(" ,")]


def _plain_c_focus(text: str) -> bool:
    """Text ends on a coordination mention that could be a pronoun's antecedent."""
    cs = list(_C_RX.finditer(text))
    if not cs or _negated(text) or _quoted(text, cs[-1].start()):
        return False
    last = cs[-1]
    if _c_perceived(text, last.start(), last.end()):
        return False
    rel = [r.start() for r in _RELATION_TERMS.finditer(text)]
    return not rel or max(rel) < last.start()


def _anaphor(clause: str) -> tuple[str, str] | None:
    for rule in _ANAPHOR_RULES:
        m = rule.rx.search(clause)
        if m and not _negated(clause[:m.end()]) and not _s_perceived(clause, m.start("s"), m.end("s")):
            return rule.name, m.group(0)
    return None


@lru_cache(maxsize=16384)  # pure; a streamed answer is judged again with each sentence it adds
def _analyse(sentence: str) -> _Analysis:
    low = sentence.lower()
    if "coordinat" not in low and "co-ordinat" not in low:
        # Most sentences: no coordination mention, nothing to claim; skip the work.
        norm = _normalise(sentence)
        return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), question=norm.endswith("?"),
                         has_s=bool(_S_RX.search(norm)), has_neg=_negated(norm), norm=norm)
    norm = _normalise(sentence)
    question = norm.endswith("?")
    c_pos = [m.start() for m in _C_RX.finditer(norm)]
    s_hits = list(_S_RX.finditer(norm))
    s_pos = [m.start() for m in s_hits]
    # Speed that is only felt ("feels faster") does not count as a speed claim.
    has_s = any(not _s_perceived(norm, m.start(), m.end()) for m in s_hits)
    has_neg = _negated(norm)
    base = dict(question=question, has_s=has_s, has_neg=has_neg, norm=norm)
    if not c_pos:
        return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), **base)

    voided: set[str] = set()
    if not question and not _SARCASM.match(norm):
        where: dict[str, list[int]] = {}
        for t in _TOKEN.finditer(norm):
            where.setdefault(t.group(), []).append(t.start())
        for rule in _CAUSAL_RULES:
            if rule.needs_s and not s_pos:
                continue
            if rule.anchor:
                starts = c_pos if rule.anchor == "c" else s_pos
            else:
                starts = [p for w in rule.starts & where.keys() for p in where[w]]
                if "^" in rule.starts:
                    starts.insert(0, 0)
                if "S" in rule.starts:
                    starts += s_pos
            for m in filter(None, (rule.rx.match(norm, p) for p in starts)):
                why = _check(rule, m, norm)
                if not why:
                    return _Analysis(SentenceJudgement(sentence, "causal", m.group(0).strip(" ,"), rule.name), **base)
                voided.add(why)
        # Pronoun standing for coordination in the previous clause.
        clauses = _clauses(norm)
        for prev, cur in zip(clauses, clauses[1:]):
            if _plain_c_focus(prev):
                hit = _anaphor(cur)
                if hit and not _distanced(norm, norm.find(cur), norm.find(cur) + len(cur)):
                    return _Analysis(SentenceJudgement(sentence, "causal", f"{prev} \u2014 {hit[1]}", hit[0]), **base)

    reported = "reported" in voided and "negated" not in voided
    for name, rx in _FELT_CUES:
        fm = rx.search(norm)
        if fm:
            # Evidence: the cue together with the nearest coordination mention, if close.
            c = min(c_pos, key=lambda p: abs(p - fm.start()))
            c_end = _C_RX.match(norm, c).end()  # type: ignore[union-attr]
            lo, hi = min(c, fm.start()), max(c_end, fm.end())
            span = norm[lo:hi] if hi - lo <= 80 else fm.group(0)
            return _Analysis(SentenceJudgement(sentence, "felt", span, name), reported=reported, **base)
    # Reported views ("traditional thinking says ...") are decided: not our claim.
    reported_view = bool(_DIST_NOMINAL.search(norm) or _DIST_VERB.search(norm) or _INQUIRY.search(norm))
    undecided = (has_s and not question and not voided and not has_neg and not reported_view
                 and not _SARCASM.match(norm))
    c_focus = (not question) and _plain_c_focus(norm)
    return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), undecided=undecided,
                     reported=reported, c_focus=c_focus, **base)


# ------------------------------------------------------------------- public
def judge_sentence(sentence: str) -> SentenceJudgement:
    """Label one sentence causal / felt / neutral, with the deciding span and rule."""
    return _analyse(sentence).judgement


def judge_framing(text: str) -> FramingVerdict:
    """Judge a whole answer: fail on any causal sentence, uncertain on undecided ones."""
    analyses = [_analyse(s) for s in split_sentences(text)]
    judged: list[SentenceJudgement] = []
    for i, a in enumerate(analyses):
        j = a.judgement
        prev = analyses[i - 1] if i else None
        if j.label != "causal" and prev is not None:
            j = _context_rule(prev, a) or j
        judged.append(j)
    undecided = tuple(
        a.judgement for a, j in zip(analyses, judged) if a.undecided and j.label != "causal"
    )
    if any(j.label == "causal" for j in judged):
        verdict: Verdict = "fail"
    elif undecided:
        verdict = "uncertain"
    else:
        verdict = "pass"
    return FramingVerdict(verdict, tuple(judged), _undecided=undecided)


def _context_rule(prev: _Analysis, cur: _Analysis) -> SentenceJudgement | None:
    """Claims split across two sentences."""
    sent, norm = cur.judgement.sentence, cur.norm
    # "Want to run faster? Improve your coordination." / "Why are they fast? Coordination."
    if (prev.question and prev.has_s and _SPEED_QUESTION.search(prev.norm)
            and not cur.question and not cur.has_neg and cur.judgement.label == "neutral"
            and cur.c_focus):
        short = len(norm.split()) <= 6 and _SHORT_ANSWER_HEAD.search(norm)
        if short or _IMPERATIVE_HEAD.search(norm):
            return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {sent}", "question-answered-by-coordination")
    # "Coordination is everything. It's what makes you fast."
    if not _C_RX.search(norm) and not prev.question and _plain_c_focus(prev.norm.rstrip(".!")):
        hit = _anaphor(norm)
        if hit and not _distanced(norm, 0, len(norm)):
            return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {hit[1]}", hit[0])
    # "Many coaches say coordination makes you faster. They're right."
    if prev.reported and _AFFIRM_SENTENCE.search(norm) and not cur.has_neg:
        return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {sent}", "reported-then-endorsed")
    return None


# ---------------------------------------------------------------- streaming
# A small model inventing the next turn of the conversation ("Question: Can you …").
_INVENTED_TURN = re.compile(r"^\W*(?:question|user|athlete|human|assistant|q|a)\s*:", re.I)
_ONLY_CITATIONS = re.compile(rf"(?:{CITATION_MARK.pattern}\s*)+")


class StreamGuard:
    """Judges a streamed answer one complete sentence at a time, before any of it is released.

    feed() takes the model's text as it arrives and returns the sentences that are complete and
    passed; close() does the same for what is left at the end. A sentence fails when the framing
    judge fails it (judged together with everything released so far, so a causal claim split over
    two sentences is still caught), when it repeats an earlier one, or when it invents a new turn
    of the conversation. After a failure nothing more is released; `evidence` says why.

    With `drop_failing` (a faithful answerer, which only quotes the articles) a failing sentence is
    left out instead, and the stream goes on: the rest of a quoted answer still stands.
    """

    def __init__(self, supported=None, drop_failing: bool = False) -> None:
        self.buffer = ""
        self.released = ""
        self.failed = False
        self.evidence: list[str] = []
        self.dropped: list[str] = []       # sentences left out as unsupported by the passages
        self.kept = 0                      # sentences released
        self._seen: set[str] = set()
        self._supported = supported        # sentence -> bool (the grounding guard), or None
        self._drop_failing = drop_failing
        self.left_out: list[str] = []      # drop_failing: sentences that failed and were left out
        self._left_out_last = False

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out: list[str] = []
        while not self.failed:
            m = STREAM_BOUNDARY.search(self.buffer)
            if not m or (m.end() == len(self.buffer) and not m.group(0).startswith("\n")):
                break
            segment, self.buffer = self.buffer[:m.end()], self.buffer[m.end():]
            if self._admit(segment):
                out.append(segment)
        return out

    def close(self) -> list[str]:
        segment, self.buffer = self.buffer, ""
        return [segment] if segment.strip() and not self.failed and self._admit(segment) else []

    def _admit(self, segment: str) -> bool:
        text = segment.strip()
        if not text:
            self.released += segment
            return True
        if self._left_out_last and _ONLY_CITATIONS.fullmatch(text):
            return False  # the "[1]" of a sentence that was left out
        self._left_out_last = False
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if _INVENTED_TURN.match(text):
            return self._fail(f"the answer invented a conversation turn: {text[:80]}", text)
        if len(key) > 20 and key in self._seen:
            return self._fail("the answer repeated itself", text)
        verdict = judge_framing(self.released + segment)
        if verdict.verdict != "pass":
            return self._fail("; ".join(verdict.evidence) or f"unclear framing: {text[:80]}", text)
        self._seen.add(key)
        if self._supported is not None and len(text.split()) >= 4 and not self._supported(text):
            self.dropped.append(text)  # not in the passages: left out, and the stream goes on
            self.evidence.append(f"unsupported by the passages, left out: {text[:120]}")
            return False
        self.released += segment
        self.kept += len(text.split()) >= 4  # a sentence with something to say ("👉✨" is not one)
        return True

    @property
    def mostly_unsupported(self) -> bool:
        """More was left out as unsupported than was kept, or nothing with content was kept: the answer does not stand."""
        if self._supported is None:
            return False
        return self.kept == 0 or len(self.dropped) >= self.kept

    def _fail(self, why: str, text: str) -> bool:
        self.evidence.append(why)
        if self._drop_failing:
            self.left_out.append(text)
            self._left_out_last = True
        else:
            self.failed = True
        return False
