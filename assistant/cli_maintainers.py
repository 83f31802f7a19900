"""The maintainers' verbs of `aq-coach`: settings, eval and bench, and the db, plan and feedback groups.

Thin wrappers over their modules; each verb's docstring is its help text. `assistant.cli` registers
the verbs and the three groups (db_app, plan_app, feedback_app) on the app.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from .cli_support import BACKEND_OPT, JSON_OPT, UsageProblem, emit_json, err, friendly_errors, load_settings, out


@friendly_errors
def settings_(
    markdown: bool = typer.Option(False, "--markdown", help="Print the README's table of every setting and its default."),
    as_json: bool = JSON_OPT,
):
    """Show every setting in effect (from AQ_* variables and .env) and where it differs from its default.

    Secrets are never printed. `--markdown` writes the README's settings table from the same fields."""
    from pydantic import SecretStr

    from .config import Settings, env_name, settings_markdown

    if markdown:
        sys.stdout.write(settings_markdown())
        return
    settings = load_settings()
    rows = []
    for name, field in Settings.model_fields.items():
        value, default = getattr(settings, name), field.get_default(call_default_factory=True)
        shown = "(set)" if isinstance(value, SecretStr) else value
        rows.append({"variable": env_name(name), "value": None if shown is None else str(shown),
                     "changed": value != default})
    if as_json:
        emit_json({"settings": rows})
        return
    table = Table(title="aq-coach settings")
    for col in ("variable", "value"):
        table.add_column(col)
    for row in rows:
        style = "bold" if row["changed"] else "dim"
        table.add_row(row["variable"], "unset" if row["value"] is None else row["value"], style=style)
    out.print(table)
    out.print(f"{sum(r['changed'] for r in rows)} of {len(rows)} differ from their defaults (bold).", highlight=False)


# --- db ----------------------------------------------------------------------------------------

db_app = typer.Typer(help="The database of chat history, feedback and ingest records (AQ_DATABASE_URL).",
                     no_args_is_help=True)


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(as_json: bool = JSON_OPT):
    """Create the history and feedback schema, or upgrade an older one in place; nothing stored is lost.

    A SQLite file is copied to <file>.bak-v<old version> first."""
    import shutil

    from sqlalchemy.exc import OperationalError

    from .database import SCHEMA_VERSION, DatabaseError, engine_for, schema_version, upgrade

    settings = load_settings()
    url = settings.app_database_url
    if not settings.database_url:
        settings.app_db.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            old = schema_version(conn)
        backup = None
        if not settings.database_url and settings.app_db.exists() and 0 < old < SCHEMA_VERSION:
            backup = settings.app_db.with_name(f"{settings.app_db.name}.bak-v{old}")
            shutil.copy2(settings.app_db, backup)
        report = upgrade(engine)
    except OperationalError as exc:
        raise DatabaseError(f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}") from None
    data = {**report.as_dict(), "backup": str(backup) if backup else None}
    if as_json:
        emit_json(data)
        return
    if not report.steps:
        out.print(f"{report.url}: schema {report.after}, up to date")
    for step in report.steps:
        out.print(f"{report.url}: {step}")
    if backup:
        out.print(f"the old file was copied to {backup}")


@db_app.command("purge")
@friendly_errors
def db_purge(
    older_than: str | None = typer.Option(None, "--older-than", metavar="DAYS", help=(
        "Delete conversations whose last message is older than this many days (0 or more; 0.5 is twelve hours).")),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; delete nothing."),
    as_json: bool = JSON_OPT,
):
    """Delete the conversations whose last message is older than DAYS, with their messages and feedback.

    One transaction, safe while servers run (a message being written keeps its conversation); run again, it deletes nothing.

    AQ_HISTORY_RETENTION_DAYS makes `aq-coach serve` do this at start and hourly."""
    import math

    from .conversations import ConversationStore
    from .database import redact
    from .retention import TABLES, cutoff_for

    try:
        days = float(older_than) if older_than is not None else math.nan
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days >= 0):
        raise UsageProblem("--older-than DAYS needs a number of days, 0 or more" +
                           ("" if older_than is None else f", not {older_than!r}"))
    url = _history_database(load_settings())
    cutoff = cutoff_for(days)
    counts = ConversationStore(url).purge(days, dry_run=dry_run)
    data = {"database": redact(url), "older_than_days": days, "cutoff": cutoff, "dry_run": dry_run, **counts}
    if as_json:
        emit_json(data)
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table(title=f"aq-coach db purge --older-than {days:g}{' --dry-run' if dry_run else ''}")
    table.add_column("table")
    table.add_column(f"rows {verb}", justify="right")
    for name in TABLES:
        table.add_row(name, str(counts[name]))
    out.print(table)
    out.print(f"{verb} {counts['conversations']} conversation(s) last active before {cutoff[:16].replace('T', ' ')} UTC "
              f"in {data['database']}", highlight=False, markup=False)


