"""AQ's doctrine and the way AQ's articles are written, compiled from `corpus/doctrine.yaml`.

Everything specific to an article or to the doctrine is data: the doctrine statement and its
subject, the fixed retrieval queries, filler and summary markers, stance words, out-of-scope and
not-covered topics, and the fixed texts. Scope, chunking, the composer and the guard compile their
patterns from one `Doctrine`, so importing a new article needs at most an edit of that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .corpus import CorpusError, load_doctrine
from .text import NEGATED_BEFORE

DOCTRINE_FILE = "doctrine.yaml"
PROJECT_DOCTRINE = Path(__file__).resolve().parent.parent / "corpus" / DOCTRINE_FILE

# Never matches: a doctrine file that leaves a list out simply has no such markers.
_NEVER = re.compile(r"(?!x)x")


def _any(words, *, start: bool = False, flags: int = re.I) -> re.Pattern:
    """One pattern for a list of regex fragments: at the start of a line, or as whole words anywhere."""
    words = [str(w) for w in words or [] if str(w).strip()]
    if not words:
        return _NEVER
    body = "|".join(f"(?:{w})" for w in words)
    return re.compile(rf"^(?:{body})" if start else rf"\b(?:{body})(?![\w])", flags)


@dataclass(frozen=True)
class GapTopic:
    """A sprint topic AQ's articles do not cover (drills, warm-ups …), and the words that name it."""

    topic: str
    pattern: re.Pattern


@dataclass(frozen=True, eq=False)  # hashed by identity: one loaded file, one doctrine
class Doctrine:
    data: dict = field(repr=False)
    subject: str
    subject_pattern: re.Pattern
    statement: str
    about_aq: str
    queries: dict
    training_section: re.Pattern
    training_marker: re.Pattern
    doctrine_marker: re.Pattern
    filler: re.Pattern
    summary: re.Pattern
    rhetorical: re.Pattern
    disrupted: re.Pattern
    improving: re.Pattern
    out_of_scope: re.Pattern
    injury: re.Pattern
    not_covered: tuple[GapTopic, ...]
    texts: dict
    generic_words: frozenset = frozenset()
    opening_pronouns: tuple = ()   # (pattern, who): "They" opening an article's sentence is the athletes
    navigation_headings: re.Pattern = _NEVER  # the headings that start an article's site navigation (the importer)
    outcome: re.Pattern = _NEVER  # what the doctrine says its subject does not produce by itself (speed)

    @classmethod
    def from_data(cls, data: dict) -> Doctrine:
        subject = str(data.get("subject") or "coordination")
        return cls(
            data=data,
            subject=subject,
            subject_pattern=re.compile(rf"\b{data.get('subject_pattern') or re.escape(subject)}\b", re.I),
            statement=str(data.get("statement") or ""),
            about_aq=" ".join(str(data.get("about_aq") or "").split()),
            queries={k: str(v) for k, v in (data.get("queries") or {}).items()},
            training_section=_any(data.get("training_sections")),
            training_marker=re.compile("|".join(data.get("training_markers") or []) or _NEVER.pattern, re.I),
            doctrine_marker=re.compile("|".join(data.get("doctrine_markers") or []) or _NEVER.pattern, re.I),
            filler=_any(data.get("filler"), start=True),
            summary=_any(data.get("summary_markers"), start=True),
            rhetorical=_any(data.get("rhetorical_markers")),
            disrupted=_any((data.get("stance_words") or {}).get("disrupted")),
            improving=_any((data.get("stance_words") or {}).get("improving")),
            out_of_scope=_any(data.get("out_of_scope")),
            injury=_any(data.get("injury")),
            not_covered=tuple(GapTopic(str(t["topic"]), _any(t.get("words")))
                              for t in data.get("not_covered") or [] if isinstance(t, dict) and t.get("topic")),
            texts={k: " ".join(str(v).split()) for k, v in (data.get("texts") or {}).items()},
            generic_words=frozenset(str(w).lower() for w in data.get("generic_words") or []),
            opening_pronouns=tuple((re.compile(rf"^{re.escape(str(p))}\b"), str(who))
                                   for p, who in (data.get("opening_pronouns") or {}).items()),
            navigation_headings=_any([re.escape(str(h).strip()) for h in data.get("navigation_headings") or [] if str(h).strip()],
                                     start=True),
            outcome=_any(data.get("outcome_words")),
        )

    @classmethod
    def load(cls, path: Path) -> Doctrine:
        return cls.from_data(load_doctrine(Path(path)))

    def name_opening_pronoun(self, sentence: str) -> str:
        """The sentence with an opening pronoun replaced by who it means in the articles, so that an answer
        unit stands alone ("They simply feel …" → "Athletes simply feel …")."""
        for pattern, who in self.opening_pronouns:
            sentence = pattern.sub(who, sentence, count=1)
        return sentence

    def text(self, name: str) -> str:
        return self.texts.get(name, "")

    def gaps_in(self, question: str) -> list[str]:
        """The not-covered topics the question names, in the file's order."""
        return [g.topic for g in self.not_covered if g.pattern.search(question)]

    def mentions_injury(self, text: str) -> bool:
        """An injury is what the question is about: a mention that is denied ("not injured",
        "nothing hurts", "no pain", "pain-free") is context, not the ask."""
        if re.search(r"\b(?:fully cleared|cleared to (?:run|sprint|train)|fully recovered|healed)\b", text, re.I):
            return False  # "back from a strain and fully cleared": the injury is behind them
        for m in self.injury.finditer(text):
            before = text[max(0, m.start() - 25):m.start()].lower()
            after = text[m.end():m.end() + 6].lower()
            if not (NEGATED_BEFORE.search(before)
                    or re.match(r"\s*-?\s*free\b", after)):
                return True
        return False

    def side_words(self, text: str) -> dict[str, int]:
        """How many words of each side the text uses, a negated word counted on the other side."""
        counts = {"improving": 0, "disrupted": 0}
        for pattern, side, other in ((self.improving, "improving", "disrupted"), (self.disrupted, "disrupted", "improving")):
            for m in pattern.finditer(text):
                before = text[max(0, m.start() - 30):m.start()].lower()
                negated = re.search(r"\b(less|fewer|no|without|not|stop\w*)\s+(?:\w+\s+)?$", before)
                counts[other if negated else side] += 1
        return counts

    def stance_of(self, text: str) -> str:
        """improving | disrupted | mixed | neutral: which side of sprinting the text describes.

        A word after "less", "fewer", "no", "not" or "without" reads as the other side ("less
        interrupted" is improving, "less connected" disrupted).
        """
        counts = self.side_words(text)
        improving, disrupted = counts["improving"], counts["disrupted"]
        if improving == disrupted:
            return "mixed" if improving else "neutral"  # "improve together … interruptions decrease": both sides
        return "improving" if improving > disrupted else "disrupted"


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Doctrine:
    return Doctrine.load(Path(path))


def load(path: Path) -> Doctrine:
    """The doctrine at `path` (a corpus folder's doctrine.yaml), re-read when it changes.

    There is no default: the service, the importer and the evals each pass their corpus's file
    (`indexing.doctrine_for`), so a corpus with its own doctrine is never judged by AQ's."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"no doctrine file at {path}")
    return _load_cached(str(path), path.stat().st_mtime)
