"""Run a dataset through the answering service (or grade an answers file) and score every case.

Three modes:
- service: each case's turns go through `AnsweringService.answer` (earlier turns become the
  history; checks apply to the last answer), then every judge that applies runs;
- answers: pre-recorded answers are graded without running the assistant;
- retrieval: a retrieval set (gold sections only, recall_at_K thresholds) is searched, not answered.

A case's verdict is fail if any check fails, uncertain if none fails but one is uncertain, else
pass. `uncertain` is never a pass: pass rates count passes only.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import helpfulness, judges
from .datasets import Case, Dataset, DatasetError, Source
from .judges import FAIL, PASS, UNCERTAIN, CheckResult

HELPFULNESS_CHECKS = ("key_points", "lead", "no_repeat", "honest_gap", "false_gap", "length")
CHECK_ORDER = ("framing", "terms", "grounding", "scope", "retrieval", "forbidden", "llm") + HELPFULNESS_CHECKS
_THRESHOLD_CHECK = {"framing": "framing", "terms": "terms", "grounding": "grounding", "scope": "scope",
                    "retrieval_recall_at_k": "retrieval", "forbidden": "forbidden", "llm": "llm",
                    **{name: name for name in HELPFULNESS_CHECKS}}
SKIPPED = "skipped"             # a case whose article is not in the corpus: not run, not counted


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


# --- judging one answer -------------------------------------------------------------------------

def judge_case(case: Case, answer: str, *, sources: list[Source] | None, hits: list[Source] | None, k: int,
               trace: list[dict] | None = None, service_scope: str = "", llm_judge=None, embeddings=None) -> list[CheckResult]:
    """Every check that applies to this case; framing applies to every answer."""
    checks = [judges.judge_framing_check(answer, trace)]
    if case.terms_any or case.terms_all:
        checks.append(judges.judge_terms(answer, case.terms_any, case.terms_all))
    if not case.expects_refusal and case.kind != "greeting":  # a greeting's reply cites nothing, by design
        checks.append(judges.judge_grounding(answer, sources, embeddings=embeddings, trace=trace))
    if case.covered is not False:  # an uncovered topic is judged by honest_gap: admitting it is right there
        checks.append(judges.judge_scope(answer, case.expects_refusal, service_scope or None))
    if case.gold_sections and not case.expects_refusal:
        checks.append(judges.judge_retrieval(case.gold_sections, hits, k))
    if case.forbidden:
        checks.append(judges.judge_forbidden(answer, case.forbidden, trace))
    if llm_judge is not None:
        checks.append(llm_judge.judge(case.question, answer, sources, case.expects_refusal))
    checks += helpfulness_checks(case, answer, embeddings)
    return checks


def helpfulness_checks(case: Case, answer: str, embeddings=None) -> list[CheckResult]:
    """no_repeat and length on every in-scope case; key_points, lead, honest_gap where the case has the fields."""
    if case.expects_refusal:
        return []
    checks = []
    if case.key_points:
        checks.append(helpfulness.judge_key_points(answer, case.key_points, embeddings))
    if case.lead_any or case.kind or case.covered is False:
        checks.append(helpfulness.judge_lead(answer, case.question, case.lead_any, case.kind, case.covered,
                                             case.lead_terms))
    if case.covered is True:
        checks.append(helpfulness.judge_false_gap(answer))
    checks.append(helpfulness.judge_no_repeat(answer))
    gap = helpfulness.judge_honest_gap(answer, case.covered)
    if gap is not None:
        checks.append(gap)
    checks.append(helpfulness.judge_length(answer))
    return checks


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


def _skipped(case: Case, reason: str) -> CaseResult:
    return CaseResult(case.id, case.turns, "", case.tags, SKIPPED, [], split=case.split or "", kind=case.kind or "",
                      article=case.article or "", skipped=reason)


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


# --- the service's retrieval, recorded ----------------------------------------------------------

class _RecordingSearcher:
    """Wraps the service's searcher to keep every hit it returns while one answer is made.

    The service may search more than once per answer (the athlete's question, then the passages AQ
    wrote for doctrine or training questions); all of them, in order and without repeats, are what
    the answer was composed from.
    """

    def __init__(self, inner) -> None:
        self._inner = inner
        self.hits: list = []
        self.queries: list[str] = []

    @property
    def version(self):
        # No index version: the service then never answers a search from its own cache, so every
        # passage it retrieves passes through here and is counted.
        return None

    def reset(self) -> None:
        self.hits, self.queries = [], []

    def search(self, query, k=None):
        hits = self._inner.search(query, k)
        self.queries.append(query)
        seen = {h.id for h in self.hits}
        self.hits += [h for h in hits if h.id not in seen]
        return hits

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _hit_source(hit) -> Source:
    return Source(id=str(hit.id), section=str(hit.section), question=str(getattr(hit, "question", "") or ""),
                  excerpt=str(getattr(hit, "excerpt", "") or ""), text=str(getattr(hit, "text", "") or ""),
                  title=str(getattr(hit, "title", "") or ""), score=getattr(hit, "score", None))


def _glossary_sources(glossary, text: str) -> list[Source]:
    """Glossary definitions of the AQ terms an answer names: part of the corpus every backend is given."""
    if glossary is None:
        return []
    out = []
    for term in glossary.terms_in(text):
        out.append(Source(id=f"glossary:{term.term}", section="Glossary", excerpt=term.definition[:240],
                          text=f"{term.term}: {term.definition}"))
    return out


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
    recorder = _RecordingSearcher(service.searcher)
    service.searcher = recorder
    glossary = getattr(service, "glossary", None)
    chunk_texts = _chunks_by_id(service.settings)

    def one(case: Case) -> CaseResult:
        reason = missing_article(case, corpus_dir)
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
        hits = [_hit_source(h) for h in recorder.hits]
        by_id = {h.id: h for h in hits}
        sources = []
        for s in answer.sources:
            full = by_id.get(s.id)
            text = (full.text if full else "") or getattr(chunk_texts.get(s.id), "text", "")
            sources.append(Source(id=s.id, section=s.section, question=s.question, excerpt=s.excerpt,
                                  text=text, title=s.title, score=s.score))
        # A source the service took from its own cache of fixed searches was retrieved too.
        hits += [src for src in sources if src.id not in by_id]
        grounding_sources = sources + _glossary_sources(glossary, answer.text)
        # Retrieval is judged on every passage the service retrieved for the answer (k per search).
        checks = judge_case(case, answer.text, sources=grounding_sources, hits=hits if answer.scope == "in" else [],
                            k=max(k, len(hits)), trace=answer.trace, service_scope=answer.scope, llm_judge=llm_judge,
                            embeddings=embeddings)
        return CaseResult(case.id, case.turns, answer.text, case.tags, judges.combine(c.verdict for c in checks), checks,
                          answer.backend, sources, answer.scope, answer.question, seconds=time.perf_counter() - started,
                          guard=asdict(answer.guard))

    try:
        return _loop(dataset.cases, console, "eval", one)
    finally:
        service.searcher = recorder._inner


def _chunks_by_id(settings) -> dict:
    """The corpus chunks by id (full text for grounding); empty when the corpus cannot be read."""
    try:
        from ..indexing import corpus_chunks

        chunks, _ = corpus_chunks(settings)
        return {c.id: c for c in chunks}
    except Exception:
        return {}


def run_retrieval(dataset: Dataset, searcher, k: int, console=None) -> list[CaseResult]:
    def one(case: Case) -> CaseResult:
        started = time.perf_counter()
        hits = [_hit_source(h) for h in searcher.search(case.question, k)]
        check = judges.judge_retrieval(case.gold_sections, hits, k)
        return CaseResult(case.id, case.turns, "", case.tags, check.verdict, [check], "retrieval", hits,
                          seconds=time.perf_counter() - started)

    return _loop(dataset.cases, console, "retrieval", one)


def _norm_text(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower().replace("’", "'").replace("'", "")).strip()


def resolve_sources(sources: list[Source] | None, chunks) -> list[Source] | None:
    """Answers-file sources tied to the corpus chunk they quote, so grounding sees the whole chunk."""
    if not sources or not chunks:
        return sources
    by_id = {c.id: c for c in chunks}
    norm_chunks = [(c, _norm_text(c.text)) for c in chunks]
    out = []
    for s in sources:
        chunk = by_id.get(s.id)
        if chunk is None and (s.excerpt or s.text):
            needle = _norm_text((s.text or s.excerpt).rstrip("…").rstrip("."))
            if len(needle) >= 20:
                matches = [c for c, n in norm_chunks if needle in n]
                same = [c for c in matches if judges.norm_section(c.section) == judges.norm_section(s.section)
                        or (s.question and judges.norm_section(c.question) == judges.norm_section(s.question))]
                chunk = (same or matches or [None])[0]
        if chunk is None:
            out.append(s)
            continue
        out.append(Source(id=chunk.id, section=s.section or chunk.section, question=s.question or chunk.question,
                          excerpt=s.excerpt, text=chunk.text, title=s.title or chunk.title, score=s.score))
    return out


def run_answers(dataset: Dataset, *, k: int, chunks=None, glossary=None, llm_judge=None, console=None,
                embeddings=None, corpus_dir=None) -> list[CaseResult]:
    """Grade recorded answers; cases whose article is not in `corpus_dir` (when given) are skipped."""
    def one(case: Case) -> CaseResult:
        reason = missing_article(case, corpus_dir)
        if reason:
            return _skipped(case, reason)
        started = time.perf_counter()
        sources = resolve_sources(case.sources, chunks)
        grounding_sources = (sources + _glossary_sources(glossary, case.answer or "")) if sources else sources
        checks = judge_case(case, case.answer or "", sources=grounding_sources, hits=sources, k=k, llm_judge=llm_judge,
                            embeddings=embeddings)
        return _tag(CaseResult(case.id, case.turns, case.answer or "", case.tags, judges.combine(c.verdict for c in checks),
                               checks, case.backend or "answers-file", sources or [], seconds=time.perf_counter() - started), case)

    return _loop(dataset.cases, console, "grading", one)


# --- summary ------------------------------------------------------------------------------------

def _rate(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


def _split_summary(cases: list[CaseResult]) -> dict:
    """Per split (tune / heldout): case verdicts and each check's pass rate, reported separately."""
    out: dict[str, dict] = {}
    for split in sorted({r.split for r in cases if r.split}):
        rows = [r for r in cases if r.split == split]
        n = {v: sum(r.verdict == v for r in rows) for v in (PASS, FAIL, UNCERTAIN)}
        checks = {}
        for name in CHECK_ORDER:
            applied = [c for r in rows for c in r.checks if c.name == name]
            if applied:
                passed = sum(c.verdict == PASS for c in applied)
                checks[name] = {"applied": len(applied), "pass": passed, "pass_rate": _rate(passed, len(applied))}
        out[split] = {"cases": len(rows), "pass": n[PASS], "fail": n[FAIL], "uncertain": n[UNCERTAIN],
                      "pass_rate": _rate(n[PASS], len(rows)), "checks": checks}
    return out


