"""`aq-coach eval`: run or grade a dataset, write the reports, print a summary, return the exit code.

Exit codes: 0 when every threshold holds and no framing check fails; 1 otherwise; 2 on usage
errors (missing or bad dataset / answers / baseline file, unknown backend, bad settings).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import PROJECT_ROOT, Settings, get_settings
from ..indexing import framing_judge_for
from .datasets import CHECK_THRESHOLDS, DatasetError, load_answers, load_dataset, merge_checks
from .judges import make_llm_judge
from .report import write_report
from .runner import RunResult, compare, default_embeddings, load_baseline, run_answers, run_retrieval, run_service, summarise
from .selftest import run_self_tests

DEFAULT_DATASET = PROJECT_ROOT / "evals" / "datasets" / "answers.yaml"


class EvalUsageError(Exception):
    """Bad input from the user: exit code 2."""


def _locate(path: Path, what: str) -> Path:
    """The path as given, else relative to the project root (so `evals/datasets/...` works from anywhere)."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    alt = PROJECT_ROOT / path
    return alt if alt.exists() else path


def run_eval_command(
    dataset: Path | None = None,
    backend: str | None = None,
    answers: Path | None = None,
    baseline: Path | None = None,
    report_dir: Path = Path("reports/latest"),
    as_json: bool = False,
    console: Console | None = None,
    err_console: Console | None = None,
    *,
    settings: Settings | None = None,
    service=None,
    llm_judge: bool | None = None,
) -> int:
    console = console or Console()
    err_console = err_console or Console(stderr=True)
    try:
        result = _run(dataset, backend, answers, baseline, settings, service, llm_judge,
                      None if as_json else err_console)
    except (DatasetError, EvalUsageError) as exc:
        _error(str(exc), as_json, console, err_console)
        return 2
    json_path, html_path = write_report(result, Path(report_dir))
    if as_json:
        payload = {"summary": result.summary, "reports": {"json": str(json_path), "html": str(html_path)},
                   "regressions": result.regressions, "judge_self_test": _brief_self_test(result.judge_self_test)}
        console.file.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        console.file.flush()
    else:
        _print_summary(result, console)
        console.print(f"reports: {json_path}  {html_path}", highlight=False)
    return 0 if result.ok else 1


def _run(dataset, backend, answers, baseline, settings, service, llm_judge, progress_console) -> RunResult:
    from ..backends import BACKENDS

    if backend and backend not in BACKENDS:
        raise EvalUsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if settings is None:
        try:
            settings = get_settings(backend=backend)
        except Exception as exc:  # pydantic ValidationError: a bad AQ_* value
            raise EvalUsageError(f"invalid settings: {exc}") from None
    base = load_baseline(_locate(baseline, "baseline")) if baseline is not None else None
    try:
        judge = make_llm_judge(settings, llm_judge)
    except ValueError as exc:
        raise EvalUsageError(str(exc)) from None

    started = time.perf_counter()
    if answers is not None:
        data = load_answers(_locate(answers, "answers"))
        if dataset is not None:
            data = merge_checks(data, load_dataset(_locate(dataset, "dataset")))
        chunks, glossary = _corpus(settings)
        emb = default_embeddings(settings) if any(c.key_points for c in data.cases) else None
        cases = run_answers(data, k=settings.k, framing=framing_judge_for(settings), chunks=chunks, glossary=glossary,
                            llm_judge=judge, console=progress_console,
                            embeddings=emb, corpus_dir=settings.corpus_dir)
        result = RunResult(data, "answers", "answers-file", settings.k, cases, llm_judge=judge is not None)
    else:
        data = load_dataset(_locate(dataset or DEFAULT_DATASET, "dataset"))
        if data.retrieval_only:
            from ..indexing import open_searcher

            searcher = service.searcher if service is not None else open_searcher(settings)
            k = data.retrieval_k(settings.k)
            cases = run_retrieval(data, searcher, k, console=progress_console)
            result = RunResult(data, "retrieval", "retrieval", k, cases)
        else:
            if service is None:
                from ..answering import AnsweringService

                service = AnsweringService.from_settings(settings)
            name = backend or settings.backend
            cases = run_service(data, service, backend=name, llm_judge=judge, console=progress_console)
            result = RunResult(data, "service", name, service.settings.k, cases, llm_judge=judge is not None)
    result.seconds = time.perf_counter() - started
    if base is not None:
        result.baseline = str(baseline)
        result.regressions, result.improvements = compare(result, base)
    result.judge_self_test = run_self_tests(framing_judge_for(settings))
    result.summary = summarise(result)
    result.summary["judge_self_test"] = _brief_self_test(result.judge_self_test)
    return result


