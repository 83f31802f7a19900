"""The text toolkit every module shares: citation marks, sentences, where a stream may be cut,
normalised and stemmed words.

One copy of each, so the composer, the guard, the grounding check and the judges read an answer
the same way (copies of these had drifted apart: a "[1, 2]" after a full stop was cut off its
sentence by one of them).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

# --- citation marks ---------------------------------------------------------------------------

# "[1]", "[2, 3]", "[2,3]", "[4–6]", "[^4]": a passage the sentence cites, never a number it claims.
CITATION_MARK = re.compile(r"\[\^?\d+(?:\s*[,\u2013-]\s*\d+)*\]")
_CITATIONS_WITH_SPACE = re.compile(rf"\s*{CITATION_MARK.pattern}")


def strip_citations(text: str) -> str:
    """The text without its citation marks (and the space before each)."""
    return _CITATIONS_WITH_SPACE.sub("", text)


# --- sentences --------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u00b7\u25aa\u25cf\u2023\u2013\u2014>]|\d{1,3}[.)]|[a-z][.)](?=\s))\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_TERMINATOR = re.compile(rf"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?:\s*{CITATION_MARK.pattern})*(?=\s|$)")
_ABBREV = frozenset(
    "e.g i.e etc vs mr mrs ms dr prof st approx cf al fig no jr sr inc ltd co u.s min sec ca esp viz resp".split()
)


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences (bullets, newlines, .!? ends; citations stay)."""
    return list(_sentences(text))


@lru_cache(maxsize=16384)
def _sentences(text: str) -> tuple[str, ...]:
    """split_sentences(), remembered: every answer splits the same corpus units again."""
    out: list[str] = []
    for raw in text.splitlines():
        line = _HEADING.sub("", raw)
        while True:
            stripped = _BULLET.sub("", line, count=1)
            if stripped == line:
                break
            line = stripped
        line = line.strip()
        if line:
            _split_line(line, out)
    return tuple(out)


def _split_line(line: str, out: list[str]) -> None:
    start = 0
    for m in _TERMINATOR.finditer(line):
        end = m.end()
        rest = line[end:].lstrip()
        if rest and rest[0].islower():
            continue  # "e.g. the", "vs. slower" — not a sentence start
        word = re.search(r"([\w.]+)\.$", line[start:m.start() + 1]) if line[m.start()] == "." else None
        if word:
            token = word.group(1).lower().rstrip(".")
            if token in _ABBREV or re.fullmatch(r"[A-Z]", word.group(1)):  # initials
                continue
        piece = line[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    tail = line[start:].strip()
    if tail:
        if CITATION_MARK.fullmatch(tail) and out:
            out[-1] = f"{out[-1]} {tail}"  # stray citation mark belongs to the sentence before
        else:
            out.append(tail)


# --- where a stream may be cut ----------------------------------------------------------------

# After . ! ? … (and any closing quote or citation marks) with more text following, or at a line break.
STREAM_BOUNDARY = re.compile(rf"(?<=[.!?…])[\"”’')\]]*(?:\s*{CITATION_MARK.pattern})*[ \t]+(?=[^\sa-z])|\n+")


def sentence_pieces(text: str) -> list[str]:
    """The text cut where a stream would release it (each piece keeps its trailing space); joined, they are the text."""
    pieces, start = [], 0
    for m in STREAM_BOUNDARY.finditer(text):
        pieces.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


# --- chat history ---------------------------------------------------------------------------

def history_shape(what: str) -> str:
    """What a chat history must look like, for a message naming it (`what`: a file, an API field)."""
    return f'{what} must be a JSON list of {{"role": "user" or "assistant", "content": "..."}} messages, oldest first'


def history_messages(data, what: str = "history") -> list[dict]:
    """A decoded chat history as {"role", "content"} messages, oldest first; ValueError saying
    which message is not one."""
    shape = history_shape(what)
    if not isinstance(data, list):
        raise ValueError(shape)
    history = []
    for n, message in enumerate(data):
        if (not isinstance(message, dict) or message.get("role") not in ("user", "assistant")
                or not isinstance(message.get("content"), str)):
            raise ValueError(f"{shape} (message {n} is not)")
        history.append({"role": message["role"], "content": message["content"]})
    return history


# --- words ------------------------------------------------------------------------------------

# Words that negate what follows them: one list, for every module that asks "is this negated?" (the
# importer's verdicts, the doctrine's injury mentions). "don't" and an athlete's "dont" both count.
NEGATORS = r"not|no|nor|never|nothing|without|zero|cannot|isn'?t|aren'?t|wasn'?t|doesn'?t|don'?t|didn'?t"
NEGATION = re.compile(rf"\b(?:{NEGATORS})\b|n[’']t\b", re.I)
# A negator just before a position (at most one word between): "not injured", "no real pain".
NEGATED_BEFORE = re.compile(rf"\b(?:{NEGATORS})\s+(?:\w+\s+)?$", re.I)


@lru_cache(maxsize=16384)  # pure; every question and unit is checked for the glossary's terms
def normalise(text: str) -> str:
    """Lower case, curly apostrophes straightened, punctuation (quotes and apostrophes too) and
    hyphens, underscores and slashes as single spaces: "Swing-side" and "swing side" read alike."""
    text = text.lower().replace("’", "'")
    return re.sub(r"[\s\-_/]+", " ", re.sub(r"[^\w\s\-]", " ", text)).strip()


_stemmer_lock = threading.Lock()
_stemmer = None


def stem_words(words: list[str]) -> list[str]:
    """Snowball-stem words with the one shared PyStemmer instance (it is not thread-safe)."""
    global _stemmer
    with _stemmer_lock:
        if _stemmer is None:
            import Stemmer

            _stemmer = Stemmer.Stemmer("english")
        return _stemmer.stemWords(words)


__all__ = ["CITATION_MARK", "STREAM_BOUNDARY", "history_messages", "history_shape", "normalise", "sentence_pieces", "split_sentences", "stem_words",
           "strip_citations"]