def _why(check: CheckResult) -> str:
    """One line saying why a helpfulness check did not pass."""
    ev = check.evidence or []
    if check.name == "key_points":
        missing = [e for e in ev if e.get("status") != "present"]
        return "; ".join(f"{e['status']}: {e['point'][0]!r}" + (f" (best cosine {e['cosine']})" if "cosine" in e else "")
                         for e in missing)[:400]
    if check.name == "lead":
        return "lead: " + " | ".join(ev[0].get("lead", []) if ev else [])[:400]
    if check.name == "no_repeat":
        return "; ".join(f"{e['sentence']!r} repeats {e['repeats']!r}" for e in ev)[:400]
    return "; ".join(str(e.get("detail") or e.get("span") or "") for e in ev if e.get("detail") or e.get("span"))[:400]


def _helpfulness_failures(cases: list[CaseResult]) -> list[dict]:
    """Each helpfulness check that did not pass: which case, which split, why."""
    return [{"id": r.id, "split": r.split, "check": c.name, "verdict": c.verdict, "why": _why(c)}
            for r in cases for c in r.checks if c.name in HELPFULNESS_CHECKS and c.verdict != PASS]


def summarise(result: RunResult) -> dict:
    ds = result.dataset
    skipped = [r for r in result.cases if r.verdict == SKIPPED]
    cases = [r for r in result.cases if r.verdict != SKIPPED]
    counts = {v: sum(c.verdict == v for c in cases) for v in (PASS, FAIL, UNCERTAIN)}
    checks = _check_rows(cases)
    splits = _split_summary(cases)
    for name, row in checks.items():
        row["splits"] = {sp: v["checks"][name] for sp, v in splits.items() if name in v["checks"]}

    retrieval = _retrieval_summary(cases, result.k)
    thresholds = _thresholds(ds.thresholds, checks, retrieval, result.k)
    tags = _tag_summary(cases)

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
        "skipped_cases": [{"id": r.id, "reason": r.skipped} for r in skipped],
        "passed": counts[PASS],
        "failed": counts[FAIL],
        "uncertain": counts[UNCERTAIN],
        "pass_rate": _rate(counts[PASS], len(cases)),
        "thresholds": thresholds,
        "failed_thresholds": failed_thresholds,
        "checks": checks,
        "retrieval": retrieval,
        "tags": tags,
        "splits": splits,
        "helpfulness_failures": _helpfulness_failures(cases),
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



