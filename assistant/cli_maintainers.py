"""The maintainers' verbs of `aq-coach`: settings, eval and bench, and the db, plan and feedback groups.

Thin wrappers over their modules; each verb's docstring is its help text. `assistant.cli` registers
the verbs and the three groups (db_app, plan_app, feedback_app) on the app.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from .cli_support import BACKEND_OPT, JSON_OPT, emit_json, err, friendly_errors, load_settings, out


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
def feedback_export(as_json: bool = JSON_OPT):
    """Print every thumbs-up/down with its question, answer, sources, backend and comment."""
    from .conversations import ConversationStore

    settings = load_settings()
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