def _history_database(settings, nothing: str = "nothing to purge") -> str:
    """The chat history's database URL, once it is known to hold a history (never creates one);
    `nothing` ends the message when it holds none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from .database import DatabaseError, engine_for, redact, schema_version

    url = settings.app_database_url
    if url.startswith("sqlite"):
        path = make_url(url).database
        if not path or not Path(path).exists():
            raise DatabaseError(f"there is no chat history at {path or url} (an empty database): {nothing}")
    try:
        with engine_for(url).connect() as conn:
            version = schema_version(conn)
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise DatabaseError(f"cannot open the database {redact(url)}: {reason}") from None
    if version == 0:
        raise DatabaseError(f"the database {redact(url)} holds no chat history yet (an empty database): {nothing}")
    return url


# --- plan --------------------------------------------------------------------------------------

plan_app = typer.Typer(help="The question plan's model, trained on labelled athlete questions (evals/datasets/plan).",
                       no_args_is_help=True)
PLAN_SET_OPT = typer.Option(None, "--dataset", help="Labelled question set (a YAML file or a folder); default AQ_PLAN_DATASET.")


@plan_app.command("train")
@friendly_errors
def plan_train(dataset: Path | None = PLAN_SET_OPT,
               if_missing: bool = typer.Option(False, "--if-missing", help="Keep a model already trained on this set."),
               as_json: bool = JSON_OPT):
    """Train the plan model on the labelled set's tune split and cache it by the set's digest."""
    from .evals.plan_eval import planner_for
    from .plan_model import load_plan_set

    settings = load_settings(**({"plan_dataset": dataset} if dataset else {}))
    if not as_json:
        err.print(f"plan model for {settings.plan_dataset} …", highlight=False)
    planner, seconds = planner_for(settings, retrain=not if_missing)
    examples = load_plan_set(settings.plan_dataset)
    data = {"digest": planner.model.digest, "seconds": round(seconds, 1),
            "tune_questions": sum(e.split == "tune" for e in examples),
            "heldout_questions": sum(e.split == "heldout" for e in examples)}
    if as_json:
        emit_json(data)
    else:
        out.print(f"plan model {data['digest']}: trained on {data['tune_questions']} questions in {data['seconds']} s "
                  f"({data['heldout_questions']} held out)")


@plan_app.command("eval")
@friendly_errors
def plan_eval(dataset: Path | None = PLAN_SET_OPT,
              report: Path = typer.Option(Path("reports/plan"), "--report", help="Folder for plan_report.json and .html."),
              as_json: bool = JSON_OPT):
    """Per-field accuracy of the question plan, tune and held-out, with a confusion matrix of kinds.

    Exit 1 when a held-out figure is under its threshold."""
    from .evals.plan_eval import THRESHOLDS, evaluate, planner_for, write_report
    from .plan_model import load_plan_set

    settings = load_settings(**({"plan_dataset": dataset} if dataset else {}))
    planner, _ = planner_for(settings)
    examples = load_plan_set(settings.plan_dataset)
    if not as_json:
        err.print(f"planning {len(examples)} labelled questions …", highlight=False)
    result = evaluate(planner, examples)
    paths = write_report(result, report)
    if as_json:
        emit_json({"ok": result.ok, "figures": result.figures, "reports": [str(p) for p in paths]})
    else:
        table = Table("field", "tune", "held-out", "threshold")
        for name in ("kind", "shape", "stance", "follows", "follow_up_resolution"):
            table.add_row(name, str(result.figures["tune"][name]), str(result.figures["heldout"][name]),
                          str(THRESHOLDS.get(name, "")))
        out.print(table)
        out.print(f"{'passed' if result.ok else 'FAILED'}; reports: {paths[0]}  {paths[1]}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


# --- feedback ----------------------------------------------------------------------------------

feedback_app = typer.Typer(help="Athletes' feedback on answers (in the app database).", no_args_is_help=True)


@feedback_app.command("export")
@friendly_errors
def feedback_export(
    as_eval: Path | None = typer.Option(None, "--as-eval", metavar="FILE", help="Write every thumbs-down or commented answer to this YAML "
                                        "file as eval cases (fill in their key_points, then: aq-coach eval --dataset FILE)."),
    force: bool = typer.Option(False, "--force", help="With --as-eval: write over FILE if it exists."),
    as_json: bool = JSON_OPT,
):
    """Print every thumbs-up/down with its question, answer, sources, backend and comment.

    With --as-eval FILE, write the thumbs-downs and commented answers as eval cases instead."""
    from .conversations import ConversationStore

    if force and as_eval is None:
        raise UsageProblem("--force goes with --as-eval FILE")
    settings = load_settings()
    if as_eval is not None:
        _export_as_eval(as_eval, force, as_json, settings)
        return
    rows = ConversationStore(settings.app_database_url).export_feedback()
    if as_json:
        emit_json({"feedback": rows})
        return
    table = Table(title=f"feedback ({len(rows)})", show_lines=True)
    for col in ("when", "rating", "question", "answer", "comment", "backend"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.get("created_at", "")), "👍" if r.get("rating", 0) > 0 else "👎", str(r.get("question", ""))[:80],
                      str(r.get("answer", ""))[:120], str(r.get("comment") or ""), str(r.get("backend", "")))
    out.print(table)


def _export_as_eval(path: Path, force: bool, as_json: bool, settings) -> None:
    """`feedback export --as-eval FILE`: the rated answers as eval cases (assistant.evals.feedback_cases)."""
    from rich.progress import Progress

    from .conversations import ConversationStore
    from .database import redact
    from .evals.feedback_cases import ExportProblem, check_target, collect, render, write

    try:
        check_target(path, force)
        store = ConversationStore(settings.app_database_url)
        with Progress(console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("reading rated answers", total=None)
            export = collect(store, lambda done, total: bar.update(task, completed=done, total=total))
        source = redact(settings.app_database_url)
        if export.cases:
            write(path, render(export, source, path.name))
    except ExportProblem as exc:
        raise UsageProblem(str(exc)) from None
    data = {"file": str(path) if export.cases else None, **export.summary()}
    if not export.cases:
        data["message"] = f"nothing to export: no thumbs-down or commented answers in {source}; {path} was not written"
    if as_json:
        emit_json(data)
        return
    if not export.cases:
        out.print(data["message"], highlight=False, markup=False)
        return
    table = Table(title=f"feedback cases ({len(export.cases)})")
    for col in ("id", "rating", "turns", "question", "comment"):
        table.add_column(col)
    for c in data["cases"]:
        table.add_row(c["id"], "👎" if c["rating"] == "down" else "👍", str(c["turns"]), c["question"][:80], (c["comment"] or "")[:80])
    out.print(table)
    for item in export.left_out:
        out.print(f"left out {item['id']}: {item['reason']}", highlight=False, markup=False)
    out.print(f"wrote {len(export.cases)} feedback case(s) to {path} ({data['multi_turn']} multi-turn; "
              f"{export.praised} thumbs-up without a comment not exported). Fill in each case's key_points, then run: "
              f"aq-coach eval --dataset {path}", highlight=False, markup=False)


# --- insights ----------------------------------------------------------------------------------

@friendly_errors
def insights(
    since: str | None = typer.Option(None, "--since", metavar="DAYS", help="Only questions asked in the last DAYS days (e.g. 7, or 0.5)."),
    report: Path | None = typer.Option(None, "--report", metavar="DIR",
                                       help="Also write DIR/insights.html (with a bar chart; no network) and DIR/insights.json."),
    as_json: bool = JSON_OPT,
):
    """What athletes ask, grouped into topics: content gaps (no article covers it), answer failures
    (covered, but rated down or flagged), and the rest; the topics needing attention first.

    Reads the stored conversations (AQ_DATABASE_URL: SQLite or PostgreSQL). --json prints {"topics": [...]}."""
    from rich.progress import Progress

    from .insights import Insights

    days = _days(since)
    settings = load_settings()
    _history_database(settings, "no questions to group")  # reading insights never creates or upgrades a database
    service = Insights(settings)
    if not service.stored_questions():
        raise ValueError(f"no conversations stored yet in {service.store.url.split('@')[-1]}")
    with Progress(console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("reading questions", total=None)
        topics = service.topics(days, lambda stage, done, total: bar.update(task, description=stage, completed=done,
                                                                            total=total or None))
    if not topics:
        raise ValueError(f"no questions asked in the last {since} days")
    data = [t.as_dict() for t in topics]
    paths = []
    if report is not None:
        from .insights_report import write_report

        window = f"the last {since} days" if since else "all stored questions"
        paths = write_report(report, data, subtitle=f"{sum(t.count for t in topics)} questions, {window}")
    if as_json:
        emit_json({"topics": data, **({"reports": [str(p) for p in paths]} if paths else {})})
        return
    _insights_table(data, paths)


def _days(since: str | None) -> float | None:
    """--since as a number of days (0 or more); anything else is a usage error in one line."""
    if since is None:
        return None
    try:
        days = float(since)
    except ValueError:
        raise UsageProblem(f"--since must be a number of days, e.g. 7 (not {since!r})") from None
    if not 0 <= days <= 100_000:   # also NaN
        raise UsageProblem(f"--since must be a number of days, 0 or more (not {since!r})")
    return days


def _insights_table(data: list[dict], paths: list[Path]) -> None:
    """The topics as a table; athletes' words are shown as text, never read as markup."""
    from rich.text import Text

    table = Table(title=f"what athletes ask ({sum(t['count'] for t in data)} questions, {len(data)} topics)", show_lines=True)
    for col in ("#", "verdict", "topic", "asked", "gap", "👎", "guard", "support"):
        table.add_column(col, justify="left" if col in ("verdict", "topic") else "right", no_wrap=col != "topic",
                         ratio=1 if col == "topic" else None)
    style = {"content_gap": "bold red", "answer_failure": "bold yellow", "ok": "dim"}
    for n, t in enumerate(data, 1):
        topic = Text(t["name"])
        if t["terms"]:
            topic.append("\n" + ", ".join(t["terms"]), style="dim")
        if t["suggested_articles"]:
            topic.append("\nsuggested: " + "; ".join(t["suggested_articles"]), style="cyan")
        table.add_row(str(n), Text(t["verdict"].replace("_", " "), style=style[t["verdict"]]), topic, str(t["count"]), f"{t['gap_share']:.0%}",
                      f"{t['down_share']:.0%}", f"{t['guard_share']:.0%}", "" if t["support"] is None else f"{t['support']:.2f}")
    out.print(table)
    flagged = {v: sum(t["verdict"] == v for t in data) for v in ("content_gap", "answer_failure")}
    out.print(f"{flagged['content_gap']} content gap(s), {flagged['answer_failure']} answer failure(s)"
              + (f"; report: {paths[0]}" if paths else ""), highlight=False, markup=False)