def _corpus(settings: Settings):
    """Corpus chunks and glossary for grading answers files; an unreadable corpus only weakens grounding."""
    try:
        from ..corpus import load_glossary
        from ..indexing import corpus_chunks

        chunks, _ = corpus_chunks(settings)
        return chunks, load_glossary(settings.glossary_path)
    except Exception:
        return [], None


def _brief_self_test(st: dict) -> dict:
    def brief(row: dict) -> dict:
        if "error" in row:
            return row
        if "judges" in row:   # helpfulness: accuracy per judge and split
            return {j: {sp: v[sp]["accuracy"] for sp in v} for j, v in row["judges"].items()}
        if row.get("metric") == "accuracy":   # lead by kind: accuracy per split, and per kind
            return {sp: {"accuracy": row[sp]["accuracy"], "n": row[sp]["n"], "per_kind": row[sp].get("per_kind", {})}
                    for sp in ("tune", "heldout") if sp in row}
        return {k: row.get(k) for k in ("precision", "recall", "n", "uncertain")}

    return {name: brief(row) for name, row in st.items()}


def _error(message: str, as_json: bool, console: Console, err_console: Console) -> None:
    if as_json:
        console.file.write(json.dumps({"error": message}, ensure_ascii=False) + "\n")
        console.file.flush()
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _print_helpfulness(s: dict, console: Console) -> None:
    """Per-split pass rates, skipped cases and why each helpfulness check did not pass."""
    if s.get("splits"):
        table = Table(title="per split")
        for col in ("split", "cases", "pass", "rate", "checks"):
            table.add_column(col, justify="left" if col in ("split", "checks") else "right")
        for split, row in s["splits"].items():
            checks = ", ".join(f"{n} {_pct(c['pass_rate'])}" for n, c in row["checks"].items())
            table.add_row(split, str(row["cases"]), str(row["pass"]), _pct(row["pass_rate"]), checks)
        console.print(table)
    for sk in s.get("skipped_cases", []):
        console.print(sk.get("line") or f"skipped {sk['id']}: {sk['reason']}", highlight=False, markup=False)
    failures = s.get("helpfulness_failures") or []
    for f in failures[:40]:
        console.print(f"  {f['id']} [{f['split'] or '-'}] {f['check']} {f['verdict']}: {f['why']}", highlight=False, markup=False)
    if len(failures) > 40:
        console.print(f"  … {len(failures) - 40} more in report.json", highlight=False)


