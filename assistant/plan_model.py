"""The learned half of the question plan: what kind of ask a question is, which side of sprinting it
is on, whether it leans on the previous turn, and which AQ terms it targets.

They are predicted from labelled athlete questions (`evals/datasets/plan/`), not from patterns: a
softmax regression over the MiniLM vector the service already computes for the question (and for
the previous question, when there is one) and hashed word and word-pair features. Training takes a
few seconds; the weights are cached by the labelled set's digest (`aq-coach plan train`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from .corpus import read_yaml

log = logging.getLogger(__name__)

# What each kind of ask wants from the answer's first sentence (the composer's shapes and the LLM
# prompt follow this; the helpfulness eval's lead check judges against it).
KINDS: dict[str, str] = {
    "yes_no": "a verdict first (Yes / Not directly / Not necessarily), then why",
    "definition": "the term's definition, then how it feels",
    "same_or_different": "both terms defined, then how they relate",
    "signs": "what it feels like, on the side asked (improving or disrupted)",
    "why_feel": "what may be happening underneath that feeling",
    "contrast": "both situations, each with its own side's passages",
    "work_on": "what to work on, in AQ's terms",
    "pushback": "a plain correction first",
    "explain": "the passage that explains the idea asked about",
    "about_aq": "what AQ is and how it looks at sprinting",
    "not_covered": "a plain admission that the articles don't cover it, then what they do cover",
    "out_of_scope": "a short, friendly refusal that says what AQ Coach can help with",
    "greeting": "a short reply and an offer of what to ask",
}
STANCES = ("improving", "disrupted", "")
SAFE_KIND = "explain"       # the answer's shape when the plan is unsure of the kind
FEATURE_VERSION = "5"       # bump when the features change: cached weights are then trained again
_BUCKETS = 2048             # hashed word and word-pair features (per question and previous question)


# --- the labelled set -------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelledQuestion:
    family: str
    split: str                       # tune | heldout (by family: no paraphrase crosses the split)
    kind: str
    stance: str
    terms: tuple[str, ...]
    gap: str
    question: str
    previous: str = ""               # a follow-up's previous question ("" for a single turn)
    standalone: str = ""             # a follow-up rewritten to stand alone
    article: str = "seed"
    key_points: tuple = ()
    second_kind: str = ""

    @property
    def followup(self) -> bool:
        return bool(self.previous)


class PlanSetError(ValueError):
    """The labelled question set is missing or malformed; the message says where."""


def _family_questions(fam: dict, where: str) -> list[LabelledQuestion]:
    kind, stance = str(fam.get("kind", "")), str(fam.get("stance") or "")
    if kind not in KINDS:
        raise PlanSetError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if stance not in STANCES:
        raise PlanSetError(f"{where}: unknown stance {stance!r}")
    common = dict(family=str(fam["family"]), split=str(fam.get("split") or "tune"), kind=kind, stance=stance,
                  terms=tuple(str(t) for t in fam.get("terms") or ()), gap=str(fam.get("gap") or ""),
                  article=str(fam.get("article") or "seed"),
                  key_points=tuple(tuple(str(a) for a in p) for p in fam.get("key_points") or ()),
                  second_kind=str(fam.get("second_kind") or ""))
    out = []
    for item in fam.get("questions") or ():
        if not isinstance(item, dict) or not str(item.get("q", "")).strip():
            raise PlanSetError(f"{where}: every question needs a non-empty q")
        out.append(LabelledQuestion(question=str(item["q"]).strip(), previous=str(item.get("previous") or "").strip(),
                                    standalone=str(item.get("standalone") or "").strip(), **common))
    return out


def load_plan_set(path: Path) -> list[LabelledQuestion]:
    """Every labelled question in a YAML file, or in every *.yaml file of a folder (read again
    only when a file changes: every service that plans reads it)."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files or not all(f.exists() for f in files):
        raise PlanSetError(f"no labelled question set at {path}")
    return list(_read_plan_set(tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)))