# --- eval and bench ----------------------------------------------------------------------------

@friendly_errors
def eval_cmd(
    dataset: Path | None = typer.Option(None, "--dataset", help="Dataset file (YAML or JSONL); default evals/datasets/answers.yaml."),
    backend: str | None = BACKEND_OPT,
    answers: Path | None = typer.Option(None, "--answers", help="Score pre-recorded answers (JSONL) instead of running the assistant."),
    baseline: Path | None = typer.Option(None, "--baseline", help="An earlier report.json: list per-case regressions."),
    report: Path = typer.Option(Path("reports/latest"), "--report", help="Folder for report.json and report.html."),
    as_json: bool = JSON_OPT,
):
    """Run the answer eval suite (framing, terms, grounding, scope, retrieval); exit 1 when a threshold fails."""
    from .evals.cli import run_eval_command

    code = run_eval_command(dataset=dataset, backend=backend, answers=answers, baseline=baseline,
                            report_dir=report, as_json=as_json, console=out, err_console=err)
    raise typer.Exit(code)


@friendly_errors
def bench(
    quick: bool = typer.Option(False, "--quick", help="Smaller synthetic corpus; finishes in under a minute."),
    load_rounds: int | None = typer.Option(None, "--load-rounds", min=1, max=50,
                                    help="API load rounds per endpoint (default 40, about 20 minutes; 1 with --quick). One round's share "
                                         "swings ±25% on 2 cores; the report gives a 90% interval over the rounds, "
                                         "and more rounds narrow it."),
    as_json: bool = JSON_OPT,
):
    """Measure embedding, retrieval, answering, ingest and UI figures on this machine."""
    from .bench import run_bench

    figures = run_bench(load_settings(), quick=quick, console=None if as_json else err, load_rounds=load_rounds)
    if as_json:
        emit_json({"figures": figures})
        return
    table = Table(title="aq-coach bench")
    for col in ("name", "p50_ms", "p95_ms", "value", "unit"):
        table.add_column(col, justify="right" if col != "name" else "left")
    def cell(value) -> str:
        return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    for f in figures:
        table.add_row(f["name"], *(cell(f.get(k)) for k in ("p50_ms", "p95_ms", "value")), str(f.get("unit", "")))
    out.print(table)