def _print_summary(result: RunResult, console: Console) -> None:
    s = result.summary
    title = (f"eval: {Path(s['dataset']).name} · {s['mode']} · {s['backend']} · {s['cases']} cases "
             f"({s['passed']} pass, {s['failed']} fail, {s['uncertain']} uncertain"
             + (f"; {s['skipped']} skipped" if s.get("skipped") else "") + ")")
    table = Table(title=title)
    for col in ("check", "n", "pass", "fail", "unsure", "rate", "min", "status"):
        table.add_column(col, justify="left" if col in ("check", "status") else "right", no_wrap=True)
    for name, row in s["checks"].items():
        st = row.get("status", "")
        colour = "red" if st == "failed" else "green" if st == "ok" else "dim"
        table.add_row(name, str(row["applied"]), str(row["pass"]), str(row["fail"]), str(row["uncertain"]),
                      _pct(row["pass_rate"]), _pct(row.get("threshold")), f"[{colour}]{st}[/]")
    shown = {k for k, t in s["thresholds"].items() if t["check"] in s["checks"] and s["checks"][t["check"]].get("threshold") == t["threshold"]}
    for key, t in s["thresholds"].items():
        if key in shown or (t["check"] in s["checks"] and key in CHECK_THRESHOLDS):
            continue
        colour = "red" if t["status"] == "failed" else "green" if t["status"] == "ok" else "dim"
        table.add_row(key, "", "", "", "", _pct(t["value"]), _pct(t["threshold"]), f"[{colour}]{t['status']}[/]")
    console.print(table)
    r = s.get("retrieval")
    if r:
        console.print(f"retrieval k={r['k']}: recall@k {_pct(r['recall_at_k'])} (a gold section in the top k), "
                      f"section recall@k {_pct(r['section_recall_at_k'])}, MRR {r['mrr']:.3f}", highlight=False)

    tags = Table(title="per tag")
    for col in ("tag", "cases", "pass", "fail", "unsure", "rate"):
        tags.add_column(col, justify="left" if col == "tag" else "right", no_wrap=True)
    for tag, row in sorted(s["tags"].items()):
        tags.add_row(tag, str(row["cases"]), str(row["pass"]), str(row["fail"]), str(row["uncertain"]), _pct(row["pass_rate"]))
    console.print(tags)

    _print_helpfulness(s, console)
    st = s.get("judge_self_test", {})
    if st:
        parts = [f"{name} P {_pct(row.get('precision'))} R {_pct(row.get('recall'))}" for name, row in st.items()
                 if "error" not in row and name != "helpfulness" and "heldout" not in row]
        parts += [f"{name} accuracy {_pct(row['tune'].get('accuracy'))} / {_pct(row['heldout'].get('accuracy'))} (tune / heldout)"
                  for name, row in st.items() if "error" not in row and "heldout" in row and "tune" in row]
        console.print("judge self-test: " + " · ".join(parts), highlight=False)
        helpful = st.get("helpfulness") or {}
        if helpful and "error" not in helpful:
            console.print("helpfulness judge self-test (accuracy tune / heldout): " + " · ".join(
                f"{j} {_pct(v.get('tune'))} / {_pct(v.get('heldout'))}" for j, v in helpful.items()), highlight=False)
    if s.get("guard_actions"):
        acts = s["guard_actions"]
        interventions = sum(n for a, n in acts.items() if a != "passed")
        console.print(f"runtime guard: {interventions} intervention(s) · " + ", ".join(f"{a} {n}" for a, n in sorted(acts.items())), highlight=False)
    if result.regressions:
        console.print(f"[red]{len(result.regressions)} regression(s) against {result.baseline}:[/]", highlight=False)
        for reg in result.regressions:
            console.print(f"  {reg['id']}: {reg['before']} → {reg['after']} ({', '.join(reg['checks']) or 'verdict'})", highlight=False)
    elif result.baseline:
        console.print(f"no regressions against {result.baseline}", highlight=False)
    _print_verdict(s, console)


def _print_verdict(s: dict, console: Console) -> None:
    """The run's last lines: what failed, then PASSED / FAILED (NOTHING SCORED when every case was skipped)."""
    if s["framing_failures"]:
        console.print(f"[bold red]framing failures:[/] {', '.join(s['framing_failures'])}", highlight=False)
    if s["failed_thresholds"]:
        console.print(f"[bold red]failed thresholds:[/] {', '.join(s['failed_thresholds'])}", highlight=False)
    if not s["cases"] and s.get("skipped"):  # nothing passed and nothing failed: not a pass
        console.print(f"[bold yellow]NOTHING SCORED[/]: all {s['skipped']} case(s) skipped", highlight=False)
        return
    console.print("[bold green]PASSED[/]" if s["ok"] else "[bold red]FAILED[/]")