def _check_rows(cases: list[CaseResult]) -> dict[str, dict]:
    """Per check: how many cases it applied to, and its verdicts."""
    checks: dict[str, dict] = {}
    for name in CHECK_ORDER + tuple(sorted({c.name for r in cases for c in r.checks} - set(CHECK_ORDER))):
        applied = [c for r in cases for c in r.checks if c.name == name]
        if not applied:
            continue
        n = {v: sum(c.verdict == v for c in applied) for v in (PASS, FAIL, UNCERTAIN)}
        checks[name] = {"applied": len(applied), "pass": n[PASS], "fail": n[FAIL], "uncertain": n[UNCERTAIN],
                        "pass_rate": _rate(n[PASS], len(applied))}
    return checks


def _retrieval_summary(cases: list[CaseResult], k: int) -> dict | None:
    retrieval = None
    rows = [c for r in cases for c in r.checks if c.name == "retrieval" and c.detail]
    if rows:
        retrieval = {
            "k": k,
            "cases": len(rows),
            "recall_at_k": round(sum(c.verdict == PASS for c in rows) / len(rows), 4),
            "section_recall_at_k": round(sum(c.detail["recall_at_k"] for c in rows) / len(rows), 4),
            "mrr": round(sum(c.detail["mrr"] for c in rows) / len(rows), 4),
            "mean_retrieved": round(sum(c.detail["k"] for c in rows) / len(rows), 2),
        }

    return retrieval