@lru_cache(maxsize=4)
def _read_plan_set(stamped: tuple) -> tuple[LabelledQuestion, ...]:
    files = [Path(name) for name, _, _ in stamped]
    out: list[LabelledQuestion] = []
    for f in files:
        try:
            data = read_yaml(f.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PlanSetError(f"{f}: not valid YAML: {exc}") from None
        for n, fam in enumerate(data.get("families") or () if isinstance(data, dict) else ()):
            if not isinstance(fam, dict) or "family" not in fam:
                raise PlanSetError(f"{f}: family #{n + 1} has no 'family' id")
            out.extend(_family_questions(fam, f"{f.name} {fam['family']}"))
    if not out:
        raise PlanSetError(f"{files[0].parent}: no labelled questions")
    return tuple(out)


def set_digest(examples: Sequence[LabelledQuestion]) -> str:
    """A digest of what training reads: a changed label or question trains again."""
    h = hashlib.sha256(FEATURE_VERSION.encode())
    for e in examples:
        if e.split == "tune":
            h.update(json.dumps([e.family, e.kind, e.stance, e.terms, e.question, e.previous]).encode())
    return h.hexdigest()[:16]


# --- features ---------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    text = text.lower().replace("’", "'").replace("‘", "'")
    return _WORD.findall(text)


def the_ask(question: str) -> str:
    """The sentences that ask ("…my arms cross my body. Is he right?" → "Is he right?"); the whole
    question when none ends in "?". What comes before them is context, not what is asked."""
    sentences = re.split(r"(?<=[.?!])\s+", question.strip())
    asks = [s for s in sentences if s.rstrip().endswith("?")]
    return " ".join(asks) if asks and len(asks) < len(sentences) else question


def _grams(text: str, prefix: str) -> list[str]:
    ws = words(text)
    grams = [f"{prefix}{w}" for w in ws] + [f"{prefix}{a} {b}" for a, b in zip(ws, ws[1:])]
    if text.rstrip().endswith("?"):
        grams.append(f"{prefix}<?>")
    return grams


def _openings(text: str, prefix: str) -> list[str]:
    """How each sentence opens ("is", "how would i", "what should"): the form of the ask."""
    out = []
    for sentence in re.split(r"(?<=[.?!])\s+|,\s+", text.strip()):
        ws = words(sentence)
        out += [f"{prefix}^{' '.join(ws[:n])}" for n in (1, 2, 3) if len(ws) >= n]
    return out


def _hashed(text: str, prefix: str, out: np.ndarray) -> None:
    ask = the_ask(text)
    grams = _grams(text, prefix) + _openings(ask, prefix + "a") + (_grams(ask, prefix + "a:") if ask != text else [])
    for g in grams:
        out[zlib.crc32(g.encode()) % _BUCKETS] = 1.0
    n = np.linalg.norm(out)
    if n:
        out /= n


# How a second turn leans on the first, in any conversation (English, not AQ's words): it opens on a
# connective ("so…", "ok what about…"), refers back ("that", "mine"), or is short.
_CONNECTIVE = re.compile(r"^\W*(?:so|and|but|ok|okay|k|then|right|wait|hm+|also|what about|how about|same|vs|or|yeah|"
                         r"yes|no|sure|really|huh|why not|great|cool|nice|thanks|interesting)\b", re.I)
_REFERS_BACK = re.compile(r"\b(?:it|that|this|those|these|them|mine|yours|there|he|she|they|his|her|its|one|same|other|"
                          r"either|both|then|instead|too|also)\b", re.I)
_TURN_FACTS = 4


def turn_facts(question: str) -> list[float]:
    n = len(question.split())
    return [float(bool(_CONNECTIVE.search(question))), float(bool(_REFERS_BACK.search(question))),
            float(n <= 6), float(n <= 12)]


class Featurizer:
    """A question (and its previous turn) as one row: MiniLM vectors, hashed words, lexical facts.

    `facts(text)` gives the lexical facts patterns are still right for: which glossary terms and
    everyday words it names, not-covered and off-topic words, and stance words (doctrine data)."""

    def __init__(self, facts: Callable[[str], list[float]], n_facts: int) -> None:
        self.facts = facts
        self.n_facts = n_facts

    @property
    def width(self) -> int:
        return 384 * 2 + 1 + 2 * _BUCKETS + 2 * self.n_facts + _TURN_FACTS

    @property
    def question_words(self) -> slice:
        """Where the question's own hashed words are in a row."""
        return slice(384 * 2 + 1, 384 * 2 + 1 + _BUCKETS)

    @property
    def previous_vector(self) -> slice:
        """Where the previous question's MiniLM vector is in a row."""
        return slice(384, 384 * 2)

    def row(self, question: str, previous: str, qvec, pvec) -> np.ndarray:
        x = np.zeros(self.width, dtype=np.float32)
        # the weights of the groups were chosen by cross-validation over the tune families
        x[:384] = 3.0 * np.asarray(qvec, dtype=np.float32)
        at = 384
        if previous:
            x[at:at + 384] = 1.5 * np.asarray(pvec, dtype=np.float32)
            x[at + 384] = 1.0
        at += 385
        _hashed(question, "", x[at:at + _BUCKETS])
        x[at:at + _BUCKETS] *= 2.0
        at += _BUCKETS
        if previous:
            _hashed(previous, "p:", x[at:at + _BUCKETS])
            x[at:at + _BUCKETS] *= 0.5
        at += _BUCKETS
        x[at:at + self.n_facts] = self.facts(question)
        at += self.n_facts
        if previous:
            x[at:at + self.n_facts] = 0.5 * np.asarray(self.facts(previous), dtype=np.float32)
            x[at + self.n_facts:] = 2.0 * np.asarray(turn_facts(question), dtype=np.float32)
        return x


# --- the model --------------------------------------------------------------------------------

def _adam(X: np.ndarray, outputs: int, score_gradient, l2: float, steps: int, lr: float):
    """Weights and biases of a linear model (X @ W + b) fitted by full-batch Adam, given the loss's
    gradient with respect to the scores; L2 on W."""
    W = np.zeros((X.shape[1], outputs), dtype=np.float32)
    b = np.zeros(outputs, dtype=np.float32)
    m, v = [np.zeros_like(W), np.zeros_like(b)], [np.zeros_like(W), np.zeros_like(b)]
    for t in range(1, steps + 1):
        G = score_gradient(X @ W + b)
        for i, (p, g) in enumerate(zip((W, b), (X.T @ G + l2 * W, G.sum(0)))):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            p -= lr * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    return W, b


class Softmax:
    """Multinomial logistic regression, trained with Adam on the full batch (numpy only)."""

    def __init__(self, classes: Sequence[str], W: np.ndarray | None = None, b: np.ndarray | None = None) -> None:
        self.classes = list(classes)
        self.W, self.b = W, b

    def fit(self, X: np.ndarray, y: Sequence[str], *, l2: float = 1e-3, steps: int = 300, lr: float = 0.05,
            weights: np.ndarray | None = None) -> Softmax:
        index = {c: i for i, c in enumerate(self.classes)}
        Y = np.zeros((len(y), len(self.classes)), dtype=np.float32)
        Y[np.arange(len(y)), [index[c] for c in y]] = 1.0
        sw = np.ones(len(y), dtype=np.float32) if weights is None else weights.astype(np.float32)
        sw = sw / sw.sum()
        self.W, self.b = _adam(X, len(self.classes), lambda Z: (self._softmax(Z) - Y) * sw[:, None], l2, steps, lr)
        return self

    @staticmethod
    def _softmax(Z: np.ndarray) -> np.ndarray:
        Z = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def proba(self, X: np.ndarray) -> np.ndarray:
        return self._softmax(X @ self.W + self.b)


class MultiLabel:
    """One logistic regression per label, trained together (one matrix) with Adam on the full batch."""

    def __init__(self, labels: Sequence[str], W: np.ndarray | None = None, b: np.ndarray | None = None) -> None:
        self.classes = list(labels)
        self.W, self.b = W, b

    def fit(self, X: np.ndarray, Y: np.ndarray, *, l2: float = 1e-3, steps: int = 200, lr: float = 0.05) -> MultiLabel:
        self.W, self.b = _adam(X, Y.shape[1], lambda Z: (self._sigmoid(Z) - Y) / len(Y), l2, steps, lr)
        return self

    @staticmethod
    def _sigmoid(Z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(Z, -30, 30)))

    def proba(self, X: np.ndarray) -> np.ndarray:
        return self._sigmoid(X @ self.W + self.b)


