"""Run a dataset through the answering service (or grade an answers file) and score every case.

Three modes:
- service: each case's turns go through `AnsweringService.answer` (earlier turns become the
  history; checks apply to the last answer), then every judge that applies runs;
- answers: pre-recorded answers are graded without running the assistant;
- retrieval: a retrieval set (gold sections only, recall_at_K thresholds) is searched, not answered.

A case's verdict is fail if any check fails, uncertain if none fails but one is uncertain, else
pass. `uncertain` is never a pass: pass rates count passes only.

Beside it: evals.case_checks picks a case's checks, evals.answer_sources gathers the passages an
answer is judged against, and evals.summary_tables computes the tables `summarise` puts together.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import judges, retrieval_judge
from .answer_sources import RecordingSearcher, chunks_by_id, glossary_sources, hit_source, resolve_sources
from .case_checks import judge_case
from .datasets import Case, Dataset, DatasetError, Source
from .judges import FAIL, PASS, UNCERTAIN, CheckResult
from .summary_tables import check_rows, helpfulness_failures, pass_rate, retrieval_summary, split_summary, tag_summary, threshold_rows

if TYPE_CHECKING:
    from ..guard import FramingJudge

SKIPPED = "skipped"             # a case whose article is not in the corpus, or an unfilled feedback case: not run, not counted
UNFILLED = "no key points filled in yet"


@dataclass
class CaseResult:
    id: str
    turns: list[str]
    answer: str
    tags: list[str]
    verdict: str
    checks: list[CheckResult]
    backend: str = ""
    sources: list[Source] = field(default_factory=list)
    scope: str = ""                 # the service's own in/out decision, when it ran
    standalone: str = ""            # the question the service retrieved with
    error: str = ""
    seconds: float = 0.0
    guard: dict = field(default_factory=dict)   # what the runtime guard did (service mode)
    split: str = ""                 # helpfulness datasets: tune | heldout
    kind: str = ""
    article: str = ""
    skipped: str = ""               # why the case was not run (verdict "skipped")
    skip_line: str = ""             # the one line that says so, in the output and the report

    @property
    def question(self) -> str:
        return self.turns[-1]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict:
        data = {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "tags": self.tags,
            "verdict": self.verdict,
            "checks": [c.as_dict() for c in self.checks],
            "backend": self.backend,
            "sources": [s.as_dict() for s in self.sources],
        }
        if len(self.turns) > 1:
            data["turns"] = self.turns
        if self.scope:
            data["service_scope"] = self.scope
        if self.standalone and self.standalone != self.question:
            data["standalone_question"] = self.standalone
        if self.error:
            data["error"] = self.error
        if self.guard:
            data["guard"] = self.guard
        for name in ("split", "kind", "article", "skipped"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class RunResult:
    dataset: Dataset
    mode: str                       # service | answers | retrieval
    backend: str
    k: int
    cases: list[CaseResult]
    llm_judge: bool = False
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    judge_self_test: dict = field(default_factory=dict)
    regressions: list[dict] = field(default_factory=list)
    improvements: list[dict] = field(default_factory=list)
    baseline: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.summary.get("ok"))

    def as_dict(self) -> dict:
        return {
            "summary": self.summary,
            "cases": [c.as_dict() for c in self.cases],
            "judge_self_test": self.judge_self_test,
            "regressions": self.regressions,
            "improvements": self.improvements,
        }


# --- which cases can run ------------------------------------------------------------------------

ANY_CORPUS, NO_ARTICLE = "seed", "none"


def missing_article(case: Case, corpus_dir) -> str:
    """Why the case cannot run on this corpus ('' when it can): its article is not corpus/<slug>.md."""
    slug = case.article
    if not slug or slug in (ANY_CORPUS, NO_ARTICLE) or corpus_dir is None:
        return ""
    if (Path(corpus_dir) / f"{slug}.md").is_file():
        return ""
    return f"article {slug!r} is not in the corpus ({Path(corpus_dir) / (slug + '.md')} does not exist)"


def skip_reason(case: Case, corpus_dir) -> str:
    """Why the case is not run ('' when it is): its article is missing, or it is a rated answer exported by
    `aq-coach feedback export --as-eval` whose maintainer has not yet said what a good answer holds."""
    if case.from_feedback and not case.has_own_checks():
        return UNFILLED
    return missing_article(case, corpus_dir)


def _skipped(case: Case, reason: str) -> CaseResult:
    line = f"feedback case {case.id}: {reason}, skipped" if case.from_feedback else f"skipped {case.id}: {reason}"
    return CaseResult(case.id, case.turns, "", case.tags, SKIPPED, [], split=case.split or "", kind=case.kind or "",
                      article=case.article or "", skipped=reason, skip_line=line)


def _tag(result: CaseResult, case: Case) -> CaseResult:
    result.split, result.kind, result.article = case.split or "", case.kind or "", case.article or ""
    return result


def _needs_embeddings(dataset: Dataset) -> bool:
    return any(c.key_points for c in dataset.cases)


def default_embeddings(settings, searcher=None):
    """The embeddings key_points uses: the searcher's own, else the configured factory; None if unavailable."""
    found = getattr(searcher, "embeddings", None) if searcher is not None else None
    if found is not None:
        return found
    try:
        from ..embeddings import make_embeddings

        return make_embeddings(settings)
    except Exception:   # no model installed: key_points then gives uncertain for paraphrases
        return None


