"""The terms judge: does an answer use the AQ terms a case asks for (hyphen-, space- and case-insensitive)?"""

from __future__ import annotations

import re

from .judges import FAIL, PASS, CheckResult


def _norm_terms(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"[*_`]+", " ", text)
    return re.sub(r"[\s\-‐‑–_/]+", " ", text)


def _term_rx(term: str) -> re.Pattern:
    words = _norm_terms(term).strip()
    return re.compile(r"(?<![a-z0-9])" + re.escape(words) + r"s?(?![a-z0-9])")


def find_term(term: str, text: str) -> str | None:
    """The span of `term` in `text` (hyphen/space/case-insensitive), or None."""
    norm = _norm_terms(text)
    m = _term_rx(term).search(norm)
    return m.group(0) if m else None


def judge_terms(answer: str, terms_any: list[str], terms_all: list[str]) -> CheckResult:
    """terms_any: at least one appears; terms_all: every one appears."""
    found_any = [t for t in terms_any if find_term(t, answer)]
    found_all = [t for t in terms_all if find_term(t, answer)]
    missing_all = [t for t in terms_all if t not in found_all]
    any_ok = not terms_any or bool(found_any)
    ok = any_ok and not missing_all
    parts = []
    if terms_any:
        parts.append(1.0 if found_any else 0.0)
    if terms_all:
        parts.append(len(found_all) / len(terms_all))
    score = sum(parts) / len(parts) if parts else 1.0
    evidence = []
    if terms_any and not found_any:
        evidence.append({"missing_any": terms_any, "detail": "none of terms_any appears"})
    if missing_all:
        evidence.append({"missing_all": missing_all, "detail": "terms_all not all present"})
    if found_any or found_all:
        evidence.append({"found": list(dict.fromkeys(found_any + found_all))})
    return CheckResult("terms", PASS if ok else FAIL, score, evidence)
