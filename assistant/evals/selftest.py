"""Judge self-tests: how well do the judges agree with hand-labelled data?

- framing (answer level, evals/judges/framing_labelled.yaml): precision and recall of the causal
  class. Predicted causal iff the verdict is `fail`; an `uncertain` verdict is an error whichever
  the label (a miss on a causal answer, a false alarm on a felt one): it never counts as a pass.
- framing sentences (evals/judges/framing_sentences.yaml): the same for `judge_sentence`.
- scope (evals/judges/scope_labelled.yaml): the refusal class.
- grounding (evals/judges/grounding_labelled.yaml): the unsupported class (what the judge must catch).

Every eval report includes these figures.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..config import PROJECT_ROOT
from . import judges
from .datasets import Source

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


def framing_self_test(path: Path | None = None) -> dict:
    path = path or JUDGES_DIR / "framing_labelled.yaml"
    rows = []
    for item in _load(path, "items"):
        v = judges.judge_framing(str(item.get("text", "")))
        pred = {"fail": "causal", "pass": "felt", "uncertain": "uncertain"}[v.verdict]
        rows.append((str(item.get("id")), str(item.get("label")), pred))
    return {"file": _rel(path), "level": "answer", **score(rows, "causal")}


def framing_sentences_self_test(path: Path | None = None) -> dict:
    from ..guard import judge_sentence

    path = path or JUDGES_DIR / "framing_sentences.yaml"
    rows = []
    for n, item in enumerate(_load(path, "sentences"), 1):
        label = str(item.get("label"))
        pred = judge_sentence(str(item.get("text", ""))).label
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


def run_self_tests() -> dict:
    """Every judge self-test; a missing or unreadable labelled file is reported, never raised."""
    out = {}
    for name, fn in (("framing", framing_self_test), ("framing_sentences", framing_sentences_self_test),
                     ("scope", scope_self_test), ("grounding", grounding_self_test)):
        try:
            out[name] = fn()
        except (OSError, ValueError, yaml.YAMLError) as exc:
            out[name] = {"error": str(exc)}
    return out


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
