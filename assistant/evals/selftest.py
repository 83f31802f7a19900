"""Judge self-tests: how well do the judges agree with hand-labelled data?

- framing (answer level, evals/judges/framing_labelled.yaml): precision and recall of the causal
  class. Predicted causal iff the verdict is `fail`; an `uncertain` verdict is an error whichever
  the label (a miss on a causal answer, a false alarm on a felt one): it never counts as a pass.
- framing sentences (evals/judges/framing_sentences.yaml): the same for `judge_sentence`.
- scope (evals/judges/scope_labelled.yaml): the refusal class.
- grounding (evals/judges/grounding_labelled.yaml): the unsupported class (what the judge must catch).
- helpfulness (evals/judges/helpfulness_labelled.yaml): accuracy of each helpfulness judge
  (key_points, lead, no_repeat, honest_gap, length) against pass / fail / na labels, for the tune
  and heldout splits separately; `uncertain` is always an error.
- lead by kind (evals/judges/lead_labelled.yaml): the lead judge's accuracy on the kinds judged on
  their own terms (why_feel, work_on, contrast, pushback, explain), against blind ratings, per kind.

Every eval report includes these figures.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..config import PROJECT_ROOT
from . import judges
from .datasets import Source

if TYPE_CHECKING:
    from ..guard import FramingJudge

JUDGES_DIR = PROJECT_ROOT / "evals" / "judges"


def _load(path: Path, key: str) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: no '{key}' list")
    return [i for i in items if isinstance(i, dict)]


def score(rows: list[tuple[str, str, str]], positive: str, *, uncertain_is_error: bool = True) -> dict:
    """rows: (id, gold label, predicted label or 'uncertain'). Precision/recall of `positive`."""
    tp = fp = fn = tn = unc = 0
    errors = []
    for item_id, gold, pred in rows:
        if pred == "uncertain":
            unc += 1
            if gold == positive:
                fn += 1
            else:
                fp += 1 if uncertain_is_error else 0
                tn += 0 if uncertain_is_error else 1
            errors.append({"id": item_id, "label": gold, "predicted": pred})
            continue
        if pred == positive and gold == positive:
            tp += 1
        elif pred == positive:
            fp += 1
            errors.append({"id": item_id, "label": gold, "predicted": pred})
        elif gold == positive:
            fn += 1
            errors.append({"id": item_id, "label": gold, "predicted": pred})
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return {
        "positive": positive,
        "n": len(rows),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn, "uncertain": unc,
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "errors": errors,
    }


def framing_self_test(framing: FramingJudge, path: Path | None = None) -> dict:
    path = path or JUDGES_DIR / "framing_labelled.yaml"
    rows = []
    for item in _load(path, "items"):
        v = framing.judge_framing(str(item.get("text", "")))
        pred = {"fail": "causal", "pass": "felt", "uncertain": "uncertain"}[v.verdict]
        rows.append((str(item.get("id")), str(item.get("label")), pred))
    return {"file": _rel(path), "level": "answer", **score(rows, "causal")}


def framing_sentences_self_test(framing: FramingJudge, path: Path | None = None) -> dict:
    path = path or JUDGES_DIR / "framing_sentences.yaml"
    rows = []
    for n, item in enumerate(_load(path, "sentences"), 1):
        label = str(item.get("label"))
        pred = framing.judge_sentence(str(item.get("text", ""))).label
        rows.append((str(item.get("id", f"s{n}")), "causal" if label == "causal" else "other",
                     "causal" if pred == "causal" else "other"))
    return {"file": _rel(path), "level": "sentence", **score(rows, "causal")}


def scope_self_test(path: Path | None = None) -> dict:
    path = path or JUDGES_DIR / "scope_labelled.yaml"
    rows = []
    for item in _load(path, "items"):
        check = judges.judge_scope(str(item.get("text", "")), expect_refusal=True)
        pred = {"pass": "refusal", "fail": "answer", "uncertain": "uncertain"}[check.verdict]
        rows.append((str(item.get("id")), str(item.get("label")), pred))
    return {"file": _rel(path), "level": "answer", **score(rows, "refusal")}


def grounding_self_test(path: Path | None = None) -> dict:
    path = path or JUDGES_DIR / "grounding_labelled.yaml"
    rows = []
    for item in _load(path, "items"):
        src = Source(id=str(item.get("id")) + "-chunk", text=str(item.get("chunk", "")))
        r = judges.score_sentence(str(item.get("sentence", "")), [src])
        pred = "uncertain" if not r["considered"] else ("supported" if r["supported"] else "unsupported")
        rows.append((str(item.get("id")), str(item.get("label")), pred))
    return {"file": _rel(path), "level": "sentence", "method": "lexical", **score(rows, "unsupported")}


HELPFULNESS_JUDGES = ("key_points", "lead", "no_repeat", "honest_gap", "length")
SPLITS = ("tune", "heldout")


class CachedEmbeddings:
    """Memoises embed_documents per text: the self-test and the threshold sweep embed the same phrases often."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed_documents(todo)))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _default_embeddings():
    from ..config import get_settings
    from ..embeddings import make_embeddings

    return make_embeddings(get_settings())


def _helpfulness_rows(path: Path) -> dict[str, list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(data.get(s), list) for s in SPLITS):
        raise ValueError(f"{path}: needs 'tune' and 'heldout' lists")
    return {s: [r for r in data[s] if isinstance(r, dict)] for s in SPLITS}