# --- runners ------------------------------------------------------------------------------------

def _progress(console, total: int, label: str):
    if console is None:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=console, transient=True)
    return bar


def _loop(cases: list[Case], console, label: str, fn: Callable[[Case], CaseResult]) -> list[CaseResult]:
    bar = _progress(console, len(cases), label)
    results = []
    if bar is None:
        return [fn(c) for c in cases]
    with bar:
        task = bar.add_task("", total=len(cases))
        for c in cases:
            bar.update(task, description=c.id)
            results.append(fn(c))
            bar.advance(task)
    return results


def run_service(dataset: Dataset, service, *, backend: str | None = None, llm_judge=None, console=None,
                embeddings=None) -> list[CaseResult]:
    from ..answering import EmptyQuestion

    k = service.settings.k
    corpus_dir = getattr(service.settings, "corpus_dir", None)
    if embeddings is None and _needs_embeddings(dataset):
        embeddings = default_embeddings(service.settings, service.searcher)
    recorder = RecordingSearcher(service.searcher)
    service.searcher = recorder
    glossary = getattr(service, "glossary", None)
    chunk_texts = chunks_by_id(service.settings)

    def one(case: Case) -> CaseResult:
        reason = skip_reason(case, corpus_dir)
        if reason:
            return _skipped(case, reason)
        return _tag(answer_case(case), case)

    def answer_case(case: Case) -> CaseResult:
        started = time.perf_counter()
        history: list[dict] = []
        answer = None
        try:
            for turn in case.turns:
                recorder.reset()
                answer = service.answer(turn, history, backend=backend)
                history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.text}]
        except EmptyQuestion as exc:
            check = CheckResult("framing", UNCERTAIN, None, [{"detail": f"no answer: {exc}"}])
            return CaseResult(case.id, case.turns, "", case.tags, FAIL, [check, CheckResult("error", FAIL, 0.0, [{"detail": str(exc)}])],
                              backend or "", error=str(exc), seconds=time.perf_counter() - started)
        hits = [hit_source(h) for h in recorder.hits]
        by_id = {h.id: h for h in hits}
        sources = []
        for s in answer.sources:
            full = by_id.get(s.id)
            text = (full.text if full else "") or getattr(chunk_texts.get(s.id), "text", "")
            sources.append(Source(id=s.id, section=s.section, question=s.question, excerpt=s.excerpt,
                                  text=text, title=s.title, score=s.score))
        # A source the service took from its own cache of fixed searches was retrieved too.
        hits += [src for src in sources if src.id not in by_id]
        grounding_sources = sources + glossary_sources(glossary, answer.text)
        # Retrieval is judged on every passage the service retrieved for the answer (k per search).
        checks = judge_case(case, answer.text, framing=service.framing, sources=grounding_sources, hits=hits if answer.scope == "in" else [],
                            k=max(k, len(hits)), trace=answer.trace, service_scope=answer.scope, llm_judge=llm_judge,
                            embeddings=embeddings)
        return CaseResult(case.id, case.turns, answer.text, case.tags, judges.combine(c.verdict for c in checks), checks,
                          answer.backend, sources, answer.scope, answer.question, seconds=time.perf_counter() - started,
                          guard=asdict(answer.guard))

    try:
        return _loop(dataset.cases, console, "eval", one)
    finally:
        service.searcher = recorder._inner


def run_retrieval(dataset: Dataset, searcher, k: int, console=None) -> list[CaseResult]:
    def one(case: Case) -> CaseResult:
        started = time.perf_counter()
        hits = [hit_source(h) for h in searcher.search(case.question, k)]
        check = retrieval_judge.judge_retrieval(case.gold_sections, hits, k)
        return CaseResult(case.id, case.turns, "", case.tags, check.verdict, [check], "retrieval", hits,
                          seconds=time.perf_counter() - started)

    return _loop(dataset.cases, console, "retrieval", one)
