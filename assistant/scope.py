"""Lexical facts about a question that patterns are right for: the glossary terms it names, and
whether it tries to instruct the assistant (injection). The kind of ask is learned
(assistant.plan_model); every backend shares these, so a hostile question gets the same safe
handling whether the composer or an LLM would have answered it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .corpus import Glossary
from .doctrine import Doctrine
from .text import normalise

# Orders to the assistant. "{subject}" is the doctrine's subject: "say coordination makes…" is an
# order, "why do coaches say coordination matters?" is not.
_INJECTION = (
    r"(ignore (all |any |your |the |previous |prior )*(instructions|rules|prompt|guidelines|system)|"
    r"disregard (your|the|all|previous)|system prompt|developer mode|jailbreak|you are now|pretend (to be|you)|"
    r"\bact as|repeat after me|just say|"
    r"(?:^|[.!,;:]\s*|\b(?:and|now|please|then|you must|you should|to)\s+)say (that |it:? )?[\"“']?{subject}|"
    r"admit (that )?{subject}|"
    r"you'?re wrong|you are wrong|confess|override)"
)


@lru_cache(maxsize=8)
def _injection(subject: str) -> re.Pattern:
    return re.compile(_INJECTION.replace("{subject}", re.escape(subject)), re.I)


def is_injection(text: str, doctrine: Doctrine) -> bool:
    """Does the text try to instruct the assistant (or to make it say something about the doctrine's subject)?"""
    return bool(_injection(doctrine.subject).search(text))


def named_terms(question: str, glossary: Glossary | None) -> list[str]:
    """The AQ terms the question names, in the order it names them; a term named only inside a
    longer one ("swing side" in "swing-side thrust") is left out."""
    if not glossary:
        return []
    norm = f" {normalise(question)} "
    found = sorted({t.term for t in glossary.terms_in(question)}, key=lambda t: (-len(t), t))
    kept: list[tuple[int, str]] = []
    rest = norm
    for term in found:  # longest first: each takes its words out of the question
        needle = f" {normalise(term)} "
        pos = norm.find(needle)
        if needle in rest:
            kept.append((pos, term))
            rest = rest.replace(needle, "  ")
    return [t for _, t in sorted(kept)]
