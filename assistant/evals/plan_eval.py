"""The plan eval: how well the question plan reads labelled athlete questions it was not tuned on.

Per field (kind: the model's best kind; shape: the kind the answer took, after the confidence
floor; stance; whether a follow-up leans on the previous turn; the follow-up's resolved target
terms), accuracy on the tune split and on the held-out families, with a confusion matrix of kinds.
`aq-coach plan eval` runs it; thresholds are the held-out figures.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..plan_model import KINDS, LabelledQuestion

THRESHOLDS = {"kind": 0.9, "stance": 0.9, "follow_up_resolution": 0.9}


@dataclass
class PlanEvalResult:
    rows: list[dict]                          # one per labelled question: labels, prediction, per-field pass
    figures: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        held = self.figures.get("heldout", {})
        return all((held.get(f) or 0.0) >= t for f, t in THRESHOLDS.items())


def terms_match(predicted: list[str], labelled: tuple[str, ...]) -> bool:
    """A follow-up resolves when its standalone question targets what the label says: no term when
    the label has none; otherwise the label's main (first) term is among the plan's, and at least
    half of the plan's terms are labelled ("coordination" is the doctrine's subject, not a glossary term)."""
    labelled = [t for t in labelled if t != "coordination"]
    if not labelled:
        return not predicted
    shared = set(predicted) & set(labelled)
    return labelled[0] in predicted and len(shared) >= len(set(predicted)) / 2


def evaluate(planner, examples: list[LabelledQuestion]) -> PlanEvalResult:
    rows = []
    for e in examples:
        history = [{"role": "user", "content": e.previous}, {"role": "assistant", "content": "…"}] if e.previous else []
        plan = planner.plan(e.question, history)
        row = {"family": e.family, "split": e.split, "question": e.question, "previous": e.previous,
               "kind": e.kind, "predicted_kind": plan.model_kind or plan.kind, "answer_shape": plan.kind,
               "stance": e.stance, "predicted_stance": plan.stance,
               "terms": list(e.terms), "predicted_terms": list(plan.terms), "confidence": round(plan.confidence, 3),
               "pass": {"kind": (plan.model_kind or plan.kind) == e.kind, "stance": plan.stance == e.stance,
                        "shape": plan.kind == e.kind}}
        if e.previous:
            row["pass"]["follows"] = plan.follows
            row["pass"]["follow_up_resolution"] = terms_match(list(plan.terms), e.terms)
        rows.append(row)
    return PlanEvalResult(rows, summarise(rows))


def summarise(rows: list[dict]) -> dict:
    figures: dict = {}
    for split in ("tune", "heldout"):
        mine = [r for r in rows if r["split"] == split]
        fig = {"questions": len(mine), "families": len({r["family"] for r in mine}),
               "follow_ups": sum(1 for r in mine if r["previous"])}
        for name in ("kind", "shape", "stance", "follows", "follow_up_resolution"):
            judged = [r["pass"][name] for r in mine if name in r["pass"]]
            fig[name] = round(sum(judged) / len(judged), 3) if judged else None
        per_kind = {}
        for k in KINDS:
            judged = [r["pass"]["kind"] for r in mine if r["kind"] == k]
            if judged:
                per_kind[k] = {"n": len(judged), "accuracy": round(sum(judged) / len(judged), 3)}
        fig["per_kind"] = per_kind
        figures[split] = fig
    held = [r for r in rows if r["split"] == "heldout"]
    figures["confusion"] = confusion(held)
    return figures


def confusion(rows: list[dict]) -> dict[str, dict[str, int]]:
    """labelled kind → predicted kind → count."""
    counts = Counter((r["kind"], r["predicted_kind"]) for r in rows)
    return {k: {p: counts[(k, p)] for p in KINDS if counts[(k, p)]} for k in KINDS if any(counts[(k, p)] for p in KINDS)}


def render_html(result: PlanEvalResult) -> str:
    f = result.figures
    kinds = [k for k in KINDS if k in f["confusion"] or any(k in row for row in f["confusion"].values())]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in kinds)
    body = ""
    for k in kinds:
        row = f["confusion"].get(k, {})
        cells = "".join(f"<td class='{'d' if p == k else ('x' if row.get(p) else '')}'>{row.get(p, '')}</td>" for p in kinds)
        body += f"<tr><th>{html.escape(k)}</th>{cells}</tr>"
    figures = "".join(
        f"<tr><td>{name}</td><td>{f['tune'].get(name)}</td><td>{f['heldout'].get(name)}</td>"
        f"<td>{THRESHOLDS.get(name, '')}</td></tr>" for name in ("kind", "shape", "stance", "follows",
                                                                   "follow_up_resolution"))
    misses = "".join(
        f"<tr><td>{html.escape(r['family'])}</td><td>{html.escape(r['previous'] + ' → ' if r['previous'] else '')}"
        f"{html.escape(r['question'])}</td><td>{r['kind']}</td><td>{r['predicted_kind']}</td><td>{r['confidence']}</td></tr>"
        for r in result.rows if r["split"] == "heldout" and not r["pass"]["kind"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>AQ Coach: question plan eval</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;
padding:3px 6px;text-align:center}}td.d{{background:#cfc}}td.x{{background:#fcc}}</style></head><body>
<h1>Question plan eval {'passed' if result.ok else 'FAILED'}</h1>
<h2>Accuracy per field</h2><table><tr><th>field</th><th>tune</th><th>held-out</th><th>threshold</th></tr>{figures}</table>
<h2>Kinds on the held-out families (rows: labelled, columns: predicted)</h2><table><tr><th></th>{head}</tr>{body}</table>
<h2>Held-out questions whose kind was missed</h2><table><tr><th>family</th><th>question</th><th>labelled</th>
<th>predicted</th><th>confidence</th></tr>{misses}</table></body></html>"""