@dataclass(frozen=True)
class Prediction:
    kind: str
    kind_confidence: float
    stance: str
    stance_confidence: float
    follows: bool                    # leans on the previous turn
    terms: tuple[str, ...]           # terms the model adds to the ones the question names
    ranked_kinds: tuple = field(default=(), compare=False)   # ((kind, probability), …) best first


@dataclass
class PlanModel:
    kind: Softmax
    stance: Softmax
    follows: Softmax
    terms: MultiLabel
    digest: str

    def predict_rows(self, X: np.ndarray) -> list[Prediction]:
        pk, ps, pf = self.kind.proba(X), self.stance.proba(X), self.follows.proba(X)
        probs = self.terms.proba(X)
        pt = {t: probs[:, j] for j, t in enumerate(self.terms.classes)}
        out = []
        for i in range(X.shape[0]):
            order = np.argsort(-pk[i])
            ranked = tuple((self.kind.classes[j], float(pk[i, j])) for j in order[:3])
            s = int(np.argmax(ps[i]))
            out.append(Prediction(ranked[0][0], ranked[0][1], self.stance.classes[s], float(ps[i, s]),
                                  bool(pf[i, 1] > 0.5), tuple(t for t, p in pt.items() if p[i] > 0.5), ranked))
        return out

    def save(self, path: Path) -> None:
        arrays = {"digest": np.array(self.digest)}
        for name, m in self._heads():
            arrays[f"{name}.W"], arrays[f"{name}.b"] = m.W, m.b
            arrays[f"{name}.classes"] = np.array(m.classes)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial.npz")
        try:
            np.savez_compressed(partial, **arrays)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def _heads(self):
        yield "kind", self.kind
        yield "stance", self.stance
        yield "follows", self.follows
        yield "terms", self.terms

    @classmethod
    def load(cls, path: Path) -> PlanModel:
        with np.load(path, allow_pickle=False) as z:
            heads = {k[:-2]: Softmax([str(c) for c in z[f"{k[:-2]}.classes"]], z[k], z[f"{k[:-2]}.b"])
                     for k in z.files if k.endswith(".W")}
            digest = str(z["digest"])
        terms = MultiLabel(heads["terms"].classes, heads["terms"].W, heads["terms"].b)
        return cls(heads["kind"], heads["stance"], heads["follows"], terms, digest)


