"""Lexical facts about a question that patterns are right for: the glossary terms it names, and
whether it tries to instruct the assistant (injection). The kind of ask is learned
(assistant.plan_model); every backend shares these, so a hostile question gets the same safe
handling whether the composer or an LLM would have answered it.
"""

from __future__ import annotations

import re

from .corpus import Glossary
from .doctrine import Doctrine
from .doctrine import load as load_doctrine
from .text import normalise

INJECTION = re.compile(
    r"(ignore (all |any |your |the |previous |prior )*(instructions|rules|prompt|guidelines|system)|"
    r"disregard (your|the|all|previous)|system prompt|developer mode|jailbreak|you are now|pretend (to be|you)|"
    r"\bact as|repeat after me|just say|"
    # "say coordination makes…" as an order, not "why do coaches say coordination matters?"
    r"(?:^|[.!,;:]\s*|\b(?:and|now|please|then|you must|you should|to)\s+)say (that |it:? )?[\"“']?coordination|"
    r"admit (that )?coordination|"
    r"you'?re wrong|you are wrong|confess|override)",
    re.I,
)


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


def out_of_scope_text(doctrine: Doctrine | None = None) -> str:
    return (doctrine or load_doctrine()).text("out_of_scope")


def injury_text(doctrine: Doctrine | None = None) -> str:
    return (doctrine or load_doctrine()).text("injury")
