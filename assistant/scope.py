"""What kind of question is this? Scope, injection, and the coaching intent.

Every backend shares this: an out-of-scope or hostile question gets the same safe handling
whether the composer or an LLM would have answered it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .corpus import Glossary
from .doctrine import Doctrine
from .doctrine import load as load_doctrine

_INJECTION = re.compile(
    r"(ignore (all |any |your |the |previous |prior )*(instructions|rules|prompt|guidelines|system)|"
    r"disregard (your|the|all|previous)|system prompt|developer mode|jailbreak|you are now|pretend (to be|you)|"
    r"\bact as|repeat after me|just say|"
    # "say coordination makes…" as an order, not "why do coaches say coordination matters?"
    r"(?:^|[.!,;:]\s*|\b(?:and|now|please|then|you must|you should|to)\s+)say (that |it:? )?[\"“']?coordination|"
    r"admit (that )?coordination|"
    r"you'?re wrong|you are wrong|confess|override)",
    re.I,
)
_IN_DOMAIN = re.compile(
    r"\b(sprint\w*|run\w*|speed\w*|fast\w*|quick\w*|slow\w*|stride\w*|steps?|coordinat\w*|smooth\w*|rhythm\w*|"
    r"fluid|flow\w*|form|mechanic\w*|aq|pushing|swing\w*|thrust|timing|continuity|cycling|projection|drive|knee|arms?|legs?|"
    r"feel\w*|felt|heavy|rushed|off|light\w*|relax\w*|disconnected|awkward|aggress\w*|ground|turnover|cadence|"
    r"acceleration|accelerat\w*|athlete\w*|drills?|train\w*|coach\w*|technique|efficien\w*|power\w*)\b",
    re.I,
)
_FEELING = re.compile(r"\b(feel\w*|felt|sensation|on (good|bad) days|some days|days when)\b", re.I)
_SPEED = re.compile(r"\b(speed|fast\w*|quick\w*|faster|elite|slow\w*|cause\w*|reason|key|secret|explain\w*|why)\b", re.I)
# Asking what to train or change: the one copy of this pattern (plan, answering and composer use it).
TRAINING = re.compile(r"\b(fix|improv\w*|train\w*|work(?:ing)? on|drills?|get better|"
                      r"what (?:can|should) i do|how (?:do|can|should) i|focus(?:ing)? on)\b", re.I)
_TERM_QUESTION = re.compile(r"^\s*(what('?s| is| are| does)|define|meaning of|explain)\b", re.I)
# A follow-up that leans on the previous turn: "how do I fix that?", "what's underneath that?"
_ANAPHORA = re.compile(r"\b(that|this|it|those|these|them|there|the same|underneath that)\b", re.I)


# "and the swing side?", "what about on good days?": a short question that continues the last one.
_CONTINUATION = re.compile(r"^\s*(and|also|but|so|what about|how about|and what about)\b", re.I)


@dataclass
class Intent:
    kind: str                      # out_of_scope | injury | injection | doctrine | feel | term | training | general
    feel: str = ""                 # "bad" / "good" for feel questions
    terms: list[str] = field(default_factory=list)   # AQ terms named or implied
    in_scope: bool = True


def _norm(text: str) -> str:
    return re.sub(r"[\s\-_/]+", " ", re.sub(r"[^\w\s\-]", " ", text.lower())).strip()


def named_terms(question: str, glossary: Glossary | None) -> list[str]:
    """The AQ terms the question names, in the order it names them; a term named only inside a
    longer one ("swing side" in "swing-side thrust") is left out."""
    if not glossary:
        return []
    norm = f" {_norm(question)} "
    found = sorted({t.term for t in glossary.terms_in(question)}, key=lambda t: (-len(t), t))
    kept: list[tuple[int, str]] = []
    rest = norm
    for term in found:  # longest first: each takes its words out of the question
        needle = f" {_norm(term)} "
        pos = norm.find(needle)
        if needle in rest:
            kept.append((pos, term))
            rest = rest.replace(needle, "  ")
    return [t for _, t in sorted(kept)]


def classify(question: str, glossary: Glossary | None = None, doctrine: Doctrine | None = None) -> Intent:
    """The coaching intent and scope of one question (topics and stance words come from the doctrine)."""
    d = doctrine or load_doctrine()
    q = question.strip()
    named = named_terms(q, glossary)
    implied = [t.term for t in glossary.expansions(q)] if glossary else []
    terms = named + [t for t in implied if t not in named]
    if _INJECTION.search(q):
        return Intent("injection", terms=terms)
    if d.injury.search(q):
        return Intent("injury", terms=terms, in_scope=False)
    if d.out_of_scope.search(q) or not (_IN_DOMAIN.search(q) or named or d.gaps_in(q)):
        return Intent("out_of_scope", terms=terms, in_scope=False)
    if named and _TERM_QUESTION.search(q) and not _FEELING.search(q):
        return Intent("term", terms=terms)
    if d.subject_pattern.search(q) and _SPEED.search(q) and not _FEELING.search(q):
        return Intent("doctrine", terms=terms)
    stance = d.stance_of(q)
    if _FEELING.search(q) and (d.disrupted.search(q) or d.improving.search(q)):
        return Intent("feel", feel="bad" if stance == "disrupted" or (stance == "neutral" and d.disrupted.search(q)) else "good",
                      terms=terms)
    if TRAINING.search(q):
        return Intent("training", terms=terms)
    if d.subject_pattern.search(q):
        return Intent("doctrine", terms=terms)
    return Intent("general", terms=terms)


def names_off_topic(question: str, doctrine: Doctrine | None = None) -> bool:
    """True when the question names a topic AQ Coach does not cover (not merely lacks sprint words)."""
    d = doctrine or load_doctrine()
    return bool(d.out_of_scope.search(question) or d.injury.search(question))


def leans_on_previous(question: str) -> bool:
    """"And what happens when it gets worse?": a pronoun that needs the previous turn."""
    return bool(_ANAPHORA.search(question))


def is_follow_up(question: str, glossary: Glossary | None = None) -> bool:
    """True when the question needs the previous turn to make sense."""
    words = re.findall(r"[a-z']+", question.lower())
    if not words:
        return False
    has_anaphora = bool(_ANAPHORA.search(question))
    named = named_terms(question, glossary)
    if _CONTINUATION.match(question) and len(words) <= 6:
        return True  # "and the swing side?", "what about contributor timing?"
    content = [w for w in words if len(w) > 3 and w not in {"what", "that", "this", "those", "these", "them", "there",
                                                            "does", "about", "with", "happening", "underneath", "mean",
                                                            "then", "should", "would", "could", "actually", "going"}]
    if len(words) <= 3 and not named:
        return True  # "why?", "and then?", "how so?"
    return has_anaphora and not named and len(content) <= 3


def out_of_scope_text(doctrine: Doctrine | None = None) -> str:
    return (doctrine or load_doctrine()).text("out_of_scope")


def injury_text(doctrine: Doctrine | None = None) -> str:
    return (doctrine or load_doctrine()).text("injury")