def write_report(result: PlanEvalResult, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = report_dir / "plan_report.json", report_dir / "plan_report.html"
    json_path.write_text(json.dumps({"figures": result.figures, "ok": result.ok, "rows": result.rows},
                                    ensure_ascii=False, indent=1), encoding="utf-8")
    html_path.write_text(render_html(result), encoding="utf-8")
    return json_path, html_path


def planner_for(settings, *, retrain: bool = False):
    """A planner over the settings' corpus and embeddings (no index needed), and the seconds it took."""
    import time

    from ..answering import _embedding_id
    from ..embeddings import default_cache_dir, make_embeddings
    from ..indexing import doctrine_for, glossary_for
    from ..plan import load_planner

    embeddings = make_embeddings(settings)
    started = time.perf_counter()
    planner = load_planner(settings.plan_dataset, settings.model_cache_dir or default_cache_dir(), glossary_for(settings),
                           doctrine_for(settings), embeddings.embed_documents, _embedding_id(settings),
                           settings.plan_confidence_floor, retrain=retrain)
    return planner, time.perf_counter() - started


HELPFULNESS_THRESHOLDS = {"framing": 1.0, "scope": 0.9, "key_points": 0.9, "lead": 0.9, "no_repeat": 1.0,
                          "honest_gap": 0.9, "false_gap": 1.0, "length": 0.8}


def helpfulness_dataset(examples: list[LabelledQuestion], path: Path, split: str = "heldout", per_family: int = 2):
    """The labelled set's families of one split as helpfulness cases: the first `per_family`
    phrasings of each, with the family's key points, kind and terms (a follow-up keeps its turn
    before). Out-of-scope families expect the short refusal, greetings a short reply; not-covered
    families an honest gap; covered families no false "not covered"."""
    from .datasets import Case, Dataset

    cases, taken = [], Counter()
    for e in examples:
        if e.split != split or taken[e.family] >= per_family:
            continue
        taken[e.family] += 1
        # an off-topic ask expects the short refusal; a greeting a short reply (in scope, citing nothing)
        refusal = e.kind == "out_of_scope"
        covered = False if e.kind == "not_covered" else (True if not e.gap and e.kind not in ("out_of_scope", "greeting") else None)
        cases.append(Case(
            id=f"{e.family}-{taken[e.family]}", turns=[e.previous, e.question] if e.previous else [e.question],
            tags=[e.kind, "follow_up"] if e.previous else [e.kind], scope="out" if refusal else "in" if e.kind == "greeting" else None,
            article=e.article, split=e.split, kind=e.kind, key_points=[list(p) for p in e.key_points],
            covered=covered, lead_terms=[t for t in e.terms]))
    description = (f"Held-out families of the labelled question set at {path}: {len(cases)} cases, "
                   f"{per_family} phrasings per family.")
    return Dataset(Path(path), description, dict(HELPFULNESS_THRESHOLDS), cases)
