"""The grounding guard: is a sentence an LLM wrote supported by the passages it was given?

Entailment-style and offline: a sentence is supported when it is close in meaning to some passage
sentence (MiniLM cosine), or close enough while most of its content words come from the passages
or the AQ glossary. Sentences with numbers the passages never use (sets, reps, percentages,
minutes) are not supported: that is how invented plans look. The thresholds are Settings fields
chosen by tune_grounding() on the tune split of evals/judges/grounding_guard_labelled.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .embeddings import cosine as _cosine
from .retrieval import tokenize
from .text import split_sentences, strip_citations

# Digits with any unit glued on ("100m", "4.5s", "10%"), and spelled-out counts ("three times a week").
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|twice|dozen)\b", re.I)
# @handles and #hashtags: a small model's social-media residue, never a restatement unless a passage has them.
_TAG = re.compile(r"[@#]\w[\w-]*")
# Words that hedge or connect but claim nothing ("could", "still", "often"): not content words.
_FUNCTION = frozenset(tokenize("could would might may can also still though although even often usually sometimes "
                               "simply just really actually quite rather instead however therefore thus whenever since "
                               "yet already especially generally typically perhaps maybe probably"))
# "AQ's articles don't cover weight training.": an honest gap is not a claim that needs support.
_GAP = re.compile(r"\barticles?\b[^.]{0,30}\b(?:don't|do not|doesn't|does not|never)\s+(?:cover|discuss|mention|name|address|go into)", re.I)


def _bases(word: str) -> tuple[str, ...]:
    """A stem and the stems its comparative or superlative may come from: heavier -> heavi, harder -> hard."""
    for end, repl in (("iest", "i"), ("ier", "i"), ("est", ""), ("er", "")):
        if word.endswith(end) and len(word) - len(end) >= 3:
            base = word[: -len(end)] + repl
            double = base[:-1] if len(base) > 3 and base[-1] == base[-2] else base  # bigger -> big
            return word, base, double
    return (word,)


@dataclass
class Evidence:
    """What a sentence may be supported by: passage sentences (with vectors) and their words."""

    vectors: list
    tokens: frozenset
    numbers: frozenset
    tags: frozenset = frozenset()


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
        return Evidence(list(vectors) + list(self._glossary_vectors), frozenset(tokenize(text)), _numbers(text), _tags(text))

    def score(self, sentence: str, evidence: Evidence) -> dict:
        sentence = strip_citations(sentence)  # "[1]" cites a passage; it is not a number the answer claims
        vector = self.embeddings.embed_query(sentence)
        cos = max((_cosine(vector, v) for v in evidence.vectors), default=0.0)
        words = [w for w in tokenize(sentence) if w not in self.generic and w not in _FUNCTION]
        missing = [w for w in words if evidence.tokens.isdisjoint(_bases(w))]
        overlap = 1 - len(missing) / len(words) if words else 1.0
        return {"cosine": round(cos, 4), "overlap": round(overlap, 4), "missing": missing,
                "new_numbers": sorted(_numbers(sentence) - evidence.numbers) + sorted(_tags(sentence) - evidence.tags)}

    def supported(self, sentence: str, evidence: Evidence) -> tuple[bool, dict]:
        s = self.score(sentence, evidence)
        return _decide(s, sentence, self.cosine, self.overlap, self.cosine_with_overlap), s


def _decide(s: dict, sentence: str, cosine: float, overlap: float, cosine_with_overlap: float) -> bool:
    """Supported: no new numbers, and close in meaning, or close enough with its words from the evidence."""
    if s["new_numbers"]:
        return False
    if _GAP.search(sentence):
        return True  # an honest "the articles don't cover it"
    return s["cosine"] >= cosine or (s["overlap"] >= overlap and s["cosine"] >= cosine_with_overlap)


def _numbers(text: str) -> frozenset:
    return frozenset(n.lower() for n in _NUMBER.findall(text))


def _tags(text: str) -> frozenset:
    return frozenset(t.lower() for t in _TAG.findall(text))


def precision_recall(rows: list[tuple[bool, bool]]) -> dict:
    """rows: (flagged unsupported, truly unsupported). Precision and recall of catching unsupported sentences."""
    tp = sum(f and t for f, t in rows)
    fp = sum(f and not t for f, t in rows)
    fn = sum(t and not f for f, t in rows)
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0, "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
            "n": len(rows), "caught": tp, "false_alarms": fp, "missed": fn}


def tune_grounding(check: GroundingCheck, items: list[dict], evidence: dict, beta: float = 0.5, step: float = 0.01) -> dict:
    """Thresholds for check from labelled items (the tune split only): the best F-beta at catching
    unsupported sentences. beta < 1 weighs precision more: a false alarm drops a faithful sentence
    (and can replace the whole answer).
    items: {"sentence", "context", "label"}; evidence: context -> check.evidence(passages)."""
    import numpy as np

    scores = [check.score(i["sentence"], evidence[i["context"]]) for i in items]
    cos = np.array([s["cosine"] for s in scores])
    ov = np.array([s["overlap"] for s in scores])
    numbers = np.array([bool(s["new_numbers"]) for s in scores])
    gap = np.array([bool(_GAP.search(i["sentence"])) for i in items]) & ~numbers
    truth = np.array([i["label"] == "unsupported" for i in items])
    grid = np.round(np.arange(0.3, 1.0 + step / 2, step), 4)
    by_cos = cos[None, :] >= grid[:, None] - 1e-9                      # [threshold, item]
    by_ov = ov[None, :] >= grid[:, None] - 1e-9
    ok = by_cos[:, None, None, :] | (by_ov[None, :, None, :] & by_cos[None, None, :, :])  # [c, o, co, item]
    flagged = ~((ok & ~numbers) | gap)
    tp = (flagged & truth).sum(-1)
    precision = np.where(flagged.sum(-1) > 0, tp / np.maximum(flagged.sum(-1), 1), 1.0)
    recall = tp / max(truth.sum(), 1)
    b2 = beta * beta
    f = (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-9)
    f[np.triu_indices(len(grid), 1)[0], :, np.triu_indices(len(grid), 1)[1]] = -1  # cosine_with_overlap <= cosine
    # Ties go to the point whose neighbourhood (±0.05) scores best: the middle of the plateau, not its edge.
    smooth = _box_mean(np.maximum(f, 0), round(0.1 / step) + 1)
    c, o, co = np.unravel_index(np.argmax(np.where(np.isclose(f, f.max()), smooth, -1)), f.shape)
    return {"cosine": float(grid[c]), "overlap": float(grid[o]), "cosine_with_overlap": float(grid[co]),
            "f_beta": round(float(f.max()), 3), "precision": round(float(precision[c, o, co]), 3),
            "recall": round(float(recall[c, o, co]), 3)}


def _box_mean(a, size: int):
    """The mean over a box of size cells along every axis, edges repeated (scipy's uniform_filter, "nearest")."""
    import numpy as np

    half, kernel = size // 2, np.ones(size) / size
    for axis in range(a.ndim):
        padded = np.pad(a, [(half, size - 1 - half) if i == axis else (0, 0) for i in range(a.ndim)], mode="edge")
        a = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), axis, padded)
    return a
