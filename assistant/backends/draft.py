"""A composed answer being written: its sentences with their chunk ids, and what it already says.

The composer (backends.composer) asks the draft before it adds a unit: does this repeat, or is it
mostly contained in, a sentence this answer or an earlier one in the chat already said?
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..guard import FramingJudge
from ..retrieval import tokenize
from ..text import split_sentences
from .unit_ranking import Candidate

ABOUT_AQ_ID = "doctrine:about_aq"   # trace ids of fixed texts from corpus/doctrine.yaml
GAP_ID = "doctrine:gap"
DOCTRINE_ID = "doctrine:subject"

# "For example, …" and "That is why …" open a unit that points back at the article's previous sentence.
_POINTS_BACK = re.compile(r"^(?:For example|That is why|Which is why),? (\w)")

# Share of a sentence's own words found in one earlier answer's sentence that makes it a repeat: "what
# may drift" and "what may need to improve" share four in five of their words and are not the same point.
_SAID_BEFORE = 0.9


@dataclass
class Composition:
    text: str
    trace: list[tuple[str, str]]     # (sentence, chunk id); connective text has chunk id ""


def _containment(a: frozenset, b: frozenset) -> float:
    short = min(len(a), len(b))
    return len(a & b) / short if short else 0.0


def _opening(sentence: str) -> tuple[str, ...]:
    """A sentence's first two words: an answer whose sentences open alike ("AQ views …", "AQ views …")
    reads like a list of quotes, not a coach."""
    return tuple(re.findall(r"[a-z']+", sentence.lower())[:2])


class AnswerDraft:
    """An answer being written: its pieces, their chunk ids, and what it already says."""

    def __init__(self, said_before: list[str], framing: FramingJudge, doctrine_marker: re.Pattern | None = None) -> None:
        self.framing = framing
        self.doctrine_marker = doctrine_marker   # the doctrine sentence, said at most once
        self.said_doctrine = False
        self.pieces: list[tuple[str, str]] = []
        self.tokens: list[frozenset] = []
        self.before = [frozenset(tokenize(s)) for text in said_before for s in split_sentences(text)]
        self.openings: set[tuple[str, ...]] = set()   # each sentence's first two words
        self.vectors: list[tuple] = []   # (vector, its norm²) of each unit quoted
        self.cited: list[str] = []
        self.sources: list[Candidate] = []   # the units quoted, in order
        self.words = 0
        self.gap = False

    def say(self, text: str, chunk_id: str = "") -> None:
        self.pieces.append((text, chunk_id))
        self.said_doctrine |= bool(chunk_id == DOCTRINE_ID or (self.doctrine_marker and self.doctrine_marker.search(text)))
        self.tokens.extend(frozenset(tokenize(s)) for s in split_sentences(text))
        self.openings.update(_opening(s) for s in split_sentences(text))
        self.words += len(re.findall(r"[A-Za-z0-9]+", text))
        if chunk_id == GAP_ID:
            self.gap = True

    def repeats(self, text: str) -> bool:
        """Most of this text was said already, in this answer or an earlier one."""
        mine = frozenset(tokenize(text))
        if any(_containment(mine, t) >= 0.6 for t in self.tokens if t):
            return True
        return self._said_before(mine)

    def said_before(self, c: Candidate) -> bool:
        """An earlier answer in the conversation already said (most of) this unit: most of the unit's
        own words are in one of its sentences (a short sentence that shares words is no repeat)."""
        return any(self._said_before(frozenset(tokenize(s))) for s in split_sentences(c.unit.text))

    def _said_before(self, mine: frozenset) -> bool:
        return bool(mine) and any(len(mine & t) / len(mine) >= _SAID_BEFORE for t in self.before if t)

    def overlaps(self, c: Candidate) -> bool:
        """A sentence of the unit repeats, or is mostly contained in, a sentence already said (in
        this answer or an earlier one), or opens with the same two words as one of this answer's."""
        if any(_containment(c.tokens, t) >= 0.6 for t in self.tokens if t) or self.said_before(c):
            return True
        if self.said_doctrine and self.doctrine_marker and self.doctrine_marker.search(c.unit.text):
            return True
        sentences = split_sentences(c.unit.text)
        if any(_opening(s) in self.openings for s in sentences):
            return True
        return any(_containment(frozenset(tokenize(s)), t) >= 0.6 for s in sentences for t in self.tokens if t)

    def cite(self, c: Candidate, prefix: str = "", following: bool = False, lower: bool = False) -> None:
        if c.chunk_id not in self.cited:
            self.cited.append(c.chunk_id)
        # "For example, …" and "That is why …" point at the article's previous sentence, which the
        # answer has only when this unit follows it.
        text = c.unit.text if following else _POINTS_BACK.sub(lambda m: m.group(1).upper(), c.unit.text)
        if lower and text[:1].isupper() and not text[1:2].isupper():
            text = text[0].lower() + text[1:]  # after a connective ("By contrast, when …")
        if self.framing.judge_sentence(text).label == "causal":
            return
        self.say(f"{prefix + ' ' if prefix else ''}{text} [{self.cited.index(c.chunk_id) + 1}]", c.chunk_id)
        self.sources.append(c)
        if c.follower is not None and c.follower not in self.sources and not self.overlaps(c.follower):
            self.cite(c.follower, following=True)  # "… do not usually feel X." + "Instead, they feel the combined result …"
        self.vectors.append((c.vector, c.norm2))

    def finish(self) -> Composition:
        return Composition("\n\n".join(t for t, _ in self.pieces), list(self.pieces))