def run_answers(dataset: Dataset, *, k: int, framing: FramingJudge, chunks=None, glossary=None, llm_judge=None, console=None,
                embeddings=None, corpus_dir=None) -> list[CaseResult]:
    """Grade recorded answers with the corpus's framing judge; cases whose article is not in `corpus_dir` (when
    given) are skipped."""
    def one(case: Case) -> CaseResult:
        reason = skip_reason(case, corpus_dir)
        if reason:
            return _skipped(case, reason)
        started = time.perf_counter()
        sources = resolve_sources(case.sources, chunks)
        grounding_sources = (sources + glossary_sources(glossary, case.answer or "")) if sources else sources
        checks = judge_case(case, case.answer or "", framing=framing, sources=grounding_sources, hits=sources, k=k, llm_judge=llm_judge,
                            embeddings=embeddings)
        return _tag(CaseResult(case.id, case.turns, case.answer or "", case.tags, judges.combine(c.verdict for c in checks),
                               checks, case.backend or "answers-file", sources or [], seconds=time.perf_counter() - started), case)

    return _loop(dataset.cases, console, "grading", one)


# --- summary ------------------------------------------------------------------------------------

def summarise(result: RunResult) -> dict:
    ds = result.dataset
    skipped = [r for r in result.cases if r.verdict == SKIPPED]
    cases = [r for r in result.cases if r.verdict != SKIPPED]
    counts = {v: sum(c.verdict == v for c in cases) for v in (PASS, FAIL, UNCERTAIN)}
    checks = check_rows(cases)
    splits = split_summary(cases)
    for name, row in checks.items():
        row["splits"] = {sp: v["checks"][name] for sp, v in splits.items() if name in v["checks"]}

    retrieval = retrieval_summary(cases, result.k)
    thresholds = threshold_rows(ds.thresholds, checks, retrieval, result.k)
    tags = tag_summary(cases)

    failed_thresholds = [k for k, t in thresholds.items() if t["status"] == "failed"]
    framing_failures = [r.id for r in cases for c in r.checks if c.name == "framing" and c.verdict == FAIL]
    summary = {
        "dataset": str(ds.path),
        "description": ds.description,
        "mode": result.mode,
        "backend": result.backend,
        "k": result.k,
        "llm_judge": result.llm_judge,
        "cases": len(cases),
        "skipped": len(skipped),
        "skipped_cases": [{"id": r.id, "reason": r.skipped, "line": r.skip_line} for r in skipped],
        "passed": counts[PASS],
        "failed": counts[FAIL],
        "uncertain": counts[UNCERTAIN],
        "pass_rate": pass_rate(counts[PASS], len(cases)),
        "thresholds": thresholds,
        "failed_thresholds": failed_thresholds,
        "checks": checks,
        "retrieval": retrieval,
        "tags": tags,
        "splits": splits,
        "helpfulness_failures": helpfulness_failures(cases),
        "framing_failures": framing_failures,
        "failed_cases": [r.id for r in cases if r.verdict == FAIL],
        "uncertain_cases": [r.id for r in cases if r.verdict == UNCERTAIN],
        "ok": not failed_thresholds and not framing_failures,
        "seconds": round(result.seconds, 2),
        # What the runtime guard did across the run: interventions are every action but "passed".
        "guard_actions": dict(Counter(r.guard.get("action", "") for r in cases if r.guard)),
    }
    if result.baseline:
        summary["baseline"] = result.baseline
        summary["regressions"] = len(result.regressions)
    return summary


# --- baseline -----------------------------------------------------------------------------------

def load_baseline(path: Path) -> dict[str, dict]:
    """Per-case verdicts from an earlier report.json; raises DatasetError when it is not one."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DatasetError("baseline report does not exist", path)
        if path.stat().st_size > 200 * 1024 * 1024:
            raise DatasetError("baseline report is too big", path)
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"baseline report cannot be read: {exc}", path) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DatasetError(f"baseline report is not valid JSON: {exc}", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise DatasetError("is not an eval report.json (no 'cases' list)", path)
    out = {}
    for n, case in enumerate(data["cases"]):
        if isinstance(case, dict) and case.get("verdict") == SKIPPED:
            continue
        if not isinstance(case, dict) or not isinstance(case.get("id"), str) or case.get("verdict") not in judges.VERDICTS:
            raise DatasetError(f"case {n} has no id/verdict", path, None, f"cases[{n}]")
        checks = {c.get("name"): c.get("verdict") for c in case.get("checks", []) if isinstance(c, dict)}
        out[case["id"]] = {"verdict": case["verdict"], "checks": checks}
    return out


def compare(result: RunResult, baseline: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """Regressions (pass → fail/uncertain) and improvements (fail/uncertain → pass), per case."""
    regressions, improvements = [], []
    for r in result.cases:
        before = baseline.get(r.id)
        if before is None or r.verdict == SKIPPED:
            continue
        if before["verdict"] == PASS and r.verdict != PASS:
            flipped = [c.name for c in r.checks if c.verdict != PASS and before["checks"].get(c.name, PASS) == PASS]
            regressions.append({"id": r.id, "before": before["verdict"], "after": r.verdict, "checks": flipped,
                                "evidence": [e for c in r.checks if c.name in flipped for e in c.evidence][:5]})
        elif before["verdict"] != PASS and r.verdict == PASS:
            improvements.append({"id": r.id, "before": before["verdict"], "after": r.verdict})
    return regressions, improvements