def _thresholds(required_by_key: dict, checks: dict[str, dict], retrieval: dict | None, k: int) -> dict[str, dict]:
    """Each dataset threshold with the figure it gates and its status; each check row gets its threshold."""
    thresholds: dict[str, dict] = {}
    for key, required in required_by_key.items():
        value, source = None, None
        if key in _THRESHOLD_CHECK:
            source = _THRESHOLD_CHECK[key]
            value = checks.get(source, {}).get("pass_rate")
        else:
            m = re.match(r"^(recall_at_|hit_rate_at_)(\d+)$", key)
            if retrieval and m and int(m.group(2)) == k:
                source, value = "retrieval", retrieval["recall_at_k"]
            elif retrieval and re.match(r"^(mrr(_at_\d+)?|retrieval_mrr)$", key):
                source, value = "retrieval", retrieval["mrr"]
        status = "n/a" if value is None else ("ok" if value >= required - 1e-9 else "failed")
        thresholds[key] = {"threshold": required, "value": value, "check": source, "status": status}
    for name, row in checks.items():
        key = next((t for t, c in _THRESHOLD_CHECK.items() if c == name and t in thresholds), None)
        if key is None and name == "retrieval":   # retrieval sets gate recall_at_K on this check
            key = next((t for t, v in thresholds.items() if v["check"] == "retrieval" and t.startswith(("recall", "hit"))), None)
        row["threshold"] = thresholds[key]["threshold"] if key else None
        row["status"] = thresholds[key]["status"] if key else "no threshold"

    return thresholds


def _tag_summary(cases: list[CaseResult]) -> dict[str, dict]:
    """Per tag: its cases' verdicts, and each check's pass rate among them."""
    tags: dict[str, dict] = {}
    for r in cases:
        for tag in r.tags or ["(untagged)"]:
            t = tags.setdefault(tag, {"cases": 0, "pass": 0, "fail": 0, "uncertain": 0})
            t["cases"] += 1
            t[r.verdict] += 1
    for t in tags.values():
        t["pass_rate"] = _rate(t["pass"], t["cases"])
        t["checks"] = {}
    for r in cases:
        for tag in r.tags or ["(untagged)"]:
            for c in r.checks:
                row = tags[tag]["checks"].setdefault(c.name, {"applied": 0, "pass": 0})
                row["applied"] += 1
                row["pass"] += c.verdict == PASS
    for t in tags.values():
        for row in t["checks"].values():
            row["pass_rate"] = _rate(row["pass"], row["applied"])

    return tags


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
