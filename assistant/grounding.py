"""The grounding guard: is a sentence an LLM wrote supported by the passages it was given?

Entailment-style and offline: a sentence is supported when it is close in meaning to some passage
sentence (MiniLM cosine), or close enough while most of its content words come from the passages
or the AQ glossary. Sentences with numbers the passages never use (sets, reps, percentages,
minutes) are not supported: that is how invented plans look. The thresholds are Settings fields
chosen on the tune split of evals/judges/grounding_guard_labelled.yaml (see tune_grounding()).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .embeddings import cosine as _cosine
from .guard import split_sentences
from .retrieval import tokenize

_CITATION = re.compile(r"\s*\[\d+(?:\s*[,\-]\s*\d+)*\]")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
# "AQ's articles don't cover weight training.": an honest gap is not a claim that needs support.
_GAP = re.compile(r"\barticles?\b[^.]{0,30}\b(?:don't|do not|doesn't|does not|never)\s+(?:cover|discuss|mention|name|address|go into)", re.I)


@dataclass
class Evidence:
    """What a sentence may be supported by: passage sentences (with vectors) and their words."""

    vectors: list
    tokens: frozenset
    numbers: frozenset


class GroundingCheck:
    def __init__(self, embeddings, glossary=None, cosine: float = 0.85, overlap: float = 0.9, cosine_with_overlap: float = 0.5,
                 generic: frozenset = frozenset(), extra: tuple[str, ...] = ()) -> None:
        self.embeddings = embeddings
        self.cosine, self.overlap, self.cosine_with_overlap = cosine, overlap, cosine_with_overlap
        self.generic = set(tokenize(" ".join(generic)))
        # The glossary and AQ's own fixed texts (doctrine.yaml: about AQ) support a sentence as a passage does.
        self._glossary = ([f"{t.term}: {t.definition}" for t in glossary] if glossary else []) + \
            [s for text in extra for s in split_sentences(text)]
        self._glossary_vectors = None
        self._passage_vectors: dict[str, list] = {}   # passage text -> its sentences' vectors (passages recur)

    def _vectors_of(self, passage: str) -> list:
        if passage not in self._passage_vectors:
            sentences = [s for s in split_sentences(passage) if len(s.split()) >= 4]
            if len(self._passage_vectors) >= 512:
                self._passage_vectors.pop(next(iter(self._passage_vectors)))
            self._passage_vectors[passage] = self.embeddings.embed_documents(sentences) if sentences else []
        return self._passage_vectors[passage]

    def evidence(self, passages: list[str]) -> Evidence:
        """The passages (and the glossary), split into sentences and embedded (each passage once)."""
        vectors = [v for p in passages for v in self._vectors_of(p)]
        if self._glossary_vectors is None:
            self._glossary_vectors = self.embeddings.embed_documents(self._glossary) if self._glossary else []
        text = " ".join(passages + self._glossary)
        return Evidence(list(vectors) + list(self._glossary_vectors), frozenset(tokenize(text)),
                        frozenset(_NUMBER.findall(text)))

    def score(self, sentence: str, evidence: Evidence) -> dict:
        sentence = _CITATION.sub("", sentence)  # "[1]" cites a passage; it is not a number the answer claims
        vector = self.embeddings.embed_query(sentence)
        cos = max((_cosine(vector, v) for v in evidence.vectors), default=0.0)
        words = [w for w in tokenize(sentence) if w not in self.generic]
        overlap = sum(w in evidence.tokens for w in words) / len(words) if words else 1.0
        new_numbers = sorted(set(_NUMBER.findall(sentence)) - evidence.numbers)
        return {"cosine": round(cos, 4), "overlap": round(overlap, 4), "new_numbers": new_numbers}

    def supported(self, sentence: str, evidence: Evidence) -> tuple[bool, dict]:
        s = self.score(sentence, evidence)
        if _GAP.search(sentence) and not s["new_numbers"]:
            return True, {**s, "gap": True}
        ok = not s["new_numbers"] and (s["cosine"] >= self.cosine or
                                       (s["overlap"] >= self.overlap and s["cosine"] >= self.cosine_with_overlap))
        return ok, s


def precision_recall(rows: list[tuple[bool, bool]]) -> dict:
    """rows: (flagged unsupported, truly unsupported). Precision and recall of catching unsupported sentences."""
    tp = sum(f and t for f, t in rows)
    fp = sum(f and not t for f, t in rows)
    fn = sum(t and not f for f, t in rows)
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0, "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
            "n": len(rows), "caught": tp, "false_alarms": fp, "missed": fn}