def training_rows(examples: Sequence[LabelledQuestion], featurizer: Featurizer, embed) -> tuple[np.ndarray, list[dict]]:
    """The training rows: every labelled question, and every single-turn question once more after
    another family's question, so that a question that stands alone is not taken for a follow-up
    just because the conversation has a previous turn."""
    rng = np.random.default_rng(7)
    singles = [e for e in examples if not e.followup]
    rows: list[tuple[LabelledQuestion, str, bool]] = [(e, e.previous, e.followup) for e in examples]
    for e in singles:
        other = singles[int(rng.integers(len(singles)))]
        if other.family != e.family:
            rows.append((e, other.question, False))
    texts = list(dict.fromkeys([q for e, p, _ in rows for q in (e.question, p) if q]))
    vectors = dict(zip(texts, embed(texts)))
    X = np.stack([featurizer.row(e.question, p, vectors[e.question], vectors.get(p)) for e, p, _ in rows])
    labels = [{"kind": e.kind, "stance": e.stance, "follows": "yes" if f else "no", "terms": set(e.terms)}
              for e, _, f in rows]
    return X, labels


def _fit_scaled(head: Softmax, X: np.ndarray, columns: slice, y: list[str], **fit) -> Softmax:
    """Fit one head with some columns counting twice, folded into its weights afterwards so that
    every head reads the same row."""
    scale = np.ones(X.shape[1], dtype=np.float32)
    scale[columns] = 2.0
    head.fit(X * scale, y, **fit)
    head.W = head.W * scale[:, None]
    return head


def train(examples: Sequence[LabelledQuestion], featurizer: Featurizer, embed, term_names: Sequence[str]) -> PlanModel:
    """A plan model from the labelled set's tune split (held-out families are never seen)."""
    tune = [e for e in examples if e.split == "tune"]
    X, labels = training_rows(tune, featurizer, embed)
    kinds = [lab["kind"] for lab in labels]
    # each kind weighs the same in total: a rare kind (greeting) is not drowned by a common one
    counts = {k: kinds.count(k) for k in set(kinds)}
    balance = np.array([1.0 / counts[k] for k in kinds])
    # The kind of ask is read more from the question's own words, and a follow-up from the previous
    # question, than the other heads read them: those columns count twice for that head
    # (cross-validated over the tune families: kind 0.80 → 0.83, follow-ups found 0.75 → 0.82).
    kind = _fit_scaled(Softmax(list(KINDS)), X, featurizer.question_words, kinds, weights=balance)
    stance = Softmax(list(STANCES)).fit(X, [lab["stance"] for lab in labels])
    follows = _fit_scaled(Softmax(["no", "yes"]), X, featurizer.previous_vector, [lab["follows"] for lab in labels])
    names = [t for t in term_names if sum(t in lab["terms"] for lab in labels) >= 5]
    Y = np.array([[float(t in lab["terms"]) for t in names] for lab in labels], dtype=np.float32).reshape(len(labels), len(names))
    terms = MultiLabel(names).fit(X, Y)
    return PlanModel(kind, stance, follows, terms, set_digest(examples))
