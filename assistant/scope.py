"""What kind of question is this? Scope, injection, and the coaching intent.

Every backend shares this: an out-of-scope or hostile question gets the same safe handling
whether the composer or an LLM would have answered it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .corpus import Glossary

# Topics AQ Coach does not cover. Injury gets its own answer: it must point to a professional.
_INJURY = re.compile(
    r"\b(injur\w*|rehab\w*|physio\w*|hurt\w*|pain\w*|painful|strain\w*|sprain\w*|tear|torn|pulled (?:a |my )?\w+|"
    r"tendon\w*|tendinitis|tendinopathy|shin splints?|sore(?:ness)?|swollen|swelling|fracture\w*|concussion|surgery|"
    r"tore|ripped|broke|broken|dislocat\w*|inflam\w*|aches?|aching|achy|cramp\w*|acl|mcl)\b",
    re.I,
)
_OUT_OF_SCOPE = re.compile(
    r"\b(nutrition\w*|diet\w*|eat|eating|food|meal\w*|protein|carb\w*|calori\w*|supplement\w*|creatine|caffeine|vitamin\w*|"
    r"hydrat\w*|weight loss|lose weight|sleep\w*|"
    r"marathon\w*|half[- ]marathon|ultra\w*|[0-9]+ ?k pace|pacing|pace plan|"
    r"who won|winner|world record|olympic\w*|results?|medal\w*|championships?|"
    r"weather|stock\w*|bitcoin|recipe\w*|cover letter|poem|python code|javascript|homework)\b",
    re.I,
)
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
_FEEL_BAD = re.compile(
    r"\b(off|heavy|heavier|rushed|disconnected|awkward|choppy|sluggish|flat|forced|interrupted|clunky|tight|"
    r"out of sync|uncoordinated|fighting|hard(er)? to organi[sz]e|bad coordination|falling apart|struggl\w*)\b",
    re.I,
)
_FEEL_GOOD = re.compile(
    r"\b(smooth\w*|light(er)?|easy|easier|effortless|fluid|flow\w*|relaxed|connected|coordinated|quick(er)?|"
    r"clicking|in sync|rhythm\w*|powerful)\b",
    re.I,
)
_FEELING = re.compile(r"\b(feel\w*|felt|sensation|on (good|bad) days|some days|days when)\b", re.I)
_DOCTRINE = re.compile(r"\bcoordinat\w*\b", re.I)
_SPEED = re.compile(r"\b(speed|fast\w*|quick\w*|faster|elite|slow\w*|cause\w*|reason|key|secret|explain\w*|why)\b", re.I)
_TRAINING = re.compile(r"\b(fix|improve|train\w*|work on|drills?|get better|practice|what should i do|how (do|can) i)\b", re.I)
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


def classify(question: str, glossary: Glossary | None = None) -> Intent:
    q = question.strip()
    named = named_terms(q, glossary)
    implied = [t.term for t in glossary.expansions(q)] if glossary else []
    terms = named + [t for t in implied if t not in named]
    if _INJECTION.search(q):
        return Intent("injection", terms=terms)
    if _INJURY.search(q):
        return Intent("injury", terms=terms, in_scope=False)
    if _OUT_OF_SCOPE.search(q) or not (_IN_DOMAIN.search(q) or named):
        return Intent("out_of_scope", terms=terms, in_scope=False)
    if named and _TERM_QUESTION.search(q) and not _FEELING.search(q):
        return Intent("term", terms=terms)
    if _DOCTRINE.search(q) and _SPEED.search(q) and not _FEELING.search(q):
        return Intent("doctrine", terms=terms)
    if _FEELING.search(q) and (_FEEL_BAD.search(q) or _FEEL_GOOD.search(q)):
        return Intent("feel", feel="bad" if _FEEL_BAD.search(q) else "good", terms=terms)
    if _TRAINING.search(q):
        return Intent("training", terms=terms)
    if _DOCTRINE.search(q):
        return Intent("doctrine", terms=terms)
    return Intent("general", terms=terms)


def names_off_topic(question: str) -> bool:
    """True when the question names a topic AQ Coach does not cover (not merely lacks sprint words)."""
    return bool(_OUT_OF_SCOPE.search(question) or _INJURY.search(question))


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


OUT_OF_SCOPE_TEXT = (
    "That's outside what I can help with. I'm AQ Coach: I explain sprinting the way AQ's speed-training "
    "articles do, such as why sprinting feels smooth one day and off the next, what contributor timing "
    "and timing between steps are, and how the pushing side and swing side work together. "
    "Ask me about any of those."
)
INJURY_TEXT = (
    "I can't help with injuries or rehab, and I won't guess at a plan for one. Please see a qualified "
    "professional, such as a physiotherapist or a sports-medicine doctor. When you're back to sprinting, "
    "I'm happy to talk through sprint mechanics in AQ's terms, like the pushing side, the swing side and "
    "contributor timing."
)