def predict_helpfulness(row: dict, embeddings=None) -> dict[str, str]:
    """Each helpfulness judge's verdict on one labelled row; 'na' where the judge does not apply."""
    from .datasets import _key_points
    from .helpfulness import judge_honest_gap, judge_key_points, judge_lead, judge_length, judge_no_repeat

    answer, question = str(row.get("answer", "")), str(row.get("question", ""))
    covered = row.get("covered") if isinstance(row.get("covered"), bool) else None
    points = _key_points(row.get("key_points"), "labelled", None)
    lead_any = [str(w) for w in row.get("lead_any") or []]
    gap = judge_honest_gap(answer, covered)
    return {
        "key_points": judge_key_points(answer, points, embeddings).verdict if points else "na",
        "lead": judge_lead(answer, question, lead_any, row.get("kind"), covered).verdict,
        "no_repeat": judge_no_repeat(answer).verdict,
        "honest_gap": gap.verdict if gap is not None else "na",
        "length": judge_length(answer).verdict,
    }


def _accuracy(rows: list[dict], preds: list[dict], judge: str) -> dict:
    scored = [(r, p) for r, p in zip(rows, preds) if (r.get("labels") or {}).get(judge) is not None]
    errors = [{"id": str(r.get("id")), "label": r["labels"][judge], "predicted": p[judge]}
              for r, p in scored if p[judge] != r["labels"][judge]]
    n = len(scored)
    return {"n": n, "correct": n - len(errors), "accuracy": round((n - len(errors)) / n, 4) if n else None,
            "uncertain": sum(p[judge] == "uncertain" for _, p in scored), "errors": errors}


def helpfulness_self_test(path: Path | None = None, embeddings=None) -> dict:
    """Accuracy per helpfulness judge on the labelled answers, tune and heldout reported separately."""
    from .helpfulness import KEY_POINT_BAND, KEY_POINT_COSINE

    path = Path(path or JUDGES_DIR / "helpfulness_labelled.yaml")
    splits = _helpfulness_rows(path)
    embeddings = CachedEmbeddings(embeddings or _default_embeddings())
    preds = {s: [predict_helpfulness(r, embeddings) for r in rows] for s, rows in splits.items()}
    judges_out = {j: {s: _accuracy(splits[s], preds[s], j) for s in SPLITS} for j in HELPFULNESS_JUDGES}
    return {"file": _rel(path), "level": "answer", "metric": "accuracy", "judges": judges_out,
            "key_point_cosine": KEY_POINT_COSINE, "key_point_band": KEY_POINT_BAND}


def tune_key_point_cosine(path: Path | None = None, embeddings=None, candidates=None) -> dict:
    """Sweep the key_points cosine threshold on the tune split only; the best (middle of ties) wins."""
    from . import helpfulness

    path = Path(path or JUDGES_DIR / "helpfulness_labelled.yaml")
    rows = [r for r in _helpfulness_rows(path)["tune"] if (r.get("labels") or {}).get("key_points") not in (None, "na")]
    embeddings = CachedEmbeddings(embeddings or _default_embeddings())
    candidates = candidates or [round(0.30 + 0.01 * i, 2) for i in range(56)]
    saved = helpfulness.KEY_POINT_COSINE
    table = {}
    try:
        for t in candidates:
            helpfulness.KEY_POINT_COSINE = t
            preds = [predict_helpfulness(r, embeddings) for r in rows]
            table[t] = _accuracy(rows, preds, "key_points")["accuracy"]
    finally:
        helpfulness.KEY_POINT_COSINE = saved
    best = max(v for v in table.values() if v is not None)
    tied = [t for t, v in table.items() if v == best]
    return {"best": tied[len(tied) // 2], "accuracy": best, "tied": tied, "table": table, "n": len(rows)}


def lead_self_test(path: Path | None = None) -> dict:
    """Accuracy of the kind-aware lead judge against blind ratings, tune and heldout, per kind."""
    from .helpfulness import judge_lead

    path = Path(path or JUDGES_DIR / "lead_labelled.yaml")
    splits = _helpfulness_rows(path)
    out: dict = {"file": _rel(path), "level": "answer", "metric": "accuracy"}
    for split, rows in splits.items():
        preds = [{"lead": judge_lead(str(r.get("answer", "")), str(r.get("question", "")), kind=r.get("kind"),
                                     covered=True).verdict} for r in rows]
        out[split] = _accuracy(rows, preds, "lead")
        out[split]["per_kind"] = {
            k: _accuracy([r for r in rows if r.get("kind") == k], [p for r, p in zip(rows, preds) if r.get("kind") == k],
                         "lead")["accuracy"] for k in sorted({str(r.get("kind")) for r in rows})}
    return out


def run_self_tests(framing: FramingJudge) -> dict:
    """Every judge self-test (the framing ones with the corpus's judge); a missing or unreadable labelled
    file is reported, never raised."""
    out = {}
    for name, fn in (("framing", partial(framing_self_test, framing)),
                     ("framing_sentences", partial(framing_sentences_self_test, framing)),
                     ("scope", scope_self_test), ("grounding", grounding_self_test),
                     ("helpfulness", helpfulness_self_test), ("lead_by_kind", lead_self_test)):
        try:
            out[name] = fn()
        except (OSError, ValueError, RuntimeError, yaml.YAMLError) as exc:   # RuntimeError: no embedding model
            out[name] = {"error": str(exc)}
    return out


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
