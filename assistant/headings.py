"""Recognise an article's section headings: an emoji marker, then a Title Case title."""

from __future__ import annotations

import re

# A heading emoji whose identity was lost: the parser knows it, the Markdown drops it anyway.
NEUTRAL_HEADING = "🔹"
HEADING_MARKERS = ("🧠", "⚡", "🚨", "🔥", "🛠️", "🧭", "💪", "🎯", "❓", "👉", NEUTRAL_HEADING)
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "into", "of", "on", "or", "the", "to", "with"}
_WORD = re.compile(r"[A-Za-z][A-Za-z’'-]*")


def _strip_marker(line: str) -> tuple[str | None, str]:
    for marker in HEADING_MARKERS:
        if line.startswith(marker):
            return marker, line[len(marker):].strip().lstrip("\ufe0f").strip()
    if line and "\U0001F300" <= line[0] <= "\U0001FAFF":
        # Any pictographic emoji may lead a heading (🏁 …); arrows and ✅/❌ lie outside this range.
        return line[0], line[1:].strip().lstrip("\ufe0f").strip()
    return None, line


def _is_title_case(text: str) -> bool:
    """Headings are Title Case ("Why The Stride Feels “Off” Some Days"); prose is not."""
    words = _WORD.findall(text)
    if not words or text.endswith((".", ":", "…")) or len(words) > 16:
        return False
    if text.isupper() and len(words) > 1:
        return False  # shouted nav lines ("WHAT COORDINATION REALLY MEANS …")
    return all(w[0].isupper() or w.lower() in _SMALL_WORDS for w in words) and words[0][0].isupper()


def heading_text(line: str) -> str | None:
    """The section title if this line is an emoji-marked heading, else None."""
    marker, rest = _strip_marker(line.strip())
    if marker is None or not rest:
        return None
    return rest if _is_title_case(rest) else None
